"""The evaluator seam between the driver and a problem.

``InProcessEvaluator`` (the default) calls the problem in this process. Pool and Ray evaluators
implement the same ``evaluate(problem, request, seed) -> Evaluation`` and slot in unchanged.

Every evaluator checks what comes back: a loss vector of the wrong shape or type is a bug in the
problem and raises ``ProblemError`` with what was expected. A candidate whose loss is NaN/inf, or a
problem call that raises, is a *failure*: counted, reported, and given the worst loss of its
generation, unless ``strict`` is set, in which case it raises ``EvaluationError``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .population import form_of


# The loss given to failed candidates when no finite loss has been seen yet in the run.
FAILED_LOSS = 1e30


class ProblemError(TypeError):
    """The problem returned something that does not fit the contract."""


class EvaluationError(RuntimeError):
    """A candidate's evaluation failed and the run is strict."""


@dataclass
class Evaluation:
    losses: np.ndarray  # (pop,) float64, finite
    failures: int = 0  # candidates whose loss was NaN/inf or whose evaluation raised
    first_error: str = ""  # text of the first failure, for the report


def to_backend(x: np.ndarray, backend: str):
    if backend == "torch":
        import torch
        return torch.from_numpy(np.ascontiguousarray(x))
    return x


def call_problem(problem, request, seed: int):
    """Route a request to the problem's native capability or to ``evaluate`` on dense rows."""
    form = form_of(request)
    if form != "dense" and form in problem.capabilities:
        return request.evaluate_natively(problem, seed)
    return problem.evaluate(to_backend(request.dense(), problem.backend), seed=seed)


def as_losses(raw, pop: int, problem) -> np.ndarray:
    """Convert what a problem returned into a float64 vector of length ``pop`` or raise ProblemError."""
    if hasattr(raw, "detach"):  # torch tensor
        raw = raw.detach().cpu().numpy()
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ProblemError(f"{problem.name}.evaluate returned {type(raw).__name__}; expected a float array of shape ({pop},)") from None
    if arr.shape == (pop, 1):
        arr = arr[:, 0]
    if arr.shape != (pop,):
        raise ProblemError(f"{problem.name}.evaluate returned shape {arr.shape}; expected ({pop},): one loss per candidate")
    return arr


def sanitize(losses: np.ndarray, worst_seen: float | None = None) -> tuple[np.ndarray, int]:
    """Replace non-finite losses by the worst finite loss of the generation (or ``worst_seen``)."""
    bad = ~np.isfinite(losses)
    n_bad = int(bad.sum())
    if n_bad:
        losses = losses.copy()
        finite = losses[~bad]
        worst = float(finite.max()) if finite.size else (worst_seen if worst_seen is not None else FAILED_LOSS)
        if worst_seen is not None:
            worst = max(worst, worst_seen)
        losses[bad] = worst
    return losses, n_bad


class InProcessEvaluator:
    """Evaluate in this process: one problem call per generation. The base of every evaluator:
    ``evaluate``, ``close`` and the ``redispatched`` count are what the driver uses."""

    redispatched = 0  # candidates re-sent because a worker died (each counted once in evals)

    def __init__(self, strict: bool = False):
        self.strict = strict
        self.worst_seen: float | None = None

    def evaluate(self, problem, request, seed: int) -> Evaluation:
        pop = len(request)
        error = ""
        try:
            raw = call_problem(problem, request, seed)
        except (ProblemError, EvaluationError, KeyboardInterrupt):
            raise
        except Exception as e:  # a simulator that raises: the whole call failed
            if self.strict:
                raise EvaluationError(f"{problem.name}.evaluate raised {type(e).__name__}: {e}") from e
            raw, error = np.full(pop, np.nan), f"{type(e).__name__}: {e}"
        return self.finish(problem, raw, pop, error)

    def finish(self, problem, raw, pop: int, error: str = "") -> Evaluation:
        losses = as_losses(raw, pop, problem)
        losses, n_bad = sanitize(losses, self.worst_seen)
        if n_bad and self.strict:
            raise EvaluationError(f"{problem.name}: {n_bad} of {pop} losses were NaN or infinite")
        if n_bad and not error:  # wrapped simulators remember why a candidate failed
            error = problem.last_error or "non-finite loss"
        finite_max = float(losses.max()) if pop else None
        if finite_max is not None and (self.worst_seen is None or finite_max > self.worst_seen):
            self.worst_seen = finite_max
        return Evaluation(losses, n_bad, error)

    def close(self) -> None:
        pass


def chunk_bounds(pop: int, n_chunks: int) -> list[tuple[int, int]]:
    """Split ``pop`` candidates into at most ``n_chunks`` contiguous, nearly equal ranges."""
    n = max(1, min(n_chunks, pop))
    edges = np.linspace(0, pop, n + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def evaluate_chunk(problem, request, seed: int):
    """What a worker runs: the chunk's losses as a float array, or the error text."""
    try:
        return np.asarray(as_losses(call_problem(problem, request, seed), len(request), problem)), ""
    except ProblemError:
        raise
    except Exception as e:  # the simulator raised: the chunk's candidates failed
        return np.full(len(request), np.nan), f"{type(e).__name__}: {e}"


class WorkerLost(Exception):
    """A worker died while holding a chunk; the chunk must be sent again."""


class ChunkedEvaluator(InProcessEvaluator):
    """Splits each generation into chunks for workers and re-dispatches the chunks of workers that
    die, so that every candidate is evaluated exactly once per generation (a chunk whose worker
    died is re-run from scratch: its partial result never reached us, so nothing is counted twice).
    Subclasses implement ``start(problem)``, ``run(chunks, seed) -> {i: (losses, error) | WorkerLost}``
    and ``restart()``."""

    max_redispatch_rounds = 5

    def __init__(self, workers: int, strict: bool = False, chunks_per_worker: int = 2):
        super().__init__(strict)
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers, self.chunks_per_worker = int(workers), int(chunks_per_worker)
        self.redispatched = 0  # candidates sent again because their worker died
        self._problem_id = None

    def evaluate(self, problem, request, seed: int) -> Evaluation:
        if self._problem_id != id(problem):
            self.start(problem)
            self._problem_id = id(problem)
        bounds = chunk_bounds(len(request), self.workers * self.chunks_per_worker)
        chunks = {i: request.take(a, b) for i, (a, b) in enumerate(bounds)}
        results: dict = {}
        for _ in range(self.max_redispatch_rounds + 1):
            out = self.run(chunks, seed)
            lost = [i for i, r in out.items() if isinstance(r, WorkerLost)]
            results.update({i: r for i, r in out.items() if not isinstance(r, WorkerLost)})
            if not lost:
                break
            self.redispatched += sum(len(chunks[i]) for i in lost)
            self.restart()
            chunks = {i: chunks[i] for i in lost}
        else:
            raise EvaluationError(f"workers kept dying: {len(chunks)} chunks lost {self.max_redispatch_rounds + 1} times")
        raw = np.concatenate([results[i][0] for i in range(len(bounds))])
        error = next((results[i][1] for i in range(len(bounds)) if results[i][1]), "")
        if error and self.strict:
            raise EvaluationError(f"{problem.name}.evaluate raised {error}")
        return self.finish(problem, raw, len(request), error)
