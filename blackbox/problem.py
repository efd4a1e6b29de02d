"""The forward-only Problem contract.

A Problem knows its dimension and domain, can give a starting point from a seeded generator, and
maps a whole population to losses in one call (lower is better). Human metrics (accuracy, satisfied
fraction, return) are reported apart from the loss, and test metrics only through ``test_metrics``,
which the driver calls once, on the already selected solution, so selection never sees test data.

Every hook the driver, CLI, evaluator, compare harness or a solver may call is declared on
``Problem`` below, with its default; docs/concepts.md lists them by linking here.

Request forms other than ``Dense`` (see ``population``) are *capabilities*, declared once, in
``capabilities``: ``"deltas"`` (changes against a base point), ``"lowrank"`` (per-layer low-rank
perturbations) and ``"noise"`` (windows of a shared noise table). The evaluator sends a request in
its own form only to a problem that declares it (to ``evaluate_deltas`` / ``evaluate_lowrank`` /
``evaluate_noise``) and ``request.dense()`` otherwise, so a capability is a speed-up, never a
requirement.
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
      name            registry name (``blackbox list``)
      Config          dataclass of the problem's options (CLI flags are generated from it)
      backend         ``"numpy"`` or ``"torch"``: the array type ``evaluate`` receives
      stochastic      True when the loss depends on the per-generation ``seed`` (minibatch, episodes)
      capabilities    extra request forms evaluated natively: {"deltas", "lowrank", "noise"}
      default_solver  the solver used when none is named
      solver_defaults per-solver config settings suited to this problem's scale (user settings win)
      default_budget  the budget of a run given none ({"evals": N} and/or {"seconds": S})
      eval_unit       what one evaluation is called in progress lines ("flips" for MAX-SAT)
      cli             "module:Class" of the problem's command-line extension (``cli_ext.CLIExtension``)

    Instance attributes:
      dim, domain     size and domain of a solution
      config          the Config instance it was built from
      layout          parameter blocks (name, start, shape) of a structured solution, for per-layer solvers
      last_error      text of the last failed evaluation (wrappers set it; reports show it)
      deadline        when a time budget ends (``time.monotonic()``); wrappers in worker processes
                      abandon calls still running then, so a hanging simulator cannot hold the run
    """

    name: ClassVar[str] = "problem"
    Config: ClassVar[type] = NoConfig
    backend: ClassVar[str] = "numpy"
    stochastic: ClassVar[bool] = False
    capabilities: ClassVar[frozenset] = frozenset()
    default_solver: ClassVar[str] = "polystep"
    # Settings a problem suggests for a solver ({"polystep": {"sigma0": 0.1}}): applied
    # under the user's own settings, recorded in the result's solver_config like any other.
    solver_defaults: ClassVar[dict] = {}
    default_budget: ClassVar[dict] = {"evals": 10_000}
    eval_unit: ClassVar[str] = "evals"
    cli: ClassVar[str | None] = None

    dim: int
    domain: Domain = Real()
    config: object = None
    layout: tuple = ()
    last_error: str = ""
    deadline: float | None = None  # time.monotonic() by which running evaluations must end (set by the driver from a time budget)

    @classmethod
    def small_config(cls):
        """A cheap Config for the registry-wide contract tests (tests/test_contract.py)."""
        return cls.Config()

    def initial(self, rng: np.random.Generator) -> np.ndarray:
        """A starting point. Default: a draw from the domain (N(0,1) on an open real line)."""
        return self.domain.sample(rng, (self.dim,))

    def evaluate(self, population, seed: int = 0):
        """Losses of a (pop x dim) population as a length-pop array. ``seed`` is the generation's
        data seed: every candidate of one call must see the same minibatch/episodes."""
        raise NotImplementedError

    def evaluate_deltas(self, request, seed: int = 0):
        """Losses of a ``Deltas`` request; called only when "deltas" is in ``capabilities``."""
        return self.evaluate(request.dense(), seed=seed)

    def evaluate_lowrank(self, request, seed: int = 0):
        """Losses of a ``LowRank`` request; called only when "lowrank" is in ``capabilities``."""
        return self.evaluate(request.dense(), seed=seed)

    def evaluate_noise(self, request, seed: int = 0):
        """Losses of a ``NoiseWindows`` request; called only when "noise" is in ``capabilities``."""
        return self.evaluate(request.dense(), seed=seed)

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

    def live_metrics(self, best_loss: float) -> dict:
        """Extra fields of the live progress line for the best loss so far (satisfied %, say)."""
        return {}

    def save_artifacts(self, x: np.ndarray, out_prefix: str) -> list:
        """Files written beside a result for ``--artifacts`` (a policy's GIF); the written paths.
        Problems that write none keep this default, and the CLI refuses ``--artifacts`` for them."""
        return []

    def batch(self, seed: int):
        """The data of one generation's ``seed`` (a minibatch) for ``surrogate_loss_torch``."""
        return seed

    def surrogate_loss_torch(self, params, batch):
        """Differentiable smooth twin of the loss for one (dim,) torch parameter vector: only for
        the NOT gradient-free ``adam-ceiling`` baseline; problems without a twin keep this default."""
        raise NotImplementedError(f"{self.name} has no smooth twin (surrogate_loss_torch)")

    def describe(self) -> str:
        """One line naming the problem and its size, for progress lines and reports."""
        return f"{self.name} (dim={self.dim}, {self.domain.kind})"


def overrides(obj, hook: str, base: type) -> bool:
    """True when ``obj`` (an instance or a class) replaces the declared default ``base.hook``."""
    cls = obj if isinstance(obj, type) else type(obj)
    return getattr(cls, hook) is not getattr(base, hook)
