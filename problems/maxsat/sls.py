"""``sls``: stochastic local search for MAX-SAT (a native solver: it reads the clauses).

Two walks, chosen per instance (``method="auto"``):
  * probSAT for instances without hard clauses near the satisfiability threshold (uniform random
    k-SAT, weighted or not): a random falsified clause, one of its variables flipped with
    probability ~ (eps + break)^-cb (polynomial, 3-SAT and weighted) or cb^-break (exponential,
    k >= 4), break counts (weighted: sums of weight / average weight) cached;
  * clause weighting in the spirit of SATLike / NuWLS for weighted and partial (hard + soft)
    instances: greedy flips on dynamic-weight scores, weights raised at local optima.
Several independent walkers run in parallel threads (``walkers``); the best assignment over them is
reported. One evaluation = one flip. The whole search state (assignments, counts, lists, weights,
random generator states) is a flat dict of arrays, so checkpoints resume bit-for-bit.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from blackbox.solver import Solver

from . import MaxSAT

SHARE_FLIPS = 400_000  # several walkers: followers restart from the leader after this many flips each
BREAK_UNIT = 4  # weighted probSAT: a clause of average weight adds 4 to a break; the table reads break / 4
_ARRAYS = ("x", "best_x", "log", "nt", "crit", "ntc", "unsat", "unsat_h", "where", "dw", "score", "brk", "good",
           "goodpos", "lastflip", "ctr", "ucost", "rng")


@dataclass
class SLSConfig:
    method: str = "auto"  # probsat, weighting, or auto (probsat for soft-only k>=3 instances near the threshold)
    walkers: int = 0  # parallel walkers; 0 = auto (one per core up to 50k variables for probSAT, 200k for weighting; else 1)
    cb: float = 0.0  # probSAT break exponent/base; 0 = auto (3-SAT: 5.0 falling to 2.06 as flips per variable grow from 20 to 2000)
    eps: float = 0.9  # probSAT polynomial break: weight (eps + break)^-cb
    init: str = "majority"  # start: majority (each variable takes its more frequent sign), random, or x0
    bms: int = 15  # weighting: improving variables sampled per step (best from multiple selections)
    h_inc: int = 3  # weighting: hard-clause weight increase at a local optimum (average soft weight = 1)
    soft_cap: int = 50  # weighting: a soft clause's dynamic weight stops at soft_cap x its initial weight
    smooth: float = 0.01  # weighting: probability that a local optimum smooths weights instead of raising them
    scale: int = 1  # weighting: initial soft weight = scale x weight / average soft weight (at least 1)
    share: bool = True  # probSAT with several walkers: after each slice, walkers behind the leader restart from its state
    chunk_seconds: float = 0.4  # advance returns after the first slice that ends past this (progress, checkpoints; never changes the path)


class SLS(Solver):
    name = "sls"
    Config = SLSConfig
    domains = frozenset({"binary"})
    native = True

    @classmethod
    def refuses(cls, problem_cls):
        if not issubclass(problem_cls, MaxSAT):
            return f"solver 'sls' needs a MAX-SAT problem (it reads the clauses); {problem_cls.name} is not one"
        return None

    def check_config(self):
        c = self.config
        if c.method not in ("auto", "probsat", "weighting"):
            raise ValueError(f"sls: method must be auto, probsat or weighting, got {c.method!r}")
        if c.init not in ("majority", "random", "x0"):
            raise ValueError(f"sls: init must be majority, random or x0, got {c.init!r}")
        if c.walkers < 0:
            raise ValueError(f"sls: walkers must be >= 0, got {c.walkers}")
        if c.cb < 0:
            raise ValueError(f"sls: cb must be >= 0 (0 = auto), got {c.cb}")
        if c.eps <= 0:
            raise ValueError(f"sls: eps must be > 0, got {c.eps}")
        if c.bms < 1:
            raise ValueError(f"sls: bms must be >= 1, got {c.bms}")
        if c.h_inc < 1:
            raise ValueError(f"sls: h_inc must be >= 1, got {c.h_inc}")
        if c.soft_cap < 1:
            raise ValueError(f"sls: soft_cap must be >= 1, got {c.soft_cap}")
        if not 0 <= c.smooth <= 1:
            raise ValueError(f"sls: smooth must be in [0, 1], got {c.smooth}")
        if c.scale < 1:
            raise ValueError(f"sls: scale must be >= 1, got {c.scale}")
        if c.chunk_seconds <= 0:
            raise ValueError(f"sls: chunk_seconds must be > 0, got {c.chunk_seconds}")

    # -- state ---------------------------------------------------------------------------------
    def init(self, x0, seed):
        state = self.base_state(np.asarray(x0, dtype=np.int8), seed)
        state.update(ready=0, flips=0, best_loss=float("inf"), best_walker=0, method="", chunk=0,
                     slices=0, rate=0.0)
        return state

    def best(self, state):
        if not state["ready"]:
            return state["x"], float(state["best_loss"])
        return state["best_x"][int(state["best_walker"])].copy(), float(state["best_loss"])

    def recommend(self, state):
        return self.best(state)[0]

    def _method(self, problem) -> str:
        if self.config.method != "auto":
            return self.config.method
        if problem.hard.any() or problem.offs.size < 2:
            return "weighting"
        lens = np.diff(problem.offs)
        k = int(lens.max())
        # probSAT is the tool near the satisfiability threshold (~2^k ln 2 clauses per variable);
        # far above it (Max-2-SAT, over-constrained Max-3-SAT) clause weighting finds optima faster.
        near = lens.size / max(1, problem.dim) < 1.25 * (2 ** k) * np.log(2)
        return "probsat" if (int(lens.min()) >= 3 and k < 256 and near) else "weighting"

    def _walkers(self, problem, method: str) -> int:
        if self.config.walkers:
            return int(self.config.walkers)
        import numba
        # Large probSAT walks: one walker with all the flips beat two walkers sharing the machine
        # (n=100k, 20 s: 99.82 % vs 99.78-99.79 %; n=1M, 60 s: 99.73 % vs 99.59 %, busy 2-core host).
        limit = 50_000 if method == "probsat" else 200_000
        # numba's thread pool size (NUMBA_NUM_THREADS: the cores), not get_num_threads(): that one
        # is process state any library may lower, and the walker count shapes the search path
        return 1 if problem.dim > limit else max(1, int(numba.config.NUMBA_NUM_THREADS))

    def _setup(self, state, problem):
        from . import _sls_kernels as K

        method = self._method(problem)
        if method == "probsat" and problem.hard.any():
            raise ValueError("sls: probsat handles soft clauses only; use method=weighting for hard clauses")
        if method == "probsat" and problem.offs.size > 1 and int(np.diff(problem.offs).max()) > 255:
            raise ValueError("sls: probsat handles clauses of up to 255 literals; use method=weighting")
        W, n = self._walkers(problem, method), int(problem.dim)
        m = int(problem.offs.size - 1)
        weighting = method == "weighting"
        rng = np.random.default_rng([int(state["seed"]) & 0xFFFFFFFF, 0x5157])
        x0 = np.asarray(state["x"], dtype=np.int8)
        x = np.empty((W, n), np.int8)
        for w in range(W):
            if self.config.init == "x0":
                x[w] = x0
            elif self.config.init == "random":
                x[w] = rng.integers(0, 2, n, dtype=np.int8)
            else:  # the problem's own majority start, ties broken by this walker's draws
                x[w] = problem.initial(rng)
        nh = int(np.count_nonzero(problem.hard))
        s = {
            "x": x, "best_x": np.empty((W, n), np.int8), "log": np.zeros((W, n + 1024), np.int32),
            "nt": np.empty((W, m), np.int32), "crit": np.empty((W, m), np.int32),
            "unsat": np.empty((W, m), np.int32), "unsat_h": np.empty((W, max(1, nh)), np.int32),
            "where": np.empty((W, m), np.int32),
            "ctr": np.zeros((W, 8), np.int64), "ucost": np.zeros((W, 2), np.uint64),
            "rng": rng.integers(1, 2**63 - 1, size=W, dtype=np.int64).astype(np.uint64),
        }
        if weighting:
            s_init, s_cap, h0 = self._weights(problem)
            dw = np.where(problem.hard.astype(bool), h0, s_init).astype(np.int64)
            s.update(dw=np.repeat(dw[None, :], W, axis=0), score=np.zeros((W, n), np.int64),
                     brk=np.zeros((W, 1), np.int32), good=np.zeros((W, n), np.int32),
                     goodpos=np.zeros((W, n), np.int32), lastflip=np.zeros((W, n), np.int64))
        else:
            s.update(dw=np.zeros((W, 1), np.int64), score=np.zeros((W, 1), np.int64),
                     brk=np.zeros((W, n), np.int32), good=np.zeros((W, 1), np.int32),
                     goodpos=np.zeros((W, 1), np.int32), lastflip=np.zeros((W, 1), np.int64))
        K.init_walkers(s["x"], problem.lits, problem.offs, problem.occ_off, problem.occ, problem.w, problem.hard,
                       s["nt"], s["crit"], s["unsat"], s["unsat_h"], s["where"], s["dw"], s["score"], s["brk"],
                       s["good"], s["goodpos"], s["ctr"], s["ucost"], s["best_x"], weighting)
        if weighting:
            s["ntc"] = np.zeros((W, 1), np.int64)
        else:  # probSAT keeps count and critical variable packed in one int64 per clause
            if not problem.unit_weights:  # breaks as sums of normalized weights
                wb = self._break_weights(problem)
                brk = np.zeros((W, n), np.int32)
                for w in range(W):
                    one = s["nt"][w] == 1
                    brk[w] = np.bincount(s["crit"][w][one], weights=wb[one], minlength=n).astype(np.int32)
                s["brk"] = brk
            s["ntc"] = K.pack_counts(s["nt"], s["crit"])
            s["nt"], s["crit"] = np.zeros((W, 1), np.int32), np.zeros((W, 1), np.int32)
        state.update(s)
        state.update(ready=1, method=method, chunk=slice_flips(n))
        self._finish_step(state, problem)

    def _break_weights(self, problem):
        """Per-clause integer break weight of weighted probSAT: round(BREAK_UNIT x weight / average),
        clipped to [1, 16 x BREAK_UNIT] (cached)."""
        cache = getattr(self, "_wb", None)
        if cache is None or cache[0] is not problem:
            w = problem.w.astype(np.float64)
            avg = w.mean() if w.size and w.mean() > 0 else 1.0
            wb = np.clip(np.rint(BREAK_UNIT * w / avg), 1, 16 * BREAK_UNIT).astype(np.int32)
            self._wb = cache = (problem, wb)
        return cache[1]

    def _weights(self, problem):
        """Initial dynamic soft weights ~ original weight / average (at least 1), their cap, and
        the initial hard weight."""
        soft = ~problem.hard.astype(bool)
        w = problem.w.astype(np.float64)
        avg = w[soft].mean() if soft.any() and w[soft].mean() > 0 else 1.0
        S = int(self.config.scale)
        s_init = np.maximum(1, np.rint(S * w / avg)).astype(np.int64)
        s_init = np.minimum(s_init, 1 << 20)
        s_init[~soft] = S
        s_cap = s_init * int(self.config.soft_cap)
        return s_init, s_cap, S

    def _probs(self, problem, fpv: float = 0.0):
        """Break-value -> selection weight table for probSAT, and the common clause length (0 if
        clauses differ in length)."""
        shape = getattr(self, "_shape", None)
        if shape is None or shape[0] is not problem:
            lens = np.diff(problem.offs)
            k = int(lens.max()) if lens.size else 3
            kfix = k if lens.size and int(lens.min()) == k and k < 256 else 0
            maxb = int(np.diff(problem.occ_off).max()) + 2 if problem.occ_off.size > 1 else 2
            self._shape = shape = (problem, k, kfix, maxb)
        _, k, kfix, maxb = shape
        b = np.arange(maxb, dtype=np.float64)
        if not problem.unit_weights:  # integer weighted breaks in units of 1/BREAK_UNIT
            b = np.arange(maxb * 16 * BREAK_UNIT, dtype=np.float64) / BREAK_UNIT
        cb = self.config.cb
        if k <= 3:
            if not cb:
                cb = cb_schedule(fpv)
            return (self.config.eps + b) ** (-cb), kfix, cb
        if not cb:
            cb = {4: 3.0, 5: 3.7, 6: 5.1}.get(k, 5.4)
        return cb ** (-b), kfix, cb

    @staticmethod
    def _share(s):
        """Walkers whose best is worse than the leader's continue from the leader's current
        state (their own random streams keep them apart): a selection step between slices."""
        best = s["ctr"][:, 6]  # best-ever falsified count: a follower's copied-over best is never better
        lead = int(np.argmin(best))
        for w in range(best.size):
            if w != lead and best[w] > best[lead]:
                for key in _ARRAYS:
                    if key != "rng" and s[key].shape[0] == best.size:
                        s[key][w] = s[key][lead]

    def _finish_step(self, state, problem):
        ctr, ucost = state["ctr"], state["ucost"]
        keys = [(int(ctr[w, 2]), int(ucost[w, 1])) for w in range(ctr.shape[0])]
        bw = int(min(range(len(keys)), key=keys.__getitem__))
        state["best_walker"] = bw
        state["best_loss"] = float(problem.loss_of(ucost[bw, 1], ctr[bw, 2]))

    def optimal(self, state) -> bool:
        """True when a walker satisfies every (non-empty) clause: nothing left to improve."""
        ctr = state["ctr"]
        return bool(state["ready"]) and bool(np.any((ctr[:, 2] == 0) & (ctr[:, 6] == 0)))

    finished = optimal  # the driver stops a run whose walker satisfies every clause

    # -- the native contract -------------------------------------------------------------------
    def _advance(self, state, problem, evals_left, seconds_left):
        """Slices of flips until the evaluation budget, the time slice (``chunk_seconds``, read
        only *between* slices) or an optimum. The search path is a function of (seed, flips) only:
        slice sizes, the break-exponent schedule and the walkers' sharing depend on flips and
        slices done, never on wall time, so equal budgets give equal assignments however the
        slices fall into calls, and a resumed run continues exactly."""
        t0 = time.perf_counter()
        s = dict(state)
        if not s["ready"]:
            self._setup(s, problem)
        else:
            for key in _ARRAYS:
                s[key] = s[key].copy()
        W = s["x"].shape[0]
        budget = max(0, int(evals_left)) if evals_left is not None else 1 << 62
        limit = self.config.chunk_seconds if seconds_left is None else min(self.config.chunk_seconds, seconds_left)
        used = 0
        while used < budget and not self.optimal(s):
            per = max(1, min(int(s["chunk"]), (budget - used) // W if budget - used >= W else 1))
            n_done = self._slice(s, problem, per)
            used += n_done
            s["slices"] = int(s["slices"]) + 1
            if n_done == 0:
                break
            if self._shares(s, W):
                self._share(s)
            if time.perf_counter() - t0 >= limit:
                break
        s["flips"] = int(s["flips"]) + used
        elapsed = time.perf_counter() - t0
        s["rate"] = used / elapsed if elapsed > 0 else 0.0
        self._finish_step(s, problem)
        return s, used

    def _shares(self, s, walkers: int) -> bool:
        """Walkers share after every SHARE_FLIPS flips per walker (counted in whole slices)."""
        every = max(1, SHARE_FLIPS // int(s["chunk"]))
        return self.config.share and walkers > 1 and s["method"] != "weighting" and int(s["slices"]) % every == 0

    def _slice(self, s, problem, per: int) -> int:
        """``per`` flips of every walker (one kernel call); the flips done."""
        from . import _sls_kernels as K

        W = s["x"].shape[0]
        if s["method"] == "weighting":
            s_init, s_cap, h0 = self._weights(problem)
            run = K.weighted_run if W > 1 else _single(K._weighted_walker)
            done = run(s["x"], problem.lits, problem.offs, problem.occ_off, problem.occ, problem.w,
                       problem.hard, s["nt"], s["crit"], s["unsat"], s["unsat_h"], s["where"], s["dw"],
                       s["score"], s["good"], s["goodpos"], s["lastflip"], s["ctr"], s["ucost"],
                       s["rng"], s["best_x"], s["log"], s_init, s_cap, int(self.config.h_inc) * h0, h0,
                       float(self.config.smooth), int(self.config.bms), per)
        else:
            probs, kfix, _ = self._probs(problem, int(s["ctr"][:, 5].max()) / max(1, problem.dim))
            weighted = not problem.unit_weights
            wb = self._break_weights(problem) if weighted else np.ones(1, np.int32)
            run = K.probsat_run if W > 1 else _single(K._probsat_walker)
            done = run(s["x"], problem.lits, problem.offs, problem.occ_off, problem.occ, s["ntc"],
                       s["unsat"], s["where"], s["brk"], s["ctr"], s["ucost"], s["rng"], probs, s["best_x"],
                       s["log"], kfix, problem.w, wb, weighted, per)
        return int(done.sum())


def slice_flips(n: int) -> int:
    """Flips per walker in one kernel call: about a third of a second at a million variables
    (~0.35 M flips/s on one core), so a time budget is checked often; never below 20,000."""
    return int(np.clip(n // 8, 20_000, 150_000))


def cb_schedule(flips_per_var: float) -> float:
    """3-SAT break exponent: greedy (5.0) while the walk is young, down to probSAT's long-run
    2.06 (log-linearly between 20 and 2000 flips per variable). Measured at n = 1M, ratio 4.27:
    after 10 flips per variable cb 5.0 -> 99.70% satisfied, 3.2 -> 99.64%, 2.6 -> 99.53%."""
    t = np.clip(np.log10(max(flips_per_var, 1e-9) / 20.0) / 2.0, 0.0, 1.0)
    return float(5.0 - (5.0 - 2.06) * t)


def _single(walker):
    """Call a one-walker kernel directly: no parallel region (and no thread barrier) per call."""
    def run(*args):
        return np.array([walker(0, *args)], dtype=np.int64)
    return run
