"""blackbox: forward-only optimization for what gradients cannot reach.

A Problem maps a population to losses; a solver only asks for losses. ``blackbox.solve`` runs one
against the other under a budget. Importing this package stays light: no torch, no numba.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .domain import Binary, Domain, Integer, Real
from .population import Block, Deltas, Dense, LowRank, NoiseWindows
from .problem import Problem
from .solver import Solver, Spec
from .wrap import _Wrapped, problem_from_command, problem_from_function, problem_from_vectorized

__all__ = [
    "Binary", "Block", "Deltas", "Dense", "Domain", "Integer", "LowRank", "NoiseWindows", "Problem", "Real", "Solver",
    "Spec", "problem_from_command", "problem_from_function", "problem_from_vectorized", "solve",
    "__version__",
]


def solve(*args, **kwargs):
    """Run a problem with a solver under a budget; see ``blackbox.driver.solve``."""
    from .driver import solve as _solve
    problem = args[0] if args else kwargs.get("problem")
    if kwargs.get("seconds") is None or not isinstance(problem, _Wrapped):
        return _solve(*args, **kwargs)
    # A wrapped simulator in worker processes abandons calls still running when the time budget
    # ends, so a hanging call cannot hold the run past it. (The driver, which owns the budget,
    # should set this deadline itself; until it does, the public entry point sets it here.)
    import time
    problem.deadline = time.monotonic() + float(kwargs["seconds"])
    try:
        return _solve(*args, **kwargs)
    finally:
        problem.deadline = None
