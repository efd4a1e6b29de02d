"""The PolyStep paper's table on one CPU: the five paper architectures, every cell pinned to a core.

    BLACKBOX_DATA=../shared/data python benchmarks/paper_table.py short   # 3 min cells, 5 solvers, seeds 0-1
    BLACKBOX_DATA=../shared/data python benchmarks/paper_table.py long    # 30 min cells, polystep + openai-es, seed 0
    BLACKBOX_DATA=../shared/data python benchmarks/paper_table.py long --seeds 1,2 --solvers polystep

Each cell is one ``blackbox.solve`` run with the solver's defaults (``openai-es`` is the paper's
OpenAI-ES settings; ``adam-ceiling`` trains the smooth twin with gradients and is marked NOT
gradient-free) under a wall-time budget, in a single-threaded worker pinned to a core of its own,
two cells at a time (``--workers 2`` on the 2-core machine: run nothing else beside it). The model
is selected on the validation split by the driver; test accuracy is read once, for that model.
Finished cells are written at once under ``--out``; the same command resumes an interrupted table,
so the long table can be filled in several sittings. The markdown table (validation / test
accuracy, evaluations, wall and CPU seconds, load average per cell) is printed and written to
``OUT/paper_table.md``; docs/reproductions.md quotes it with the commit it was run on.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

PAPER_NETS = ["snn", "int8-mlp", "staircase-mlp", "argmax-attn", "hard-moe"]  # argmax on Fashion, MoE on 20 classes
PAPER_ACCURACY = {"snn": 93.4, "int8-mlp": 97.15, "staircase-mlp": 93.2, "argmax-attn": 86.8, "hard-moe": 90.7}
TABLES = {"short": dict(seconds=180, solvers=["polystep", "openai-es", "snes", "mezo", "adam-ceiling"], seeds=[0, 1]),
          "long": dict(seconds=1800, solvers=["polystep", "openai-es"], seeds=[0])}
NOT_GRADIENT_FREE = {"adam-ceiling"}


def build_grid(seconds: float, solvers: list, seeds: list, nets: list = PAPER_NETS):
    from blackbox.compare import Grid
    problems = [f"{net}:arch=paper" for net in nets]
    return Grid.parse(problems, solvers, seeds=seeds, seconds=seconds)


def cell_rows(out: Path) -> list[dict]:
    """One dict per finished cell: net, solver, seed, accuracies (%), evaluations, wall, CPU, load."""
    rows = []
    for path in sorted((out / "runs").glob("*.json")):
        d = json.loads(path.read_text())
        if d.get("status") != "done":
            continue
        rows.append(dict(net=d["problem"], solver=d["solver"], seed=d["seed"],
                         val=100 * d["metrics"].get("val_accuracy", float("nan")),
                         test=100 * d["test_metrics"].get("test_accuracy", float("nan")),
                         evals=d["evals"], wall=d["wall_time"], cpu=d.get("cpu_seconds"),
                         load=(d.get("load_avg") or [None])[0], commit=d["versions"].get("git", "")))
    return rows


def markdown(rows: list[dict], seconds: float) -> str:
    """The table: a line per cell, grouped by net, with the paper's figure beside it."""
    lines = [f"| net (paper arch) | solver | seed | val % | test % | paper % | evaluations | wall s | CPU s | load |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (PAPER_NETS.index(r["net"]), r["solver"], r["seed"])):
        solver = r["solver"] + (" (NOT gradient-free)" if r["solver"] in NOT_GRADIENT_FREE else "")
        cpu = "" if r["cpu"] is None else f"{r['cpu']:.0f}"
        load = "" if r["load"] is None else f"{r['load']:.2f}"
        lines.append(f"| {r['net']} | {solver} | {r['seed']} | {r['val']:.2f} | {r['test']:.2f} | "
                     f"{PAPER_ACCURACY[r['net']]} | {r['evals']:,} | {r['wall']:.0f} | {cpu} | {load} |")
    commits = sorted({r["commit"] for r in rows if r["commit"]})
    lines.append("")
    lines.append(f"{len(rows)} cells, {seconds:g} s each, one core per cell (commit {', '.join(commits) or '?'}).")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("table", choices=sorted(TABLES))
    ap.add_argument("--out", default=None, help="output folder (default runs/paper-TABLE)")
    ap.add_argument("--seconds", type=float, default=None, help="wall time per cell (default: the table's)")
    ap.add_argument("--solvers", default=None, help="comma-separated solvers (default: the table's)")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (default: the table's)")
    ap.add_argument("--nets", default=None, help="comma-separated nets (default: all five)")
    ap.add_argument("--workers", type=int, default=2, help="cells at a time, each pinned to its own core")
    a = ap.parse_args(argv)
    spec = TABLES[a.table]
    seconds = a.seconds or spec["seconds"]
    solvers = a.solvers.split(",") if a.solvers else spec["solvers"]
    seeds = [int(s) for s in a.seeds.split(",")] if a.seeds else spec["seeds"]
    out = Path(a.out or f"runs/paper-{a.table}")
    from blackbox.compare import run
    print(f"load before: {os.getloadavg()[0]:.2f}; git {_git()}", flush=True)
    nets = a.nets.split(",") if a.nets else PAPER_NETS
    run(build_grid(seconds, solvers, seeds, nets), str(out), workers=a.workers, pin_cores=True)
    text = markdown(cell_rows(out), seconds)
    (out / "paper_table.md").write_text(text + "\n")
    print(text)
    return 0


def _git() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=5).stdout.strip()
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
