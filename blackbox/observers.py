"""What watches the run loop: periodic validation, time-based planning, the progress line, user
callbacks and periodic checkpoints, each an ``Observer`` called after every generation, in order.

The loop itself (``driver.run_loop``) only asks, evaluates, tells and checks the budget; anything
else a run does between generations lives here, so each concern can be read (and tested) alone.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .budget import Budget
from .run_record import RunRecord

# With a time-only budget, solver.plan() gets the evaluations the run is expected to reach, from the
# pace of the generations after the first (which may compile kernels), measured over the first
# PLAN_AFTER_FRACTION of the budget: long enough to include the periodic validations (a 20-generation
# window that held the first validation's start-up cost under-estimated a 30-minute run by 1.7x).
PLAN_AFTER_FRACTION = 0.03


@dataclass
class Loop:
    """What the loop and its observers share: the run's parts and its clock."""

    problem: object
    solver: object
    evaluator: object
    run: RunRecord
    budget: Budget
    start: float  # a time.perf_counter() reading: the budget's zero (earlier runs' time subtracted)
    seed: int
    exact_evals: bool = True  # cut the last generation at the evaluation budget

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


@dataclass
class Tick:
    """What callbacks receive after every generation. Return True from a callback to stop."""

    generation: int
    evals: int
    elapsed: float
    best_loss: float
    loss: float  # the best loss of this generation
    state: dict


class Observer:
    """Watches the loop. Every hook is declared here with its default."""

    def after_generation(self, loop: Loop) -> bool:
        """Work after a generation; True stops the run (reported as "callback")."""
        return False

    def close(self) -> None:
        """The run has stopped."""


class Validation(Observer):
    """Stochastic problems: score the solver's current point on validation data every
    ``every`` generations; the best validated point is the run's reported solution."""

    def __init__(self, every: int):
        self.every = max(1, int(every))

    def after_generation(self, loop):
        if loop.problem.stochastic and loop.run.generation % self.every == 0:
            loop.run.validate(loop.problem, loop.solver)
        return False


class TimePlan(Observer):
    """A time-only budget: once the pace is known, ``solver.plan`` gets the evaluations the run
    will reach (see PLAN_AFTER_FRACTION)."""

    def __init__(self, seconds: float):
        self.seconds, self.pace_from = seconds, None

    def after_generation(self, loop):
        run, elapsed = loop.run, loop.elapsed()
        if run.planned:
            return False
        self.pace_from = self.pace_from or (run.generation, elapsed)  # after the first (compiling) one
        done, spent = run.generation - self.pace_from[0], elapsed - self.pace_from[1]
        if done and spent >= PLAN_AFTER_FRACTION * self.seconds:
            per_gen = spent / done
            gens = run.generation + max(0.0, self.seconds - elapsed) / max(per_gen, 1e-9)
            run.state = loop.solver.plan(run.state, evals=int(gens * run.evals / run.generation))
            run.planned = True
        return False


class Progress(Observer):
    """The live progress line (rich), when switched on."""

    def __init__(self, problem, solver, on: bool):
        from .progress import LiveProgress, NullProgress
        self.show = LiveProgress(unit=problem.eval_unit) if on else NullProgress()
        self.on = on
        self.show.start(f"{problem.name} · {solver.name}")

    def after_generation(self, loop):
        if self.on:
            run = loop.run
            extra = loop.problem.live_metrics(run.best_loss) if np.isfinite(run.best_loss) else {}
            self.show.update(best=run.reported_loss(), current=run.last_loss, evals=run.evals,
                             elapsed=loop.elapsed(), extra=extra)
        return False

    def close(self):
        self.show.stop()


class Callbacks(Observer):
    """User callbacks, each given a ``Tick``; the first True stops the run."""

    def __init__(self, callbacks):
        self.callbacks = list(callbacks)

    def after_generation(self, loop):
        if not self.callbacks:
            return False
        run = loop.run
        tick = Tick(run.generation, run.evals, loop.elapsed(), run.best_loss, run.last_loss, run.state)
        return any(cb(tick) is True for cb in self.callbacks)


class PeriodicCheckpoint(Observer):
    """Write the run to ``path`` every ``every`` seconds (and the driver writes it when it stops)."""

    def __init__(self, path: str, every: float):
        self.path, self.every, self.last = path, every, time.perf_counter()

    def after_generation(self, loop):
        if time.perf_counter() - self.last >= self.every:
            loop.run.save(self.path, loop.elapsed(), loop.budget.as_dict())
            self.last = time.perf_counter()
        return False
