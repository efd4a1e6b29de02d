"""Train a hard-LIF spiking net and an int8 net on MNIST with PolyStep; report validation and test accuracy.

  snn       784-32-10 spiking MLP: leaky integrate-and-fire neurons with a hard threshold and reset
            to zero, 8 time steps, logits = output spike counts. No surrogate gradient anywhere.
  int8-mlp  784-32-10 MLP with int8 weights and uint8 activations (round + clamp in the forward).

PolyStep probes `particles_per_step` random particles (pairs of weights) per generation at the
vertices of a rotated simplex and moves each towards the vertices that lowered the minibatch loss.
The driver validates the current point every `validate_every` generations on a held-out part of the
training set and reports the best one; test accuracy is computed once, on that model only.

Data: MNIST IDX files under $BLACKBOX_DATA/mnist (default ../shared/data beside the repository).

    python examples/mnist_nondiff.py            # full budget
    python examples/mnist_nondiff.py --small    # what CI runs (BLACKBOX_EXAMPLE_SMALL=1)

Expected (full run, 20,000 evaluations per net, 10,000 training images; measured on the 2-core
development machine: 18 s in all when it was quiet (6 s solving the snn, 8 s the int8 net), about
2 minutes while it was shared with other jobs; the accuracies are the same, the run is deterministic):
    snn       validation accuracy 0.598, test accuracy 0.603
    int8-mlp  validation accuracy 0.792, test accuracy 0.794
(chance is 0.10; longer budgets go further, see docs/benchmarks.md). The small run (600
evaluations, 2,000 training images) takes 5 s (quiet) and prints test accuracy 0.135 (snn) and
0.292 (int8): above chance, far from trained.
"""
from _example import data_dir, example_args

import blackbox
from blackbox.registry import problem_class

args = example_args(__doc__)
evals = 600 if args.small else 20_000
particles = 32  # particles probed per generation: 32 x 3 simplex vertices + the centre = 97 candidates
# The neural problems already suggest 32 particles per step and a radius annealed 1 -> 0.001
# (their solver_defaults); the horizon of that schedule should match the budget: one generation
# is 32 x 3 simplex vertices + the centre = 97 candidates.
solver_config = {"particles_per_step": particles, "horizon": evals // (3 * particles + 1)}

for name in ("snn", "int8-mlp"):
    cls = problem_class(name)  # problems/neural/models.py; torch is imported only now
    problem = cls(cls.Config(data_dir=str(data_dir()), hidden=32,
                             train_subset=2_000 if args.small else 10_000,
                             val_size=500 if args.small else 2_000))
    result = blackbox.solve(problem, "polystep", solver_config, evals=evals, seed=0, validate_every=5)
    print(f"{name:9s} {problem.dim} weights, {result.evals} evaluations in {result.wall_time:.1f} s: "
          f"validation accuracy {result.metrics['val_accuracy']:.3f}, "
          f"test accuracy {result.test_metrics['test_accuracy']:.3f} (model selected by {result.selected_by})")
