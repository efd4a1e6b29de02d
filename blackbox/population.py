"""The forms in which a solver hands a population to a problem.

``Dense`` is the plain (pop x dim) array every problem understands. ``Deltas`` (sparse changes
against one base point) and ``LowRank`` (per-layer low-rank perturbations of one base point) let a
problem that declares the matching capability evaluate far cheaper than a dense forward each;
any other problem gets ``request.dense()``. Solvers pick the form; the evaluator picks the path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


@dataclass
class Dense:
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
class Deltas:
    """Candidate ``i`` is ``base`` with ``base[indices[s]] = values[s]`` for s in its CSR slice.

    ``offsets`` has pop+1 entries; candidate i owns ``indices[offsets[i]:offsets[i+1]]``. Indices within
    one candidate are distinct. For a binary domain the values are the flipped bits.
    """

    base: np.ndarray  # (dim,)
    offsets: np.ndarray  # (pop+1,) int64
    indices: np.ndarray  # (nnz,) int64
    values: np.ndarray  # (nnz,) same dtype as base

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
class LowRank:
    """Candidate ``i`` is ``base`` plus, for each ``Block``, ``u[i] @ v[i].T`` added to the block's
    matrix, plus an optional dense remainder ``rest`` (pop x dim) for coordinates outside the blocks
    (biases, say). A neural problem with the ``lowrank`` capability computes one shared base forward
    and a cheap per-candidate correction instead of ``pop`` dense forwards."""

    base: np.ndarray
    blocks: list[Block]
    rest: np.ndarray | None = None

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


FORMS = {"dense": Dense, "deltas": Deltas, "lowrank": LowRank}


def form_of(request) -> str:
    for name, cls in FORMS.items():
        if isinstance(request, cls):
            return name
    raise TypeError(f"a solver asked with {type(request).__name__}; expected Dense, Deltas or LowRank")
