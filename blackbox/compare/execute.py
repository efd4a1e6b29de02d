"""Running a comparison's cells: in worker processes, in this process or as Ray tasks; resumable."""
from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback

from ..checkpoint import jsonable
from ..fileio import atomic_write, atomic_write_json
from .grid import Cell, Grid
from .report import Report, _fmt, _is_num

THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


# -- running --------------------------------------------------------------------------------------
def run(grid: Grid, out: str, *, workers: int = 2, echo=print, checkpoint_every: float = 60.0,
        pivots=None, ray: bool = False, ray_address: str | None = None, pin_cores: bool = False) -> "Report":
    """Run every unfinished cell of ``grid`` under ``out`` (``workers`` processes; 0 = in this
    process; with ``ray``/``ray_address`` as one-CPU Ray tasks on a local Ray or a cluster), then
    write ``summary.md``, the plots and, for each metric in ``pivots``, a problems x solvers table
    in ``pivot.md``. ``pin_cores``: each worker process is pinned to a core of its own (as
    ``taskset`` would), so cells running side by side get equal CPU. Returns the report of all
    finished cells."""
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
    atomic_write_json(os.path.join(out, "grid.json"), {"cells": [c.spec() for c in cells]}, indent=1, default=jsonable)
    n_done = len(cells) - len(todo)
    interrupted = False
    cells_out = _execute_ray(todo, runs_dir, workers, checkpoint_every, ray_address) if (ray or ray_address) \
        else _execute(todo, runs_dir, workers, checkpoint_every, pin_cores)
    try:
        for summary in cells_out:
            n_done += summary["status"] in ("done", "skipped")
            echo(f"[{n_done}/{len(cells)}] {summary['line']}")
            if summary["status"] == "interrupted":  # Ctrl-C reached a running cell: stop the grid
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        cells_out.close()  # queued cells are cancelled now; running ones stop at their generation's end
    report = Report.load(out, cells)
    report.write(out, grid.pivots if pivots is None else pivots)
    report.interrupted = interrupted
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


def _execute(todo, runs_dir, workers, checkpoint_every, pin_cores=False):
    specs = [(c.spec(), runs_dir, checkpoint_every) for c in todo]
    if not workers:
        for s in specs:
            yield run_cell(*s)
        return
    import concurrent.futures as cf
    import multiprocessing as mp
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: "1" for k in THREAD_VARS})  # inherited by the workers spawned below
    ctx = mp.get_context("spawn")
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_single_thread,
                                  initargs=(ctx.Value("i", 0) if pin_cores else None,))
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
    from ..ray_evaluator import connect, remote_single_thread
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
            atomic_write(os.path.join(runs_dir, name), lambda tmp, data=files[name]: _write_bytes(tmp, data))
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


def _single_thread(next_core=None):
    """A cell worker: one thread everywhere; with ``next_core`` (a shared counter) pinned to a core
    of its own, the k-th worker started to the k-th allowed core."""
    os.environ.update({k: "1" for k in THREAD_VARS})
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    if next_core is not None:
        with next_core.get_lock():
            k, next_core.value = next_core.value, next_core.value + 1
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[k % len(cores)]})


def run_cell(spec: dict, runs_dir: str, checkpoint_every: float = 60.0) -> dict:
    """Run one cell and write its JSON atomically; returns a one-line summary for the console."""
    import numpy as np

    from ..driver import make_problem, make_solver, solve, versions, with_problem_defaults
    from ..solver import Spec
    cell = Cell(**spec)
    path = os.path.join(runs_dir, cell.stem + ".json")
    ckpt = os.path.join(runs_dir, cell.stem + ".ckpt.npz")
    head = f"{cell.problem_label} · {cell.solver_label} · seed {cell.seed}"
    record = {"cell": cell.spec(), "problem": cell.problem, "solver": cell.solver, "seed": cell.seed,
              "versions": versions(), "cpus": sorted(os.sched_getaffinity(0))}
    cpu0 = time.process_time()
    try:
        problem = make_problem(cell.problem, cell.problem_options)
        if cell.max_dim is not None and problem.dim > cell.max_dim:
            record.update(status="skipped", reason=f"dim {problem.dim} > max_dim {cell.max_dim}", dim=int(problem.dim))
            atomic_write_json(path, record, indent=1, default=jsonable)
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
        atomic_write_json(path, record, indent=1, default=jsonable)
        return {"status": "error", "line": f"{head}: ERROR {type(e).__name__}: {e}"}
    if result.stopped == "interrupted":  # the checkpoint stays; the next run continues it
        return {"status": "interrupted", "line": f"{head}: interrupted after {result.evals:,} evals (checkpoint kept)"}
    d = result.to_json()
    if "best_x" not in d:
        atomic_write(os.path.join(runs_dir, cell.stem + ".x.npy"), lambda tmp: np.save(tmp, result.best_x), suffix=".npy")
        d["best_x_file"] = cell.stem + ".x.npy"
    record["versions"].update({m: getattr(sys.modules[m], "__version__", "?") for m in ("torch", "numba", "cma", "gymnasium", "scipy")
                               if m in sys.modules})
    record["versions"]["git"] = _git_revision()
    d.update(record, status="done", stochastic=bool(problem.stochastic), trace=trace.points, checkpoint=None,
             cpu_seconds=round(time.process_time() - cpu0, 2), load_avg=[round(v, 2) for v in os.getloadavg()])
    atomic_write_json(path, d, indent=1, default=jsonable)
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




def _write_bytes(path: str, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
