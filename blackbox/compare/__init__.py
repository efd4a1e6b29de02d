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

from .execute import run, run_cell
from .grid import Cell, Grid, Item, parse_pairs
from .report import Report

__all__ = ["Cell", "Grid", "Item", "Report", "parse_pairs", "run", "run_cell"]
