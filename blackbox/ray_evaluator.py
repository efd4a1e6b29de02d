"""A Ray evaluator: local Ray on demand, or a running cluster by address.

The problem goes into Ray's object store once and each actor loads it once; per generation only
population chunks go out and losses come back. A large array that every chunk of a generation
shares (the base point of Deltas and LowRank, the center of NoiseWindows) is put into the object
store once per generation and the chunks travel without it, so a NoiseWindows chunk is a few
integers per candidate. An actor that dies mid-generation is replaced and its chunk sent again, so
no evaluation is lost or counted twice.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import sys

import numpy as np

from .evaluator import ChunkedEvaluator, WorkerLost, evaluate_chunk
from .pool import SINGLE_THREAD_ENV


def _actor_env() -> dict:
    """Single-threaded workers that see the driver's import path (so problems defined in a local
    script or test module load on a local cluster; on a multi-node cluster install your package)."""
    path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    return {"env_vars": dict(SINGLE_THREAD_ENV, PYTHONPATH=path)}


# Shared arrays at least this large go through the object store once per generation.
SHARE_BYTES = 1 << 16


def shared_fields(chunks) -> list[str]:
    """Names of the array fields that every chunk holds as the very same object (a request's
    shared part: ``take`` slices the per-candidate fields and passes the shared ones through)."""
    parts = list(chunks)
    if len(parts) < 2 or not dataclasses.is_dataclass(parts[0]):
        return []
    names = []
    for f in dataclasses.fields(parts[0]):
        v = getattr(parts[0], f.name)
        if isinstance(v, np.ndarray) and v.nbytes >= SHARE_BYTES and all(getattr(c, f.name) is v for c in parts):
            names.append(f.name)
    return names


def without(chunk, names):
    """A shallow copy of ``chunk`` with the named fields set to None (they travel separately)."""
    out = copy.copy(chunk)
    for name in names:
        setattr(out, name, None)
    return out


def connect(ray, workers: int | None, address: str | None) -> int:
    """Start a local Ray with ``workers`` CPUs, or join the cluster at ``address`` (unless Ray is
    already up); returns the worker count to use (all the cluster's CPUs when not given)."""
    if not ray.is_initialized():
        kw = {"address": address} if address else {"num_cpus": workers}
        ray.init(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True, **kw)
    return workers or max(1, int(ray.cluster_resources().get("CPU", 1)))


def remote_single_thread(ray, fn):
    """``fn`` as a one-CPU Ray task with the single-threaded environment of the actors."""
    return ray.remote(num_cpus=1, runtime_env=_actor_env(), max_retries=0)(fn)


def _actor_class(ray):
    @ray.remote(num_cpus=1, runtime_env=_actor_env())
    class ProblemActor:
        def __init__(self, problem):
            self.problem = problem

        def evaluate(self, chunk, seed, shared=None):
            if shared:  # {field: ObjectRef} put once per generation: fill the chunk back in
                import ray
                for name, value in zip(shared, ray.get(list(shared.values()))):
                    setattr(chunk, name, value if value.flags.writeable else value.copy())
            return evaluate_chunk(self.problem, chunk, seed)

        def pid(self):
            import os
            return os.getpid()

    return ProblemActor


class RayEvaluator(ChunkedEvaluator):
    def __init__(self, workers: int | None = None, address: str | None = None, strict: bool = False,
                 chunks_per_worker: int = 2):
        try:
            import ray
        except ImportError:
            raise ValueError("the Ray evaluator needs ray: pip install 'blackbox[ray]'") from None
        self.ray = ray
        workers = connect(ray, workers, address)
        super().__init__(workers, strict, chunks_per_worker)
        self.actors: list = []
        self._problem_ref = None

    def start(self, problem) -> None:
        self._problem_ref = self.ray.put(problem)
        self.actors = [self._new_actor() for _ in range(self.workers)]

    def _new_actor(self):
        return _actor_class(self.ray).remote(self._problem_ref)

    def restart(self) -> None:
        """Replace dead actors; live ones keep their loaded problem."""
        alive = []
        for a in self.actors:
            try:
                self.ray.get(a.pid.remote(), timeout=30)
                alive.append(a)
            except Exception:
                alive.append(self._new_actor())
        self.actors = alive

    def run(self, chunks: dict, seed: int) -> dict:
        names = shared_fields(chunks.values())
        first = next(iter(chunks.values()))
        shared = {name: self.ray.put(getattr(first, name)) for name in names}
        refs = {i: self.actors[k % len(self.actors)].evaluate.remote(without(c, names), seed, shared)
                for k, (i, c) in enumerate(chunks.items())}
        out = {}
        for i, ref in refs.items():
            try:
                out[i] = self.ray.get(ref)
            except (self.ray.exceptions.RayActorError, self.ray.exceptions.WorkerCrashedError):
                out[i] = WorkerLost()
        return out

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []
