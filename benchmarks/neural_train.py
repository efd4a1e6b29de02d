"""Train a neural adapter with a solver under a wall-clock budget and report what was reached.

    PYTHONPATH=$PWD python benchmarks/neural_train.py --problem snn --solver polystep \\
        --seconds 1800 --set subspace_rank=32 --set horizon=6000 [--pset steps=8] [--seed 0]

The reported model is the one the driver selected on the validation split (every
``--validate-every`` generations, never test data); test accuracy is computed once, on it.
"""
from __future__ import annotations

import argparse
import json
import time


def kv(items):
    out = {}
    for it in items or ():
        k, _, v = it.partition("=")
        out[k] = v
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem", default="snn")
    ap.add_argument("--solver", default="polystep")
    ap.add_argument("--set", action="append", help="solver option key=value")
    ap.add_argument("--pset", action="append", help="problem option key=value")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--evals", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--validate-every", type=int, default=20)
    ap.add_argument("--json", default="", help="also write the result summary here")
    a = ap.parse_args()

    import blackbox
    from blackbox.registry import problem_class
    from blackbox.solver import build_config

    cls = problem_class(a.problem)
    problem = cls(build_config(cls.Config, kv(a.pset), a.problem))
    t0 = time.time()
    res = blackbox.solve(problem, a.solver, kv(a.set), evals=a.evals, seconds=a.seconds, seed=a.seed,
                         validate_every=a.validate_every)
    summary = {
        "problem": a.problem, "solver": a.solver, "solver_options": kv(a.set), "problem_options": kv(a.pset),
        "seed": a.seed, "evals": res.evals, "generations": res.generations, "wall_s": round(res.wall_time, 1),
        "selected_by": res.selected_by, "val": res.metrics, "test": res.test_metrics,
        "total_s_incl_setup": round(time.time() - t0, 1),
    }
    print(json.dumps(summary))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
