"""Random search: Gaussian (real/integer) or bit-flip (binary) samples around the best point.

The simplest honest baseline: a solver that beats it is learning something from the losses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..population import Dense, Deltas
from ..solver import Solver


@dataclass
class RandomSearchConfig:
    popsize: int = 32  # candidates per generation
    sigma: float = 0.1  # real/integer: std of the Gaussian step around the best point
    flip_rate: float = 0.01  # binary: expected fraction of bits flipped per candidate (at least one)


class RandomSearch(Solver):
    name = "random"
    Config = RandomSearchConfig

    def check_config(self):
        c = self.config
        if c.popsize < 1:
            raise ValueError(f"random: popsize must be >= 1, got {c.popsize}")
        if c.sigma <= 0:
            raise ValueError(f"random: sigma must be > 0, got {c.sigma}")
        if not 0 < c.flip_rate <= 1:
            raise ValueError(f"random: flip_rate must be in (0, 1], got {c.flip_rate}")

    def init(self, x0, seed):
        state = self.base_state(self.spec.domain.project(x0), seed)
        state["best_loss"] = np.inf
        return state

    def ask(self, state):
        rng, c, dom = self.rng(state), self.config, self.spec.domain
        x = state["x"]
        if dom.kind == "binary":
            counts = np.maximum(1, rng.binomial(self.spec.dim, c.flip_rate, size=c.popsize))
            counts = np.minimum(counts, self.spec.dim)
            # Generator.choice without replacement is O(k) for k << dim (no permutation of dim)
            idx = np.concatenate([rng.choice(self.spec.dim, k, replace=False) for k in counts])
            offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            request = Deltas.flips(x, offsets, idx.astype(np.int64))
        else:
            pop = x[None, :] + c.sigma * rng.standard_normal((c.popsize, self.spec.dim))
            request = Dense(dom.project(pop))
        return request, state

    def tell(self, state, request, losses):
        i = int(np.argmin(losses))
        new = dict(state)
        new["generation"] = int(state["generation"]) + 1
        if losses[i] <= state["best_loss"]:
            new["best_loss"] = float(losses[i])
            new["x"] = request.candidate(i)
        return new

