"""Evaluate on a Ray cluster: a local one by default, or a running cluster given by address.

A slow, single-threaded Python simulator (a 1-D heat rod heated by 12 controllable elements, loss =
squared distance of the final temperatures to a target profile) is the problem. The Ray evaluator
ships it to each worker (actor) once; each generation only chunks of candidates go out and losses
come back. The same run in-process gives the same result for the same seed; Ray only spreads the
work. Nothing else changes: the solver, the budget, checkpoints and the Result are the same.

    python examples/ray_cluster.py                        # a local Ray instance with 2 workers
    python examples/ray_cluster.py --address HOST:6379    # a running cluster (`ray start --head` there)
    python examples/ray_cluster.py --small                # what CI runs (BLACKBOX_EXAMPLE_SMALL=1)

On a multi-node cluster install blackbox (and the package defining your problem) on every node;
see docs/distributed.md. The command-line equivalent is `--ray` / `--ray-address HOST:6379` on
`blackbox solve`.

Expected: the Ray run and the in-process run print the same best loss and point (the check at the
end). Full run on the quiet 2-core development machine (32 s in all): start loss 20.580, best loss
3.4868 on both, 2,000 evaluations in 12.9 s on 2 Ray workers against 10.0 s in-process. On two
cores Ray cannot win: it pays off with more cores or machines and evaluations slower than this
one's ~5 ms. The small run (64 evaluations) takes 11 s quiet (about 45 s while the machine was
shared), almost all of it starting Ray; it prints best loss 6.2784 on both.
"""
import numpy as np

from _example import example_args

import blackbox
from blackbox.ray_evaluator import RayEvaluator

args = example_args(__doc__, lambda ap: (
    ap.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)"),
    ap.add_argument("--workers", type=int, default=2, help="Ray workers (actors)")))

CELLS, HEATERS, STEPS = 48, 12, 200
TARGET = 1.0 + np.sin(np.linspace(0, np.pi, CELLS))  # the temperature profile we want


def heat_rod(powers):
    """Explicit finite differences, one cell at a time: deliberately plain, slow Python."""
    powers = np.clip(powers, 0.0, 1.0)
    temp = [0.0] * CELLS
    for _ in range(STEPS):
        new = temp[:]
        for i in range(1, CELLS - 1):
            new[i] = temp[i] + 0.2 * (temp[i - 1] - 2 * temp[i] + temp[i + 1])
        for h in range(HEATERS):
            new[h * CELLS // HEATERS + CELLS // (2 * HEATERS)] += 0.05 * powers[h]
        temp = new
    return float(np.sum((np.array(temp) - TARGET) ** 2))


problem = blackbox.problem_from_function(heat_rod, dim=HEATERS, domain=blackbox.Real(0.0, 1.0),
                                         x0=np.full(HEATERS, 0.5))
evals = 64 if args.small else 2_000
config = {"popsize": 16, "sigma0": 0.1, "sigma_end": 0.1, "lr": 0.05}
print(f"start loss {heat_rod(np.full(HEATERS, 0.5)):.3f}")

evaluator = RayEvaluator(workers=args.workers, address=args.address)  # ray.init here (local unless address)
try:
    on_ray = blackbox.solve(problem, "es", config, evals=evals, seed=0, evaluator=evaluator)
finally:
    evaluator.close()
print(f"ray        best loss {on_ray.best_loss:.4f}  {on_ray.evals} evals in {on_ray.wall_time:.1f} s "
      f"on {args.workers} Ray workers (re-sent after a lost worker: {on_ray.redispatched})")

in_process = blackbox.solve(problem, "es", config, evals=evals, seed=0)
print(f"in-process best loss {in_process.best_loss:.4f}  {in_process.evals} evals in {in_process.wall_time:.1f} s")
print("same result on Ray and in-process:", bool(np.array_equal(on_ray.best_x, in_process.best_x)))
