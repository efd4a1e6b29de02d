"""blackbox.problem_from_module: any torch nn.Module (snntorch included) as a Problem, on the CPU.

Covers the batched scores against a plain forward, the parameter subset, buffers (BatchNorm in
both modes), the first layer's shared product (low-rank and few-coordinate requests equal the
dense rows), snntorch layers built with their defaults (and init_hidden=True), parity with the
built-in ``snn`` problem, failures, bad input (one line naming the argument) and the CLI."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import snntorch as snn  # the test extra installs the neural extra: fail, never skip
import torch
from snntorch import utils as snn_utils
from torch import nn
from torch.nn import functional as F

import blackbox
from blackbox.population import Block, Deltas, LowRank

from conftest import ROOT



class Step(nn.Module):
    def forward(self, h):
        return (h > 0).to(h.dtype)


def toy(n=600, d=12, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (X @ rng.standard_normal((d, k))).argmax(1)
    return X, y


def mlp(d=12, h=16, k=3, act=None):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d, h), act or nn.ReLU(), nn.Linear(h, k))


def plain_losses(model, problem, P, seed):
    """The reference: load each candidate into the model and run it, one by one."""
    x, y = problem.batch(seed)
    out = []
    for row in P:
        problem.load(row, model)
        with torch.no_grad():
            out.append(float(F.cross_entropy(model(x), y)))
    return np.array(out)


def test_batched_scores_equal_a_plain_forward_and_share_the_minibatch():
    X, y = toy()
    model = mlp()
    p = blackbox.problem_from_module(model, F.cross_entropy, train=(X, y), batch_size=64)
    x0 = p.initial(np.random.default_rng(0))
    assert p.dim == sum(t.numel() for t in model.parameters()) and np.allclose(x0[:5], model[0].weight.detach().numpy().reshape(-1)[:5])
    P = x0 + 0.1 * np.random.default_rng(1).standard_normal((7, p.dim))
    P[3] = P[2]
    losses = p.evaluate(P, seed=5)
    assert isinstance(losses, np.ndarray) and losses.shape == (7,) and losses[2] == losses[3]
    np.testing.assert_allclose(losses, plain_losses(mlp(), p, P, 5), rtol=1e-5)
    assert np.array_equal(p.evaluate(P, seed=5), losses) and not np.array_equal(p.evaluate(P, seed=6), losses)
    assert np.array_equal(model[0].weight.detach().numpy().reshape(-1), x0[:12 * 16])  # the user's model is untouched


def test_parameter_subset_by_names_and_predicate():
    X, y = toy()
    model = mlp()
    by_name = blackbox.problem_from_module(model, F.cross_entropy, train=(X, y), params=["2.weight", "2.bias"])
    assert by_name.dim == 16 * 3 + 3 and [n for n, _, _ in by_name.layout] == ["2.weight", "2.bias"]
    pred = blackbox.problem_from_module(model, F.cross_entropy, train=(X, y), params=lambda n, t: n.endswith("bias"))
    assert pred.dim == 16 + 3
    x = by_name.initial(None) + 1.0
    other = mlp()
    by_name.load(x, other)
    assert torch.equal(other[0].weight, model[0].weight) and torch.allclose(other[2].bias, model[2].bias + 1)
    # the frozen first layer keeps the module's values: the same loss as the whole model with x loaded
    full = blackbox.problem_from_module(other, F.cross_entropy, train=(X, y))
    np.testing.assert_allclose(by_name.evaluate(x[None], 2), full.evaluate(full.initial(None)[None], 2), rtol=1e-6)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_batchnorm_respects_the_models_mode(mode):
    X, y = toy()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    with torch.no_grad():
        model[1].running_mean.fill_(0.3)
        model[1].running_var.fill_(2.0)
    getattr(model, mode)()
    p = blackbox.problem_from_module(model, F.cross_entropy, train=(X, y), batch_size=64)
    before = model[1].running_mean.clone()
    x0 = p.initial(None)
    P = x0 + 0.05 * np.random.default_rng(0).standard_normal((4, p.dim))
    losses = p.evaluate(P, 1)
    ref = []
    xb, yb = p.batch(1)
    for row in P:
        m = p.load(row, nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3)))
        m.load_state_dict({**m.state_dict(), **{k: v for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}})
        getattr(m, mode)()
        with torch.no_grad():
            ref.append(float(F.cross_entropy(m(xb), yb)))
    np.testing.assert_allclose(losses, ref, rtol=1e-5)
    assert torch.equal(p.model[1].running_mean, before) and torch.equal(model[1].running_mean, before)


def random_lowrank(p, pop=6, rank=2, seed=0):
    rng = np.random.default_rng(seed)
    x0 = p.initial(None)
    blocks = []
    for _, start, shape in p.layout:
        n = int(np.prod(shape))
        rows = shape[0] if len(shape) > 1 else 1
        blocks.append(Block(start, rows, n // rows, 0.1 * rng.standard_normal((pop, rows, rank)).astype(np.float32),
                            rng.standard_normal((pop, n // rows, rank)).astype(np.float32)))
    return LowRank(x0, blocks, 0.01 * rng.standard_normal((pop, p.dim)) * (np.arange(p.dim) >= p.dim - 3))


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(torch.relu(F.max_pool2d(self.conv(x), 2)).flatten(1))


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_lowrank_and_deltas_equal_the_dense_rows(kind):
    X, y = toy(d=64)
    if kind == "conv":
        model, X = ConvNet(), X.reshape(-1, 1, 8, 8)
    else:
        model = nn.Sequential(nn.Flatten(), *mlp(d=64))
    p = blackbox.problem_from_module(model, F.cross_entropy, train=(X, y), batch_size=50, chunk=4)
    assert p.first_layer == ("conv.weight" if kind == "conv" else "1.weight")
    req = random_lowrank(p)
    np.testing.assert_allclose(p.evaluate_lowrank(req, 3), p.evaluate(req.dense(), 3), rtol=1e-5, atol=1e-6)
    x0 = p.initial(None)
    idx = np.array([0, 1, 5, 40, p.dim - 1, 7, 8, 9])
    d = Deltas(x0, np.array([0, 2, 5, 5, 8]), idx, x0[idx] + np.linspace(-1, 1, idx.size))
    np.testing.assert_allclose(p.evaluate_deltas(d, 3), p.evaluate(d.dense(), 3), rtol=1e-5, atol=1e-6)


def test_first_layer_path_stays_off_where_it_would_not_be_exact():
    X, y = toy()

    class Scaled(nn.Module):  # the first layer's input depends on a searched parameter
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(torch.ones(1))
            self.net = mlp()

        def forward(self, x):
            return self.net(x * self.gain)

    class Peek(nn.Module):  # the first layer's weight is also read directly
        def __init__(self):
            super().__init__()
            self.net = mlp()

        def forward(self, x):
            return self.net(x) + self.net[0].weight.sum()

    for model in (Scaled(), Peek()):
        p = blackbox.problem_from_module(model, F.cross_entropy, train=(X, y))
        assert p.first_layer is None
        req = random_lowrank(p)
        np.testing.assert_allclose(p.evaluate_lowrank(req, 0), p.evaluate(req.dense(), 0), rtol=1e-5)


class SnnNet(nn.Module):
    """Two default snntorch Leaky layers, state passed explicitly (the tutorials' style)."""

    def __init__(self, n_in=784, hidden=16, steps=8, **leaky):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(n_in, hidden), nn.Linear(hidden, 10)
        self.lif1, self.lif2 = snn.Leaky(beta=0.9, **leaky), snn.Leaky(beta=0.9, **leaky)
        self.steps = steps

    def forward(self, x):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        cur, counts = self.fc1(x), 0
        for _ in range(self.steps):
            spk1, mem1 = self.lif1(cur, mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            counts = counts + spk2
        return counts


def test_snntorch_matches_the_builtin_snn_on_the_same_weights_and_minibatch(shared_data):
    from blackbox.problems.neural.models import SNNConfig, SpikingMLP
    ref = SpikingMLP(SNNConfig(hidden=16, batch_size=64, train_subset=2000, val_size=200, data_dir=str(shared_data)))
    X, Y = ref.batch(5)
    net = SnnNet(reset_mechanism="zero")  # the built-in snn resets to zero; threshold 1, beta 0.9 as here
    rng = np.random.default_rng(0)
    P = np.stack([ref.initial(rng) for _ in range(4)])
    L = ref._layout

    def as_module_vector(x):
        t = lambda n: x[L[n][0]:L[n][0] + int(np.prod(L[n][1]))].reshape(L[n][1])  # noqa: E731
        return np.concatenate([t("w1").T.reshape(-1), t("b1"), t("w2").T.reshape(-1), t("b2")])

    p = blackbox.problem_from_module(net, F.cross_entropy, train=(X, Y), batch_size=0)
    ours = p.evaluate(np.stack([as_module_vector(x) for x in P]), 0)
    np.testing.assert_allclose(ours, np.asarray(ref.evaluate(P, 5)), rtol=1e-5)
    assert p.first_layer == "fc1.weight"


def test_snntorch_default_layers_and_init_hidden_layers_run_batched():
    X, y = toy(n=300, d=20, k=10)
    default = blackbox.problem_from_module(SnnNet(n_in=20), F.cross_entropy, train=(X, y), batch_size=100)
    assert default._vmap  # the surrogate spike functions were swapped for their Heaviside forward

    class Hidden(nn.Module):  # init_hidden=True: the layers keep their membrane on the module
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.net = nn.Sequential(nn.Linear(20, 16), snn.Leaky(beta=0.9, init_hidden=True),
                                     nn.Linear(16, 10), snn.Leaky(beta=0.9, init_hidden=True))

        def forward(self, x):
            return sum(self.net(x) for _ in range(6))

    model = Hidden()
    p = blackbox.problem_from_module(model, F.cross_entropy, train=(X, y), batch_size=100)
    P = p.initial(None) + 0.3 * np.random.default_rng(0).standard_normal((3, p.dim))
    first = p.evaluate(P, 1)
    assert np.array_equal(p.evaluate(P, 1), first)  # the membrane is reset at every forward
    x, yb = p.batch(1)
    for row, loss in zip(P, first):
        p.load(row, model)
        snn_utils.reset(model.net)
        with torch.no_grad():
            assert abs(float(F.cross_entropy(model(x), yb)) - loss) < 1e-5


def test_failures_are_counted_and_given_the_worst_loss():
    X, y = toy()

    class Fragile(nn.Module):  # NaN for a negative scale; raises (outside vmap's reach) when it is > 5
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))
            self.lin = nn.Linear(12, 3)

        def forward(self, x):
            if float(self.scale) > 5:  # data-dependent Python control flow: vmap refuses it
                raise ValueError("scale too large")
            return self.lin(x) * torch.sqrt(self.scale)

    with pytest.warns(UserWarning, match="vmap cannot run this model"):
        p = blackbox.problem_from_module(Fragile(), F.cross_entropy, train=(X, y))
    P = np.repeat(p.initial(None)[None], 3, 0)
    P[1, 0], P[2, 0] = -1.0, 9.0
    from blackbox.evaluator import InProcessEvaluator
    from blackbox.population import Dense
    ev = InProcessEvaluator().evaluate(p, Dense(P), 0)
    assert ev.failures == 2 and ev.losses[1] == ev.losses[2] == ev.losses.max()
    assert "scale too large" in p.last_error


@pytest.mark.parametrize("kwargs,needle", [
    (dict(model=nn.Sequential(nn.ReLU())), "model has no trainable parameters"),
    (dict(params=["nope"]), "params names unknown parameter(s) ['nope']"),
    (dict(params=lambda n, t: False), "params selects no parameter"),
    (dict(params=["idx"]), "params: 'idx' is an integer tensor"),
    (dict(train="bad"), "train must be a pair"),
    (dict(train=(np.zeros((5, 12), np.float32), np.zeros(4, np.int64))), "train: 5 inputs but 4 targets"),
    (dict(val=(np.zeros((5, 12), np.float32), np.zeros(6, np.int64))), "val: 5 inputs but 6 targets"),
    (dict(loss=lambda out, t: out), "loss returned shape"),
    (dict(loss=lambda out, t: 1.0), "loss returned float"),
    (dict(device="cuda"), "device='cuda'"),
    (dict(device="bogus"), "device='bogus'"),
    (dict(dtype=torch.int32), "dtype must be a floating"),
    (dict(batch_size=10_000), "batch_size=10000 is larger than"),
    (dict(model=nn.Linear(3, 3)), "model: forward on the training inputs raised"),
])
def test_bad_input_is_one_line_naming_the_argument(kwargs, needle):
    X, y = toy()
    model = mlp()
    model.register_parameter("idx", nn.Parameter(torch.zeros(2, dtype=torch.int64), requires_grad=False))
    args = dict(model=model, loss=F.cross_entropy, train=(X, y))
    args.update(kwargs)
    if needle.startswith("device='cuda'") and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError) as e:
        blackbox.problem_from_module(**args)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_a_heaviside_net_trains_well_past_chance_with_the_defaults(shared_data):
    """The acceptance run: default solver and budget, no settings, 3,000 MNIST images, one core."""
    from blackbox.problems import data as D
    x, y = D.load("mnist", "train", shared_data)
    x = (x[:4000] / np.float32(255)).astype(np.float32)
    torch.set_num_threads(1)
    model = mlp(d=784, h=32, k=10, act=Step())
    started = time.perf_counter()
    p = blackbox.problem_from_module(model, F.cross_entropy, train=(x[:3000], y[:3000]), val=(x[3000:], y[3000:4000]),
                                     test=(x[3000:], y[3000:4000]))
    r = blackbox.solve(p, seed=0)
    wall = time.perf_counter() - started
    assert r.solver == "polystep" and r.failures == 0
    assert r.metrics["val_accuracy"] > 0.4, r.metrics  # chance is 0.1 (measured: 0.58 in 10,088 evaluations)
    assert wall < 120, wall  # about 4 s when the machine is quiet; generous for a shared one


BUILD = '''
import numpy as np, torch
from torch import nn
from torch.nn import functional as F

def build():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    return model, F.cross_entropy, (X[:300], y[:300]), (X[300:], y[300:]), None
'''


def test_cli_solves_a_module_file_and_names_the_option_on_bad_input(tmp_path):
    (tmp_path / "net.py").write_text(BUILD)
    env = dict(os.environ, PYTHONPATH=str(ROOT), CI="true")
    run = lambda *a: subprocess.run([sys.executable, "-m", "blackbox", "solve", "module", *a],  # noqa: E731
                                    capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    ok = run("--module", "net.py:build", "--evals", "600", "--batch-size", "100")
    assert ok.returncode == 0, ok.stderr
    assert "val_accuracy=" in ok.stdout and "problem   module" in ok.stdout
    for spec, needle in (("net.py:nope", "--module: net.py defines no function 'nope'"),
                         ("missing.py:build", "--module: no file 'missing.py'"), ("", "--module is required")):
        bad = run("--module", spec) if spec else run()
        assert bad.returncode == 2 and needle in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_dropout_in_train_mode_draws_the_same_masks_for_every_candidate_of_a_generation():
    X, y = toy()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 32), nn.Dropout(0.5), nn.ReLU(), nn.Linear(32, 3)).train()
    p = blackbox.problem_from_module(model, F.cross_entropy, train=(X, y), batch_size=64, chunk=2)
    P = np.repeat(p.initial(None)[None], 5, 0)  # equal candidates across three chunks
    losses = p.evaluate(P, 3)
    assert np.all(losses == losses[0]) and np.array_equal(p.evaluate(P, 3), losses)
    assert p.evaluate(P, 4)[0] != losses[0]  # another generation, other masks
