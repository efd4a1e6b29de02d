"""Search domains: what values a solution's coordinates may take.

A domain is a small frozen value object so that it can be compared, printed and stored in
checkpoints as JSON. Solvers read it to decide how to sample and how to keep candidates legal.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _bound(v):
    """A scalar bound stays a number; an array of per-coordinate bounds becomes a tuple (hashable,
    comparable, JSON-able) so that the domain stays a small frozen value."""
    if v is None:
        return None
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 0:
        return float(a) if not isinstance(v, (int, np.integer)) else int(v)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"a domain bound is a number or a 1-D array of one bound per coordinate, got shape {a.shape}")
    if np.isnan(a).any():
        raise ValueError("a domain bound is NaN")
    return tuple(a.tolist())


@dataclass(frozen=True)
class Domain:
    """``kind`` is ``"real"``, ``"binary"`` or ``"integer"``; a bound is a scalar, a tuple of one
    bound per coordinate (give an array of length dim), or ``None`` (open)."""

    kind: str = "real"
    low: float | tuple | None = None  # a number, one bound per coordinate, or None (open)
    high: float | tuple | None = None

    def __post_init__(self):
        if self.kind not in ("real", "binary", "integer"):
            raise ValueError(f"domain kind must be real, binary or integer, got {self.kind!r}")
        object.__setattr__(self, "low", _bound(self.low))
        object.__setattr__(self, "high", _bound(self.high))
        if self.kind == "integer" and (self.low is None or self.high is None):
            raise ValueError("integer domain needs both low and high bounds")
        lo, hi = self.lower(), self.upper()
        if isinstance(self.low, tuple) and isinstance(self.high, tuple) and len(self.low) != len(self.high):
            raise ValueError(f"domain has {len(self.low)} low bounds and {len(self.high)} high bounds")
        if lo is not None and hi is not None and np.any(lo > hi):
            i = int(np.argmax(np.broadcast_to(lo > hi, np.broadcast(lo, hi).shape)))
            where = f" at coordinate {i}" if np.ndim(lo) or np.ndim(hi) else ""
            raise ValueError(f"domain low={np.broadcast_to(lo, np.broadcast(lo, hi).shape).flat[i]:g} is above "
                             f"high={np.broadcast_to(hi, np.broadcast(lo, hi).shape).flat[i]:g}{where}")

    @property
    def discrete(self) -> bool:
        return self.kind != "real"

    @property
    def per_coordinate(self) -> bool:
        return isinstance(self.low, tuple) or isinstance(self.high, tuple)

    @property
    def dtype(self):
        return np.float64 if self.kind == "real" else (np.int8 if self.kind == "binary" else np.int64)

    def lower(self, index=None):
        """The low bound(s): a scalar, an array over the coordinates, or over ``index`` (the
        coordinates of a flat vector of changed values); None when open."""
        return _at(self.low, index)

    def upper(self, index=None):
        return _at(self.high, index)

    def check_dim(self, dim: int) -> "Domain":
        """Per-coordinate bounds must have one entry per coordinate."""
        for name, b in (("low", self.low), ("high", self.high)):
            if isinstance(b, tuple) and len(b) != dim:
                raise ValueError(f"domain {name} has {len(b)} bounds; expected one per coordinate (dim={dim})")
        return self

    def project(self, x: np.ndarray, index=None) -> np.ndarray:
        """Map arbitrary real values onto the domain (clip, round, threshold at 0.5). ``x`` has
        the coordinates on its last axis, or is a flat vector of values at coordinates ``index``."""
        if self.kind == "binary":
            return (np.asarray(x) > 0.5).astype(np.int8)
        lo, hi = self.lower(index), self.upper(index)
        if self.kind == "integer":
            return np.clip(np.rint(x), lo, hi).astype(np.int64)
        if lo is None and hi is None:
            return np.asarray(x, dtype=np.float64)
        return np.clip(x, lo, hi)

    def sample(self, rng: np.random.Generator, shape) -> np.ndarray:
        """Uniform draw over the domain (last axis = coordinates); open real bounds draw from N(0, 1)."""
        if self.kind == "binary":
            return rng.integers(0, 2, size=shape, dtype=np.int8)
        lo, hi = self.lower(), self.upper()
        if self.kind == "integer":
            return rng.integers(np.asarray(lo, np.int64), np.asarray(hi, np.int64) + 1, size=shape)
        if lo is not None and hi is not None:
            return rng.uniform(lo, hi, size=shape)
        x = rng.standard_normal(shape)
        return self.project(x)

    def check_point(self, x, what: str = "starting point") -> None:
        """Raise ValueError naming the first coordinate of ``x`` that the domain does not hold
        (outside the bounds, not finite, not an integer / 0-1 value on a discrete domain): a start
        point outside a bounded domain would otherwise be clipped silently by the first step."""
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise ValueError(f"{what}: expected numbers, got an array of {x.dtype}")
        x = x.reshape(-1).astype(np.float64)
        bad = ~np.isfinite(x)
        lo, hi = self.lower(), self.upper()
        if lo is not None:
            bad |= x < lo
        if hi is not None:
            bad |= x > hi
        if self.discrete:
            bad |= x != np.rint(x)
        if bad.any():
            i = int(np.argmax(bad))
            lo = "-inf" if lo is None else f"{np.broadcast_to(lo, x.shape)[i]:g}"
            hi = "inf" if hi is None else f"{np.broadcast_to(hi, x.shape)[i]:g}"
            more = f" (and {int(bad.sum()) - 1} more)" if bad.sum() > 1 else ""
            raise ValueError(f"{what}: coordinate {i} is {x[i]:g}, outside the {self.kind} domain "
                             f"[{lo}, {hi}]{more}")

def _at(bound, index):
    if bound is None:
        return None
    if isinstance(bound, tuple):
        a = np.asarray(bound, dtype=np.float64)
        return a if index is None else a[np.asarray(index, dtype=np.int64)]
    return bound




def as_domain(d, dim: int | None = None) -> Domain:
    """What users may give as a domain: a Domain, None (open reals), or a ``(low, high)`` pair
    (a real box; each side a number or an array of one bound per coordinate)."""
    if d is None:
        d = Real()
    elif isinstance(d, (tuple, list)) and len(d) == 2 and not isinstance(d, Domain):
        d = Real(d[0], d[1])
    elif not isinstance(d, Domain):
        raise ValueError(f"domain must be a Domain (Real, Binary, Integer) or a (low, high) pair, got {d!r}")
    return d if dim is None else d.check_dim(dim)


def Real(low=None, high=None) -> Domain:
    """Reals; ``low`` / ``high`` are numbers, arrays of one bound per coordinate, or None (open)."""
    return Domain("real", low, high)


def Binary() -> Domain:
    return Domain("binary", 0, 1)


def Integer(low, high) -> Domain:
    """Integers in [low, high]; each bound a number or an array of one bound per coordinate."""
    return Domain("integer", low, high)
