"""The forms in which a solver hands a population to a problem.

``Dense`` is the plain (pop x dim) array every problem understands. ``Deltas`` (sparse changes
against one base point) and ``LowRank`` (per-layer low-rank perturbations of one base point) let a
problem that declares the matching capability evaluate far cheaper than a dense forward each;
``NoiseWindows`` (Gaussian perturbations read from a shared seeded noise table) is what the ES
solvers send so that a distributed evaluation ships table offsets, not rows. Any problem without
the matching capability gets ``request.dense()``. Solvers pick the form; the evaluator picks the path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

from .domain import Domain
from .noise import noise_table, windows


class Request:
    """What every request form offers: its ``form`` name (the capability that evaluates it
    natively), its size, a chunk of it, one candidate, and the dense (pop x dim) rows."""

    form: ClassVar[str] = "dense"

    def __len__(self) -> int:
        raise NotImplementedError

    def dense(self) -> np.ndarray:
        """All candidates as (pop x dim) rows: what any problem can evaluate."""
        raise NotImplementedError

    def take(self, start: int, stop: int) -> "Request":
        """Candidates ``start:stop`` as a request of the same form (a worker's chunk)."""
        raise NotImplementedError

    def candidate(self, i: int) -> np.ndarray:
        """Candidate ``i`` as one (dim,) row."""
        raise NotImplementedError

    def evaluate_natively(self, problem, seed: int):
        """The problem's own method for this form (call only when ``form`` is in its capabilities)."""
        raise NotImplementedError


@dataclass
class Dense(Request):
    """A whole population, one row per candidate."""

    x: np.ndarray  # (pop, dim)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def dense(self) -> np.ndarray:
        return self.x

    def candidate(self, i: int) -> np.ndarray:
        return self.x[i]

    def take(self, start: int, stop: int) -> "Dense":
        return Dense(self.x[start:stop])


@dataclass
class Deltas(Request):
    """Candidate ``i`` is ``base`` with ``base[indices[s]] = values[s]`` for s in its CSR slice.

    ``offsets`` has pop+1 entries; candidate i owns ``indices[offsets[i]:offsets[i+1]]``. Indices within
    one candidate are distinct. For a binary domain the values are the flipped bits.
    """

    base: np.ndarray  # (dim,)
    offsets: np.ndarray  # (pop+1,) int64
    indices: np.ndarray  # (nnz,) int64
    values: np.ndarray  # (nnz,) same dtype as base
    form: ClassVar[str] = "deltas"

    def evaluate_natively(self, problem, seed: int):
        return problem.evaluate_deltas(self, seed=seed)

    def __len__(self) -> int:
        return int(self.offsets.shape[0] - 1)

    @classmethod
    def flips(cls, base: np.ndarray, offsets: np.ndarray, indices: np.ndarray) -> "Deltas":
        """Binary candidates that each flip a set of variables of ``base``."""
        return cls(base, offsets, indices, (1 - base[indices]).astype(base.dtype))

    def candidate(self, i: int) -> np.ndarray:
        x = self.base.copy()
        s = slice(self.offsets[i], self.offsets[i + 1])
        x[self.indices[s]] = self.values[s]
        return x

    def take(self, start: int, stop: int) -> "Deltas":
        lo, hi = int(self.offsets[start]), int(self.offsets[stop])
        return Deltas(self.base, self.offsets[start:stop + 1] - lo, self.indices[lo:hi], self.values[lo:hi])

    def dense(self) -> np.ndarray:
        pop = len(self)
        x = np.repeat(self.base[None, :], pop, axis=0)
        rows = np.repeat(np.arange(pop), np.diff(self.offsets))
        x[rows, self.indices] = self.values
        return x


class Block(NamedTuple):
    """One (rows x cols) weight matrix stored row-major at ``base[start:start+rows*cols]``;
    candidate i adds ``u[i] @ v[i].T`` to it (u: pop x rows x r, v: pop x cols x r)."""

    start: int
    rows: int
    cols: int
    u: np.ndarray
    v: np.ndarray


@dataclass
class LowRank(Request):
    """Candidate ``i`` is ``base`` plus, for each ``Block``, ``u[i] @ v[i].T`` added to the block's
    matrix, plus an optional dense remainder ``rest`` (pop x dim) for coordinates outside the blocks
    (biases, say). A neural problem with the ``lowrank`` capability computes one shared base forward
    and a cheap per-candidate correction instead of ``pop`` dense forwards."""

    base: np.ndarray
    blocks: list[Block]
    rest: np.ndarray | None = None
    form: ClassVar[str] = "lowrank"

    def evaluate_natively(self, problem, seed: int):
        return problem.evaluate_lowrank(self, seed=seed)

    def __len__(self) -> int:
        b = self.blocks[0]
        return int(b[3].shape[0])

    def dense(self) -> np.ndarray:
        pop = len(self)
        x = np.repeat(self.base[None, :].astype(np.float64), pop, axis=0)
        for start, rows, cols, u, v in self.blocks:
            x[:, start:start + rows * cols] += np.einsum("prk,pck->prc", u, v).reshape(pop, rows * cols)
        if self.rest is not None:
            x += self.rest
        return x

    def take(self, start: int, stop: int) -> "LowRank":
        blocks = [Block(b.start, b.rows, b.cols, b.u[start:stop], b.v[start:stop]) for b in self.blocks]
        return LowRank(self.base, blocks, None if self.rest is None else self.rest[start:stop])

    def candidate(self, i: int) -> np.ndarray:
        x = self.base.astype(np.float64).copy()
        for start, rows, cols, u, v in self.blocks:
            x[start:start + rows * cols] += (u[i] @ v[i].T).reshape(-1)
        if self.rest is not None:
            x += self.rest[i]
        return x


def gaussian_candidates(center: np.ndarray, scale, eps_rows, signs: np.ndarray, domain: Domain,
                        block_floats: int = 1 << 18) -> np.ndarray:
    """Rows ``center + signs[i] * scale * eps_i`` (float32 step, float64 rows), clipped to a bounded
    real domain; for a binary domain the int8 threshold ``center + step > 0``, computed in float32 as
    ``step > -center`` (sign +1) or ``step < center`` (sign -1). ``eps_rows(i)`` returns a new
    float32 (rows, dim) array for a slice ``i`` of the candidates. Runs of equal sign go in blocks of about ``block_floats`` floats:
    small populations in one vectorized pass, and at dim 1e6 one row at a time, never a second
    (pop x dim) temporary."""
    n, dim = len(signs), center.shape[0]
    scale32 = np.asarray(scale, np.float32)
    binary = domain.kind == "binary"
    out = np.empty((n, dim), np.int8 if binary else np.float64)
    if binary:
        c32 = center.astype(np.float32)
        neg = -c32
    rows, plus = max(1, block_floats // max(dim, 1)), np.asarray(signs) > 0
    runs = [0, *(np.flatnonzero(plus[1:] != plus[:-1]) + 1).tolist(), n]
    for start, stop in ((a, min(a + rows, end)) for lo, end in zip(runs[:-1], runs[1:]) for a in range(lo, end, rows)):
        step = eps_rows(slice(start, stop))
        np.multiply(step, scale32, out=step)
        o = out[start:stop]
        if binary:
            (np.greater if plus[start] else np.less)(step, neg if plus[start] else c32, out=o, casting="unsafe")
        else:
            (np.add if plus[start] else np.subtract)(center, step, out=o)
    if not binary and (domain.low is not None or domain.high is not None):
        np.clip(out, domain.low, domain.high, out=out)
    return out


@dataclass
class NoiseWindows(Request):
    """Candidate ``i`` is ``center + signs[i] * scale * table[offsets[i]:offsets[i] + dim]``, where
    ``table = noise_table(table_seed, table_size)`` (float32 N(0, 1), rebuilt once per process),
    thresholded or clipped by ``domain`` as in ``gaussian_candidates``. An antithetic pair is the
    same offset with signs +1 and -1. What travels is the center, the scale and two short vectors,
    so a chunk costs O(dim + chunk) bytes instead of chunk x dim floats."""

    center: np.ndarray  # (dim,) float64 (float32 for a binary domain: only that is used)
    offsets: np.ndarray  # (pop,) int64 window starts in the table
    signs: np.ndarray  # (pop,) int8, +1 or -1
    scale: float | np.ndarray  # the perturbation std: a number or a (dim,) float32 vector
    table_seed: int
    table_size: int
    domain: Domain
    form: ClassVar[str] = "noise"

    def evaluate_natively(self, problem, seed: int):
        return problem.evaluate_noise(self, seed=seed)

    def __len__(self) -> int:
        return int(self.offsets.shape[0])

    def dense(self) -> np.ndarray:
        rows = windows(noise_table(self.table_seed, self.table_size), self.center.shape[0])
        return gaussian_candidates(self.center, self.scale, lambda i: rows[self.offsets[i]], self.signs, self.domain)

    def take(self, start: int, stop: int) -> "NoiseWindows":
        return NoiseWindows(self.center, self.offsets[start:stop], self.signs[start:stop], self.scale,
                            self.table_seed, self.table_size, self.domain)

    def candidate(self, i: int) -> np.ndarray:
        return self.take(i, i + 1).dense()[0]


FORMS = {cls.form: cls for cls in (Dense, Deltas, LowRank, NoiseWindows)}


def form_of(request) -> str:
    """The form name of a request; a TypeError naming the forms for anything else."""
    if isinstance(request, Request):
        return request.form
    raise TypeError(f"a solver asked with {type(request).__name__}; expected one of "
                    f"{', '.join(cls.__name__ for cls in FORMS.values())}")
