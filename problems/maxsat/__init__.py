"""MAX-SAT as a blackbox Problem: binary assignment -> total weight of falsified soft clauses.

Hard clauses are constraints: a violated hard clause makes the assignment infeasible; the loss adds
``hard_penalty`` (= total soft weight + 1) per violated hard clause, so every feasible assignment
beats every infeasible one. ``metrics`` reports the exact integer cost (weights up to 2**63, totals
kept as Python ints), the satisfied fraction, and feasibility.

Instances come from a file (DIMACS CNF, old WCNF, MaxSAT Evaluation 2022 WCNF, optionally
compressed) or from the seeded random k-SAT generator. The domain solver is ``sls``
(``problems/maxsat/sls.py``, beside this problem); generic solvers use the ``deltas`` capability (flip sets against a
base assignment, costed in O(occurrences of the flipped variables)).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from blackbox.domain import Binary
from blackbox.inputs import check_ksat
from blackbox.problem import Problem

from .instance import (FormatError, Instance, exact_sum, format_instance, from_clauses, generate, parse,
                       read_instance, write_instance)

__all__ = ["FormatError", "Instance", "MaxSAT", "MaxSATConfig", "exact_sum", "format_instance", "from_clauses",
           "generate", "parse", "read_instance", "write_instance"]


@dataclass
class MaxSATConfig:
    file: str | None = None  # instance file (.cnf, .wcnf old or 2022 format, optionally .gz/.xz/.bz2); None = random k-SAT
    vars: int = 1000  # random instance: number of variables (1e6 accepted)
    ratio: float = 4.27  # random instance: clauses per variable
    k: int = 3  # random instance: distinct variables per clause
    instance_seed: int = 0  # random instance: generator seed (the run's --seed is separate)
    weighted: bool = False  # random instance: integer weights drawn uniformly in [1, max_weight]
    max_weight: int = 100  # random instance: largest weight when weighted
    allow_empty: bool = False  # read a FILE with no p-line and no clause as an instance without clauses (else an error)

    def __post_init__(self):
        for name in ("vars", "k", "instance_seed", "max_weight"):
            v = getattr(self, name)
            if isinstance(v, str):
                v = float(v)
            if isinstance(v, float):
                if v != int(v):
                    raise ValueError(f"maxsat: {name} must be an integer, got {v}")
                v = int(v)
            setattr(self, name, v)


class MaxSAT(Problem):
    """MAX-SAT on a DIMACS/WCNF FILE (plain or .gz/.xz/.bz2) or a seeded random k-SAT instance.

    Loss = weight of falsified soft clauses + hard_penalty x violated hard clauses, where
    hard_penalty = total soft weight + 1. Default solver: sls (probSAT / clause weighting)."""

    name = "maxsat"
    Config = MaxSATConfig
    capabilities = frozenset({"deltas"})
    default_solver = "sls"
    default_budget = {"seconds": 60.0}
    eval_unit = "flips"
    cli = "blackbox.problems.maxsat.report:MaxSATCLI"
    # instance attributes the native ``sls`` solver reads (checked on the class by the contract tests)

    def __init__(self, config: MaxSATConfig | None = None, instance: Instance | None = None):
        self.config = config or self.Config()
        c = self.config
        if instance is None:
            if c.file:
                instance = read_instance(c.file, c.allow_empty)
            else:
                check_ksat(c.vars, c.ratio, c.k)  # refuse before generating, not after swapping
                instance = generate(c.vars, c.ratio, c.k, c.instance_seed, c.weighted, c.max_weight)
        self.instance = instance
        self.dim = int(instance.nvars)
        self.domain = Binary()
        self._prepare()

    @classmethod
    def from_instance(cls, instance: Instance) -> "MaxSAT":
        return cls(instance=instance)

    @classmethod
    def small_config(cls) -> MaxSATConfig:
        return MaxSATConfig(vars=200, ratio=4.27, instance_seed=1)

    # -- compact working form --------------------------------------------------------------------
    def _prepare(self):
        from . import kernels as K

        inst = self.instance
        lens = np.diff(inst.offsets)
        empty = lens == 0
        self.empty_hard = int(np.count_nonzero(empty & inst.hard))
        self.empty_soft_weight = exact_sum(inst.weights[empty & ~inst.hard])
        self.n_empty = int(np.count_nonzero(empty))
        if inst.meta.get("format") == "generated" and not self.n_empty:
            lits, offs, keep, ntaut = inst.lits, inst.offsets, None, 0  # distinct variables by construction
        else:
            lits, offs, keep, ntaut = K.simplify(inst.lits, inst.offsets)
        self.ntaut = int(ntaut)
        self.lits, self.offs = lits, offs
        self.w = inst.weights if keep is None else inst.weights[keep]
        self.hard = (inst.hard if keep is None else inst.hard[keep]).astype(np.uint8)
        self.occ_off, self.occ = K.occurrences(lits, offs, self.dim)
        self.total_soft = inst.total_soft_weight()
        self.hard_penalty = float(self.total_soft) + 1.0
        self.unit_weights = bool(self.w.size == 0 or (not self.hard.any() and self.w.min() == self.w.max()))
        self._base = None  # deltas cache: last base, its true counts, cost, hard count
        self._scratch = None  # deltas work rows

    @property
    def nclauses(self) -> int:
        return self.instance.nclauses

    def loss_of(self, cost, hard_violated):
        """Loss from kernel soft cost (uint64, working clauses) and violated hard count."""
        return (np.asarray(cost, dtype=np.float64) + float(self.empty_soft_weight)
                + self.hard_penalty * (np.asarray(hard_violated, dtype=np.float64) + self.empty_hard))

    def initial(self, rng):
        """Majority polarity: each variable takes the sign that satisfies more of its clauses."""
        cnt = np.diff(self.occ_off)
        pos, neg = cnt[0::2], cnt[1::2]
        tie = rng.integers(0, 2, self.dim, dtype=np.int8)
        return np.where(pos > neg, 1, np.where(neg > pos, 0, tie)).astype(np.int8)

    @staticmethod
    def _bits(x) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != np.int8:
            x = (x > 0.5).astype(np.int8)
        return np.ascontiguousarray(x)

    def evaluate(self, population, seed=0):
        from . import kernels as K

        X = self._bits(population)
        if X.ndim == 1:
            X = X[None, :]
        cost, nh = K.evaluate_population(X, self.lits, self.offs, self.w, self.hard)
        return self.loss_of(cost, nh)

    def _base_counts(self, base):
        from . import kernels as K

        cache = self._base
        if cache is not None and cache[0].shape == base.shape and np.array_equal(cache[0], base):
            return cache
        nt = K.true_counts(base, self.lits, self.offs)
        cost, nh = K.cost_of_counts(nt, self.w, self.hard)
        self._base = (base.copy(), nt, cost, nh)
        return self._base

    def evaluate_deltas(self, d, seed=0):
        import numba

        from . import kernels as K

        base = self._bits(d.base)
        offsets = np.asarray(d.offsets, dtype=np.int64)
        idx = np.asarray(d.indices, dtype=np.int64)
        vals = self._bits(d.values)
        change = vals != base[idx]
        if not change.all():  # entries that set a variable to its base value change nothing
            per = np.add.reduceat(np.append(change, False).astype(np.int64), offsets[:-1]) if idx.size else np.zeros(len(d), np.int64)
            per = np.where(np.diff(offsets) > 0, per, 0)
            idx = idx[change]
            offsets = np.concatenate([[0], np.cumsum(per)]).astype(np.int64)
        _, nt, cost, nh = self._base_counts(base)
        nchunks = max(1, min(numba.get_num_threads(), len(d)))
        if self._scratch is None or self._scratch.shape[0] < nchunks:  # zero rows, kept zero by the kernel
            self._scratch = np.zeros((nchunks, self.hard.size), np.int32)
        c, h = K.evaluate_flips(self, base, nt, cost, nh, offsets, idx, self._scratch[:nchunks])
        return self.loss_of(c, h)

    # -- reporting -------------------------------------------------------------------------------
    def cost(self, x) -> tuple[int, int]:
        """Exact (soft cost, violated hard clauses) of an assignment."""
        from . import kernels as K

        sat = K.true_counts(self._bits(x), self.lits, self.offs) > 0
        falsified = ~sat
        hard = self.hard.astype(bool)
        return (exact_sum(self.w[falsified & ~hard]) + self.empty_soft_weight,
                int(np.count_nonzero(falsified & hard)) + self.empty_hard)

    def metrics(self, x) -> dict:
        from . import kernels as K

        sat = K.true_counts(self._bits(x), self.lits, self.offs) > 0
        hard = self.hard.astype(bool)
        total = self.instance.nclauses
        satisfied = int(np.count_nonzero(sat)) + self.ntaut
        cost = exact_sum(self.w[~sat & ~hard]) + self.empty_soft_weight
        hv = int(np.count_nonzero(~sat & hard)) + self.empty_hard
        return {
            "satisfied_fraction": satisfied / total if total else 1.0,
            "unsatisfied": total - satisfied,
            "cost": cost,
            "hard_violated": hv,
            "feasible": hv == 0,
        }

    def describe(self) -> str:
        return f"maxsat {self.instance.describe()}"

    def live_metrics(self, best_loss):
        from .report import live_metrics
        return live_metrics(self, best_loss)
