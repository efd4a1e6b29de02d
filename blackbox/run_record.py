"""What a run keeps: the driver's bookkeeping (``RunRecord``) and what it returns (``Result``).

``RunRecord`` holds everything a checkpoint needs besides the solver state: evaluations, the best
evaluated solution, the validation-selected one, failures and a thinned history. Its ``save`` and
``load`` write and read checkpoints; ``result`` builds the ``Result`` once the run has stopped,
calling the problem's ``test_metrics`` exactly once, on the selected solution.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
from dataclasses import dataclass, field

import numpy as np

from . import __version__
from . import checkpoint as ckpt
from . import threads
from .fileio import atomic_write, atomic_write_json


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
    threads: dict = field(default_factory=dict)  # numba / torch / BLAS threads in force at the end (threads.counts)
    solver_choice: str = ""  # solver.describe(): the name plus what a choosing solver (auto) picked

    def to_json(self, inline_limit: int = 10_000) -> dict:
        d = {k: getattr(self, k) for k in (
            "problem", "solver", "seed", "best_loss", "metrics", "test_metrics", "evals", "generations",
            "wall_time", "stopped", "selected_by", "failures", "first_error", "validation_evals", "redispatched",
            "problem_config", "solver_config", "budget", "checkpoint", "threads", "solver_choice", "history")}
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
            atomic_write(xpath, lambda tmp: np.save(tmp, self.best_x), suffix=".npy")
            d["best_x_file"] = os.path.basename(xpath)
        return atomic_write_json(path, d, indent=1, default=ckpt.jsonable)


def versions() -> dict:
    return {"blackbox": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform()}


def config_dict(cfg) -> dict:
    """A config dataclass as a plain dict (for results and checkpoint checks)."""
    return dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else {}


def _keep_in_history(g: int) -> bool:
    """About 90 entries per decade of generations: every one below 100, then a thinning stride."""
    if g < 100:
        return True
    stride = 10 ** (int(math.log10(g)) - 1)
    return g % stride == 0


@dataclass
class RunRecord:
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
        given = x0 is not None
        x0 = problem.initial(rng) if x0 is None else np.asarray(x0)
        if x0.shape != (problem.dim,):
            raise ValueError(f"starting point has shape {x0.shape}; {problem.name} expects ({problem.dim},)")
        if given:  # a problem's own start may sit outside a shifted box on purpose; a user's may not
            problem.domain.check_point(x0, "x0")
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
        self._problem_cfg = config_dict(problem.config)
        self._solver_cfg = config_dict(solver.config)

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
                      checkpoint=checkpoint, threads=threads.counts(), solver_choice=solver.describe(self.state))
