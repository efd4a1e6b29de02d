"""The ask/tell solver contract on explicit state.

A solver is configured once (a small ``Config`` dataclass) for a problem's ``Spec`` and then works
on a *state*: a flat dict of numpy arrays and plain numbers/strings. ``ask(state)`` returns a
population request (``Dense``, ``Deltas``, ``LowRank`` or ``NoiseWindows``) and the new state; ``tell(state, request,
losses)`` returns the next state. Neither mutates the state it is given, and all randomness comes
from ``rng(state, stream)``, a generator seeded by (run seed, generation, stream): a state saved to
disk and loaded again therefore continues bit-for-bit like the uninterrupted run.

Domain solvers that need more than losses (the MAX-SAT local search reads clauses) implement
``advance`` instead of ask/tell and name the problem attributes they need in ``requires``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from .domain import Domain

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

    @classmethod
    def of(cls, problem) -> "Spec":
        layout = tuple((str(n), int(s), tuple(int(d) for d in shp)) for n, s, shp in getattr(problem, "layout", ()) or ())
        return cls(int(problem.dim), problem.domain, frozenset(getattr(problem, "capabilities", ())), layout)


@dataclass
class NoOptions:
    pass


class Solver:
    """Base class. Subclasses set ``name``, ``Config``, ``domains`` and implement init/ask/tell."""

    name: ClassVar[str] = "solver"
    Config: ClassVar[type] = NoOptions
    domains: ClassVar[frozenset] = frozenset({"real", "binary", "integer"})
    requires: ClassVar[frozenset] = frozenset()

    def __init__(self, spec: Spec, config=None):
        self.spec = spec
        self.config = config if config is not None else self.Config()
        if spec.domain.kind not in self.domains:
            raise ValueError(f"solver {self.name!r} does not handle {spec.domain.kind} domains "
                             f"(it handles: {', '.join(sorted(self.domains))})")
        self.check_config()

    def check_config(self) -> None:
        """Raise ValueError naming the field when a config value is out of range."""

    # -- the contract -------------------------------------------------------------------------
    def init(self, x0: np.ndarray, seed: int) -> State:
        raise NotImplementedError

    def ask(self, state: State):
        raise NotImplementedError

    def tell(self, state: State, request, losses: np.ndarray) -> State:
        raise NotImplementedError

    # Optional: ``plan(state, evals) -> state`` is called once per run by the driver, so a solver
    # can fit its schedules to the budget: before the first generation with the evaluation budget
    # (None without one), or, under a time-only budget, after a few generations with the
    # evaluations the measured pace will reach (driver.PLAN_AFTER_FRACTION). Store the result in the state.

    def recommend(self, state: State) -> np.ndarray:
        """The solver's current point (mean, centre, elite): what it would return right now."""
        return state["x"]

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def base_state(x0: np.ndarray, seed: int) -> State:
        return {"seed": int(seed), "generation": 0, "x": np.array(x0, copy=True)}

    @staticmethod
    def rng(state: State, stream: int = 0) -> np.random.Generator:
        """The generator of this generation: a pure function of (seed, generation, stream)."""
        return np.random.default_rng([int(state["seed"]) & 0xFFFFFFFF, int(state["generation"]), stream])


def is_native(solver) -> bool:
    """Native solvers drive the problem themselves through ``advance``."""
    return hasattr(solver, "advance")


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
