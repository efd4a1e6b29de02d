"""Search domains: what values a solution's coordinates may take.

A domain is a small frozen value object so that it can be compared, printed and stored in
checkpoints as JSON. Solvers read it to decide how to sample and how to keep candidates legal.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Domain:
    """``kind`` is ``"real"``, ``"binary"`` or ``"integer"``; bounds are scalars (``None`` = open)."""

    kind: str = "real"
    low: float | None = None
    high: float | None = None

    def __post_init__(self):
        if self.kind not in ("real", "binary", "integer"):
            raise ValueError(f"domain kind must be real, binary or integer, got {self.kind!r}")
        if self.kind == "integer" and (self.low is None or self.high is None):
            raise ValueError("integer domain needs both low and high bounds")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"domain low={self.low} is above high={self.high}")

    @property
    def discrete(self) -> bool:
        return self.kind != "real"

    @property
    def dtype(self):
        return np.float64 if self.kind == "real" else (np.int8 if self.kind == "binary" else np.int64)

    def project(self, x: np.ndarray) -> np.ndarray:
        """Map arbitrary real values onto the domain (clip, round, threshold at 0.5)."""
        if self.kind == "binary":
            return (np.asarray(x) > 0.5).astype(np.int8)
        if self.kind == "integer":
            return np.clip(np.rint(x), self.low, self.high).astype(np.int64)
        if self.low is None and self.high is None:
            return np.asarray(x, dtype=np.float64)
        return np.clip(x, self.low, self.high)

    def sample(self, rng: np.random.Generator, shape) -> np.ndarray:
        """Uniform draw over the domain; open real bounds draw from N(0, 1)."""
        if self.kind == "binary":
            return rng.integers(0, 2, size=shape, dtype=np.int8)
        if self.kind == "integer":
            return rng.integers(int(self.low), int(self.high) + 1, size=shape)
        if self.low is not None and self.high is not None:
            return rng.uniform(self.low, self.high, size=shape)
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
        if self.low is not None:
            bad |= x < self.low
        if self.high is not None:
            bad |= x > self.high
        if self.discrete:
            bad |= x != np.rint(x)
        if bad.any():
            i = int(np.argmax(bad))
            lo = "-inf" if self.low is None else f"{self.low:g}"
            hi = "inf" if self.high is None else f"{self.high:g}"
            more = f" (and {int(bad.sum()) - 1} more)" if bad.sum() > 1 else ""
            raise ValueError(f"{what}: coordinate {i} is {x[i]:g}, outside the {self.kind} domain "
                             f"[{lo}, {hi}]{more}")

    def to_json(self) -> dict:
        return {"kind": self.kind, "low": self.low, "high": self.high}

    @classmethod
    def from_json(cls, d: dict) -> "Domain":
        return cls(d["kind"], d.get("low"), d.get("high"))


def Real(low: float | None = None, high: float | None = None) -> Domain:
    return Domain("real", low, high)


def Binary() -> Domain:
    return Domain("binary", 0, 1)


def Integer(low: int, high: int) -> Domain:
    return Domain("integer", low, high)
