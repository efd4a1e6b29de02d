"""The measured rows behind ``auto``'s rules (docs/choosing.md): small runs, fixed seeds and budgets.

Each block compares the candidates of one rule on problems of that kind and prints the mean final
loss over seeds (lower is better) and, for the noisy block, the noise-free loss of the solver's
recommended point. Cheap functions only: a few minutes on one core.

    nice python benchmarks/auto_rules.py [binary integer noisy covariance] [--seeds 3]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import blackbox
from blackbox.domain import Integer, Real
from blackbox.driver import solve


def row(label: str, values) -> None:
    v = np.asarray(values, float)
    print(f"  {label:34s} mean {v.mean():12.4g}   per seed {' '.join(f'{x:.4g}' for x in v)}", flush=True)


def binary(seeds):
    """Binary rule: ga vs polystep vs pycma on logits, OneMax 200 bits / Trap 100 bits (k=5)."""
    for prob, cfg, evals in (("onemax", {"dim": 200}, 3000), ("trap", {"dim": 100}, 20000)):
        print(f"{prob} {cfg} {evals} evaluations")
        for s in ("ga", "polystep", "cma-es", "snes"):
            row(s, [solve(prob, s, problem_config=cfg, evals=evals, seed=k).best_loss for k in seeds])


def integer(seeds):
    """Integer rule: cmaes on the rounded lattice vs random search (the only other integer solver)."""
    def ell(X):
        n = X.shape[1]
        return np.sum(10.0 ** (3 * np.arange(n) / (n - 1)) * (X - 7) ** 2, axis=1).astype(float)

    def rast(X):
        z = X / 10.0 - 1.3
        return 10 * X.shape[1] + np.sum(z * z - 10 * np.cos(2 * np.pi * z), axis=1)
    for name, f in (("integer ellipsoid", ell), ("integer rastrigin (step 0.1)", rast)):
        print(f"{name}, dim 20, Integer(-50, 50), 10000 evaluations")
        p = blackbox.problem_from_vectorized(f, dim=20, domain=Integer(-50, 50), x0=np.zeros(20))
        for s, c in (("cmaes", {}), ("random", {"sigma0": 3.0}), ("random", {"sigma0": 10.0})):
            row(f"{s} {c or ''}", [solve(p, s, c, evals=10000, seed=k).best_loss for k in seeds])


def noisy(seeds):
    """Noisy rule: sphere dim 10 + N(0, 1) noise; noise-free loss of the point the run returned."""
    def f(X, seed):
        r = np.random.default_rng(seed)
        return np.sum(X * X, axis=1) + r.standard_normal(len(X))
    p = blackbox.problem_from_vectorized(f, dim=10, domain=Real(-5, 5), x0=np.full(10, 3.0), stochastic=True)
    print("noisy sphere dim 10 (+ N(0,1)), 20000 evaluations: noise-free loss of the point the run returned (best_x)")
    for label, s, c in (("cmaes bipop", "cmaes", {}), ("cmaes ipop", "cmaes", {"restarts": "ipop"}),
                        ("cmaes none, popsize 40", "cmaes", {"restarts": "none", "popsize": 40}),
                        ("snes", "snes", {}), ("es", "es", {})):
        vals = []
        for k in seeds:
            solver = blackbox.driver.make_solver(s, blackbox.Spec.of(p), c)
            r = solve(p, solver, evals=20000, seed=k, validate_every=10 ** 9)
            vals.append(float(np.sum(np.asarray(r.best_x) ** 2)))
        row(label, vals)


def covariance(seeds):
    """Full vs separable covariance by dimension and budget: BBOB f2 (separable ellipsoid), f8
    (Rosenbrock), f10 (rotated ellipsoid), f12 (bent cigar); best f - f_opt on bbob (d <= 40), best f
    itself on bbob-largescale (same instance for both: the comparison needs no f_opt)."""
    from bbob_fraction import f_opt, get_problem, run_ours
    for suite, dim, factor in (("bbob", 20, 100), ("bbob", 20, 1000), ("bbob", 40, 100), ("bbob", 40, 1000),
                               ("bbob-largescale", 80, 300), ("bbob-largescale", 160, 300)):
        what = "best f - f_opt" if suite == "bbob" else "best f"
        print(f"{suite} d{dim}, {factor} x dim evaluations, instance = seed + 1: {what}")
        for fn in (2, 8, 10, 12):
            for cov in ("full", "sep"):
                vals = []
                for k in seeds:
                    best = run_ours(f"cmaes:covariance={cov}", get_problem(suite, fn, dim, k + 1), factor * dim, k + 1)
                    vals.append(best - (f_opt(suite, fn, dim, k + 1) if suite == "bbob" else 0.0))
                row(f"f{fn} {cov}", vals)


BLOCKS = {"binary": binary, "integer": integer, "noisy": noisy, "covariance": covariance}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("blocks", nargs="*", default=list(BLOCKS), help=", ".join(BLOCKS))
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args(argv)
    seeds = list(range(args.seeds))
    for b in args.blocks:
        if b not in BLOCKS:
            raise SystemExit(f"unknown block {b!r}; known: {', '.join(BLOCKS)}")
        t = time.perf_counter()
        print(f"== {b} (seeds {seeds}; load {os.getloadavg()[0]:.1f})")
        BLOCKS[b](seeds)
        print(f"   wall {time.perf_counter() - t:.0f}s")


if __name__ == "__main__":
    main()
