"""GA: an elitist genetic algorithm of small deltas (Private-GSD style).

The state holds an elite population (``elite_size`` x dim, sorted by loss). Each generation picks
one parent (rank-weighted: the best with probability 1 - ``parent_decay``, the next with that
times ``parent_decay``, ...) and asks for ``children`` small changes of it in ONE ``Deltas``
request against the parent, so a problem with the ``deltas`` capability scores each child
incrementally. Operators:

* ``point``  mutate one coordinate (real: + sigma * N(0, 1); binary: flip),
* ``unit``   mutate a whole unit: one row or column of a matrix of ``spec.layout``, else a random
  contiguous segment of ``unit_size`` coordinates (real: + sigma * N(0, 1) each; binary: fresh
  random bits),
* ``cross``  copy one unit from another elite member (crossover as a swap of values).

The operator of each child is drawn from a multiplicative-weights bandit: an operator's weight
is multiplied by exp(``bandit_lr`` x its children's success rate), with ``bandit_floor``
exploration. Children and elites compete for the elite places (children win ties, so the
population drifts on plateaus). Real domains adapt sigma by the 1/5 success rule.
The first generation scores the initial elites (x0 and ``elite_size`` - 1 mutants) as ``Dense``.

Targets reached by the defaults (tests/test_solvers.py): sphere dim 10 < 1e-3 (~1e-27) and Rastrigin
dim 10 < 40 (24-36) in 800 generations (32 children each), staircase dim 20 = 0, OneMax dim 100 solved and
trap dim 100 (k=5) <= 20 (typically 13-16) in 600 generations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..population import Deltas, Dense
from ..solver import Solver
from .common import check, csr_offsets

OPERATORS = ("point", "unit", "cross")


@dataclass
class GAConfig:
    """Elitist delta GA; defaults suit the built-in benchmarks."""

    elite_size: int = 8  # members kept (sorted by loss)
    children: int = 32  # children per generation, all deltas of one parent
    parent_decay: float = 0.5  # parent = elite rank i with probability ~ parent_decay**i
    sigma: float = 0.3  # real domains: initial std of a mutation
    adapt_sigma: bool = True  # real domains: 1/5 success rule on sigma
    unit_size: int = 0  # coordinates of a segment unit when there is no layout; 0 = auto ceil(sqrt(dim))
    bandit_lr: float = 1.0  # multiplicative-weights rate of the operator bandit
    bandit_floor: float = 0.1  # total probability spread uniformly over the operators (exploration)


class GA(Solver):
    name = "ga"
    Config = GAConfig
    domains = frozenset({"real", "binary"})

    def check_config(self):
        c, o = self.config, self.name
        check(o, c.elite_size >= 1, "elite_size", c.elite_size, ">= 1")
        check(o, c.children >= 1, "children", c.children, ">= 1")
        check(o, 0 <= c.parent_decay < 1, "parent_decay", c.parent_decay, "in [0, 1)")
        check(o, c.sigma > 0, "sigma", c.sigma, "> 0")
        check(o, c.unit_size >= 0, "unit_size", c.unit_size, ">= 0")
        check(o, c.bandit_lr >= 0, "bandit_lr", c.bandit_lr, ">= 0")
        check(o, 0 <= c.bandit_floor <= 1, "bandit_floor", c.bandit_floor, "in [0, 1]")

    def __init__(self, spec, config=None):
        super().__init__(spec, config)
        dim = spec.dim
        self.seg = min(dim, self.config.unit_size or int(math.ceil(math.sqrt(dim))))
        # structured units from the layout: every row and every column of each matrix
        units = []
        for _, start, shape in spec.layout:
            if len(shape) >= 2:
                rows, cols = int(shape[0]), int(np.prod(shape[1:]))
                grid = start + np.arange(rows * cols).reshape(rows, cols)
                units += list(grid) + list(grid.T)
        if units:
            self.units = np.concatenate(units).astype(np.int64)
            self.unit_off = csr_offsets(np.array([u.size for u in units]))
        else:
            self.units = None

    def init(self, x0, seed):
        state = self.base_state(self.spec.domain.project(x0), seed)
        e, dim, dom = self.config.elite_size, self.spec.dim, self.spec.domain
        rng = self.rng(state, 9)
        if dom.kind == "binary":
            elite = np.repeat(state["x"][None], e, axis=0)
            flips = rng.random((e - 1, dim)) < min(0.5, 4.0 / dim)
            elite[1:] ^= flips.astype(np.int8)
        else:
            x = state["x"].astype(np.float64)
            elite = dom.project(x[None] + self.config.sigma * np.concatenate(
                [np.zeros((1, dim)), rng.standard_normal((e - 1, dim))]))
            state["x"] = elite[0].copy()
        state["elite"] = elite
        state["elite_loss"] = np.full(e, np.inf)
        state["op_weights"] = np.full(len(OPERATORS), 1.0 / len(OPERATORS))
        state["sigma"] = float(self.config.sigma)
        return state

    def _probs(self, w):
        f = self.config.bandit_floor
        return (1 - f) * w / w.sum() + f / w.size

    def _units(self, rng, n):
        """CSR (offsets, indices) of n random units."""
        dim = self.spec.dim
        if self.units is None:
            start = rng.integers(0, dim, n)
            idx = (start[:, None] + np.arange(self.seg)[None, :]) % dim
            return np.arange(0, (n + 1) * self.seg, self.seg, dtype=np.int64), idx.reshape(-1)
        u = rng.integers(0, self.unit_off.size - 1, n)
        cnt = self.unit_off[u + 1] - self.unit_off[u]
        off = csr_offsets(cnt)
        within = np.arange(off[-1]) - np.repeat(off[:-1], cnt)
        return off, self.units[np.repeat(self.unit_off[u], cnt) + within]

    def _ask(self, state):
        new = dict(state)
        if not np.isfinite(state["elite_loss"]).all():
            return Dense(state["elite"].copy()), new
        c, rng, dom = self.config, self.rng(state, 0), self.spec.domain
        e, dim = state["elite"].shape
        pw = c.parent_decay ** np.arange(e)
        parent = int(rng.choice(e, p=pw / pw.sum())) if c.parent_decay > 0 else 0
        base = state["elite"][parent]
        ops = np.sort(rng.choice(len(OPERATORS), c.children, p=self._probs(state["op_weights"])))
        n_pt, n_un = int((ops == 0).sum()), int((ops == 1).sum())
        n_cr = c.children - n_pt - n_un
        pt_idx = rng.integers(0, dim, n_pt)
        un_off, un_idx = self._units(rng, n_un)
        cr_off, cr_idx = self._units(rng, n_cr)
        donors = (parent + rng.integers(1, max(e, 2), n_cr)) % e
        mut_idx = np.concatenate([pt_idx, un_idx])
        if dom.kind == "binary":
            mut_vals = np.concatenate([1 - base[pt_idx], rng.integers(0, 2, un_idx.size)]).astype(base.dtype)
        else:
            mut_vals = dom.project(base[mut_idx] + state["sigma"] * rng.standard_normal(mut_idx.size), mut_idx)
        cr_vals = state["elite"][np.repeat(donors, np.diff(cr_off)), cr_idx]
        counts = np.concatenate([np.ones(n_pt, np.int64), np.diff(un_off), np.diff(cr_off)])
        request = Deltas(base, csr_offsets(counts), np.concatenate([mut_idx, cr_idx]).astype(np.int64),
                         np.concatenate([mut_vals, cr_vals]).astype(base.dtype))
        new["parent"] = parent
        new["child_ops"] = ops
        return request, new

    def _tell(self, state, request, losses):
        losses = np.asarray(losses, np.float64)
        new = {k: v for k, v in state.items() if k not in ("parent", "child_ops")}
        e = len(state["elite_loss"])
        if isinstance(request, Dense):  # the initial elites
            order = np.argsort(losses, kind="stable")[:e]
            new["elite"] = np.asarray(request.x)[order].astype(state["elite"].dtype)
            new["elite_loss"] = losses[order]
        else:
            c = self.config
            ops, parent_loss = state["child_ops"], state["elite_loss"][int(state["parent"])]
            win = losses < parent_loss
            w = state["op_weights"].copy()
            for o in range(len(OPERATORS)):
                if (ops == o).any():
                    w[o] *= math.exp(c.bandit_lr * float(win[ops == o].mean()))
            new["op_weights"] = w / w.sum()
            # children that change nothing are clones of the parent: never selected
            d = request
            changed = d.values != d.base[d.indices]
            moved = np.add.reduceat(np.append(changed, False).astype(np.int64), d.offsets[:-1]) > 0
            moved &= np.diff(d.offsets) > 0
            if c.adapt_sigma and self.spec.domain.kind == "real":
                mut = ops < 2  # a neutral move counts as a success: sigma grows on plateaus
                if mut.any():
                    rate = float((moved & (losses <= parent_loss))[mut].mean())
                    new["sigma"] = float(np.clip(state["sigma"] * math.exp((rate - 0.2) / 0.8 * 0.5), 1e-12, 1e12))
            keep = np.flatnonzero(moved & (losses <= state["elite_loss"][-1]))
            keep = keep[np.argsort(losses[keep], kind="stable")][:e]
            # merge children (first: they win ties) and elites; build only the rows that survive
            pool_loss = np.concatenate([losses[keep], state["elite_loss"]])
            order = np.argsort(pool_loss, kind="stable")[:e]
            elite = np.empty_like(state["elite"])
            from_elite = order >= keep.size
            elite[from_elite] = state["elite"][order[from_elite] - keep.size]
            slot = np.flatnonzero(~from_elite)  # new places of children keep[order[slot]]
            kids = keep[order[slot]]
            elite[slot] = d.base
            cnt = np.diff(d.offsets)[kids]
            src = np.repeat(d.offsets[kids], cnt) + (np.arange(cnt.sum()) - np.repeat(csr_offsets(cnt)[:-1], cnt))
            elite[np.repeat(slot, cnt), d.indices[src]] = d.values[src]
            new["elite"], new["elite_loss"] = elite, pool_loss[order]
        new["x"] = new["elite"][0].copy()
        return new
