"""The shared seeded noise table of the Gaussian ES solvers (OpenAI-ES style).

A table is a fixed float32 N(0, 1) vector made from one seed; a perturbation is a window of it, so
a perturbation travels as one integer offset. The solver (to form its gradient) and every worker
(to materialize its candidates) rebuild the same table from (seed, size) once per process.
"""
from __future__ import annotations

import numpy as np

_TABLES: dict = {}


def noise_table(seed: int, size: int) -> np.ndarray:
    """The float32 N(0, 1) table of ``size`` floats drawn from ``seed`` (cached per process, one
    table alive at a time; read-only)."""
    key = (int(seed), int(size))
    if key not in _TABLES:
        _TABLES.clear()
        table = np.random.default_rng(key[0]).standard_normal(key[1], dtype=np.float32)
        table.flags.writeable = False
        _TABLES[key] = table
    return _TABLES[key]


def windows(table: np.ndarray, dim: int) -> np.ndarray:
    """Read-only (size - dim + 1, dim) view whose row k is ``table[k:k + dim]``; ``windows(t, d)[offsets]``
    copies the perturbations at those offsets."""
    step = table.strides[0]
    return np.lib.stride_tricks.as_strided(table, (table.size - dim + 1, dim), (step, step), writeable=False)
