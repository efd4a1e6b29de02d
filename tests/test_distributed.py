"""Process-pool and Ray evaluators: same result as in-process, and no evaluation lost when a
worker dies mid-generation."""
import os

import numpy as np
import pytest

import blackbox
from blackbox.evaluator import InProcessEvaluator
from blackbox.population import Deltas, Dense
from blackbox.problem import Problem
from blackbox.domain import Real


class DiesOnce(Problem):
    """Sphere whose worker process dies the first time it sees the marker file (then removes it)."""

    name = "dies-once"

    def __init__(self, marker: str, dim: int = 6):
        self.dim, self.domain, self.marker = dim, Real(), marker
        self.calls_file = marker + ".calls"

    def evaluate(self, population, seed=0):
        with open(self.calls_file, "a") as fh:
            fh.write(f"{len(population)}\n")
        if os.path.exists(self.marker):
            os.unlink(self.marker)
            os._exit(17)  # the worker dies holding this chunk
        return np.sum(np.asarray(population) ** 2, axis=1)


def test_chunks_cover_every_candidate_once():
    from blackbox.evaluator import chunk_bounds
    assert chunk_bounds(10, 4) == [(0, 2), (2, 5), (5, 8), (8, 10)]
    assert chunk_bounds(3, 8) == [(0, 1), (1, 2), (2, 3)]
    d = Deltas(np.zeros(5, np.int8), np.array([0, 1, 3, 3, 5]), np.array([0, 1, 2, 3, 4]), np.ones(5, np.int8))
    parts = [d.take(a, b) for a, b in chunk_bounds(len(d), 3)]
    np.testing.assert_array_equal(np.concatenate([p.dense() for p in parts]), d.dense())


def test_pool_matches_in_process_and_survives_a_dying_worker(tmp_path):
    from blackbox.pool import ProcessPoolEvaluator
    marker = str(tmp_path / "kill")
    reference = blackbox.solve(DiesOnce(marker), "random", evals=640, seed=3)
    open(marker, "w").close()
    ev = ProcessPoolEvaluator(workers=2)
    r = blackbox.solve(DiesOnce(marker), "random", evals=640, seed=3, evaluator=ev)
    ev.close()
    assert not os.path.exists(marker)  # a worker really died
    assert ev.redispatched > 0
    assert r.evals == reference.evals == 640 and r.failures == 0
    assert r.best_loss == reference.best_loss
    np.testing.assert_array_equal(r.best_x, reference.best_x)


def test_pool_runs_lambdas_and_counts_failures():
    p = blackbox.problem_from_vectorized(lambda X: np.where(X[:, 0] > 1.5, np.nan, (X ** 2).sum(1)), dim=3)
    a = blackbox.solve(p, "random", evals=320, seed=1, workers=2)
    b = blackbox.solve(p, "random", evals=320, seed=1)
    assert a.best_loss == b.best_loss and a.failures == b.failures


def es_losses_and_point(evaluator, dim=20, gens=6):
    """A short openai-es run driven by hand: every generation's losses and the recommended point."""
    from blackbox.registry import problem_class, solver_class
    from blackbox.solver import Spec
    prob = problem_class("sphere")(problem_class("sphere").Config(dim=dim))
    cls = solver_class("openai-es")
    solver = cls(Spec.of(prob), cls.Config(popsize=8, sigma0=0.3, sigma_end=0.3))
    state, losses = solver.init(np.full(dim, 1.5), 2), []
    for g in range(gens):
        request, state = solver.ask(state)
        assert type(request).__name__ == "NoiseWindows"
        losses.append(evaluator.evaluate(prob, request, seed=g).losses)
        state = solver.tell(state, request, losses[-1])
    return np.array(losses), solver.recommend(state), state["theta"]


def test_es_through_the_pool_is_bit_for_bit_in_process():
    """Workers rebuild the noise table and materialize their chunk of offsets: same losses, same point."""
    from blackbox.pool import ProcessPoolEvaluator
    ev = ProcessPoolEvaluator(workers=2)
    got = es_losses_and_point(ev)
    ev.close()
    for a, b in zip(got, es_losses_and_point(InProcessEvaluator())):
        np.testing.assert_array_equal(a, b)


import ray  # noqa: E402  (part of the test extra: these tests run in CI)


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_matches_in_process_and_replaces_a_killed_actor(ray_local, tmp_path):
    from blackbox.ray_evaluator import RayEvaluator
    marker = str(tmp_path / "kill")
    reference = blackbox.solve(DiesOnce(marker), "random", evals=320, seed=4)
    open(marker, "w").close()
    ev = RayEvaluator(workers=2)
    r = blackbox.solve(DiesOnce(marker), "random", evals=320, seed=4, evaluator=ev)
    assert not os.path.exists(marker) and ev.redispatched > 0
    assert r.evals == 320 and r.best_loss == reference.best_loss
    np.testing.assert_array_equal(r.best_x, reference.best_x)
    ev.close()


def test_ray_handles_sparse_requests(ray_local):
    from blackbox.ray_evaluator import RayEvaluator
    ev = RayEvaluator(workers=2)
    p = blackbox.registry.problem_class("onemax")()
    a = blackbox.solve(p, "random", evals=640, seed=0, evaluator=ev)
    b = blackbox.solve(p, "random", evals=640, seed=0)
    assert a.best_loss == b.best_loss
    ev.close()


def test_ray_ships_the_es_center_once_per_generation_and_matches_in_process(ray_local):
    from blackbox.ray_evaluator import RayEvaluator, shared_fields, without
    dim = 10_000  # an 80 kB center: above the object-store threshold
    from blackbox.solvers.es import ES
    from blackbox.solver import Spec
    prob = blackbox.registry.problem_class("sphere")(blackbox.registry.problem_class("sphere").Config(dim=dim))
    es = ES(Spec.of(prob), ES.Config(popsize=8))
    request, _ = es.ask(es.init(np.ones(dim), 0))
    chunks = [request.take(a, a + 2) for a in range(0, 8, 2)]
    assert shared_fields(chunks) == ["center"]
    assert without(chunks[0], ["center"]).center is None and chunks[0].center is request.center
    assert shared_fields([Dense(np.zeros((2, dim))), Dense(np.zeros((2, dim)))]) == []  # rows never shared
    ev = RayEvaluator(workers=2)
    got = es_losses_and_point(ev, dim=dim, gens=3)
    ev.close()
    for a, b in zip(got, es_losses_and_point(InProcessEvaluator(), dim=dim, gens=3)):
        np.testing.assert_array_equal(a, b)


def test_compare_runs_cells_as_ray_tasks_with_the_in_process_results(ray_local, tmp_path):
    import json

    from blackbox.compare import Grid, run
    grid = Grid.parse(["sphere:dim=4"], ["random", "es"], seeds=1, evals=200)
    lines = []
    run(grid, str(tmp_path / "ray"), ray=True, echo=lines.append)
    run(grid, str(tmp_path / "local"), workers=0, echo=lambda line: None)
    assert "local Ray tasks" in lines[0]
    for f in sorted((tmp_path / "local" / "runs").glob("*.json")):
        mine, theirs = json.loads(f.read_text()), json.loads((tmp_path / "ray" / "runs" / f.name).read_text())
        assert theirs["status"] == "done" and theirs["best_loss"] == mine["best_loss"] and theirs["evals"] == mine["evals"]
    assert (tmp_path / "ray" / "summary.md").exists()
    lines.clear()
    run(grid, str(tmp_path / "ray"), ray=True, echo=lines.append)  # finished cells come back from the JSONs
    assert "2 already finished, 0 to run" in lines[0]
