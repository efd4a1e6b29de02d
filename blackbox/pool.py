"""A local process-pool evaluator, for simulators that are single-threaded Python or external
programs. The problem is shipped to each worker once (cloudpickle, so lambdas and closures
work); per generation only the population chunks go out (an ES request as noise-table offsets,
a sparse one as changes against its base point) and losses come back. Each worker runs
with one thread for numba, torch and BLAS so N workers use N cores, not N x cores."""
from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from .evaluator import ChunkedEvaluator, WorkerLost, evaluate_chunk

SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "NUMBA_NUM_THREADS": "1"}

_worker_problem = None


def _init_worker(blob: bytes) -> None:
    global _worker_problem
    os.environ.update(SINGLE_THREAD_ENV)
    import cloudpickle
    _worker_problem = cloudpickle.loads(blob)
    try:
        import sys
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)
    except Exception:
        pass


def _run_chunk(chunk, seed):
    return evaluate_chunk(_worker_problem, chunk, seed)


class ProcessPoolEvaluator(ChunkedEvaluator):
    def __init__(self, workers: int = 2, strict: bool = False, chunks_per_worker: int = 2):
        super().__init__(workers, strict, chunks_per_worker)
        self._pool = None
        self._blob = None

    def start(self, problem) -> None:
        import cloudpickle
        self._blob = cloudpickle.dumps(problem)
        self.restart()

    def restart(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                         initializer=_init_worker, initargs=(self._blob,))

    def run(self, chunks: dict, seed: int) -> dict:
        futures = {i: self._pool.submit(_run_chunk, c, seed) for i, c in chunks.items()}
        out = {}
        for i, f in futures.items():
            try:
                out[i] = f.result()
            except BrokenProcessPool:
                out[i] = WorkerLost()
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
