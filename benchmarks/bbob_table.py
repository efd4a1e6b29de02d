"""The BBOB table of docs/benchmarks.md: every solver on COCO's bbob suite, one command.

Runs ``blackbox bench coco`` (``blackbox.bench.run_coco``) for each solver at its defaults and
writes the fraction of the 51 targets 10^2 ... 10^-8 reached at 1000 x dim evaluations, per
function group and dimension, into docs/benchmarks.md between the markers
``<!-- bbob-table:start -->`` and ``<!-- bbob-table:end -->`` (with the command, commit, load
and wall times). COCO's data of every solver stays in OUT/SOLVER/exdata/ for ``cocopp``.

    PYTHONPATH=. python benchmarks/bbob_table.py                      # d 5 and 20, instances 1-3
    PYTHONPATH=. python benchmarks/bbob_table.py --dims 5 --solvers es snes random
    PYTHONPATH=. python benchmarks/bbob_table.py --sigma0-fractions 0.05,0.1,0.2,0.3,0.5 \\
        --solvers random es snes polystep --dims 5      # the sigma0 sweep (section bbob-sigma0)

With ``--sigma0-fractions`` each solver runs with ``sigma0`` = fraction x 10 (the BBOB box is
[-5, 5]) and the "all functions" fraction goes into the ``bbob-sigma0`` section instead.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one BLAS thread: solvers are compared, not BLAS

from blackbox.bench import run_coco  # noqa: E402
from blackbox.registry import solver_names  # noqa: E402

DOC = os.path.join(os.path.dirname(__file__), "..", "docs", "benchmarks.md")
WANTED = ["random", "es", "snes", "polystep", "cge", "ga", "cma-es", "cmaes", "auto"]
SHORT = {"separable": "sep 1-5", "low/moderate conditioning": "low cond 6-9", "high conditioning": "high cond 10-14",
         "multimodal, adequate structure": "multi 15-19", "multimodal, weak structure": "weak 20-24", "all": "**all**"}


def header(args, started: float) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    import cocoex
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    return (f"`PYTHONPATH=. python {' '.join([os.path.relpath(sys.argv[0])] + sys.argv[1:])}` — commit {commit or '?'}, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}, cocoex {cocoex.__version__}, "
            f"{platform.machine()}, {os.cpu_count()} cpus, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, "
            f"load average (1/5/15 min) at the end {load}. Budget {args.budget_mult:g} x dim evaluations per run, "
            f"instances {args.instances}, solver seed 0, functions {args.functions}; one run per (function, "
            f"instance, dim); a run also ends when COCO's final target 1e-8 is hit.")


def table(results: dict, dims: list) -> str:
    """One markdown table per dimension: solvers x function groups (+ all, + wall)."""
    out = []
    for d in dims:
        groups = next(iter(results.values()))["groups"]
        out += [f"**d = {d}**", "", "| solver | " + " | ".join(SHORT.get(g, g) for g in groups) + " | wall s |",
                "|---|" + "---:|" * (len(groups) + 1)]
        for name, s in results.items():
            cells = [f"{s['table'][g].get(d, float('nan')):.2f}" for g in groups]
            out.append(f"| `{name}` | " + " | ".join(cells) + f" | {s['walls'].get(d, 0):.0f} |")
        out.append("")
    return "\n".join(out)


def replace_section(marker: str, body: str, title: str) -> None:
    """Put ``body`` between the markers of ``marker`` in docs/benchmarks.md (appended with
    ``title`` when the markers are not there yet)."""
    with open(DOC) as f:
        doc = f.read()
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in doc:
        doc = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, doc, flags=re.S)
    else:
        doc = doc.rstrip() + f"\n\n{title}\n\n{block}\n"
    with open(DOC, "w") as f:
        f.write(doc)


def run_solver(name: str, config: dict, args, out: str) -> dict:
    """run_coco one dimension at a time (to time each), merged into one summary."""
    merged = None
    for d in args.dims:
        folder = os.path.join(out, f"d{d}")
        shutil.rmtree(folder, ignore_errors=True)
        t0 = time.perf_counter()
        s = run_coco(name, config, suite="bbob", dims=str(d), instances=args.instances, functions=args.functions,
                     budget_mult=args.budget_mult, out=folder, echo=lambda *_: None)
        wall = time.perf_counter() - t0
        if merged is None:
            merged = dict(s, walls={})
        else:
            for g in merged["table"]:
                merged["table"][g].update(s["table"][g])
        merged["walls"][d] = wall
        print(f"{name} {config or ''} d={d}: all {s['table']['all'].get(d, float('nan')):.3f} in {wall:.0f} s", flush=True)
    return merged


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--solvers", nargs="+", default=None, help="default: every registered one of " + ", ".join(WANTED))
    ap.add_argument("--dims", nargs="+", type=int, default=[5, 20])
    ap.add_argument("--instances", default="1-3")
    ap.add_argument("--functions", default="1-24")
    ap.add_argument("--budget-mult", type=float, default=1000)
    ap.add_argument("--sigma0-fractions", default=None, help="sweep sigma0 = fraction x 10 instead (e.g. 0.1,0.2,0.5)")
    ap.add_argument("--out", default="bbob-runs", help="COCO data folders go here")
    ap.add_argument("--no-doc", action="store_true", help="print the tables only; leave docs/benchmarks.md alone")
    args = ap.parse_args()
    known = set(solver_names())
    solvers = args.solvers or [s for s in WANTED if s in known]
    started = time.time()
    if args.sigma0_fractions:
        fracs = [float(v) for v in args.sigma0_fractions.split(",")]
        results = {(s, f): run_solver(s, {"sigma0": f * 10}, args, os.path.join(args.out, f"{s}-sigma0-{f:g}"))
                   for s in solvers for f in fracs}
        lines = ["| solver | d | " + " | ".join(f"sigma0 = {f:g} x range" for f in fracs) + " |",
                 "|---|---:|" + "---:|" * len(fracs)]
        for s in solvers:
            for d in args.dims:
                lines.append(f"| `{s}` | {d} | " + " | ".join(f"{results[(s, f)]['table']['all'].get(d, float('nan')):.2f}"
                                                           for f in fracs) + " |")
        body = header(args, started) + "\n\nFraction of targets reached, all 24 functions:\n\n" + "\n".join(lines)
        marker, title = "bbob-sigma0", "## Initial step size on BBOB"
    else:
        results = {s: run_solver(s, {}, args, os.path.join(args.out, s)) for s in solvers}
        body = header(args, started) + "\n\n" + table(results, args.dims)
        marker, title = "bbob-table", "## BBOB, every solver at its defaults (`benchmarks/bbob_table.py`)"
    print(body)
    if not args.no_doc:
        replace_section(marker, body, title)
        print(f"written: {os.path.relpath(DOC)} ({marker})")


if __name__ == "__main__":
    main()
