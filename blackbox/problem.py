"""The forward-only Problem contract.

A Problem knows its dimension and domain, can give a starting point from a seeded generator, and
maps a whole population to losses in one call (lower is better). Human metrics (accuracy, satisfied
fraction, return) are reported apart from the loss, and test metrics only through ``test_metrics``,
which the driver calls once, on the already selected solution, so selection never sees test data.

Optional capabilities are extra ``evaluate_<form>`` methods named in ``capabilities``:
``"deltas"`` (changes against a base point, see ``population.Deltas``), ``"lowrank"`` (see
``population.LowRank``) and ``"noise"`` (Gaussian windows of a shared noise table, see
``population.NoiseWindows``). The evaluator uses them when a solver asks in that form, and falls back to
``request.dense()`` otherwise, so a capability is a speed-up, never a requirement.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .domain import Domain, Real


@dataclass
class NoConfig:
    """Problems without options use this config."""


class Problem:
    """Subclass and set ``dim``/``domain`` in ``__init__``; implement ``evaluate``.

    Class attributes:
      name          registry name (``blackbox list``)
      Config        dataclass of the problem's options (CLI flags are generated from it)
      backend       ``"numpy"`` or ``"torch"``: the array type ``evaluate`` receives
      stochastic    True when the loss depends on the per-generation ``seed`` (minibatch, episodes)
      capabilities  extra request forms this problem evaluates natively: {"deltas", "lowrank", "noise"}
      default_solver  the solver used when none is named
      solver_defaults per-solver config settings suited to this problem's scale (user settings win)
    """

    name: ClassVar[str] = "problem"
    Config: ClassVar[type] = NoConfig
    backend: ClassVar[str] = "numpy"
    stochastic: ClassVar[bool] = False
    capabilities: ClassVar[frozenset] = frozenset()
    default_solver: ClassVar[str] = "polystep"  # used when no solver is named
    # Settings a problem suggests for a solver ({"polystep": {"probe_radius_start": 0.1}}): applied
    # under the user's own settings, recorded in the result's solver_config like any other.
    solver_defaults: ClassVar[dict] = {}

    dim: int
    domain: Domain = Real()
    config: object = None

    def initial(self, rng: np.random.Generator) -> np.ndarray:
        """A starting point. Default: a draw from the domain (N(0,1) on an open real line)."""
        return self.domain.sample(rng, (self.dim,))

    def evaluate(self, population, seed: int = 0):
        """Losses of a (pop x dim) population as a length-pop array. ``seed`` is the generation's
        data seed: every candidate of one call must see the same minibatch/episodes."""
        raise NotImplementedError

    def metrics(self, x: np.ndarray) -> dict:
        """Human metrics of one solution on non-test data (validation accuracy, satisfied fraction)."""
        return {}

    def validation_loss(self, x: np.ndarray) -> float | None:
        """A loss on held-out (validation) data used to select the reported solution of a
        stochastic problem; None means selection uses the training loss."""
        return None

    def test_metrics(self, x: np.ndarray) -> dict:
        """Metrics on test data; called once, on the selected solution, for the final report."""
        return {}

    def describe(self) -> str:
        return f"{self.name} (dim={self.dim}, {self.domain.kind})"


def has_capability(problem: Problem, form: str) -> bool:
    return form in getattr(problem, "capabilities", ()) and hasattr(problem, f"evaluate_{form}")
