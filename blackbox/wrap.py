"""Turn a user's simulator into a Problem in one line.

    problem_from_function(f, dim=5)                 # f(x: 1-D array) -> float, one solution
    problem_from_vectorized(g, dim=5)               # g(X: pop x dim) -> pop losses
    problem_from_command(["./sim", "{file}"], dim=5) # an external program that prints a loss

A solution that makes ``f`` raise, return NaN/inf or a non-number is a counted failure given the
worst loss (``strict=True`` raises instead); it never stops the run.
"""
from __future__ import annotations

import math
import os
import shlex
import subprocess
import tempfile
from typing import Callable, Sequence

import numpy as np

from .domain import Domain, Real
from .evaluator import EvaluationError
from .problem import Problem


class _Wrapped(Problem):
    default_solver = "auto"  # a CMA-class generalist chosen by domain/dimension/budget (docs/choosing.md)

    def __init__(self, dim: int, domain: Domain | None, name: str, x0, strict: bool, stochastic: bool):
        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self.dim, self.domain, self.name = int(dim), domain or Real(), name
        self.strict = strict
        self.stochastic = stochastic
        self.failures = 0
        self.last_error = ""
        self._x0 = None if x0 is None else np.asarray(x0, dtype=float).reshape(-1)
        if self._x0 is not None and self._x0.shape != (self.dim,):
            raise ValueError(f"x0 has {self._x0.size} values; expected dim={self.dim}")

    def initial(self, rng):
        return self._x0.copy() if self._x0 is not None else super().initial(rng)

    def _fail(self, what: str) -> float:
        if self.strict:
            raise EvaluationError(f"{self.name}: {what}")
        self.failures += 1
        self.last_error = self.last_error or what
        return math.nan  # the evaluator counts it and gives it the generation's worst loss


class FunctionProblem(_Wrapped):
    """A Python function of one solution, called once per candidate."""

    def __init__(self, f: Callable, dim: int, domain=None, name=None, x0=None, strict=False, stochastic=False):
        super().__init__(dim, domain, name or getattr(f, "__name__", "function"), x0, strict, stochastic)
        self.f = f

    def evaluate(self, population, seed=0):
        out = np.empty(len(population))
        for i, x in enumerate(population):  # the user's function is per-solution by definition
            try:
                v = self.f(x, seed) if self.stochastic else self.f(x)
            except EvaluationError:
                raise
            except Exception as e:
                out[i] = self._fail(f"raised {type(e).__name__}: {e}")
                continue
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                out[i] = self._fail(f"returned {type(v).__name__} {str(v)[:80]!r}, expected a number")
        return out


class VectorizedProblem(_Wrapped):
    """A function of the whole (pop x dim) population returning pop losses."""

    def __init__(self, f: Callable, dim: int, domain=None, name=None, x0=None, strict=False, stochastic=False, backend="numpy"):
        super().__init__(dim, domain, name or getattr(f, "__name__", "vectorized"), x0, strict, stochastic)
        self.f, self.backend = f, backend

    def evaluate(self, population, seed=0):
        return self.f(population, seed) if self.stochastic else self.f(population)


class CommandProblem(_Wrapped):
    """An external program per candidate. The command is a list (or a shell-like string) in which
    ``{file}`` is replaced by a temporary file holding the solution (one number per line) and
    ``{seed}`` by the generation's seed; without ``{file}`` the solution goes to standard input.
    The loss is the last number the program prints; a non-zero exit, a timeout or no number is a
    counted failure."""

    def __init__(self, command: str | Sequence[str], dim: int, domain=None, name=None, x0=None,
                 strict=False, stochastic=False, timeout: float = 60.0, workers: int = 1):
        self.argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
        if not self.argv:
            raise ValueError("command is empty")
        super().__init__(dim, domain, name or os.path.basename(self.argv[0]), x0, strict, stochastic)
        self.timeout, self.workers = float(timeout), max(1, int(workers))

    def run_one(self, x: np.ndarray, seed: int) -> float:
        text = "\n".join(repr(float(v)) for v in np.asarray(x).reshape(-1)) + "\n"
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
            fh.write(text)
            path = fh.name
        try:
            argv = [a.replace("{file}", path).replace("{seed}", str(seed)) for a in self.argv]
            stdin = None if any("{file}" in a for a in self.argv) else text
            proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            return self._fail(f"{self.argv[0]} timed out after {self.timeout:g} s")
        except OSError as e:
            return self._fail(f"could not run {self.argv[0]}: {e}")
        finally:
            os.unlink(path)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
            return self._fail(f"{self.argv[0]} exited with {proc.returncode}: {tail[0][:200]}")
        for token in reversed(proc.stdout.split()):
            try:
                return float(token)
            except ValueError:
                continue
        return self._fail(f"{self.argv[0]} printed no number")

    def evaluate(self, population, seed=0):
        rows = list(np.asarray(population))
        if self.workers == 1:
            return np.array([self.run_one(x, seed) for x in rows])
        from concurrent.futures import ThreadPoolExecutor  # processes already run in parallel
        with ThreadPoolExecutor(self.workers) as ex:
            return np.array(list(ex.map(lambda x: self.run_one(x, seed), rows)))


def problem_from_function(f, dim, **kw) -> Problem:
    return FunctionProblem(f, dim, **kw)


def problem_from_vectorized(f, dim, **kw) -> Problem:
    return VectorizedProblem(f, dim, **kw)


def problem_from_command(command, dim, **kw) -> Problem:
    return CommandProblem(command, dim, **kw)
