"""``blackbox bench coco``: any solver on a COCO suite, recorded by COCO's own observer.

Each cocoex problem (``bbob``, ``bbob-largescale``, ``bbob-mixint``, ``bbob-noisy``) is wrapped as
a blackbox ``Problem`` and run through ``blackbox.solve`` with an evaluation budget of
``budget_mult * dim``; COCO's observer logs every evaluation, so ``DIR/exdata/ALG`` is the
standard COCO data folder that ``cocopp`` post-processes (``python -m cocopp DIR/exdata/ALG``).
A solver that stops early is not restarted: the driver runs until the budget is used (or the
final target 1e-8 is hit, where COCO stops counting), so restarts are the solver's business.

The summary is COCO's ECDF at the budget: per run, the fraction of the 51 log-uniform targets
f - fopt in 10^2 ... 10^-8 that the best evaluated solution reached, averaged per function group
and dimension (runs weigh equally). f - fopt is read from COCO's own ``.tdat`` records (the last
record of each run: best noise-free f - fopt), not recomputed, because cocoex 2.8 exposes no
fopt (``Problem.final_target_fvalue1`` does not exist).

Domains. The solver sees ``Real(-5, 5)^d`` (the BBOB box). bbob-mixint has integer coordinates
with their own ranges ({0, 1}, {0..3}, {0..7}, {0..15}) and real ones in [-5, 5]; blackbox domains
are of one kind with scalar bounds, so every integer coordinate is searched as a real in [-5, 5]
cut into equal cells, one per integer value, and the problem decodes a candidate before COCO sees
it (COCO records the integer point). Coordinates whose bounds are exactly [-5, 5] and real pass
through unchanged.

cocoex and cocopp are the optional extra ``bench`` (``pip install 'blackbox[bench]'``).
"""
from __future__ import annotations

import contextlib
import glob
import os
import re
import time

import click
import numpy as np

from .domain import Real
from .problem import Problem

SUITES = ("bbob", "bbob-largescale", "bbob-mixint", "bbob-noisy")
TARGETS = 10.0 ** np.linspace(2, -8, 51)  # COCO's default ECDF targets
_BBOB_GROUPS = (("separable", 1, 5), ("low/moderate conditioning", 6, 9), ("high conditioning", 10, 14),
                ("multimodal, adequate structure", 15, 19), ("multimodal, weak structure", 20, 24))
GROUPS = {"bbob": _BBOB_GROUPS, "bbob-largescale": _BBOB_GROUPS, "bbob-mixint": _BBOB_GROUPS,
          "bbob-noisy": (("moderate noise", 101, 106), ("severe noise", 107, 121),
                         ("severe noise, multimodal", 122, 130))}
BOX = (-5.0, 5.0)


def import_cocoex():
    try:
        import cocoex
    except ImportError:
        raise click.UsageError("blackbox bench coco needs cocoex: pip install 'blackbox[bench]' "
                               "(coco-experiment and cocopp)") from None
    return cocoex


class CocoProblem(Problem):
    """One cocoex problem as a blackbox Problem in the box [-5, 5]^d (see the module docstring).

    Evaluations past ``budget`` are not sent to COCO (their loss is +inf), so COCO's record never
    shows more than the budget even when the driver's last generation overshoots it."""

    name = "coco"
    default_solver = "polystep"

    def __init__(self, coco_problem, budget: int):
        self.coco, self.budget = coco_problem, int(budget)
        self.dim = int(coco_problem.dimension)
        self.domain = Real(*BOX)
        lo, hi = np.asarray(coco_problem.lower_bounds), np.asarray(coco_problem.upper_bounds)
        n_int = int(coco_problem.number_of_integer_variables)
        self.integer = np.arange(self.dim) < n_int  # COCO puts the integer variables first
        self.lo, self.hi, self.cells = lo, hi, np.where(self.integer, hi - lo + 1, 0)
        self.rescale = ~self.integer & ((lo != BOX[0]) | (hi != BOX[1]))
        self.used = 0

    def describe(self) -> str:
        return f"{self.coco.id} (dim={self.dim})"

    def decode(self, X: np.ndarray) -> np.ndarray:
        """Box coordinates -> COCO's: integer cells, affine for real ranges other than [-5, 5]."""
        X = np.array(X, np.float64, copy=True)
        u = (X - BOX[0]) / (BOX[1] - BOX[0])
        if self.integer.any():
            k = np.minimum(np.floor(u[:, self.integer] * self.cells[self.integer]), self.cells[self.integer] - 1)
            X[:, self.integer] = self.lo[self.integer] + np.maximum(k, 0)
        if self.rescale.any():
            r = self.rescale
            X[:, r] = self.lo[r] + u[:, r] * (self.hi[r] - self.lo[r])
        return X

    def encode(self, x: np.ndarray) -> np.ndarray:
        """COCO coordinates -> box coordinates (the centre of an integer's cell)."""
        z = np.array(x, np.float64, copy=True)
        span = BOX[1] - BOX[0]
        if self.integer.any():
            i = self.integer
            z[i] = BOX[0] + (x[i] - self.lo[i] + 0.5) / self.cells[i] * span
        if self.rescale.any():
            r = self.rescale
            z[r] = BOX[0] + (x[r] - self.lo[r]) / (self.hi[r] - self.lo[r]) * span
        return z

    def initial(self, rng):
        """COCO's suggested start (the centre of the box), the same for every seed."""
        return self.encode(np.asarray(self.coco.initial_solution, np.float64))

    def evaluate(self, population, seed=0):
        # COCO's observer logs evaluations one at a time: one call per candidate is its interface
        X = self.decode(np.asarray(population, np.float64))
        n = min(len(X), max(0, self.budget - self.used))
        out = np.full(len(X), np.inf)
        out[:n] = [self.coco(x) for x in X[:n]]
        self.used += n
        return out


def _ranges(text: str, what: str) -> str:
    if not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", text.replace(" ", "")):
        raise click.BadParameter(f"expected numbers and ranges like 1-3,5, got {text!r}", param_hint=what)
    return text.replace(" ", "")


def _seeds(text: str) -> list:
    out = []
    for part in _ranges(text, "--seeds").split(","):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def algorithm_name(solver: str, config: dict) -> str:
    """A file-safe COCO algorithm name: the solver and its settings, or, past 40 characters (COCO
    aborts the process on long names), the solver and a hash of its settings."""
    name = solver + "".join(f"_{k}={v}" for k, v in sorted(config.items()))
    if len(name) > 40:
        import hashlib
        name = f"{solver}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return re.sub(r"[^A-Za-z0-9_.=+-]", "-", name)


def run_coco(solver: str, config: dict | None = None, *, suite: str = "bbob", dims: str = "5,20",
             instances: str = "1-3", functions: str = "1-24", budget_mult: float = 1000, seeds=(0,),
             out: str = "coco-out", echo=print) -> dict:
    """Run ``solver`` (a registry name, settings ``config``) on a COCO suite; returns the summary
    (see ``summarize``) after writing DIR/exdata/ALG (COCO's data) and DIR/summary.md."""
    from .driver import solve
    cocoex = import_cocoex()
    if suite not in SUITES:
        raise click.BadParameter(f"expected one of {', '.join(SUITES)}, got {suite!r}", param_hint="--suite")
    if suite not in cocoex.known_suite_names:
        raise click.BadParameter(f"the installed cocoex has no suite {suite!r}", param_hint="--suite")
    if budget_mult <= 0:
        raise click.BadParameter(f"must be > 0, got {budget_mult}", param_hint="--budget-mult")
    config = dict(config or {})
    from .registry import solver_class
    from .solver import build_config
    build_config(solver_class(solver).Config, config, f"solver {solver}")  # bad names: before COCO writes
    alg = algorithm_name(solver, config)
    os.makedirs(out, exist_ok=True)
    options = (f"dimensions: {_ranges(dims, '--dims')} function_indices: {_ranges(functions, '--functions')} "
               f"instance_indices: {_ranges(instances, '--instances')}")
    t0, runs = time.perf_counter(), 0
    with contextlib.chdir(out):  # COCO writes under ./exdata/ whatever result_folder says
        if os.path.exists(os.path.join("exdata", alg)):
            raise click.BadParameter(f"{os.path.join(out, 'exdata', alg)} exists already; choose another --out",
                                     param_hint="--out")
        observer = cocoex.Observer(_observer_name(suite), f"result_folder: {alg} algorithm_name: {alg}")
        for seed in seeds:  # a fresh pass over the suite per seed: COCO records one run per problem object
            for problem in cocoex.Suite(suite, "", options):
                problem.observe_with(observer)
                _run_one(solve, solver, config, problem, budget_mult, seed)
                runs += 1
                echo(f"  {problem.id} seed {seed}: best f {problem.best_observed_fvalue1:.6g} after "
                     f"{problem.evaluations} evals (run {runs}, {time.perf_counter() - t0:.0f} s)")
                problem.free()
        folder = os.path.abspath(str(observer.result_folder))
        del observer  # closes COCO's files
    summary = summarize(folder, suite)
    summary.update(solver=solver, config=config, suite=suite, budget_mult=budget_mult, instances=instances,
                   seeds=list(seeds), folder=folder, wall=time.perf_counter() - t0, runs=runs)
    text = summary_markdown(summary)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(text)
    echo(text)
    return summary


def _observer_name(suite: str) -> str:
    return "bbob" if suite in ("bbob-largescale", "bbob-mixint") else suite


def _run_one(solve, solver, config, problem, budget_mult, seed) -> None:
    """One run on one COCO problem: stops at its budget or at COCO's final target (1e-8)."""
    budget = max(1, int(round(budget_mult * problem.dimension)))
    solve(CocoProblem(problem, budget), solver, dict(config), evals=budget, seed=int(seed),
          callbacks=[lambda tick: bool(problem.final_target_hit)])


def final_precisions(folder: str) -> dict:
    """{(function, dim): [best f - fopt of each run]} from the last record of every run in COCO's
    ``.tdat`` files (a run starts at a ``%`` header line)."""
    out: dict = {}
    for path in sorted(glob.glob(os.path.join(folder, "**", "*.tdat"), recursive=True)):
        m = re.search(r"_f(\d+)_DIM(\d+)\.tdat$", path)
        if not m:
            continue
        key = (int(m.group(1)), int(m.group(2)))
        last = None
        with open(path) as f:
            for line in f:
                if line.startswith("%"):
                    if last is not None:
                        out.setdefault(key, []).append(last)
                    last = None
                elif line.strip():
                    last = float(line.split()[2])
        if last is not None:
            out.setdefault(key, []).append(last)
    return out


def summarize(folder: str, suite: str) -> dict:
    """Fraction of the 51 targets reached per (group, dim): {"groups": [...], "dims": [...],
    "table": {group: {dim: fraction}}, "runs": {dim: n}}."""
    prec = final_precisions(folder)
    dims = sorted({d for _, d in prec})
    groups = [(g, lo, hi) for g, lo, hi in GROUPS[suite]] + [("all", 0, 10 ** 9)]
    table = {}
    for g, lo, hi in groups:
        row = {}
        for d in dims:
            runs = [p for (f, dd), ps in prec.items() if dd == d and lo <= f <= hi for p in ps]
            if runs:
                row[d] = float(np.mean([np.mean(p <= TARGETS) for p in runs]))
        table[g] = row
    return {"groups": [g for g, _, _ in groups], "dims": dims, "table": table,
            "n_runs": {d: sum(len(ps) for (f, dd), ps in prec.items() if dd == d) for d in dims}}


def summary_markdown(s: dict) -> str:
    """The summary as a markdown table with a header line saying what was run."""
    cfg = " ".join(f"{k}={v}" for k, v in sorted(s.get("config", {}).items())) or "defaults"
    lines = [f"# COCO {s.get('suite')}: {s.get('solver')} ({cfg})", "",
             f"Fraction of the 51 targets f - fopt in 10^2 ... 10^-8 reached at a budget of "
             f"{s.get('budget_mult'):g} x dim evaluations; instances {s.get('instances')}, seeds "
             f"{','.join(map(str, s.get('seeds', [])))}; {s.get('runs')} runs in {s.get('wall', 0):.0f} s; "
             f"COCO data: {s.get('folder')}", "",
             "| function group | " + " | ".join(f"d={d}" for d in s["dims"]) + " |",
             "|---|" + "---:|" * len(s["dims"])]
    for g in s["groups"]:
        lines.append(f"| {g} | " + " | ".join(f"{s['table'][g][d]:.2f}" if d in s["table"][g] else "-"
                                             for d in s["dims"]) + " |")
    return "\n".join(lines) + "\n"


@click.group("bench")
def bench_group():
    """Standard benchmarks (COCO's BBOB suites)."""


@bench_group.command("coco")
@click.option("--suite", default="bbob", show_default=True, help="cocoex suite: " + ", ".join(SUITES) + ".")
@click.option("--solver", required=True, help="Solver name (see `blackbox list`).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Solver option, repeatable.")
@click.option("--dims", default="5,20", show_default=True, help="Dimensions, e.g. 2,5,20.")
@click.option("--functions", default="1-24", show_default=True, help="Function indices within the suite, e.g. 1-5,8.")
@click.option("--instances", default="1-3", show_default=True, help="Instance indices, e.g. 1-15.")
@click.option("--budget-mult", type=float, default=1000, show_default=True, help="Evaluations per run = this x dim.")
@click.option("--seeds", default="0", show_default=True, help="Solver seeds per problem, e.g. 0-2 (each a COCO run).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder: exdata/ALG and summary.md.")
def coco_cmd(suite, solver, settings, dims, functions, instances, budget_mult, seeds, out):
    """Run a solver on a COCO suite; COCO's data for cocopp plus a summary table (summary.md)."""
    from .cli import _parse_settings
    run_coco(solver, _parse_settings(settings), suite=suite, dims=dims, instances=instances, functions=functions,
             budget_mult=budget_mult, seeds=_seeds(seeds), out=out, echo=click.echo)
