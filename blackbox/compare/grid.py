"""The grid of a comparison: problems x solvers x seeds, from flags or a TOML/JSON file, as cells."""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field


# -- the grid -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """A problem or a solver of the grid: registry name, options (its Config fields), label."""

    name: str
    options: dict = field(default_factory=dict)
    label: str = ""
    evals: int | None = None  # problems: budget override
    seconds: float | None = None
    target: float | None = None
    max_dim: int | None = None  # solvers: skip problems larger than this

    def __post_init__(self):
        if not self.label:
            opts = ",".join(f"{k}={v}" for k, v in self.options.items())
            object.__setattr__(self, "label", f"{self.name}[{opts}]" if opts else self.name)

    @classmethod
    def parse(cls, text: str) -> "Item":
        """``NAME`` or ``NAME:key=value,key=value``."""
        name, _, rest = text.partition(":")
        return cls(name.strip(), parse_pairs(rest.split(",") if rest else [], text))

    @classmethod
    def from_dict(cls, d: dict, where: str) -> "Item":
        known = {"name", "options", "label", "evals", "seconds", "target", "max_dim"}
        unknown = set(d) - known
        if unknown or "name" not in d:
            raise ValueError(f"{where}: needs 'name'; allowed keys: {', '.join(sorted(known))}"
                             + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else ""))
        return cls(str(d["name"]), dict(d.get("options", {})), str(d.get("label", "")),
                   _num(d.get("evals"), int), _num(d.get("seconds"), float), _num(d.get("target"), float),
                   _num(d.get("max_dim"), int))


def _num(v, typ):
    return None if v is None else typ(float(v))


def parse_pairs(items, where: str) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{where}: expected KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _with_shared(items: list[Item], shared: dict, kind: str) -> list[Item]:
    """Add the shared options to the items whose Config has the field (an item's own options
    win); an option no item has is an error."""
    if not shared:
        return items
    from dataclasses import fields

    from ..registry import problem_class, solver_class
    lookup = problem_class if kind == "problem" else solver_class
    has = {it.name: {f.name for f in fields(lookup(it.name).Config)} for it in items}
    for key in shared:
        if not any(key in has[it.name] for it in items):
            raise ValueError(f"--{kind}-opt {key}: no {kind} of the grid has that option")
    out = []
    for it in items:
        opts = {**{k: v for k, v in shared.items() if k in has[it.name]}, **it.options}
        out.append(Item(it.name, opts, "", it.evals, it.seconds, it.target, it.max_dim))
    return out


@dataclass
class Grid:
    problems: list
    solvers: list
    seeds: list
    evals: int | None = None
    seconds: float | None = None
    target: float | None = None
    pivots: list = field(default_factory=list)  # metrics tabulated problems x solvers in pivot.md

    @classmethod
    def parse(cls, problems, solvers, *, seeds=3, evals=None, seconds=None, target=None,
              problem_opts=None, solver_opts=None) -> "Grid":
        """From CLI-style strings: ``problems``/``solvers`` like "sphere:dim=100"; ``*_opts``
        dicts (or KEY=VALUE lists) apply to every problem/solver whose Config has the field."""
        popts = problem_opts if isinstance(problem_opts, dict) else parse_pairs(problem_opts or [], "--problem-opt")
        sopts = solver_opts if isinstance(solver_opts, dict) else parse_pairs(solver_opts or [], "--set")
        ps = _with_shared([Item.parse(p) for p in problems], popts, "problem")
        ss = _with_shared([Item.parse(s) for s in solvers], sopts, "solver")
        return cls(ps, ss, _seeds(seeds), _num(evals, int), _num(seconds, float), _num(target, float))

    @classmethod
    def load(cls, path: str) -> "Grid":
        """A TOML (``.toml``) or JSON grid file (see the module doc)."""
        if path.endswith(".toml"):
            import tomllib
            with open(path, "rb") as fh:
                d = tomllib.load(fh)
        else:
            with open(path) as fh:
                d = json.load(fh)
        unknown = set(d) - {"problem", "solver", "seeds", "evals", "seconds", "target", "pivot"}
        if unknown:
            raise ValueError(f"{path}: unknown keys {', '.join(sorted(unknown))}")
        if not d.get("problem") or not d.get("solver"):
            raise ValueError(f"{path}: needs at least one [[problem]] and one [[solver]]")
        return cls([Item.from_dict(p, f"{path} [[problem]] {i}") for i, p in enumerate(d["problem"])],
                   [Item.from_dict(s, f"{path} [[solver]] {i}") for i, s in enumerate(d["solver"])],
                   _seeds(d.get("seeds", 3)), _num(d.get("evals"), int), _num(d.get("seconds"), float),
                   _num(d.get("target"), float), [str(m) for m in d.get("pivot", [])])

    def check(self) -> None:
        """Fail fast, before any cell runs: unknown names and options raise ValueError/LookupError
        naming them (this loads the registered classes, not the problems' data)."""
        from ..registry import problem_class, solver_class
        from ..solver import build_config
        for kind, items, lookup in (("problem", self.problems, problem_class), ("solver", self.solvers, solver_class)):
            for it in items:
                build_config(lookup(it.name).Config, it.options, f"{kind} {it.label}")

    def cells(self) -> list["Cell"]:
        """Seed-major order: every (problem, solver) pair gets seed 0 before any gets seed 1, so a
        grid cut short still compares all solvers."""
        for kind, items in (("problem", self.problems), ("solver", self.solvers)):
            labels = [it.label for it in items]
            dup = {lab for lab in labels if labels.count(lab) > 1}
            if dup:
                raise ValueError(f"two {kind}s share the label {sorted(dup)[0]!r}; give them labels")
        out = []
        for seed in self.seeds:
            for p in self.problems:
                for s in self.solvers:
                    out.append(Cell(p.name, p.options, p.label, s.name, s.options, s.label, int(seed),
                                    p.evals if p.evals is not None else self.evals,
                                    p.seconds if p.seconds is not None else self.seconds,
                                    p.target if p.target is not None else self.target, s.max_dim))
        return out


def _seeds(seeds) -> list:
    if isinstance(seeds, (list, tuple)):
        return [int(s) for s in seeds]
    if int(seeds) < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    return list(range(int(seeds)))


@dataclass(frozen=True)
class Cell:
    problem: str
    problem_options: dict
    problem_label: str
    solver: str
    solver_options: dict
    solver_label: str
    seed: int
    evals: int | None
    seconds: float | None
    target: float | None
    max_dim: int | None = None

    @property
    def stem(self) -> str:
        return f"{_slug(self.problem_label)}__{_slug(self.solver_label)}__seed{self.seed}"

    def spec(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=,+-]+", "-", text).strip("-") or "x"


