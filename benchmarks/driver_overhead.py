"""Driver overhead per generation at dim 100,000 and population 100 (goal: <= 2 ms).

Three rows, each a full `blackbox.solve` run with a trivial loss so that only solver and driver
work is timed:
  driver only      a solver that hands back one pre-built population: driver + evaluator bookkeeping
  random, deltas   random search on a binary problem, 100 candidates of ~10 flips each (sparse requests)
  random, dense    random search on a real problem: 100 x 100,000 Gaussian draws per generation, the
                   cost of materializing a dense population (shown for scale, not driver overhead)

    python benchmarks/driver_overhead.py [--dim 100000] [--pop 100] [--gens 200]
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

import blackbox
from blackbox.population import Dense
from blackbox.problem import Problem
from blackbox.solver import Solver


class Trivial(Problem):
    name = "trivial"
    capabilities = frozenset({"deltas"})

    def __init__(self, dim, domain):
        self.dim, self.domain = dim, domain

    def evaluate(self, population, seed=0):
        return np.zeros(len(population))

    def evaluate_deltas(self, d, seed=0):
        return np.diff(d.offsets).astype(np.float64)


@dataclass
class FixedConfig:
    popsize: int = 100


class Fixed(Solver):
    """Asks the same pre-built population every generation: measures the driver alone."""

    name = "fixed"
    Config = FixedConfig

    def init(self, x0, seed):
        self.pop = Dense(np.repeat(x0[None, :], self.config.popsize, axis=0))
        return self.base_state(x0, seed)

    def ask(self, state):
        return self.pop, state

    def tell(self, state, request, losses):
        return dict(state, generation=int(state["generation"]) + 1)


def timed(problem, solver, config, gens, pop):
    blackbox.solve(problem, solver, config, evals=pop * 3, seed=0)  # warm-up
    r = blackbox.solve(problem, solver, config, evals=pop * gens, seed=0)
    return r.wall_time / r.generations * 1e3, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dim", type=int, default=100_000)
    ap.add_argument("--pop", type=int, default=100)
    ap.add_argument("--gens", type=int, default=200)
    a = ap.parse_args()
    real = Trivial(a.dim, blackbox.Real())
    binary = Trivial(a.dim, blackbox.Binary())
    spec_solver = Fixed(blackbox.Spec(a.dim, blackbox.Real()), FixedConfig(a.pop))
    rows = [("driver only", *timed(real, spec_solver, None, a.gens, a.pop)),
            ("random, deltas (binary)", *timed(binary, "random", {"popsize": a.pop, "flip_rate": 1e-4}, a.gens, a.pop)),
            ("random, dense (real)", *timed(real, "random", {"popsize": a.pop}, max(20, a.gens // 10), a.pop))]
    print(f"dim {a.dim:,}  population {a.pop}  (wall per generation, trivial loss, seed 0)")
    print(f"{'row':26s} {'ms/gen':>8s} {'generations':>12s} {'evals':>10s} {'wall s':>8s}")
    for name, ms, r in rows:
        print(f"{name:26s} {ms:8.3f} {r.generations:12d} {r.evals:10d} {r.wall_time:8.2f}")


if __name__ == "__main__":
    main()
