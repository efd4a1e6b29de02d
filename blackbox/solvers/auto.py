"""``auto``: pick a solver from what is known of the problem, then run it unchanged.

In the spirit of nevergrad's NGOpt, but with a short written rule table (docs/choosing.md, where
each rule has the measured row that chose it). The inputs are the ``Spec`` (domain kind,
dimension, capabilities, ``stochastic``: noisy losses), the evaluation budget (``plan``) and the
``noisy`` option (for a problem that is noisy without saying so).

The choice is a rule key (``RULES``) stored in the state as ``auto_choice``; the rest of the state
is the chosen solver's own, so a checkpoint resumes the same delegate bit for bit. ``init`` chooses
without the budget; ``plan`` (called once, before the first generation when the budget is in
evaluations) may switch to the rule for that budget, restarting the delegate from the same point.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..registry import solver_class, solver_names
from ..solver import Solver, Spec, build_config
from .common import check

# key -> (registered solver, its config overrides, the rule in words)
RULES = {
    "cmaes-full": ("cmaes", {"covariance": "full", "restarts": "bipop"},
                   "real, dim <= full_max_dim and budget >= 10 dim^2 (or unknown): full-covariance CMA-ES, BIPOP"),
    "cmaes-sep": ("cmaes", {"covariance": "sep", "restarts": "bipop"},
                  "real, larger or a budget below 10 dim^2: separable CMA-ES, BIPOP"),
    "cmaes-noisy": ("cmaes", {"covariance": "auto", "restarts": "ipop", "popsize": 0},
                    "real or integer, noisy losses: CMA-ES with IPOP (growing populations average noise)"),
    "cmaes-lattice": ("cmaes", {"covariance": "auto", "restarts": "bipop"},
                      "integer: CMA-ES on the real relaxation, candidates rounded to the lattice"),
    "ga": ("ga", {}, "binary: the delta GA (Deltas requests: cheap on problems with the deltas capability)"),
}


@dataclass
class AutoConfig:
    """What auto may not infer from the problem itself."""

    solver: str = "auto"  # auto = choose by the rules of docs/choosing.md; a rule key (cmaes-full, ...) forces it
    noisy: bool = False  # the losses are noisy (a stochastic problem): prefer growing populations
    full_max_dim: int = 100  # real domains: full covariance up to this dimension, separable above


def choose(spec: Spec, noisy: bool, budget: int | None, full_max_dim: int = 100) -> str:
    """The rule key for a problem: the table of docs/choosing.md as code."""
    kind, n = spec.domain.kind, spec.dim
    if kind == "binary":
        return "ga"
    if noisy:
        return "cmaes-noisy"
    if kind == "integer":
        return "cmaes-lattice"
    if n > full_max_dim or (budget is not None and budget < 10 * n * n):
        return "cmaes-sep"
    return "cmaes-full"


class Auto(Solver):
    name = "auto"
    Config = AutoConfig
    domains = frozenset({"real", "binary", "integer"})

    def check_config(self):
        c = self.config
        check(self.name, c.solver == "auto" or c.solver in RULES, "solver", c.solver,
              f"auto or one of {', '.join(RULES)}")
        check(self.name, c.full_max_dim >= 1, "full_max_dim", c.full_max_dim, ">= 1")

    def __init__(self, spec: Spec, config=None):
        super().__init__(spec, config)
        self._delegates = {}  # rule key -> solver instance (instances hold no run state)

    def _choose(self, budget):
        c = self.config
        return c.solver if c.solver != "auto" else choose(self.spec, c.noisy or self.spec.stochastic, budget,
                                                          c.full_max_dim)

    def delegate(self, state_or_key) -> Solver:
        """The solver instance of a rule key (or of the key a state records), built once."""
        key = state_or_key if isinstance(state_or_key, str) else str(state_or_key["auto_choice"])
        if key not in self._delegates:
            name, overrides, _ = RULES[key]
            if name not in solver_names():
                raise LookupError(f"auto: rule {key!r} needs solver {name!r}, which is not registered")
            cls = solver_class(name)
            self._delegates[key] = cls(self.spec, build_config(cls.Config, overrides, f"solver {name}"))
        return self._delegates[key]

    def _start(self, key, x0, seed):
        state = dict(self.delegate(key).init(x0, seed))
        state["auto_choice"] = key
        return state

    def init(self, x0, seed):
        return self._start(self._choose(None), x0, seed)

    def plan(self, state, evals):
        key = self._choose(evals)
        if key != state["auto_choice"] and int(state["generation"]) == 0:
            state = self._start(key, np.asarray(state["x"]), int(state["seed"]))
        return self._wrap(state, self.delegate(state).plan(_inner(state), evals))

    @staticmethod
    def _wrap(state, inner):
        out = dict(inner)
        out["auto_choice"] = state["auto_choice"]
        return out

    def _ask(self, state):
        request, inner = self.delegate(state).ask(_inner(state))
        return request, self._wrap(state, inner)

    def _tell(self, state, request, losses):
        return self._wrap(state, self.delegate(state).tell(_inner(state), request, losses))

    def finished(self, state):
        return self.delegate(state).finished(_inner(state))

    def describe(self, state):
        return f"auto ({state['auto_choice']})"

    def recommend(self, state):
        return self.delegate(state).recommend(_inner(state))


def _inner(state) -> dict:
    inner = dict(state)
    inner.pop("auto_choice", None)
    return inner
