"""The run driver: one call runs a problem with a solver under a budget.

    result = blackbox.solve(problem, "polystep", evals=100_000, seconds=60, seed=0)

The loop is ask -> evaluate (through the evaluator seam) -> tell -> bookkeeping. Bookkeeping is the
best evaluated solution, a thinned history, failure counts, callbacks, the progress line and
checkpoints. Ctrl-C or SIGTERM stops at the end of the current generation (a second Ctrl-C stops at
once) and always writes a checkpoint, so nothing computed is lost; resuming it continues exactly
like the uninterrupted run because solver randomness is a pure function of (seed, generation).

For stochastic problems (minibatches, episodes) losses of different generations are not comparable,
so the reported solution is selected by ``problem.validation_loss`` on the solver's current point
every ``validate_every`` generations, never by test data.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from . import __version__
from . import checkpoint as ckpt
from .evaluator import InProcessEvaluator
from .problem import Problem
from .registry import problem_class, solver_class
from .seeding import data_seed
from .solver import Solver, Spec, build_config


@dataclass
class Result:
    """What a run produced. ``to_json`` gives everything needed to report it honestly."""

    problem: str
    solver: str
    seed: int
    best_x: np.ndarray
    best_loss: float
    metrics: dict
    test_metrics: dict
    evals: int
    generations: int
    wall_time: float
    stopped: str  # evals | time | target | interrupted | callback | solver
    selected_by: str  # "best evaluated loss" | "validation loss" | "final point"
    history: list = field(default_factory=list)
    failures: int = 0
    first_error: str = ""
    validation_evals: int = 0
    redispatched: int = 0  # candidates re-sent because a worker died (each counted once in evals)
    problem_config: dict = field(default_factory=dict)
    solver_config: dict = field(default_factory=dict)
    budget: dict = field(default_factory=dict)
    checkpoint: str | None = None

    def to_json(self, inline_limit: int = 10_000) -> dict:
        d = {k: getattr(self, k) for k in (
            "problem", "solver", "seed", "best_loss", "metrics", "test_metrics", "evals", "generations",
            "wall_time", "stopped", "selected_by", "failures", "first_error", "validation_evals", "redispatched",
            "problem_config", "solver_config", "budget", "checkpoint", "history")}
        d["dim"] = int(self.best_x.size)
        if self.best_x.size <= inline_limit:
            d["best_x"] = self.best_x.tolist()
        d["versions"] = versions()
        return d

    def save(self, path: str) -> str:
        """Write the result JSON; a solution too large to inline goes beside it as ``.x.npy``."""
        d = self.to_json()
        if "best_x" not in d:
            xpath = os.path.splitext(path)[0] + ".x.npy"
            np.save(xpath, self.best_x)
            d["best_x_file"] = os.path.basename(xpath)
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(d, fh, indent=1, default=ckpt.jsonable)
        os.replace(tmp, path)
        return path


def versions() -> dict:
    return {"blackbox": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform()}


@dataclass
class Tick:
    """What callbacks receive after every generation. Return True from a callback to stop."""

    generation: int
    evals: int
    elapsed: float
    best_loss: float
    loss: float  # the best loss of this generation
    state: dict


def _keep_in_history(g: int) -> bool:
    """About 90 entries per decade of generations: every one below 100, then a thinning stride."""
    if g < 100:
        return True
    stride = 10 ** (int(math.log10(g)) - 1)
    return g % stride == 0


class _StopFlag:
    """First SIGINT/SIGTERM asks to stop after this generation; a second SIGINT interrupts at once."""

    def __init__(self):
        self.requested = False
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def make_problem(problem, problem_config=None) -> Problem:
    if isinstance(problem, str):
        cls = problem_class(problem)
        return cls(build_config(cls.Config, problem_config or {}, f"problem {problem}"))
    if problem_config:
        raise ValueError("problem_config is only used with a problem given by name")
    return problem


def make_solver(solver, spec: Spec, config=None) -> Solver:
    if isinstance(solver, Solver):
        if config is not None:
            raise ValueError("config is only used with a solver given by name")
        return solver
    cls = solver_class(solver)
    if config is None or isinstance(config, dict):
        config = build_config(cls.Config, config or {}, f"solver {solver}")
    return cls(spec, config)


# With a time-only budget, solver.plan() gets the evaluations the run is expected to reach, from the
# pace of the generations after the first (which may compile kernels), measured over the first
# PLAN_AFTER_FRACTION of the budget: long enough to include the periodic validations (a 20-generation
# window that held the first validation's start-up cost under-estimated a 30-minute run by 1.7x).
PLAN_AFTER_FRACTION = 0.03


def with_problem_defaults(problem, solver, config):
    """A solver config given by name or dict, on top of the problem's suggested settings for that
    solver (``problem.solver_defaults``; the user's settings win)."""
    if isinstance(solver, str) and (config is None or isinstance(config, dict)):
        return {**problem.solver_defaults.get(solver, {}), **(config or {})}
    return config


def solve(problem, solver: str | Solver | None = None, config=None, *, problem_config=None,
          evals: int | None = None, seconds: float | None = None, target: float | None = None,
          seed: int = 0, x0=None, callbacks=(), checkpoint: str | None = None,
          checkpoint_every: float = 60.0, resume: str | None = None, progress: bool = False,
          evaluator=None, workers: int | None = None, ray: bool = False, ray_address: str | None = None,
          strict: bool = False, validate_every: int = 20, started: float | None = None,
          checkpoint_on_interrupt: bool = True) -> Result:
    """Run ``solver`` on ``problem`` until the first budget is exhausted.

    problem   a Problem, or a registry name with ``problem_config`` (dict of its Config fields)
    solver    a registry name with ``config`` (dict or its Config), or a Solver instance;
              None takes the problem's ``default_solver``
    evals / seconds / target   stop after this many evaluations, this much wall time, or once the
              best loss is <= target; with none given the problem's ``default_budget`` applies
    checkpoint  path written every ``checkpoint_every`` seconds and on interrupt; on interrupt a
              path is made up (``blackbox-<problem>-<seed>.ckpt.npz``) when none was given
    resume    a checkpoint path: continue that run (same problem, solver and configs)
    started   a ``time.perf_counter()`` reading to count the time budget from (the CLI passes the
              moment the command started, so building a 1M-variable instance is inside ``seconds``)
    checkpoint_on_interrupt  False: an interrupted run without ``checkpoint`` writes none (for
              harnesses that kill runs on purpose and only want the answer)
    evaluator an evaluator instance; or ``workers=N`` for a local process pool, ``ray=True`` /
              ``ray_address=...`` for Ray (made here and closed at the end of the run)
    """
    problem = make_problem(problem, problem_config)
    spec = Spec.of(problem)
    solver = solver or problem.default_solver
    solver = make_solver(solver, spec, with_problem_defaults(problem, solver, config))
    reason = solver.refuses(type(problem))
    if reason:
        raise ValueError(reason)
    if evals is None and seconds is None and target is None:
        evals, seconds = problem.default_budget.get("evals"), problem.default_budget.get("seconds")
    for name, v in (("evals", evals), ("seconds", seconds)):
        if v is not None and v <= 0:
            raise ValueError(f"budget {name} must be > 0, got {v}")
    budget = {"evals": evals, "seconds": seconds, "target": target}
    owned = evaluator is None
    evaluator = evaluator or make_evaluator(workers, ray, ray_address, strict)
    native = solver.native
    problem_cfg = _config_dict(problem.config)
    solver_cfg = _config_dict(solver.config)

    if resume:
        run = _RunState.load(resume, problem, solver, problem_cfg, solver_cfg)
        seed = run.seed
    else:
        run = _RunState.fresh(problem, solver, seed, x0)
        if evals is not None or seconds is None:
            run.state = solver.plan(run.state, evals=evals)  # fit schedules to the budget, once
            run.planned = True
    # A time-only budget: the solver's schedules are fitted once the pace is known (see PLAN_AFTER_FRACTION)
    plan_on_time = not run.planned and seconds is not None and not native
    pace_from = None
    run.bind(problem, solver)
    start = (time.perf_counter() if started is None else started) - run.elapsed
    last_ckpt = time.perf_counter()
    stopped = None
    show = _make_progress(progress, problem)
    show.start(f"{problem.name} · {solver.name}")
    with _StopFlag() as flag:
        try:
            while True:
                elapsed = time.perf_counter() - start
                stopped = _exhausted(run, budget, elapsed, flag)
                if stopped:
                    break
                if native:
                    left_e = None if evals is None else evals - run.evals
                    left_s = None if seconds is None else seconds - elapsed
                    state, used = solver.advance(run.state, problem, left_e, left_s)
                    bx, bl = solver.best(state)
                    run.commit(state, int(used), np.inf if bl is None else float(bl), bx, float(bl), 0, "")
                else:
                    request, asked = solver.ask(run.state)
                    ev = evaluator.evaluate(problem, request, data_seed(seed, run.state["generation"]))
                    state = solver.tell(asked, request, ev.losses)
                    i = int(np.argmin(ev.losses)) if len(ev.losses) else 0
                    cand = request.candidate(i) if ev.losses[i] < run.best_loss else None
                    run.commit(state, len(request), float(ev.losses[i]), cand, float(ev.losses[i]),
                               ev.failures, ev.first_error)
                if problem.stochastic and run.generation % max(1, validate_every) == 0:
                    run.validate(problem, solver)
                elapsed = time.perf_counter() - start
                if plan_on_time:
                    pace_from = pace_from or (run.generation, elapsed)  # after the first (compiling) one
                    done, spent = run.generation - pace_from[0], elapsed - pace_from[1]
                    if done and spent >= PLAN_AFTER_FRACTION * seconds:
                        per_gen = spent / done
                        gens = run.generation + max(0.0, seconds - elapsed) / max(per_gen, 1e-9)
                        run.state = solver.plan(run.state, evals=int(gens * run.evals / run.generation))
                        run.planned, plan_on_time = True, False
                show.update(best=run.reported_loss(), current=run.last_loss, evals=run.evals,
                            elapsed=elapsed, extra=_live(problem, run))
                tick = Tick(run.generation, run.evals, elapsed, run.best_loss, run.last_loss, run.state)
                if any(cb(tick) is True for cb in callbacks):
                    stopped = "callback"
                    break
                if solver.finished(run.state):
                    stopped = "solver"
                    break
                if checkpoint and time.perf_counter() - last_ckpt >= checkpoint_every:
                    run.save(checkpoint, time.perf_counter() - start, budget)
                    last_ckpt = time.perf_counter()
        except KeyboardInterrupt:
            stopped = "interrupted"
        finally:
            show.stop()
            if owned:
                evaluator.close()
    wall = time.perf_counter() - start
    if (stopped == "interrupted" and checkpoint_on_interrupt) or (checkpoint and stopped):
        checkpoint = checkpoint or f"blackbox-{problem.name}-{seed}.ckpt.npz"
        run.save(checkpoint, wall, budget)
    result = run.result(problem, solver, wall, stopped, budget, checkpoint, validate=problem.stochastic)
    result.redispatched = getattr(evaluator, "redispatched", 0)
    return result


def make_evaluator(workers=None, ray=False, ray_address=None, strict=False):
    """In-process by default; a process pool for ``workers`` > 1; Ray when asked."""
    if ray or ray_address:
        from .ray_evaluator import RayEvaluator
        return RayEvaluator(workers, ray_address, strict)
    if workers and workers > 1:
        from .pool import ProcessPoolEvaluator
        return ProcessPoolEvaluator(workers, strict)
    return InProcessEvaluator(strict)


def _exhausted(run, budget, elapsed, flag) -> str | None:
    if flag.requested:
        return "interrupted"
    if budget["target"] is not None and run.best_loss <= budget["target"]:
        return "target"
    if budget["evals"] is not None and run.evals >= budget["evals"]:
        return "evals"
    if budget["seconds"] is not None and elapsed >= budget["seconds"]:
        return "time"
    return None


def _config_dict(cfg) -> dict:
    return dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else {}


def _make_progress(progress: bool, problem):
    from .progress import LiveProgress, NullProgress
    if not progress:
        return NullProgress()
    return LiveProgress(unit=problem.eval_unit)


def _live(problem, run) -> dict:
    return problem.live_metrics(run.best_loss) if np.isfinite(run.best_loss) else {}


@dataclass
class _RunState:
    """The driver's bookkeeping; everything in it goes into a checkpoint."""

    seed: int
    state: dict
    evals: int = 0
    generation: int = 0
    best_x: np.ndarray | None = None
    best_loss: float = np.inf
    last_loss: float = np.inf
    failures: int = 0
    first_error: str = ""
    history: list = field(default_factory=list)
    elapsed: float = 0.0
    val_x: np.ndarray | None = None
    val_loss: float = np.inf
    validation_evals: int = 0
    planned: bool = False  # the solver's plan() has run (kept in checkpoints: a resumed run never re-plans)

    @classmethod
    def fresh(cls, problem, solver, seed, x0):
        rng = np.random.default_rng(int(seed))
        x0 = problem.initial(rng) if x0 is None else np.asarray(x0)
        if x0.shape != (problem.dim,):
            raise ValueError(f"starting point has shape {x0.shape}; {problem.name} expects ({problem.dim},)")
        return cls(seed=int(seed), state=solver.init(x0, int(seed)))

    def commit(self, state, used, gen_loss, cand, cand_loss, failures, error):
        if cand is not None and cand_loss < self.best_loss:
            self.best_x, self.best_loss = np.array(cand, copy=True), cand_loss
        self.state, self.evals, self.last_loss = state, self.evals + used, gen_loss
        self.generation = int(state["generation"])  # the solver's counter: one count for both
        self.failures += failures
        self.first_error = self.first_error or error
        if _keep_in_history(self.generation):
            self.history.append({"generation": self.generation, "evals": self.evals,
                                 "best_loss": self.best_loss, "loss": gen_loss})

    def validate(self, problem, solver):
        x = solver.recommend(self.state)
        v = problem.validation_loss(x)
        if v is None:
            return
        self.validation_evals += 1
        if v < self.val_loss:
            self.val_loss, self.val_x = float(v), np.array(x, copy=True)
        if self.history:
            self.history[-1]["validation_loss"] = float(v)

    def reported_loss(self) -> float:
        return self.val_loss if np.isfinite(self.val_loss) else self.best_loss

    def save(self, path, elapsed, budget):
        arrays = {k: v for k, v in (("best_x", self.best_x), ("val_x", self.val_x)) if v is not None}
        meta = {k: getattr(self, k) for k in ("seed", "evals", "generation", "best_loss", "last_loss",
                                              "failures", "first_error", "history", "val_loss",
                                              "validation_evals", "planned")}
        meta.update(elapsed=elapsed, budget=budget, problem=self._problem, solver=self._solver,
                    problem_config=self._problem_cfg, solver_config=self._solver_cfg,
                    format="blackbox-checkpoint-1")
        meta = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in meta.items()}
        ckpt.save(path, self.state, arrays, meta)

    @classmethod
    def load(cls, path, problem, solver, problem_cfg, solver_cfg):
        state, arrays, meta = ckpt.load(path)
        for what, mine, theirs in (("problem", problem.name, meta.get("problem")),
                                   ("solver", solver.name, meta.get("solver")),
                                   ("problem config", problem_cfg, meta.get("problem_config")),
                                   ("solver config", solver_cfg, meta.get("solver_config"))):
            if json.loads(json.dumps(mine, default=ckpt.jsonable)) != theirs:
                raise ckpt.CheckpointError(f"{path}: checkpoint was made with {what} {theirs!r}, this run has {mine!r}")
        inf = lambda v: np.inf if v is None else float(v)  # noqa: E731
        run = cls(seed=int(meta["seed"]), state=state, evals=int(meta["evals"]),
                  generation=int(meta["generation"]), best_x=arrays.get("best_x"),
                  best_loss=inf(meta["best_loss"]), last_loss=inf(meta["last_loss"]),
                  failures=int(meta["failures"]), first_error=meta["first_error"],
                  history=list(meta["history"]), elapsed=float(meta["elapsed"]),
                  val_x=arrays.get("val_x"), val_loss=inf(meta["val_loss"]),
                  validation_evals=int(meta["validation_evals"]), planned=bool(meta.get("planned", True)))
        return run

    def bind(self, problem, solver):
        self._problem, self._solver = problem.name, solver.name
        self._problem_cfg = _config_dict(problem.config)
        self._solver_cfg = _config_dict(solver.config)

    def result(self, problem, solver, wall, stopped, budget, checkpoint, validate) -> Result:
        if validate:
            self.validate(problem, solver)
        if np.isfinite(self.val_loss):
            x, how = self.val_x, "validation loss"
        elif problem.stochastic or self.best_x is None:
            x, how = np.asarray(solver.recommend(self.state)), "final point"
        else:
            x, how = self.best_x, "best evaluated loss"
        return Result(problem=problem.name, solver=solver.name, seed=self.seed, best_x=np.asarray(x),
                      best_loss=self.best_loss, metrics=problem.metrics(x), test_metrics=problem.test_metrics(x),
                      evals=self.evals, generations=self.generation, wall_time=wall, stopped=stopped or "evals",
                      selected_by=how, history=self.history, failures=self.failures,
                      first_error=self.first_error, validation_evals=self.validation_evals,
                      problem_config=self._problem_cfg, solver_config=self._solver_cfg, budget=budget,
                      checkpoint=checkpoint)
