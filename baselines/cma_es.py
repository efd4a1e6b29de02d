"""CMA-ES through pycma (Hansen's ``cma`` package), as a baseline solver.

Full covariance up to ``diagonal_above`` dimensions, separable (diagonal, sep-CMA: linear time
and memory) above it. pycma's defaults are kept (population 4 + 3 ln dim, weights, learning rates);
``sigma0`` is the initial step size in the problem's units.

State and checkpoints. pycma's ``CMAEvolutionStrategy`` is an object graph, and a solver state
holds only arrays and numbers, so the state stores that object **serialized with pickle as a
uint8 array** (``state["cma"]``): this baseline's checkpoint is pycma's own format, readable by
the same pycma version only (the version is recorded in ``state["cma_version"]``). The state is
the strategy between generations: ``ask`` returns the state unchanged, and ``tell`` replays the
generation's ``ask`` (same seed, same draws) when it is not handed the live object that asked.
Between ask and tell the live object is kept in memory (keyed by the identity of the state's
array); after ``tell`` the run continues on the object unpickled from the stored bytes, exactly as
a resumed run does, so that the next bytes are the same too (pickle's sharing of objects differs
between a live and an unpickled strategy). That round trip is cheap because the bytes hold O(dim)
numbers: the population buffers pycma keeps (pop x dim floats, rewritten before they are read
again) are left out. Before, every generation pickled and unpickled them too (three pop x dim
arrays, 80 MB each at dim 100,000, population 100). tests/test_cma_live.py checks that a run resumed from the
bytes at any generation continues bit for bit.

Reproducibility. pycma draws its samples from numpy's global generator; ``ask`` seeds that
generator from ``self.rng(state)`` (a function of run seed and generation) around the call and
restores the caller's global state afterwards, so a run, and a run resumed from a checkpoint,
are bit-for-bit repeatable and nothing else in the process sees a changed global generator.
pycma's wall-clock timers are frozen in the stored bytes (see ``_freeze_timers``) so that the
state itself, not only the losses, is identical between equal runs.

Binary domains: CMA runs on real logits z (started at (x0 - 0.5) * sigma0); a candidate is
1[z > 0] and the recommendation 1[mean > 0]; pycma is told the real z it sampled.
"""
from __future__ import annotations

import math
import pickle
from dataclasses import dataclass

import numpy as np

from blackbox.population import Dense
from blackbox.solver import Solver
from blackbox.solvers.common import check


@dataclass
class CMAConfig:
    """pycma's CMA-ES; defaults are pycma's except the step size and the diagonal switch."""

    sigma0: float = 0.5  # initial step size (problem units; binary: logit units)
    popsize: int = 0  # candidates per generation; 0 = pycma's default 4 + 3 ln dim
    diagonal_above: int = 1000  # use separable (diagonal) CMA when dim exceeds this (0 = always)


def _global_randn(*shape):
    """pycma's ``randn`` option: numpy's global generator, referenced by name so that a pickled
    strategy keeps drawing from the (seeded) global generator after unpickling."""
    return np.random.standard_normal(shape)


class CMAES(Solver):
    name = "cma-es"
    Config = CMAConfig
    domains = frozenset({"real", "binary"})

    def check_config(self):
        c = self.config
        check(self.name, c.sigma0 > 0, "sigma0", c.sigma0, "> 0")
        check(self.name, c.popsize == 0 or c.popsize >= 2, "popsize", c.popsize, ">= 2 (or 0 = auto)")
        check(self.name, c.diagonal_above >= 0, "diagonal_above", c.diagonal_above, ">= 0")

    @property
    def binary(self) -> bool:
        return self.spec.domain.kind == "binary"

    def _options(self, seed: int) -> dict:
        c, dom = self.config, self.spec.domain
        opts = {"randn": _global_randn, "seed": math.nan, "verbose": -9, "verb_log": 0, "verb_disp": 0,
                "CMA_diagonal": self.spec.dim > c.diagonal_above, "tolfun": 0, "tolfunhist": 0,
                "tolx": 0, "tolstagnation": 10 ** 9, "tolflatfitness": 10 ** 9, "maxiter": math.inf}
        if c.popsize:
            opts["popsize"] = c.popsize
        if not self.binary and (dom.low is not None or dom.high is not None):
            opts["bounds"] = [dom.low, dom.high]
        return opts

    def init(self, x0, seed):
        import cma
        state = self.base_state(self.spec.domain.project(x0), seed)
        if self.binary:
            mean = (state["x"].astype(np.float64) - 0.5) * self.config.sigma0
        else:
            mean = state["x"].astype(np.float64)
        with _seeded(self.rng(state, 2)):
            es = cma.CMAEvolutionStrategy(mean, self.config.sigma0, self._options(seed))
        state["cma"] = _dump(es)
        state["cma_version"] = str(cma.__version__)
        self._live = ("told", state["cma"], _load(state["cma"]), None)
        return state

    def _take(self, phase: str, blob: np.ndarray):
        """The live strategy cached for exactly this serialized array in this phase, or None.
        Taking it empties the cache: the object is about to change."""
        live, self._live = getattr(self, "_live", None), None
        if live is not None and live[0] == phase and live[1] is blob:
            return live[2], live[3]
        return None

    def _draw(self, es, state) -> list:
        """pycma's own list of candidate arrays, told back as they are (no copies in between)."""
        with _seeded(self.rng(state)):
            return es.ask()

    def _ask(self, state):
        hit = self._take("told", state["cma"])
        es = hit[0] if hit else _load(state["cma"])
        X = self._draw(es, state)
        self._live = ("asked", state["cma"], es, X)
        z = _rows_of_one_array(X)
        if self.binary:
            return Dense((z > 0).astype(np.int8)), dict(state)
        return Dense(self.spec.domain.project(z)), dict(state)

    def _tell(self, state, request, losses):
        hit = self._take("asked", state["cma"])
        if hit:
            es, X = hit
        else:  # a fresh process or a copied state: replay this generation's ask (same seed, same draws)
            es = _load(state["cma"])
            X = self._draw(es, state)
        with _seeded(self.rng(state, 1)):
            es.tell(X, [float(v) for v in np.asarray(losses, np.float64)])
        new = dict(state)
        # read the result before storing: ``es.result`` updates pycma's stop-condition cache, and
        # the object the run continues on must be the stored one, untouched, as in a resumed run
        mean = np.asarray(es.result.xfavorite, np.float64)  # the mean in problem coordinates
        new["x"] = (mean > 0).astype(np.int8) if self.binary else self.spec.domain.project(mean)
        new["sigma"] = float(es.sigma)
        new["cma"] = _dump(es)
        es = _load(new["cma"])  # continue on the round-tripped object, as a resumed run does: the
        self._live = ("told", new["cma"], es, None)  # next bytes then match a resumed run's exactly
        return new


# pycma attributes that hold this generation's population (pop x dim floats each) and are
# rewritten before they are read again (``ary`` at the next ask, ``pop_sorted`` and ``_tell2_args``
# in the next tell): left out of the stored bytes, which then hold O(dim) numbers, not O(pop x dim).
_TRANSIENT = {"ary": [], "pop_sorted": None, "_tell2_args": None}


def _dump(es) -> np.ndarray:
    """The strategy as pickled bytes in a uint8 array, without its population buffers. The live
    object is left as it was."""
    _freeze_timers(es)
    held = {k: getattr(es, k) for k in _TRANSIENT if hasattr(es, k)}
    try:
        for k in held:
            setattr(es, k, _TRANSIENT[k])
        blob = pickle.dumps(es, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        for k, v in held.items():
            setattr(es, k, v)
    return np.frombuffer(blob, np.uint8).copy()


def _rows_of_one_array(X: list) -> np.ndarray:
    """The (pop, dim) array whose consecutive rows the list ``X`` holds, without a copy when it
    is one (pycma's ``ask`` returns the rows of the population array it built: copying them
    again costs a pop x dim pass, 80 MB at dim 100,000, population 100); else a stacked copy."""
    base = getattr(X[0], "base", None) if X else None
    if (isinstance(base, np.ndarray) and base.dtype == np.float64 and base.flags.c_contiguous
            and base.shape == (len(X), np.size(X[0]))
            and all(x.base is base and x.ctypes.data == base[i].ctypes.data for i, x in enumerate(X))):
        return base
    return np.asarray(X, np.float64)


def _freeze_timers(es) -> None:
    """pycma's wall-clock timers (they feed only its ``timeout`` option, unused here) are set to
    a fixed paused state, so that equal runs store equal bytes."""
    logger = getattr(es, "logger", None)
    for t in (getattr(es, "timer", None), getattr(logger, "timer_plot", None), getattr(logger, "timer_all", None)):
        if t is not None and hasattr(t, "cum_time"):
            for k in ("paused", "last_tic", "_last_toc", "_time_at_reset", "_time_at_creation"):
                if hasattr(t, k):
                    setattr(t, k, 1.0)
            t.cum_time = 0.0


def _load(arr: np.ndarray):
    return pickle.loads(np.asarray(arr, np.uint8).tobytes())


class _seeded:
    """Seed numpy's global generator from ``rng`` inside the block; restore it afterwards."""

    def __init__(self, rng: np.random.Generator):
        self.seed = int(rng.integers(0, 2 ** 32 - 1))

    def __enter__(self):
        self.saved = np.random.get_state()
        np.random.seed(self.seed)

    def __exit__(self, *exc):
        np.random.set_state(self.saved)
