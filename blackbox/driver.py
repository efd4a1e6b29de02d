"""The run driver: one call runs a problem with a solver under a budget.

    result = blackbox.solve(problem, "polystep", evals=100_000, seconds=60, seed=0)

``solve`` builds the parts: the problem and solver (by name or instance), a ``Budget``, an
evaluator (in-process, a process pool or Ray), the ``RunRecord`` (fresh or from a checkpoint) and
the observers (validation, time-based planning, progress, callbacks, periodic checkpoints). The loop
(``run_loop``) is ask -> evaluate -> tell -> record, then the observers, until the budget, a
callback, the solver or a signal stops it. Ctrl-C or SIGTERM stops at the end of the current
generation (a second Ctrl-C stops at once) and always writes a checkpoint, so nothing computed is
lost; resuming it continues exactly like the uninterrupted run because solver randomness and data
seeds are pure functions of (seed, generation) (``blackbox.seeding``).

An evaluation budget is a hard limit: the generation that would pass it is cut to the evaluations
left and not told to the solver, so ``result.evals <= evals`` and the best loss never comes from
past the budget (``whole_generations=True`` lets the last generation finish instead).

For stochastic problems (minibatches, episodes) losses of different generations are not comparable,
so the reported solution is selected by ``problem.validation_loss`` on the solver's current point
every ``validate_every`` generations, never by test data.
"""
from __future__ import annotations

import signal
import threading
import time

import numpy as np

from . import observers as obs
from .budget import Budget
from .domain import as_domain
from .evaluator import InProcessEvaluator
from .observers import PLAN_AFTER_FRACTION, Loop, Tick  # noqa: F401  (part of the driver's API)
from .problem import Problem
from .registry import problem_class, solver_class
from .run_record import Result, RunRecord, config_dict, versions  # noqa: F401
from .seeding import data_seed
from .solver import Solver, Spec, build_config


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
          checkpoint_on_interrupt: bool = True, whole_generations: bool = False) -> Result:
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
    whole_generations  True: the last generation may pass the evaluation budget (whole populations)
    """
    problem = make_problem(problem, problem_config)
    problem.domain = as_domain(problem.domain, problem.dim)  # a (low, high) pair, bounds checked per coordinate
    solver = _solver_for(problem, solver, config)
    budget = Budget.of(evals, seconds, target, problem.default_budget)
    run, seed = _open_run(problem, solver, seed, x0, resume, budget)
    owned = evaluator is None
    evaluator = evaluator or make_evaluator(workers, ray, ray_address, strict)
    start = (time.perf_counter() if started is None else started) - run.elapsed
    loop = Loop(problem, solver, evaluator, run, budget, start, seed, exact_evals=not whole_generations)
    watchers = _observers(loop, progress, callbacks, checkpoint, checkpoint_every, validate_every)
    left = budget.seconds_left(loop.elapsed())
    problem.deadline = None if left is None else time.monotonic() + left
    try:
        stopped = run_loop(loop, watchers)
    finally:
        problem.deadline = None
        for w in watchers:
            w.close()
        if owned:
            evaluator.close()
    return _finish(loop, stopped, checkpoint, checkpoint_on_interrupt)


def _solver_for(problem, solver, config) -> Solver:
    """The solver instance for ``problem`` (its default when None), refused early when it cannot run."""
    solver = solver or problem.default_solver
    solver = make_solver(solver, Spec.of(problem), with_problem_defaults(problem, solver, config))
    reason = solver.refuses(type(problem))
    if reason:
        raise ValueError(reason)
    return solver


def _open_run(problem, solver, seed, x0, resume, budget) -> tuple[RunRecord, int]:
    """A fresh run (its schedules fitted to an evaluation budget) or one loaded from ``resume``."""
    if resume:
        run = RunRecord.load(resume, problem, solver, config_dict(problem.config), config_dict(solver.config))
    else:
        run = RunRecord.fresh(problem, solver, seed, x0)
        if budget.evals is not None or budget.seconds is None:
            run.state = solver.plan(run.state, evals=budget.evals)  # fit schedules to the budget, once
            run.planned = True
    run.bind(problem, solver)
    return run, run.seed


def _observers(loop, progress, callbacks, checkpoint, checkpoint_every, validate_every) -> list:
    """The loop's observers, in the order they run after each generation."""
    watchers = [obs.Validation(validate_every)]
    if not loop.run.planned and loop.budget.seconds is not None and not loop.solver.native:
        watchers.append(obs.TimePlan(loop.budget.seconds))
    watchers += [obs.Progress(loop.problem, loop.solver, progress), obs.Callbacks(callbacks)]
    if checkpoint:
        watchers.append(obs.PeriodicCheckpoint(checkpoint, checkpoint_every))
    return watchers


def run_loop(loop: Loop, watchers: list) -> str:
    """Generations until something stops the run; returns why (evals | time | target |
    interrupted | callback | solver)."""
    with _StopFlag() as flag:
        try:
            while True:
                stopped = "interrupted" if flag.requested else loop.budget.exhausted(
                    loop.run.evals, loop.elapsed(), loop.run.best_loss)
                if stopped:
                    return stopped
                if step(loop):
                    return "evals"  # the generation was cut at the evaluation budget
                for w in watchers:
                    if w.after_generation(loop):
                        return "callback"
                if loop.solver.finished(loop.run.state):
                    return "solver"
        except KeyboardInterrupt:
            return "interrupted"


def step(loop: Loop) -> bool:
    """One generation: ask, evaluate, tell, record. True when it was cut at the evaluation budget
    (then it is recorded but not told: the solver's state stays where it was)."""
    run, solver, budget = loop.run, loop.solver, loop.budget
    if solver.native:
        state, used = solver.advance(run.state, loop.problem, budget.evals_left(run.evals),
                                     budget.seconds_left(loop.elapsed()))
        bx, bl = solver.best(state)
        run.commit(state, int(used), np.inf if bl is None else float(bl), bx, float(bl), 0, "")
        return False
    request, asked = solver.ask(run.state)
    left = budget.evals_left(run.evals)
    cut = loop.exact_evals and left is not None and len(request) > left
    if cut:
        request = request.take(0, left)
    ev = loop.evaluator.evaluate(loop.problem, request, data_seed(loop.seed, run.state["generation"]))
    state = run.state if cut else solver.tell(asked, request, ev.losses)
    i = int(np.argmin(ev.losses)) if len(ev.losses) else 0
    cand = request.candidate(i) if ev.losses[i] < run.best_loss else None
    run.commit(state, len(request), float(ev.losses[i]), cand, float(ev.losses[i]), ev.failures, ev.first_error)
    return cut


def _finish(loop: Loop, stopped: str, checkpoint, checkpoint_on_interrupt: bool) -> Result:
    """Write the final checkpoint when one is due and build the result."""
    run, problem, budget = loop.run, loop.problem, loop.budget.as_dict()
    wall = loop.elapsed()
    if (stopped == "interrupted" and checkpoint_on_interrupt) or (checkpoint and stopped):
        checkpoint = checkpoint or f"blackbox-{problem.name}-{loop.seed}.ckpt.npz"
        run.save(checkpoint, wall, budget)
    result = run.result(problem, loop.solver, wall, stopped, budget, checkpoint, validate=problem.stochastic)
    result.redispatched = loop.evaluator.redispatched
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


