"""Evaluator speed-up and overhead: in-process vs process pool vs Ray.

  speed-up   a CPU-bound pure-Python simulator (a fixed loop, ~5 ms per candidate), population 32: wall per
             generation with 1 and 2 workers (the machine has 2 cores)
  overhead   a trivial loss, population 32 at dim 1,000: wall per generation, i.e. what each
             evaluator adds to shipping chunks out and losses back
  es traffic what ES sends per generation at dim 1e5 / 1e6, population 32: pickled bytes of the
             chunks as NoiseWindows (center + table offsets) vs the same rows as Dense, and the
             wall per generation of es through a 2-worker pool both ways (a trivial loss, so the
             figure is shipping + materializing, not evaluating)

    python benchmarks/evaluators.py [--iters 100000] [--gens 10] [--es-only] [--es-dims 100000 1000000]
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


def es_traffic(dims, gens=3, workers=2):
    """Bytes per generation and pool wall per generation of es, NoiseWindows vs Dense rows."""
    import pickle

    from blackbox.evaluator import chunk_bounds
    from blackbox.pool import ProcessPoolEvaluator
    from blackbox.population import Dense
    from blackbox.ray_evaluator import shared_fields, without
    from blackbox.solver import Spec
    from blackbox.solvers.es import ES

    class DenseRows(ProcessPoolEvaluator):
        """The pool as ES used it before: rows materialized here, shipped as Dense chunks."""

        def evaluate(self, problem, request, seed):
            return super().evaluate(problem, Dense(request.dense()), seed)

    print(f"es, population 32, {workers}-worker pool ({workers * 2} chunks per generation), trivial loss, "
          f"{gens} generations timed after a warm-up run; 2-core machine shared with other jobs")
    print(f"{'dim':>9s} {'Dense MB/gen':>13s} {'NoiseWindows MB/gen':>20s} {'Ray MB/gen':>11s} {'ratio':>7s} "
          f"{'pool ms/gen Dense':>18s} {'pool ms/gen NoiseWindows':>25s}")
    for dim in dims:
        problem = blackbox.problem_from_vectorized(lambda X: np.zeros(len(X)), dim=dim, name="trivial")
        es = ES(Spec.of(problem), ES.Config(popsize=32))
        request, _ = es.ask(es.init(np.zeros(dim), 0))
        chunks = [request.take(a, b) for a, b in chunk_bounds(len(request), workers * 2)]
        windows = sum(len(pickle.dumps(c)) for c in chunks)
        names = shared_fields(chunks)  # Ray: the center once, the chunks without it
        ray_bytes = sum(len(pickle.dumps(getattr(chunks[0], n))) for n in names) + sum(len(pickle.dumps(without(c, names))) for c in chunks)
        rows = Dense(request.dense())
        dense = sum(len(pickle.dumps(rows.take(a, b))) for a, b in chunk_bounds(len(request), workers * 2))
        walls = []
        for make in (DenseRows, ProcessPoolEvaluator):
            ev = make(workers)
            blackbox.solve(problem, "es", {"popsize": 32}, evals=32, seed=0, evaluator=ev)  # start-up, tables
            t = time.perf_counter()
            r = blackbox.solve(problem, "es", {"popsize": 32}, evals=32 * gens, seed=0, evaluator=ev)
            walls.append((time.perf_counter() - t) / r.generations * 1e3)
            ev.close()
        print(f"{dim:9,d} {dense / 1e6:13.2f} {windows / 1e6:20.2f} {ray_bytes / 1e6:11.2f} {dense / windows:6.1f}x "
              f"{walls[0]:18.0f} {walls[1]:25.0f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=100_000, help="Python loop iterations per candidate (~5 ms)")
    ap.add_argument("--gens", type=int, default=10)
    ap.add_argument("--es-only", action="store_true", help="only the ES traffic table")
    ap.add_argument("--es-dims", type=int, nargs="+", default=[100_000, 1_000_000])
    a = ap.parse_args()
    if a.es_only:
        return es_traffic(a.es_dims)
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
    print()
    es_traffic(a.es_dims)


if __name__ == "__main__":
    main()
