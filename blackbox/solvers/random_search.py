"""Random search: Gaussian (real/integer) or bit-flip (binary) samples around the best point.

The simplest honest baseline: a solver that beats it is learning something from the losses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..population import Dense, Deltas
from ..solver import Solver
from .common import check_sigma0, renamed_option, resolve_sigma0

SIGMA0_OPEN = 0.1  # the step on open domains (the old default of ``sigma``)
SIGMA0_FRACTION = 0.01  # the step on bounded domains: this x (high - low) (BBOB: common.py)


@dataclass
class RandomSearchConfig:
    popsize: int = 32  # candidates per generation
    sigma0: float = 0.0  # real/integer: std of the Gaussian step around the best point; 0 = 0.01 x (high - low) on a bounded domain, else 0.1
    flip_rate: float = 0.01  # binary: expected fraction of bits flipped per candidate (at least one)
    sigma: float | None = None  # deprecated name of sigma0

    def __post_init__(self):
        renamed_option("random", self, "sigma")


class RandomSearch(Solver):
    name = "random"
    Config = RandomSearchConfig

    def __init__(self, spec, config=None):
        config, self.sigma0_source = resolve_sigma0(config or self.Config(), spec.domain, SIGMA0_OPEN, SIGMA0_FRACTION)
        super().__init__(spec, config)

    def check_config(self):
        c = self.config
        if c.popsize < 1:
            raise ValueError(f"random: popsize must be >= 1, got {c.popsize}")
        check_sigma0("random", c, "sigma")
        if not 0 < c.flip_rate <= 1:
            raise ValueError(f"random: flip_rate must be in (0, 1], got {c.flip_rate}")

    def init(self, x0, seed):
        state = self.base_state(self.spec.domain.project(x0), seed)
        state["best_loss"] = np.inf
        return state

    def _ask(self, state):
        rng, c, dom = self.rng(state), self.config, self.spec.domain
        x = state["x"]
        if dom.kind == "binary":
            counts = np.maximum(1, rng.binomial(self.spec.dim, c.flip_rate, size=c.popsize))
            counts = np.minimum(counts, self.spec.dim)
            idx = distinct_per_row(rng, self.spec.dim, counts)
            offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            request = Deltas.flips(x, offsets, idx.astype(np.int64))
        else:
            pop = x[None, :] + c.sigma0 * rng.standard_normal((c.popsize, self.spec.dim))
            request = Dense(dom.project(pop))
        return request, state

    def _tell(self, state, request, losses):
        i = int(np.argmin(losses))
        new = dict(state)
        if losses[i] <= state["best_loss"]:
            new["best_loss"] = float(losses[i])
            new["x"] = request.candidate(i)
        return new



def distinct_per_row(rng: np.random.Generator, n: int, counts: np.ndarray) -> np.ndarray:
    """Concatenated index sets, set i holding counts[i] distinct values in [0, n).

    One vectorized draw for all sets; the rare set that drew a duplicate is redrawn without
    replacement (the expected number of such sets is ~sum(k^2)/2n, tiny when k << n).
    """
    counts = np.asarray(counts, dtype=np.int64)
    rows = np.repeat(np.arange(counts.size), counts)
    idx = rng.integers(0, n, size=int(counts.sum()))
    order = np.lexsort((idx, rows))
    dup = (np.diff(idx[order]) == 0) & (np.diff(rows[order]) == 0)
    if dup.any():
        offsets = np.concatenate([[0], np.cumsum(counts)])
        for r in np.unique(rows[order][1:][dup]):
            idx[offsets[r]:offsets[r + 1]] = rng.choice(n, int(counts[r]), replace=False)
    return idx
