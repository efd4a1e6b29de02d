"""Per-generation overhead of the built-in solvers on a trivial loss.

The loss is a seeded random number per candidate (O(pop), never the bottleneck) from a problem
with the ``deltas`` capability, so what is timed is the solver: ``ask`` + ``tell`` (and building
the request), at default configs. Evaluations/s counts candidates per second of
ask + evaluate + tell.

    PYTHONPATH=$PWD python benchmarks/solver_overhead.py [--dims 1000 100000 1000000] [--domains real binary]
    PYTHONPATH=$PWD python benchmarks/solver_overhead.py --solvers cma-es pycma es snes random polystep \
        --dims 100000 --domains real --popsize 100        # the issue-16 setting (dim 1e5, population 100)

``--popsize N`` sets the population of every solver that has a ``popsize`` option (polystep, cge
and ga size their generation otherwise: their row says what it was). ``pycma`` is the reference
row for ``cma-es``: pycma's own ``ask`` + ``tell`` (sep-CMA above 1000 dimensions, like the
baseline) on the same losses, without blackbox around it.

Timings are wall-clock on whatever machine runs it (noisy on a shared one); each line gives the
generations timed so a number can be reproduced.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time

import numpy as np

from blackbox.domain import Binary, Real
from blackbox.evaluator import InProcessEvaluator
from blackbox.problem import Problem
from blackbox.registry import solver_class
from blackbox.solver import Spec


class Trivial(Problem):
    name = "trivial"
    capabilities = frozenset({"deltas"})

    def __init__(self, dim, binary):
        self.dim, self.domain = dim, Binary() if binary else Real()

    def _losses(self, n, seed):
        return np.random.default_rng(seed).random(n)

    def evaluate(self, population, seed=0):
        return self._losses(len(population), seed)

    def evaluate_deltas(self, d, seed=0):
        return self._losses(len(d), seed)


def make_solver(name, spec, popsize):
    cls = solver_class(name)
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    return cls(spec, cls.Config(popsize=popsize) if popsize and "popsize" in fields else None)


def bench_pycma(dim, popsize, min_seconds, max_gens):
    """pycma's own generation time: ask + tell of a CMAEvolutionStrategy (sep-CMA above 1000)."""
    import cma
    opts = {"CMA_diagonal": dim > 1000, "verbose": -9, "verb_log": 0, "verb_disp": 0, "seed": 1}
    if popsize:
        opts["popsize"] = popsize
    es = cma.CMAEvolutionStrategy(np.zeros(dim), 0.5, opts)
    own, gens, cands = 0.0, -1, 0
    while gens < 0 or (gens < max_gens and own < min_seconds):
        t0 = time.perf_counter()
        X = es.ask()
        es.tell(X, list(np.random.default_rng(gens + 1).random(len(X))))
        if gens >= 0:  # the first generation is not timed, as for the solvers
            own += time.perf_counter() - t0
            cands += len(X)
        gens += 1
    return dict(solver="pycma", dim=dim, domain="real", gens=gens, pop=cands // gens, ms_gen=1e3 * own / gens,
                us_cand=1e6 * own / cands, evals_s=cands / own)


def bench(name, dim, binary, min_seconds, max_gens, popsize=0):
    if name == "pycma":
        return bench_pycma(dim, popsize, min_seconds, max_gens)
    prob = Trivial(dim, binary)
    solver = make_solver(name, Spec.of(prob), popsize)
    state = solver.init(prob.initial(np.random.default_rng(0)), 0)
    ev = InProcessEvaluator()
    own = total = 0.0
    cands = gens = 0
    warm = True
    while warm or (gens < max_gens and total < min_seconds):
        t0 = time.perf_counter()
        request, state = solver.ask(state)
        t1 = time.perf_counter()
        losses = ev.evaluate(prob, request, seed=gens).losses
        t2 = time.perf_counter()
        state = solver.tell(state, request, losses)
        t3 = time.perf_counter()
        if warm:  # the first generation builds caches (noise table, projections): not timed
            warm = False
            continue
        own += (t1 - t0) + (t3 - t2)
        total += t3 - t0
        cands += len(request)
        gens += 1
    return dict(solver=name, dim=dim, domain="binary" if binary else "real", gens=gens,
                pop=cands // gens, ms_gen=1e3 * own / gens, us_cand=1e6 * own / cands,
                evals_s=cands / total)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--solvers", nargs="+", default=["polystep", "es", "snes", "cge", "ga", "random"])
    ap.add_argument("--dims", nargs="+", type=int, default=[1000, 100_000, 1_000_000])
    ap.add_argument("--domains", nargs="+", default=["real", "binary"])
    ap.add_argument("--seconds", type=float, default=1.0, help="time each case at least this long")
    ap.add_argument("--max-gens", type=int, default=20)
    ap.add_argument("--popsize", type=int, default=0, help="population of solvers with a popsize option (0 = their default)")
    args = ap.parse_args()
    try:
        import numba
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass
    print(f"# solver overhead, trivial loss, default configs (popsize {args.popsize or 'default'}); "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, numpy {np.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'solver':9s} {'domain':6s} {'dim':>9s} {'gens':>5s} {'pop/gen':>9s} {'ask+tell ms/gen':>16s} "
          f"{'us/cand':>8s} {'evals/s':>11s}")
    for dom in args.domains:
        for dim in args.dims:
            for name in args.solvers:
                if name == "pycma" and dom == "binary":
                    continue
                r = bench(name, dim, dom == "binary", args.seconds, args.max_gens, args.popsize)
                print(f"{r['solver']:9s} {r['domain']:6s} {r['dim']:9d} {r['gens']:5d} {r['pop']:9d} "
                      f"{r['ms_gen']:16.2f} {r['us_cand']:8.3f} {r['evals_s']:11.0f}", flush=True)


if __name__ == "__main__":
    main()
