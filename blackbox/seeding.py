"""Where every random number of a run comes from: a pure function of (run seed, generation, stream).

The solver's generator and the problem's data seed (minibatch, episodes) are both derived from the
same generation counter, ``state["generation"]``, which only the base solver's ``tell`` (or
``advance``) moves forward. A checkpointed state therefore resumes bit-for-bit, and native solvers
get the same data seeds as the driver without importing it.
"""
from __future__ import annotations

import numpy as np


def solver_rng(seed: int, generation: int, stream: int = 0) -> np.random.Generator:
    """The solver's generator for one generation and stream."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(generation), int(stream)])


def data_seed(seed: int, generation: int) -> int:
    """The per-generation data seed (minibatch, episodes) shared by all candidates of a generation."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(generation)]).generate_state(1)[0])
