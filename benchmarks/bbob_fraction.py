"""Fraction of BBOB targets reached: one number per solver, the way the issue-16 table is measured.

For every function 1..24 and instance of COCO's ``bbob`` suite in each dimension, a solver runs for
``budget_factor x dim`` evaluations from the problem's ``initial_solution`` inside its box
[-5, 5]^dim (the problem is wrapped as a bounded vectorized problem), and we record the best f
reached. A (function, instance, target) triple counts as reached when best f - f_opt <= target,
for the 51 targets 10^2, 10^1.8, ..., 10^-8 (log-uniform, COCO's bbob targets relative to f_opt).

f_opt: cocoex 2.8 raises on ``Problem.final_target_fvalue1`` (and on ``_f0``, which reads it); the
problem's optimal solution is what ``Problem._best_parameter("print")`` writes to
``._bbob_problem_best_parameter.txt`` in the working directory, and f_opt = f(x_opt), evaluated on
a second instance of the problem so that the measured run's counters are untouched.

Solvers: any registered name (``auto``, ``cmaes``, ``snes``, ...; ``cma-es`` is pycma through the
baseline wrapper with ``sigma0=2``, no restarts) with ``name:key=value`` settings, and ``pycma-bipop``:
pycma itself (``cma.fmin2``, x0 = initial_solution, sigma0 = 2, bounds [-5, 5], BIPOP restarts up to
the budget), the reference of the table.

    nice python benchmarks/bbob_fraction.py --dims 5 --solvers auto cmaes pycma-bipop
    python benchmarks/bbob_fraction.py --dims 5 20 --instances 1 2 3 --functions 1-24 --budget 1000
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

TARGETS = 10.0 ** np.linspace(2, -8, 51)


def f_opt(suite_name: str, fn: int, dim: int, inst: int) -> float:
    """f at the problem's optimal solution (see the module docstring for why not final_target_fvalue1;
    ``bbob`` only: ``_best_parameter`` crashes on ``bbob-largescale`` in cocoex 2.8)."""
    problem = get_problem(suite_name, fn, dim, inst)
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            problem._best_parameter("print")
            xopt = np.loadtxt("._bbob_problem_best_parameter.txt")
        finally:
            os.chdir(cwd)
    return float(problem(np.atleast_1d(xopt)))


def get_problem(suite_name: str, fn: int, dim: int, inst: int):
    """One cocoex problem; an error naming it when the suite lacks that dimension (cocoex would
    otherwise clip the dimension range silently)."""
    import cocoex
    suite = cocoex.Suite(suite_name, "", f"dimensions:{dim} instance_indices:{inst} function_indices:{fn}")
    for p in suite:
        if p.dimension == dim and p.id_function == fn:
            return p
    raise SystemExit(f"suite {suite_name} has no function {fn} in dimension {dim} (bbob: 2 3 5 10 20 40)")


def run_ours(spec: str, problem, budget: int, seed: int) -> float:
    """Best f of one run of a registered solver on a cocoex problem (bounded, vectorized wrapper)."""
    import blackbox
    from blackbox.driver import solve
    name, _, rest = spec.partition(":")
    config = dict(kv.split("=", 1) for kv in rest.split(",") if kv)
    if name == "cma-es":
        config.setdefault("sigma0", "2")
    lo, hi = float(problem.lower_bounds[0]), float(problem.upper_bounds[0])
    wrapped = blackbox.problem_from_vectorized(lambda X: np.array([problem(x) for x in X]), dim=problem.dimension,
                                               domain=blackbox.Real(lo, hi), x0=problem.initial_solution)
    result = solve(wrapped, name, config, evals=budget, seed=seed, checkpoint_on_interrupt=False)
    return float(result.best_loss)


def run_pycma(problem, budget: int, seed: int) -> float:
    """pycma's BIPOP-CMA-ES; its ``maxfevals`` is per restart, so the total budget is enforced
    here: only the first ``budget`` evaluations count, and every run stops once they are spent."""
    import cma
    best, count = [np.inf], [0]

    def f(x):
        v = problem(x)
        if count[0] < budget:
            best[0] = min(best[0], v)
        count[0] += 1
        return v
    lo, hi = float(problem.lower_bounds[0]), float(problem.upper_bounds[0])
    opts = {"bounds": [lo, hi], "verbose": -9, "seed": seed + 1,
            "termination_callback": lambda es: count[0] >= budget}
    cma.fmin2(f, problem.initial_solution, 0.2 * (hi - lo), opts, restarts=20, bipop=True)
    return best[0]


def measure(solver: str, dim: int, functions, instances, budget_factor: int) -> np.ndarray:
    """reached[f, i, t]: target t met on (function f, instance i)."""
    out = np.zeros((len(functions), len(instances), TARGETS.size), bool)
    for a, fn in enumerate(functions):
        for b, inst in enumerate(instances):
            fo = f_opt("bbob", fn, dim, inst)
            problem = get_problem("bbob", fn, dim, inst)
            budget = budget_factor * dim
            best = run_pycma(problem, budget, inst) if solver == "pycma-bipop" else run_ours(solver, problem, budget, inst)
            out[a, b] = best - fo <= TARGETS
    return out


def _functions(text: str) -> list:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(v) for v in text.split(",")]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--solvers", nargs="+", default=["auto", "cmaes", "pycma-bipop"])
    ap.add_argument("--dims", nargs="+", type=int, default=[5])
    ap.add_argument("--functions", default="1-24", help="e.g. 1-24 or 1,8,15")
    ap.add_argument("--instances", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--budget", type=int, default=1000, help="evaluations per dimension")
    args = ap.parse_args(argv)
    functions = _functions(args.functions)
    print(f"bbob, functions {args.functions}, instances {args.instances}, {args.budget} x dim evaluations, "
          f"51 targets 1e2..1e-8; load {os.getloadavg()[0]:.1f}")
    for dim in args.dims:
        for solver in args.solvers:
            t = time.perf_counter()
            reached = measure(solver, dim, functions, args.instances, args.budget)
            per_fn = " ".join(f"{v:.2f}" for v in reached.mean(axis=(1, 2)))
            print(f"d{dim:<3d} {solver:24s} fraction {reached.mean():.3f}   wall {time.perf_counter() - t:.0f}s   "
                  f"per function: {per_fn}", flush=True)


if __name__ == "__main__":
    main()
