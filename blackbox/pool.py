"""A local process-pool evaluator, for simulators that are single-threaded Python or external
programs. The problem is shipped to each worker once (cloudpickle, so lambdas and closures
work); per generation only the population chunks go out (an ES request as noise-table offsets,
a sparse one as changes against its base point) and losses come back. Each worker runs
with one thread for numba, torch and BLAS so N workers use N cores, not N x cores.

The workers are ``TaskPool`` processes (below): they receive the problem itself and never
re-import the calling script, so a script needs no ``if __name__ == "__main__":`` guard."""
from __future__ import annotations

import os

from .evaluator import ChunkedEvaluator, ProblemError, WorkerLost, evaluate_chunk

SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "NUMBA_NUM_THREADS": "1"}


class _ChunkCall:
    """What a worker runs: one chunk of a generation through ``evaluate_chunk``."""

    def __init__(self, problem):
        self.problem = problem

    def __call__(self, chunk, seed):
        return evaluate_chunk(self.problem, chunk, seed)


class ProcessPoolEvaluator(ChunkedEvaluator):
    def __init__(self, workers: int = 2, strict: bool = False, chunks_per_worker: int = 2):
        super().__init__(workers, strict, chunks_per_worker)
        self._pool = None

    def start(self, problem) -> None:
        self.close()
        self._pool = TaskPool(_ChunkCall(problem), self.workers)

    def restart(self) -> None:
        pass  # TaskPool replaces a dead worker by itself

    def run(self, chunks: dict, seed: int) -> dict:
        keys = list(chunks)
        out = {}
        for i, r in zip(keys, self._pool.map([(chunks[i], seed) for i in keys])):
            if isinstance(r, TaskFailed):
                if r.kind == "died":
                    out[i] = WorkerLost()
                    continue
                if r.kind == "raised" and r.why.startswith("raised ProblemError: "):
                    raise ProblemError(r.why[len("raised ProblemError: "):])
                raise RuntimeError(f"a pool worker failed: {r.why}")
            out[i] = r
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


# -- a pool of killable workers, one task at a time each (the wrappers' timeout) -------------------
#
# A worker that hangs inside a user's simulator cannot be stopped from outside except by killing
# its process, and concurrent.futures cannot kill one worker without breaking the whole pool. So
# TaskPool keeps its own worker processes, each fed one task at a time over a socket: a task past
# its timeout has its worker killed and replaced, and the task comes back as a failure. Workers are
# plain `python -c` subprocesses that receive the function cloudpickled (functions of __main__ by
# value), so they never re-import the user's script: no `if __name__ == "__main__":` guard is
# needed, and a script without one does not recursively start pools.

class TaskFailed:
    """The outcome of a task that produced no value: ``why`` is one line; ``kind`` is "raised",
    "timeout", "died" (the worker process exited) or "deadline" (the run's time ran out)."""

    def __init__(self, why: str, kind: str = "raised"):
        self.why, self.kind = why, kind

    def __repr__(self):
        return f"TaskFailed({self.why!r}, {self.kind!r})"


class _Worker:
    def __init__(self, blob: bytes):
        import socket
        import subprocess
        import sys
        import time
        from multiprocessing.connection import Connection

        mine, theirs = socket.socketpair()
        env = dict(os.environ, **SINGLE_THREAD_ENV)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # the user's modules import there too
        self.proc = subprocess.Popen([sys.executable, "-c", "from blackbox.pool import _task_worker; _task_worker()",
                                      str(theirs.fileno())], pass_fds=(theirs.fileno(),), env=env,
                                     stdin=subprocess.DEVNULL)
        theirs.close()
        self.conn = Connection(mine.detach())
        try:
            self.conn.send_bytes(blob)
        except OSError:  # it died at once; map() reads the EOF and says so
            pass
        self.born = time.monotonic()
        self.ready = False  # set by the worker's first message, once the function is loaded
        self.task = None  # (index, started) while busy

    def kill(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except Exception:
            pass


def _task_worker() -> None:
    """Worker main loop: load the function, then answer (index, args) with (index, ok, value)."""
    import signal
    import sys
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what a Ctrl-C stops
    conn = Connection(int(sys.argv[1]))
    try:
        import cloudpickle
        fn = cloudpickle.loads(conn.recv_bytes())
    except Exception as e:
        conn.send((None, False, f"the worker could not load the function: {type(e).__name__}: {e}"))
        return
    if "torch" in sys.modules:  # one thread per worker: N workers use N cores
        sys.modules["torch"].set_num_threads(1)
    conn.send((None, True, "ready"))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        index, args = msg
        try:
            out = (index, True, fn(*args))
        except Exception as e:
            out = (index, False, f"raised {type(e).__name__}: {e}".splitlines()[0][:300])
        try:
            conn.send(out)
        except Exception as e:  # an unpicklable return value
            conn.send((index, False, f"returned an object that cannot be sent back ({type(e).__name__}: {e})"[:300]))


class TaskPool:
    """``workers`` processes running ``fn(*args)`` for a list of argument tuples; each call gets at
    most ``timeout`` seconds (None: no limit), after which its worker is killed and replaced and
    the call's result is a ``TaskFailed``. A raising call or a dying worker is a ``TaskFailed`` too.
    ``map`` polls at least every 0.1 s, so a KeyboardInterrupt (raised by the caller's signal
    handler) stops it at once; the workers busy at that moment are killed."""

    poll_s = 0.1
    start_timeout_s = 600.0  # loading a problem (its data, its compiled kernels) may take minutes

    def __init__(self, fn, workers: int = 1, timeout: float | None = None):
        import cloudpickle
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self.blob = cloudpickle.dumps(fn)
        self.n, self.timeout = int(workers), timeout
        self.workers: list[_Worker] = []
        self.killed = 0  # workers killed for running past the timeout

    def map(self, arg_list: list, deadline: float | None = None) -> list:
        """Results in order; ``deadline`` (a time.monotonic() reading) ends waiting for every call."""
        import time
        from collections import deque
        from multiprocessing.connection import wait

        results: list = [None] * len(arg_list)
        todo = deque(range(len(arg_list)))
        while len(self.workers) < min(self.n, len(arg_list)):
            self.workers.append(_Worker(self.blob))
        try:
            while todo or any(w.task for w in self.workers):
                now = time.monotonic()
                for w in self.workers:
                    if w.ready and w.task is None and todo:
                        i = todo.popleft()
                        w.conn.send((i, arg_list[i]))
                        w.task = (i, now)
                ends = [w.task[1] + self.timeout for w in self.workers if w.task and self.timeout]
                ends += [deadline] if deadline is not None else []
                wait_s = max(0.0, min([now + self.poll_s, *ends]) - now)
                for conn in wait([w.conn for w in self.workers], timeout=wait_s):
                    self._receive(next(w for w in self.workers if w.conn is conn), results)
                self._expire(results, deadline)
                if deadline is not None and time.monotonic() >= deadline:
                    for i in todo:
                        results[i] = TaskFailed("not run: the run's time budget ran out", "deadline")
                    todo.clear()
        except BaseException:  # KeyboardInterrupt included: busy workers hold abandoned calls
            for w in [w for w in self.workers if w.task is not None or not w.ready]:
                w.kill()
                self.workers.remove(w)
            raise
        return results

    def _receive(self, w: _Worker, results: list) -> None:
        try:
            index, ok, value = w.conn.recv()
        except (EOFError, OSError):
            code = w.proc.wait()
            if w.task is None and not w.ready:
                raise RuntimeError(f"a worker process exited with code {code} while starting") from None
            if w.task is not None:
                results[w.task[0]] = TaskFailed(f"the worker process died (exit code {code})", "died")
            self._replace(w)
            return
        if index is None:
            if not ok:
                raise RuntimeError(value)
            w.ready = True
            return
        results[index] = value if ok else TaskFailed(value)
        w.task = None

    def _expire(self, results: list, deadline: float | None) -> None:
        import time
        now = time.monotonic()
        for w in self.workers:
            if w.task is not None:
                i, started = w.task
                if self.timeout is not None and now - started >= self.timeout:
                    results[i] = TaskFailed(f"timed out after {self.timeout:g} s (its worker was killed)", "timeout")
                elif deadline is not None and now >= deadline:
                    results[i] = TaskFailed("abandoned: the run's time budget ran out", "deadline")
                else:
                    continue
                self.killed += 1
                self._replace(w)
            elif not w.ready and now - w.born > self.start_timeout_s:
                raise RuntimeError(f"a worker process did not start within {self.start_timeout_s:g} s")

    def _replace(self, w: _Worker) -> None:
        w.kill()
        self.workers[self.workers.index(w)] = _Worker(self.blob)

    def close(self) -> None:
        for w in self.workers:
            w.kill()
        self.workers = []
