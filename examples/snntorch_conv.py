"""Train your own convolutional spiking net, written with snntorch, on MNIST with the default solver.

  model   Conv2d(1, 8, 5) -> max-pool 2 -> snntorch Leaky -> Linear(1152, 10) -> snntorch Leaky,
          8 time steps (the image is a constant input current), logits = output spike counts.
          The Leaky layers are built with snntorch's defaults: their forward is a hard Heaviside
          threshold; no surrogate gradient is involved anywhere (nothing is differentiated).
  problem blackbox.problem_from_module(model, loss, train, val, test): the solution is the flat
          vector of the model's parameters; candidates are scored in batches (torch.func.vmap), and
          the convolution's product on the shared images is computed once per generation.
  solver  the problem's default (PolyStep with 32 probed particles per generation), no settings.

Data: MNIST IDX files under $BLACKBOX_DATA/mnist (default ../shared/data beside the repository),
read with blackbox.problems.data; 5,000 training images (1,000 in --small), validation held out of
the training set, test = the official test set (read once, on the selected model).

    python examples/snntorch_conv.py            # 20,000 evaluations
    python examples/snntorch_conv.py --small    # what CI runs (BLACKBOX_EXAMPLE_SMALL=1): 600, minibatch 64

Expected: the small run (deterministic; 15 s on the 2-core development machine at load average 12)
prints "679 evaluations ... failures 0" and "validation accuracy 0.210, test accuracy 0.230":
above chance (0.10), far from trained. The full run is not yet measured (run the first command on a
quiet machine and read its last lines).
"""
import numpy as np
import snntorch as snn
import torch
from _example import data_dir, example_args
from torch import nn
from torch.nn import functional as F

import blackbox
from blackbox.problems import data as D


class ConvSNN(nn.Module):
    """A small convolutional spiking net in the style of the snntorch tutorials."""

    def __init__(self, channels: int = 8, steps: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 5)
        self.lif1 = snn.Leaky(beta=0.9)
        self.fc2 = nn.Linear(channels * 12 * 12, 10)
        self.lif2 = snn.Leaky(beta=0.9)
        self.steps = steps

    def forward(self, x):
        cur1 = F.max_pool2d(self.conv1(x), 2)  # the same input current at every step
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        counts = 0
        for _ in range(self.steps):
            spk1, mem1 = self.lif1(cur1, mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1.flatten(1)), mem2)
            counts = counts + spk2
        return counts


def mnist(n_train: int, n_val: int):
    """(train, val, test) pairs of (images (n, 1, 28, 28) in [0, 1], labels)."""
    x, y = D.load("mnist", "train", data_dir())
    keep = np.random.default_rng(0).permutation(len(y))[:n_train + n_val]
    tr, va = keep[:n_train], keep[n_train:]
    xt, yt = D.load("mnist", "test", data_dir())
    img = lambda a: (a.reshape(-1, 1, 28, 28) / np.float32(255)).astype(np.float32)  # noqa: E731
    return (img(x[tr]), y[tr]), (img(x[va]), y[va]), (img(xt), yt)


def main():
    args = example_args(__doc__)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    train, val, test = mnist(1_000 if args.small else 5_000, 500 if args.small else 2_000)
    model = ConvSNN()
    problem = blackbox.problem_from_module(model, F.cross_entropy, train=train, val=val, test=test,
                                           batch_size=64 if args.small else 128)
    evals = 600 if args.small else 20_000
    result = blackbox.solve(problem, evals=evals, seed=0, validate_every=5)
    print(f"{problem.describe()}; first-layer shared product: {problem.first_layer or 'no'}")
    print(f"{result.evals} evaluations in {result.wall_time:.1f} s ({result.solver}), failures {result.failures}")
    print(f"validation accuracy {result.metrics['val_accuracy']:.3f}, "
          f"test accuracy {result.test_metrics['test_accuracy']:.3f} (model selected by {result.selected_by})")
    problem.load(result.best_x, model)  # the trained weights, back in the user's own module
    torch.save(model.state_dict(), args.out / "conv_snn.pt")
    print(f"weights   {args.out / 'conv_snn.pt'}")


if __name__ == "__main__":
    main()
