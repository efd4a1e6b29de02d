"""Head-to-head comparisons: problems x solvers x seeds, budget-matched, resumable, in parallel.

    from blackbox.compare import Grid, run
    grid = Grid.parse(problems=["sphere:dim=100"], solvers=["es", "polystep", "openai-es"],
                      seeds=3, evals=10_000)
    report = run(grid, "runs/sphere", workers=2)     # -> out/summary.md, out/plots/*.png

or ``blackbox compare --problem sphere --problem-opt dim=100 --solver es --solver polystep
--seeds 3 --evals 1e4 --out runs/sphere``, or a grid file (TOML or JSON)::

    seeds = 3               # or a list of seeds
    evals = 10000           # every cell gets the same budget (optional: seconds, target)
    pivot = ["best_loss"]   # optional: metrics tabulated problems x solvers in pivot.md
    [[problem]]
    name = "sphere"
    options = { dim = 100 }
    evals = 20000           # optional per-problem budget override (also: seconds, target, label)
    [[solver]]
    name = "es"
    options = { lr = 0.1 }
    label = "es-lr0.1"      # optional; default: name plus the options given
    max_dim = 10000         # optional: this solver is skipped on larger problems

Every cell (problem, solver, seed) is one ``blackbox.solve`` run in its own worker process, each
single-threaded (NUMBA/OMP/MKL/OpenBLAS threads and torch threads set to 1), ``workers`` of them at
a time. A finished cell is written atomically to ``out/runs/<problem>__<solver>__seed<k>.json`` the
moment it ends (the driver's Result JSON plus the cell spec and a time trace), so an interrupted
grid loses no finished cell; running the same grid again skips them. A cell interrupted by Ctrl-C
leaves its driver checkpoint beside it and continues from there; a cell killed outright restarts
from its last periodic checkpoint (every ``checkpoint_every`` seconds) or from scratch.

Budget matching is by evaluations (``evals``, a hard limit: the last generation is cut) and/or wall
time (``seconds``, checked between generations): the table reports evaluations used.
Stochastic problems (minibatches, episodes) report the model the driver selected on the
validation split, and test metrics of that model only (the driver calls ``test_metrics`` once).

The report: ``summary.md`` (one table per problem: mean +- sample std over seeds of the final loss
and of every numeric metric and test metric, evaluations and wall time) and, per problem, a PNG
of the reported loss against evaluations and against seconds, one line per solver (median over
seeds, band = min..max over seeds).
"""
from __future__ import annotations

import json
import math
import os
import re
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field

THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


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

    from .registry import problem_class, solver_class
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
    def parse(cls, problems, solvers, seeds=3, evals=None, seconds=None, target=None,
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
        from .registry import problem_class, solver_class
        from .solver import build_config
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


# -- running --------------------------------------------------------------------------------------
def run(grid: Grid, out: str, workers: int = 2, echo=print, checkpoint_every: float = 60.0,
        pivots=None, ray: bool = False, ray_address: str | None = None) -> "Report":
    """Run every unfinished cell of ``grid`` under ``out`` (``workers`` processes; 0 = in this
    process; with ``ray``/``ray_address`` as one-CPU Ray tasks on a local Ray or a cluster), then
    write ``summary.md``, the plots and, for each metric in ``pivots``, a problems x solvers table
    in ``pivot.md``. Returns the report of all finished cells."""
    grid.check()
    runs_dir = os.path.join(out, "runs")
    os.makedirs(runs_dir, exist_ok=True)
    cells = grid.cells()
    todo = []
    for cell in cells:
        done = _finished(os.path.join(runs_dir, cell.stem + ".json"), cell)
        if not done:
            todo.append(cell)
    where = (f"Ray tasks at {ray_address}" if ray_address else "local Ray tasks") if (ray or ray_address) else \
        f"{workers or 'in-process'} worker{'s' if workers != 1 else ''}"
    echo(f"{len(cells)} cells, {len(cells) - len(todo)} already finished, {len(todo)} to run ({where}) -> {out}")
    _atomic_json(os.path.join(out, "grid.json"), {"cells": [c.spec() for c in cells]})
    n_done = len(cells) - len(todo)
    interrupted = False
    try:
        cells_out = _execute_ray(todo, runs_dir, workers, checkpoint_every, ray_address) if (ray or ray_address) \
            else _execute(todo, runs_dir, workers, checkpoint_every)
        for summary in cells_out:
            n_done += summary["status"] in ("done", "skipped")
            echo(f"[{n_done}/{len(cells)}] {summary['line']}")
            if summary["status"] == "interrupted":  # Ctrl-C reached a running cell: stop the grid
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
    report = Report.load(out, cells)
    report.write(out, grid.pivots if pivots is None else pivots)
    if interrupted:
        echo(f"interrupted: {n_done} of {len(cells)} cells finished; run the same command again to continue")
    return report


def _finished(path: str, cell: Cell) -> bool:
    if not os.path.exists(path):
        return False
    with open(path) as fh:
        d = json.load(fh)
    if d.get("cell") != cell.spec():
        raise ValueError(f"{path} holds a different cell ({d.get('cell')}); use a new --out directory "
                         "for a changed grid (or delete the file)")
    return d.get("status") in ("done", "skipped")


def _execute(todo, runs_dir, workers, checkpoint_every):
    specs = [(c.spec(), runs_dir, checkpoint_every) for c in todo]
    if not workers:
        for s in specs:
            yield run_cell(*s)
        return
    import concurrent.futures as cf
    import multiprocessing as mp
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: "1" for k in THREAD_VARS})  # inherited by the workers spawned below
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                  initializer=_single_thread)
    try:
        futures = {pool.submit(run_cell, *s): s[0] for s in specs}
        for fut in cf.as_completed(futures):
            try:
                yield fut.result()
            except Exception as e:  # the worker died (killed, out of memory): rerun next time
                c = futures[fut]
                yield {"status": "lost", "line": f"{c['problem_label']} · {c['solver_label']} · seed {c['seed']}: "
                                                  f"worker lost ({type(e).__name__}: {e}); rerun to retry"}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _execute_ray(todo, runs_dir, workers, checkpoint_every, address):
    """Cells as one-CPU Ray tasks. A task runs its cell in a scratch folder of its own node and
    sends the files back, so nodes need no shared filesystem; the result files are written here,
    the run JSON last (a cell counts as finished only once its JSON exists). A task whose node or
    worker dies is reported lost and runs again on the next invocation (from scratch: its
    checkpoints lived on that node)."""
    try:
        import ray
    except ImportError:
        raise ValueError("--ray needs ray: pip install 'blackbox[ray]'") from None
    from .ray_evaluator import connect, remote_single_thread
    connect(ray, workers or None, address)
    task = remote_single_thread(ray, _cell_in_scratch)
    refs = {task.remote(c.spec(), checkpoint_every): c for c in todo}
    pending = list(refs)
    while pending:
        [ref], pending = ray.wait(pending, num_returns=1)
        c = refs[ref]
        try:
            summary, files = ray.get(ref)
        except (ray.exceptions.RayError, OSError) as e:
            yield {"status": "lost", "line": f"{c.problem_label} · {c.solver_label} · seed {c.seed}: "
                                              f"Ray task lost ({type(e).__name__}); rerun to retry"}
            continue
        json_name = c.stem + ".json"
        for name in sorted(files, key=lambda n: n == json_name):  # the JSON last
            tmp = os.path.join(runs_dir, name + ".part")
            with open(tmp, "wb") as fh:
                fh.write(files[name])
            os.replace(tmp, os.path.join(runs_dir, name))
        yield summary


def _cell_in_scratch(spec, checkpoint_every):
    """What a Ray task runs: the cell in a temporary folder; (summary, {file name: bytes})."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        summary = run_cell(spec, d, checkpoint_every)
        files = {}
        for name in os.listdir(d):
            if not name.endswith(".ckpt.npz"):
                with open(os.path.join(d, name), "rb") as fh:
                    files[name] = fh.read()
    return summary, files


def _single_thread():
    os.environ.update({k: "1" for k in THREAD_VARS})
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def run_cell(spec: dict, runs_dir: str, checkpoint_every: float = 60.0) -> dict:
    """Run one cell and write its JSON atomically; returns a one-line summary for the console."""
    import numpy as np

    from .driver import make_problem, make_solver, solve, versions, with_problem_defaults
    from .solver import Spec
    cell = Cell(**spec)
    path = os.path.join(runs_dir, cell.stem + ".json")
    ckpt = os.path.join(runs_dir, cell.stem + ".ckpt.npz")
    head = f"{cell.problem_label} · {cell.solver_label} · seed {cell.seed}"
    record = {"cell": cell.spec(), "problem": cell.problem, "solver": cell.solver, "seed": cell.seed,
              "versions": versions()}
    try:
        problem = make_problem(cell.problem, cell.problem_options)
        if cell.max_dim is not None and problem.dim > cell.max_dim:
            record.update(status="skipped", reason=f"dim {problem.dim} > max_dim {cell.max_dim}", dim=int(problem.dim))
            _atomic_json(path, record)
            return {"status": "skipped", "line": f"{head}: skipped (dim {problem.dim} > {cell.max_dim})"}
        solver = make_solver(cell.solver, Spec.of(problem), with_problem_defaults(problem, cell.solver, cell.solver_options))
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)
        trace = Trace(cell.evals, cell.seconds)
        result = solve(problem, solver, evals=cell.evals, seconds=cell.seconds, target=cell.target,
                       seed=cell.seed, callbacks=[trace], checkpoint=ckpt, checkpoint_every=checkpoint_every,
                       resume=ckpt if os.path.exists(ckpt) else None)
    except Exception as e:  # recorded, reported, and run again on the next invocation
        record.update(status="error", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
        _atomic_json(path, record)
        return {"status": "error", "line": f"{head}: ERROR {type(e).__name__}: {e}"}
    if result.stopped == "interrupted":  # the checkpoint stays; the next run continues it
        return {"status": "interrupted", "line": f"{head}: interrupted after {result.evals:,} evals (checkpoint kept)"}
    d = result.to_json()
    if "best_x" not in d:
        np.save(os.path.join(runs_dir, cell.stem + ".x.npy"), result.best_x)
        d["best_x_file"] = cell.stem + ".x.npy"
    record["versions"].update({m: getattr(sys.modules[m], "__version__", "?") for m in ("torch", "numba", "cma", "gymnasium", "scipy")
                               if m in sys.modules})
    record["versions"]["git"] = _git_revision()
    d.update(record, status="done", stochastic=bool(problem.stochastic), trace=trace.points, checkpoint=None)
    _atomic_json(path, d)
    if os.path.exists(ckpt):
        os.unlink(ckpt)
    shown = (d["test_metrics"] or d["metrics"]) if problem.stochastic else {"best_loss": d["best_loss"]}
    txt = "  ".join(f"{k}={_fmt(v)}" for k, v in list(shown.items())[:3] if _is_num(v))
    return {"status": "done", "line": f"{head}: {txt}  ({result.evals:,} evals, {result.wall_time:.1f} s)"}


def _git_revision() -> str:
    """The commit of the checkout this package runs from (+ "-dirty" with local changes), or ""."""
    import subprocess
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return rev + ("-dirty" if rev and dirty else "")


class Trace:
    """Driver callback: (evals, seconds, best loss) about 500 times per budget, for the plots.
    A cell resumed from a checkpoint traces from the resumption on (the history is complete)."""

    def __init__(self, evals, seconds):
        self.points = []
        self.de = evals / 500 if evals else math.inf
        self.dt = seconds / 500 if seconds else (0.05 if not evals else math.inf)
        self.last = (-math.inf, -math.inf)

    def __call__(self, tick):
        if tick.evals - self.last[0] >= self.de or tick.elapsed - self.last[1] >= self.dt:
            self.points.append([int(tick.evals), round(float(tick.elapsed), 4), _finite(tick.best_loss)])
            self.last = (tick.evals, tick.elapsed)


def _finite(v):
    return float(v) if v is not None and math.isfinite(v) else None


def _atomic_json(path: str, d: dict) -> None:
    from .checkpoint import jsonable
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        json.dump(d, fh, indent=1, default=jsonable)
    os.replace(tmp, path)


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


# -- the report -----------------------------------------------------------------------------------
def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    import numpy as np
    a = np.asarray(values, np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def fmt_mean_std(values) -> str:
    """"mean ± std": 4 and 2 significant digits; whole numbers from 10,000 up with separators; a
    single value alone."""
    m, s = mean_std(values)
    return f"{_sig(m, 4)} ± {_sig(s, 2)}" if len(values) > 1 else _sig(m, 4)


def _sig(v: float, digits: int) -> str:
    return f"{v:,.0f}" if 1e4 <= abs(v) < 1e15 else f"{v:.{digits}g}"


@dataclass
class Report:
    cells: list  # Cell, in grid order
    runs: dict  # stem -> run JSON (finished, skipped or errored)

    @classmethod
    def load(cls, out: str, cells: list | None = None) -> "Report":
        if cells is None:
            with open(os.path.join(out, "grid.json")) as fh:
                cells = [Cell(**c) for c in json.load(fh)["cells"]]
        runs = {}
        for c in cells:
            p = os.path.join(out, "runs", c.stem + ".json")
            if os.path.exists(p):
                with open(p) as fh:
                    runs[c.stem] = json.load(fh)
        return cls(cells, runs)

    def groups(self) -> dict:
        """problem label -> solver label -> list of run JSONs (all statuses)."""
        g: dict = {}
        for c in self.cells:
            g.setdefault(c.problem_label, {}).setdefault(c.solver_label, [])
            if c.stem in self.runs:
                g[c.problem_label][c.solver_label].append(self.runs[c.stem])
        return g

    def markdown(self) -> str:
        lines = ["# Comparison", "",
                 f"{len(self.cells)} cells, {sum(r.get('status') == 'done' for r in self.runs.values())} finished. "
                 "Entries are mean ± sample std over the finished seeds. Stochastic problems report the "
                 "model selected on the validation split; test metrics are of that model only. "
                 f"Machine: {os.cpu_count()} cores, one single-threaded process per cell.", ""]
        for plabel, by_solver in self.groups().items():
            cell = next(c for c in self.cells if c.problem_label == plabel)
            done = [r for rs in by_solver.values() for r in rs if r.get("status") == "done"]
            stochastic = any(r.get("stochastic") for r in done)
            cols = [] if stochastic else [("best loss", lambda r: r["best_loss"])]
            for section in ("metrics", "test_metrics"):
                keys = []
                for r in done:
                    keys += [k for k, v in r[section].items() if _is_num(v) and k not in keys]
                cols += [(k, (lambda k, s: lambda r: r[s].get(k))(k, section)) for k in keys]
            budget = ", ".join(f"{k} {v:g}" for k, v in (("evals", cell.evals), ("seconds", cell.seconds),
                                                        ("target", cell.target)) if v is not None)
            lines += [f"## {plabel}", "", f"Budget per cell: {budget or 'problem default'}."
                      + (" Stochastic: reported model selected by validation loss." if stochastic else ""), ""]
            header = ["solver", "seeds"] + [c[0] for c in cols] + ["evals", "wall s", "stopped"]
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            for slabel, rs in by_solver.items():
                ok = [r for r in rs if r.get("status") == "done"]
                other = sorted({r.get("status") for r in rs} - {"done"})
                if not ok:
                    note = ", ".join(other) or "not run"
                    lines.append(f"| {slabel} | 0 | " + " | ".join(["—"] * (len(cols) + 2)) + f" | {note} |")
                    continue
                row = [slabel, str(len(ok))]
                for _, get in cols:
                    vals = [get(r) for r in ok]
                    vals = [v for v in vals if _is_num(v)]
                    row.append(fmt_mean_std(vals) if vals else "—")
                row.append(f"{mean_std([r['evals'] for r in ok])[0]:,.0f}")
                row.append(fmt_mean_std([r["wall_time"] for r in ok]))
                stops = sorted({r["stopped"] for r in ok}) + other
                row.append(",".join(stops))
                lines.append("| " + " | ".join(row) + " |")
            lines.append("")
        errors = [r for r in self.runs.values() if r.get("status") == "error"]
        if errors:
            lines += ["## Errors", ""] + [f"- {r['cell']['problem_label']} · {r['cell']['solver_label']} · "
                                          f"seed {r['seed']}: {r['error']}" for r in errors] + [""]
        return "\n".join(lines)

    def pivot(self, metric: str) -> str:
        """One markdown table: problems as rows, solvers as columns, ``metric`` (best_loss,
        wall_time, evals, or a key of metrics/test_metrics) as mean ± std over finished seeds;
        the scaling view (e.g. MAX-SAT by number of variables)."""
        groups = self.groups()
        solvers = list(dict.fromkeys(c.solver_label for c in self.cells))
        lines = [f"### {metric}", "", "| problem | " + " | ".join(solvers) + " |", "|" + "---|" * (len(solvers) + 1)]
        for plabel, by_solver in groups.items():
            row = [plabel]
            for slabel in solvers:
                rs = by_solver.get(slabel, [])
                vals = [_value(r, metric) for r in rs if r.get("status") == "done"]
                vals = [v for v in vals if _is_num(v)]
                status = sorted({r.get("status") for r in rs} - {"done"})
                row.append(fmt_mean_std(vals) + f" (n={len(vals)})" if vals else (",".join(status) or "—"))
            lines.append("| " + " | ".join(row) + " |")
        return "\n".join(lines) + "\n"

    def write(self, out: str, pivots=()) -> list[str]:
        paths = [os.path.join(out, "summary.md")]
        _atomic_text(paths[0], self.markdown())
        if pivots:
            paths.append(os.path.join(out, "pivot.md"))
            _atomic_text(paths[1], "\n".join(self.pivot(m) for m in pivots))
        return paths + self.plot(os.path.join(out, "plots"))

    def plot(self, plot_dir: str) -> list[str]:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
        os.makedirs(plot_dir, exist_ok=True)
        paths = []
        for plabel, by_solver in self.groups().items():
            fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
            drawn = False
            positive = True
            for slabel, rs in by_solver.items():
                curves = [curve(r) for r in rs if r.get("status") == "done"]
                curves = [c for c in curves if len(c[0])]
                if not curves:
                    continue
                for ax, xi in ((axes[0], 0), (axes[1], 1)):
                    xs = [c[xi] for c in curves]
                    hi = max(float(x[-1]) for x in xs)
                    lo = max(float(x[0]) for x in xs)  # from where every seed has a value
                    grid = np.linspace(lo, hi, 200) if hi > lo else np.array([lo])
                    ys = np.array([step_at(x, c[2], grid) for x, c in zip(xs, curves)])
                    med, lo_y, hi_y = np.median(ys, 0), ys.min(0), ys.max(0)
                    line, = ax.plot(grid, med, label=f"{slabel} (n={len(curves)})")
                    ax.fill_between(grid, lo_y, hi_y, color=line.get_color(), alpha=0.2, linewidth=0)
                    positive &= bool(np.all(np.asarray(ys)[np.isfinite(ys)] > 0))
                drawn = True
            if not drawn:
                plt.close(fig)
                continue
            stochastic = any(r.get("stochastic") for rs in by_solver.values() for r in rs)
            ylabel = "validation loss (best so far)" if stochastic else "best loss"
            for ax, xl in ((axes[0], "evaluations"), (axes[1], "seconds")):
                ax.set_xlabel(xl)
                ax.set_ylabel(ylabel)
                if positive:
                    ax.set_yscale("log")
                ax.grid(alpha=0.3)
            handles, labels = axes[0].get_legend_handles_labels()
            ncol = min(4, len(labels))
            rows = -(-len(labels) // ncol)
            fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
            fig.suptitle(f"{plabel}: median over seeds, band = min..max")
            fig.tight_layout(rect=(0, 0.04 + 0.045 * rows, 1, 1))
            p = os.path.join(plot_dir, _slug(plabel) + ".png")
            fig.savefig(p, dpi=110)
            plt.close(fig)
            paths.append(p)
        return paths


def _value(run: dict, metric: str):
    if metric in ("best_loss", "wall_time", "evals", "generations"):
        return run.get(metric)
    return run.get("test_metrics", {}).get(metric, run.get("metrics", {}).get(metric))


def _atomic_text(path: str, text: str) -> None:
    with open(path + ".tmp", "w") as fh:
        fh.write(text)
    os.replace(path + ".tmp", path)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def curve(run: dict):
    """(evals, seconds, reported loss) arrays of one finished run. Deterministic problems: the best
    loss from the time trace; stochastic ones: the best validation loss so far from the history
    (the model the driver would report), timed by interpolating the trace."""
    import numpy as np
    tr = [p for p in run.get("trace", []) if p[2] is not None]
    te = np.array([p[0] for p in tr], np.float64)
    tt = np.array([p[1] for p in tr], np.float64)
    if not run.get("stochastic"):
        return te, tt, np.array([p[2] for p in tr], np.float64)
    h = [e for e in run.get("history", []) if e.get("validation_loss") is not None]
    ev = np.array([e["evals"] for e in h], np.float64)
    val = np.minimum.accumulate(np.array([e["validation_loss"] for e in h], np.float64)) if h else np.zeros(0)
    secs = np.interp(ev, te, tt) if te.size else np.full(ev.size, np.nan)
    return ev, secs, val


def step_at(x, y, grid):
    """Value of the step function (x_i, y_i) at each grid point: y of the last x_i <= g, NaN before."""
    import numpy as np
    x = np.asarray(x, np.float64)
    idx = np.searchsorted(x, grid, side="right") - 1
    out = np.asarray(y, np.float64)[np.clip(idx, 0, None)]
    return np.where(idx >= 0, out, np.nan)
