"""Turn a user's simulator into a Problem in one line.

    problem_from_function(f, dim=5)                 # f(x: 1-D array) -> float, one solution
    problem_from_vectorized(g, dim=5)               # g(X: pop x dim) -> pop losses
    problem_from_command(["./sim", "{file}"], dim=5) # an external program that prints a loss

A solution that makes ``f`` raise, hang past ``timeout``, return NaN/inf or a non-number (a
string, a complex number, None) is a counted failure given the worst loss; it never stops the run
(``strict=True`` raises ``EvaluationError`` at the first one instead).

With ``timeout`` or ``workers > 1`` the function runs in worker processes (``blackbox.pool.TaskPool``):
a call that hangs is abandoned after ``timeout`` seconds by killing its worker, which is replaced.
Workers receive the function itself (cloudpickle), never re-import the calling script, and so need
no ``if __name__ == "__main__":`` guard. Without either the function runs in this process, where a
hang can only be stopped by Ctrl-C.

Ctrl-C while a wrapped simulator runs stops the run at once (the generation in flight is
abandoned, the best so far is kept, the checkpoint written), not at the end of the generation.
"""
from __future__ import annotations

import math
import numbers
import os
import shlex
import signal
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from typing import Callable, Sequence

import numpy as np

from .domain import as_domain
from .evaluator import EvaluationError, ProblemError
from .problem import Problem

COMMON_ARGS = """
    dim       number of coordinates of a solution
    domain    where the coordinates live: ``Real(lo, hi)``, ``Integer(lo, hi)``, ``Binary()``, or a
              ``(lo, hi)`` pair (a real box); bounds may be arrays of one bound per coordinate.
              Default: open reals
    x0        starting point (dim values); default: a draw from the domain
    name      shown in results; default: the function's name
    strict    raise ``EvaluationError`` at the first failed evaluation instead of counting it
    stochastic  the function takes a second argument, the generation's seed (minibatches, episodes)
"""
POOL_ARGS = COMMON_ARGS + """\
    timeout   seconds one call may take; past it the call is a failure (its worker process is
              killed and replaced). Setting it runs the function in a worker process
    workers   evaluate in this many worker processes (no ``__main__`` guard needed)
"""
COMMAND_ARGS = COMMON_ARGS + """\
    timeout   seconds one run of the program may take (default 60); past it the program is
              killed and the candidate is a failure
    workers   programs run at once
"""


def _not_a_number(v) -> str | None:
    """Why ``v`` is not a loss, or None. Strings and complex numbers are refused, never coerced:
    float("1.5") or a complex with a zero imaginary part would hide a simulator's bug."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if v is None:
        return "returned None, expected a number"
    if isinstance(v, (str, bytes)):
        return f"returned a string ({str(v)[:60]!r}), expected a number"
    if isinstance(v, (complex, np.complexfloating)) or (isinstance(v, np.ndarray) and v.dtype.kind == "c"):
        return f"returned the complex number {v!r}, expected a real number"
    if isinstance(v, numbers.Real) or (hasattr(v, "__float__") and np.size(v) == 1):
        return None
    return f"returned {type(v).__name__} {str(v)[:60]!r}, expected a number"


class _Wrapped(Problem):
    default_solver = "auto"  # a CMA-class generalist chosen by domain/dimension/budget (docs/choosing.md)

    def __init__(self, dim: int, *, domain, name: str, x0, strict: bool, stochastic: bool,
                 timeout: float | None = None, workers: int = 1):
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self.dim, self.domain, self.name = int(dim), as_domain(domain, int(dim)), name
        self.strict = bool(strict)
        self.stochastic = stochastic
        if timeout is not None and not (isinstance(timeout, numbers.Real) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self.timeout, self.workers = (None if timeout is None else float(timeout)), int(workers)
        # A time.monotonic() reading after which no evaluation is waited for (the run's time
        # budget; set by whoever runs the problem). None: no deadline.
        self.deadline: float | None = None
        self.failures = 0
        self.last_error = ""
        self._x0 = None if x0 is None else np.asarray(x0, dtype=float).reshape(-1)
        if self._x0 is not None and self._x0.shape != (self.dim,):
            raise ValueError(f"x0 has {self._x0.size} values; expected dim={self.dim}")
        self._pool = None

    def initial(self, rng):
        return self._x0.copy() if self._x0 is not None else super().initial(rng)

    def _fail(self, what: str) -> float:
        if self.strict:
            raise EvaluationError(f"{self.name}: {what}")
        self.failures += 1
        self.last_error = self.last_error or what
        return math.nan  # the evaluator counts it and gives it the generation's worst loss

    def _loss(self, v) -> float:
        """One returned value as a loss; a failure (NaN, or raised under strict) otherwise."""
        why = _not_a_number(v)
        if why:
            return self._fail(why)
        x = float(v)
        return x if math.isfinite(x) else self._fail(f"returned {x}")

    # -- worker processes ------------------------------------------------------------------------
    @property
    def pooled(self) -> bool:
        return self.timeout is not None or self.workers > 1

    def _map(self, fn, arg_list: list) -> list:
        from .pool import TaskPool
        if self._pool is None:
            self._pool = TaskPool(fn, self.workers, self.timeout)
        return self._pool.map(arg_list, self.deadline)

    def close(self) -> None:
        """Stop the worker processes (they also exit by themselves when this process ends)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __getstate__(self):  # a problem shipped to other processes leaves its workers here
        return {**self.__dict__, "_pool": None}

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


@contextmanager
def _stop_at_once():
    """While a user's simulator runs, the first Ctrl-C (or SIGTERM) raises KeyboardInterrupt at
    once, after telling the handler that was installed (the driver's, which records that a stop
    was asked for): a simulator call may take minutes or hang, and "stop at the end of the
    generation" would then mean never. The driver treats the KeyboardInterrupt as an interrupt:
    the generation in flight is dropped, the best so far kept and the checkpoint written."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handle(signum, frame):
        prev = previous.get(signum)
        if callable(prev):
            prev(signum, frame)  # may itself raise (Python's default SIGINT handler does)
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        prev = signal.getsignal(sig)
        if callable(prev):  # ignored or default-fatal signals keep their meaning
            previous[sig] = prev
            signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, prev in previous.items():
            signal.signal(sig, prev)


class _Call:
    """What a worker runs for one candidate: ``f(x)`` or ``f(x, seed)``."""

    def __init__(self, f, stochastic: bool):
        self.f, self.stochastic = f, stochastic

    def __call__(self, x, seed):
        return self.f(x, seed) if self.stochastic else self.f(x)


class FunctionProblem(_Wrapped):
    __doc__ = "A Python function of one solution, called once per candidate.\n" + POOL_ARGS

    def __init__(self, f: Callable, dim: int, *, domain=None, name=None, x0=None, strict=False, stochastic=False,
                 timeout: float | None = None, workers: int = 1):
        super().__init__(dim, domain=domain, name=name or getattr(f, "__name__", "function"), x0=x0, strict=strict,
                         stochastic=stochastic, timeout=timeout, workers=workers)
        self.f = f

    def evaluate(self, population, seed=0):
        rows = np.asarray(population)
        with _stop_at_once():
            if self.pooled:
                from .pool import TaskFailed
                raw = self._map(_Call(self.f, self.stochastic), [(x, seed) for x in rows])
                return np.array([self._fail(r.why) if isinstance(r, TaskFailed) else self._loss(r) for r in raw])
            out = np.empty(len(rows))
            for i, x in enumerate(rows):  # the user's function is per-solution by definition
                try:
                    v = self.f(x, seed) if self.stochastic else self.f(x)
                except (EvaluationError, KeyboardInterrupt):
                    raise
                except Exception as e:
                    out[i] = self._fail(f"raised {type(e).__name__}: {e}")
                    continue
                out[i] = self._loss(v)
            return out


class VectorizedProblem(_Wrapped):
    __doc__ = ("A function of the whole (pop x dim) population returning pop losses (with ``workers``,\n"
               "of a slice of it per worker; ``backend='torch'`` passes a tensor).\n" + POOL_ARGS)

    def __init__(self, f: Callable, dim: int, *, domain=None, name=None, x0=None, strict=False, stochastic=False,
                 backend="numpy", timeout: float | None = None, workers: int = 1):
        super().__init__(dim, domain=domain, name=name or getattr(f, "__name__", "vectorized"), x0=x0,
                         strict=strict, stochastic=stochastic, timeout=timeout, workers=workers)
        self.f, self.backend = f, backend

    def evaluate(self, population, seed=0):
        pop = len(population)
        with _stop_at_once():
            if not self.pooled:
                try:
                    raw = self.f(population, seed) if self.stochastic else self.f(population)
                except (EvaluationError, KeyboardInterrupt):
                    raise
                except Exception as e:
                    return np.full(pop, self._fail(f"raised {type(e).__name__}: {e}"))
                return self._losses(raw, pop)
            from .evaluator import chunk_bounds
            from .pool import TaskFailed
            bounds = chunk_bounds(pop, self.workers)
            raw = self._map(_Call(self.f, self.stochastic), [(population[a:b], seed) for a, b in bounds])
            return np.concatenate([np.full(b - a, self._fail(r.why)) if isinstance(r, TaskFailed)
                                   else self._losses(r, b - a) for r, (a, b) in zip(raw, bounds)])

    def _losses(self, raw, pop: int) -> np.ndarray:
        """The returned losses as float64. Strings, complex numbers and None in place of a loss are
        failures (never coerced: float("1.5") or a complex with a zero imaginary part would hide a
        simulator's bug), as are NaN/inf (the evaluator counts them; under strict they raise here).
        Something that is not one value per candidate is a bug in the function: ProblemError."""
        if hasattr(raw, "detach"):  # torch tensor
            raw = raw.detach().cpu().numpy()
        arr = np.asarray(raw)
        if arr.shape == (pop, 1):
            arr = arr[:, 0]
        if arr.shape != (pop,):
            if arr.dtype.kind in "biuf":
                raise ProblemError(f"{self.name} returned shape {arr.shape}; expected ({pop},): one loss per candidate")
            raise ProblemError(f"{self.name} returned {type(raw).__name__} {str(raw)[:60]!r}; expected a float "
                               f"array of shape ({pop},)")
        if arr.dtype.kind == "O":  # a list of mixed things: look at each
            arr = np.array([self._loss(v) for v in arr], dtype=np.float64)
        elif arr.dtype.kind not in "biuf":
            return np.full(pop, self._fail(_not_a_number(arr[0]) or f"returned a {arr.dtype} array, expected numbers"))
        arr = arr.astype(np.float64)
        bad = ~np.isfinite(arr)
        if bad.any():
            self._fail(f"returned {arr[bad][0]} for {int(bad.sum())} of {pop} candidates")
        return arr


class CommandProblem(_Wrapped):
    __doc__ = """An external program per candidate. The command is a list (or a shell-like string) in which
    ``{file}`` is replaced by a temporary file holding the solution (one number per line) and
    ``{seed}`` by the generation's seed; without ``{file}`` the solution goes to standard input.
    The loss is the last number the program prints; a non-zero exit, a timeout or no number is a
    counted failure.
""" + COMMAND_ARGS

    def __init__(self, command: str | Sequence[str], dim: int, *, domain=None, name=None, x0=None,
                 strict=False, stochastic=False, timeout: float = 60.0, workers: int = 1):
        self.argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
        if not self.argv:
            raise ValueError("command is empty")
        super().__init__(dim, domain=domain, name=name or os.path.basename(self.argv[0]), x0=x0, strict=strict,
                         stochastic=stochastic, timeout=timeout, workers=workers)
        if self.timeout is None:
            raise ValueError("problem_from_command needs a timeout in seconds")

    @property
    def pooled(self) -> bool:  # each candidate already is a process of its own
        return False

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
                v = float(token)
            except ValueError:
                continue
            return v if math.isfinite(v) else self._fail(f"{self.argv[0]} printed {token}")
        return self._fail(f"{self.argv[0]} printed no number")

    def evaluate(self, population, seed=0):
        rows = list(np.asarray(population))
        with _stop_at_once():
            if self.workers == 1:
                return np.array([self.run_one(x, seed) for x in rows])
            from concurrent.futures import ThreadPoolExecutor  # processes already run in parallel
            with ThreadPoolExecutor(self.workers) as ex:
                return np.array(list(ex.map(lambda x: self.run_one(x, seed), rows)))


def problem_from_function(f, dim, *, domain=None, name=None, x0=None, strict=False, stochastic=False,
                          timeout: float | None = None, workers: int = 1) -> Problem:
    return FunctionProblem(f, dim, domain=domain, name=name, x0=x0, strict=strict, stochastic=stochastic,
                           timeout=timeout, workers=workers)


def problem_from_vectorized(f, dim, *, domain=None, name=None, x0=None, strict=False, stochastic=False,
                            backend="numpy", timeout: float | None = None, workers: int = 1) -> Problem:
    return VectorizedProblem(f, dim, domain=domain, name=name, x0=x0, strict=strict, stochastic=stochastic,
                             backend=backend, timeout=timeout, workers=workers)


def problem_from_command(command, dim, *, domain=None, name=None, x0=None, strict=False, stochastic=False,
                         timeout: float = 60.0, workers: int = 1) -> Problem:
    return CommandProblem(command, dim, domain=domain, name=name, x0=x0, strict=strict, stochastic=stochastic,
                          timeout=timeout, workers=workers)


problem_from_function.__doc__ = ("A Problem from ``f(x) -> float``, one solution per call (``f(x, seed)`` when\n"
                                 "``stochastic``).\n" + POOL_ARGS)
problem_from_vectorized.__doc__ = ("A Problem from ``f(X) -> losses`` over the whole (pop x dim) population.\n"
                                   + POOL_ARGS + "    backend   'numpy' or 'torch' (X arrives as a tensor)\n")
problem_from_command.__doc__ = CommandProblem.__doc__
