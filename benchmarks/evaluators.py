"""Evaluator speed-up and overhead: in-process vs process pool vs Ray.

  speed-up   a CPU-bound pure-Python simulator (a fixed loop, ~5 ms per candidate), population 32: wall per
             generation with 1 and 2 workers (the machine has 2 cores)
  overhead   a trivial loss, population 32 at dim 1,000: wall per generation, i.e. what each
             evaluator adds to shipping chunks out and losses back

    python benchmarks/evaluators.py [--iters 100000] [--gens 10]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import blackbox


def busy(x, iters=100_000):
    """A fixed amount of pure-Python work (CPU-bound, holds the GIL), then the sphere loss."""
    acc = 0
    for i in range(iters):
        acc += i * i
    return float(np.sum(x ** 2))


def per_generation(problem, gens, **evaluator):
    blackbox.solve(problem, "random", {"popsize": 32}, evals=32, seed=0, **evaluator)  # start-up excluded
    t = time.perf_counter()
    r = blackbox.solve(problem, "random", {"popsize": 32}, evals=32 * gens, seed=0, **evaluator)
    return (time.perf_counter() - t) / r.generations * 1e3, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=100_000, help="Python loop iterations per candidate (~5 ms)")
    ap.add_argument("--gens", type=int, default=10)
    a = ap.parse_args()
    import functools
    sim = blackbox.problem_from_function(functools.partial(busy, iters=a.iters), dim=20, name="busy")
    trivial = blackbox.problem_from_vectorized(lambda X: np.zeros(len(X)), dim=1000, name="trivial")
    import ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    from blackbox.evaluator import InProcessEvaluator
    from blackbox.pool import ProcessPoolEvaluator
    from blackbox.ray_evaluator import RayEvaluator
    makers = (("in-process", InProcessEvaluator), ("pool, 1 worker", lambda: ProcessPoolEvaluator(1)),
              ("pool, 2 workers", lambda: ProcessPoolEvaluator(2)), ("ray, 1 worker", lambda: RayEvaluator(1)),
              ("ray, 2 workers", lambda: RayEvaluator(2)))
    rows = []
    for label, make in makers:
        ev = make()  # one evaluator per row, started by the warm-up run, so start-up is not timed
        sim_ms, r = per_generation(sim, a.gens, evaluator=ev)
        ev.close()
        ev = make()
        triv_ms, _ = per_generation(trivial, a.gens * 5, evaluator=ev)
        ev.close()
        rows.append((label, sim_ms, triv_ms, r.evals))
    base = rows[0][1]
    t = time.perf_counter()
    busy(np.zeros(1), a.iters)
    ms = (time.perf_counter() - t) * 1e3
    print(f"population 32, simulator {ms:.1f} ms/candidate pure Python (measured once), {a.gens} generations, seed 0, 2-core machine")
    print(f"{'evaluator':18s} {'sim ms/gen':>11s} {'speed-up':>9s} {'overhead ms/gen (trivial, dim 1000)':>36s}")
    for label, sim_ms, triv_ms, evals in rows:
        print(f"{label:18s} {sim_ms:11.1f} {base / sim_ms:8.2f}x {triv_ms:36.2f}")
    ray.shutdown()


if __name__ == "__main__":
    main()
