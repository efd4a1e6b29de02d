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
from .wrap import problem_from_command, problem_from_function, problem_from_vectorized

__all__ = [
    "Binary", "Block", "Deltas", "Dense", "Domain", "Integer", "LowRank", "NoiseWindows", "Problem", "Real", "Solver",
    "Spec", "problem_from_command", "problem_from_function", "problem_from_module", "problem_from_vectorized", "solve",
    "__version__",
]


def solve(*args, **kwargs):
    """Run a problem with a solver under a budget; see ``blackbox.driver.solve``."""
    from .driver import solve as _solve
    return _solve(*args, **kwargs)


def problem_from_module(*args, **kwargs):
    """Any torch nn.Module as a Problem (imports torch); see ``blackbox.module_problem.problem_from_module``."""
    from .module_problem import problem_from_module as _from_module
    return _from_module(*args, **kwargs)
