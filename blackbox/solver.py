"""The ask/tell solver contract on explicit state.

A solver is configured once (a small ``Config`` dataclass) for a problem's ``Spec`` and then works
on a *state*: a flat dict of numpy arrays and plain numbers/strings. ``ask(state)`` returns a
population request (a ``population.Request``: ``Dense``, ``Deltas``, ``LowRank`` or ``NoiseWindows``)
and the state to hand back; ``tell(state, request, losses)`` returns the next state. Neither
mutates the state it is given, and all randomness comes from ``rng(state, stream)``, a generator
seeded by (run seed, generation, stream) (``blackbox.seeding``): a state saved to disk and loaded
again therefore continues bit-for-bit like the uninterrupted run.

Bookkeeping happens once, here: the public ``ask``/``tell``/``advance`` call the subclass's
``_ask``/``_tell``/``_advance`` and move ``state["generation"]`` forward; subclasses never touch
the counter. The best solution seen is tracked by the driver, not by solvers (a native solver
reports its own through ``best``).

Domain solvers that need more than losses (the MAX-SAT local search reads clauses) set
``native = True``, implement ``_advance`` instead of ``_ask``/``_tell`` and name the problem
problem types they refuse in ``refuses``.

Every hook the driver, CLI or compare harness may call is declared below with its default.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from .domain import Domain
from .seeding import solver_rng

State = dict


@dataclass(frozen=True)
class Spec:
    """What a solver may know of a problem: size, domain, capabilities and parameter layout.

    ``layout`` lists the parameter blocks of a structured solution as (name, start, shape) so that
    solvers can work per layer (subspace projections, low-rank probes, row/column mutations).
    """

    dim: int
    domain: Domain
    capabilities: frozenset = frozenset()
    layout: tuple = ()
    stochastic: bool = False  # the losses depend on the generation's data seed (noisy to a solver)

    @classmethod
    def of(cls, problem) -> "Spec":
        layout = tuple((str(n), int(s), tuple(int(d) for d in shp)) for n, s, shp in problem.layout)
        return cls(int(problem.dim), problem.domain, frozenset(problem.capabilities), layout,
                   bool(problem.stochastic))


@dataclass
class NoOptions:
    pass


class Solver:
    """Base class. Subclasses set ``name``, ``Config``, ``domains`` and implement ``init`` and
    ``_ask``/``_tell`` (or, when ``native``, ``_advance`` and ``best``).

    Class attributes:
      name      registry name (``blackbox list``)
      Config    dataclass of the solver's options (``--set KEY=VALUE`` sets its fields)
      domains   the domain kinds it handles: {"real", "binary", "integer"}
      native    True: it drives the problem itself through ``advance`` (reads more than losses)
    """

    name: ClassVar[str] = "solver"
    Config: ClassVar[type] = NoOptions
    domains: ClassVar[frozenset] = frozenset({"real", "binary", "integer"})
    native: ClassVar[bool] = False

    spec: Spec  # what the solver was built for
    config: object  # its Config instance

    def __init__(self, spec: Spec, config=None):
        self.spec = spec
        self.config = config if config is not None else self.Config()
        if spec.domain.kind not in self.domains:
            raise ValueError(f"solver {self.name!r} does not handle {spec.domain.kind} domains "
                             f"(it handles: {', '.join(sorted(self.domains))})")
        self.check_config()

    def check_config(self) -> None:
        """Raise ValueError naming the field when a config value is out of range."""

    @classmethod
    def refuses(cls, problem_cls: type) -> str | None:
        """Why this solver cannot run on problems of class ``problem_cls`` (a native solver given
        another problem type, a baseline that needs a smooth twin), or None; checked before a run."""
        return None

    # -- the contract -------------------------------------------------------------------------
    def init(self, x0: np.ndarray, seed: int) -> State:
        """The state of generation 0 around the starting point ``x0``."""
        raise NotImplementedError

    def ask(self, state: State):
        """(request, state to hand to ``tell``): this generation's candidates."""
        return self._ask(state)

    def tell(self, state: State, request, losses: np.ndarray) -> State:
        """The next state, from the request ``ask`` gave and its losses; moves the generation on."""
        new = dict(self._tell(state, request, np.asarray(losses, np.float64)))
        new["generation"] = int(state["generation"]) + 1
        return new

    def advance(self, state: State, problem, evals_left: int | None, seconds_left: float | None):
        """Native solvers: (next state, evaluations used) after working on ``problem`` directly
        for at most the given evaluations / seconds; moves the generation on."""
        new, used = self._advance(state, problem, evals_left, seconds_left)
        new = dict(new)
        new["generation"] = int(state["generation"]) + 1
        return new, used

    def _ask(self, state: State):
        raise NotImplementedError(f"solver {self.name!r} implements neither _ask nor advance")

    def _tell(self, state: State, request, losses: np.ndarray) -> State:
        raise NotImplementedError

    def _advance(self, state: State, problem, evals_left, seconds_left):
        raise NotImplementedError(f"solver {self.name!r} is not native")

    def plan(self, state: State, evals: int | None) -> State:
        """Fit schedules to the budget; called once per run by the driver: before the first
        generation with the evaluation budget (None without one), or, under a time-only budget,
        after a few generations with the evaluations the measured pace will reach
        (driver.PLAN_AFTER_FRACTION). Store the result in the state. Default: nothing to fit."""
        return state

    def finished(self, state: State) -> bool:
        """True when nothing is left to improve (all clauses satisfied): the driver stops the run."""
        return False

    def recommend(self, state: State) -> np.ndarray:
        """The solver's current point (mean, centre, elite): what it would return right now."""
        return state["x"]

    def describe(self, state: State) -> str:
        """What the result and the summary call this run's solver: its name, plus the delegate a
        choosing solver picked ("auto (cmaes-full)")."""
        return self.name

    def best(self, state: State) -> tuple:
        """Native solvers: (best solution, its loss) found so far (the driver tracks ask/tell ones)."""
        raise NotImplementedError(f"solver {self.name!r} is not native")

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def base_state(x0: np.ndarray, seed: int) -> State:
        return {"seed": int(seed), "generation": 0, "x": np.array(x0, copy=True)}

    @staticmethod
    def rng(state: State, stream: int = 0) -> np.random.Generator:
        """The generator of this generation: a pure function of (seed, generation, stream)."""
        return solver_rng(state["seed"], state["generation"], stream)


def config_fields(config_cls) -> list:
    return [f for f in fields(config_cls) if f.init]


def build_config(config_cls, overrides: dict, owner: str):
    """``config_cls(**defaults)`` updated with ``overrides`` (strings allowed: converted by the
    field's type). Unknown keys and unconvertible values raise ValueError naming the key."""
    known = {f.name: f for f in config_fields(config_cls)}
    kwargs = {}
    for key, raw in overrides.items():
        if key not in known:
            raise ValueError(f"unknown option {key!r} for {owner}; known: {', '.join(known) or '(none)'}")
        kwargs[key] = coerce(raw, known[key], owner)
    try:
        return config_cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{owner}: {e}") from None


def field_default(f):
    from dataclasses import MISSING
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def coerce(raw, f, owner: str):
    """Convert a CLI string to the dataclass field's declared type."""
    if not isinstance(raw, str):
        return raw
    typ = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    typ = typ.replace(" ", "")
    default = field_default(f)
    try:
        if typ.startswith("bool") or isinstance(default, bool):
            low = raw.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true/false")
        if typ.startswith("int") or (isinstance(default, int) and typ in ("", "int")):
            v = float(raw)
            if v != int(v):
                raise ValueError("expected an integer")
            return int(v)
        if typ.startswith("float") or "float" in typ.split("|"):
            if raw.lower() == "none" and "None" in typ:
                return None
            return float(raw)
        if "None" in typ and raw.lower() == "none":
            return None
        if "int" in typ.split("|"):
            return int(float(raw))
        return raw
    except ValueError as e:
        raise ValueError(f"{owner}: option {f.name}={raw!r}: {e} ({typ})") from None
