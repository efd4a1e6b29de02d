"""A run's budget: evaluations, wall-clock seconds and a target loss; the first reached stops it."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """``evals`` is a hard limit by default: the driver cuts the last generation so a run never
    evaluates past it (``whole_generations=True`` in ``solve`` keeps the old overshoot)."""

    evals: int | None = None
    seconds: float | None = None
    target: float | None = None

    @classmethod
    def of(cls, evals=None, seconds=None, target=None, default: dict | None = None) -> "Budget":
        """A checked budget; with nothing given, ``default`` ({"evals": N, "seconds": S}) applies."""
        if evals is None and seconds is None and target is None:
            default = default or {"evals": 10_000}
            evals, seconds = default.get("evals"), default.get("seconds")
        for name, v in (("evals", evals), ("seconds", seconds)):
            if v is not None and not v > 0:
                raise ValueError(f"budget {name} must be > 0, got {v}")
        if target is not None and math.isnan(target):
            raise ValueError("budget target must be a number, got nan")
        return cls(None if evals is None else int(evals), None if seconds is None else float(seconds), target)

    def exhausted(self, evals: int, elapsed: float, best_loss: float) -> str | None:
        """Why the run must stop now ("target", "evals", "time"), or None."""
        if self.target is not None and best_loss <= self.target:
            return "target"
        if self.evals is not None and evals >= self.evals:
            return "evals"
        if self.seconds is not None and elapsed >= self.seconds:
            return "time"
        return None

    def evals_left(self, evals: int) -> int | None:
        return None if self.evals is None else self.evals - evals

    def seconds_left(self, elapsed: float) -> float | None:
        return None if self.seconds is None else self.seconds - elapsed

    def as_dict(self) -> dict:
        return {"evals": self.evals, "seconds": self.seconds, "target": self.target}
