import json
import math

import numpy as np
import pytest

import blackbox
from blackbox import problem_from_function, problem_from_vectorized
from blackbox.checkpoint import CheckpointError
from blackbox.evaluator import EvaluationError, ProblemError
from blackbox.problem import Problem
from blackbox.domain import Real


def test_evals_budget_and_result_fields():
    r = blackbox.solve("sphere", "random", evals=3200, seed=0)
    assert r.stopped == "evals" and 3200 <= r.evals < 3200 + 32
    assert r.best_loss == pytest.approx(float(np.sum(r.best_x ** 2)))
    assert r.selected_by == "best evaluated loss"
    assert r.history[-1]["evals"] <= r.evals and r.history[0]["generation"] == 1
    d = r.to_json()
    json.dumps(d)
    assert d["evals"] == r.evals and d["budget"]["evals"] == 3200 and "versions" in d


def test_target_and_time_budgets_stop_the_run():
    r = blackbox.solve("onemax", "random", target=0, evals=10**6, seed=1)
    assert r.stopped == "target" and r.best_loss == 0
    r = blackbox.solve("sphere", "random", seconds=0.2, seed=0)
    assert r.stopped == "time" and r.wall_time < 2.0


def test_callback_can_stop_and_sees_every_generation():
    seen = []
    r = blackbox.solve("sphere", "random", evals=10**6, callbacks=[lambda t: seen.append(t.generation) or t.generation >= 7])
    assert r.stopped == "callback" and seen == list(range(1, 8)) and r.generations == 7


def test_resume_equals_uninterrupted(tmp_path):
    full = blackbox.solve("rastrigin", "random", problem_config={"dim": 8}, evals=6400, seed=11)
    ck = str(tmp_path / "run.ckpt.npz")
    part = blackbox.solve("rastrigin", "random", problem_config={"dim": 8}, evals=6400, seed=11, checkpoint=ck,
                          callbacks=[lambda t: t.generation >= 40])
    assert part.stopped == "callback" and part.evals < full.evals
    resumed = blackbox.solve("rastrigin", "random", problem_config={"dim": 8}, evals=6400, resume=ck)
    assert resumed.evals == full.evals and resumed.generations == full.generations
    np.testing.assert_array_equal(resumed.best_x, full.best_x)
    assert resumed.best_loss == full.best_loss
    assert [h["best_loss"] for h in resumed.history] == [h["best_loss"] for h in full.history]


def test_resume_refuses_a_different_run(tmp_path):
    ck = str(tmp_path / "c.npz")
    blackbox.solve("sphere", "random", evals=320, checkpoint=ck)
    with pytest.raises(CheckpointError, match="problem config"):
        blackbox.solve("sphere", "random", problem_config={"dim": 3}, evals=640, resume=ck)
    with pytest.raises(CheckpointError, match="solver config"):
        blackbox.solve("sphere", "random", {"popsize": 8}, evals=640, resume=ck)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a blackbox checkpoint"):
        blackbox.solve("sphere", "random", evals=640, resume=str(tmp_path / "junk.npz"))


def test_raising_and_nan_simulators_are_counted_as_worst():
    calls = {"n": 0}

    def flaky(x):
        calls["n"] += 1
        if calls["n"] % 5 == 0:
            raise RuntimeError("simulator crashed")
        if calls["n"] % 7 == 0:
            return float("nan")
        return float(np.sum(x ** 2))

    p = problem_from_function(flaky, dim=3)
    r = blackbox.solve(p, "random", evals=700, seed=0)
    assert r.failures == 700 // 5 + 700 // 7 - 700 // 35
    assert "RuntimeError: simulator crashed" in r.first_error
    assert math.isfinite(r.best_loss) and r.best_loss == pytest.approx(float(np.sum(r.best_x ** 2)))


def test_failed_losses_get_the_worst_loss_of_their_generation():
    from blackbox.evaluator import InProcessEvaluator
    from blackbox.population import Dense
    p = problem_from_vectorized(lambda X: np.where(X[:, 0] > 0, np.nan, X[:, 1]), dim=2)
    out = InProcessEvaluator().evaluate(p, Dense(np.array([[1.0, 0], [-1, 5], [-1, 2]])), seed=0)
    assert out.failures == 1 and list(out.losses) == [5.0, 5.0, 2.0]


def test_strict_raises_on_failure():
    p = problem_from_function(lambda x: float("inf"), dim=2)
    with pytest.raises(EvaluationError, match="NaN or infinite"):
        blackbox.solve(p, "random", evals=64, strict=True)
    p = problem_from_function(lambda x: 1 / 0, dim=2, strict=True)
    with pytest.raises(EvaluationError, match="ZeroDivisionError"):
        blackbox.solve(p, "random", evals=64)


def test_wrong_shape_from_a_problem_names_what_was_expected():
    p = problem_from_vectorized(lambda X: X.sum(), dim=4)
    with pytest.raises(ProblemError, match=r"shape \(\); expected \(32,\)"):
        blackbox.solve(p, "random", evals=64)
    p = problem_from_vectorized(lambda X: "text", dim=4)
    with pytest.raises(ProblemError, match="expected a float array"):
        blackbox.solve(p, "random", evals=64)


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="unknown option 'popsiz' for solver random"):
        blackbox.solve("sphere", "random", {"popsiz": 3}, evals=10)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        blackbox.solve("sphere", "random", {"sigma": "-1"}, evals=10)
    with pytest.raises(ValueError, match="option popsize='x'"):
        blackbox.solve("sphere", "random", {"popsize": "x"}, evals=10)
    with pytest.raises(LookupError, match="unknown solver 'nope'"):
        blackbox.solve("sphere", "nope", evals=10)
    with pytest.raises(ValueError, match="dim must be >= 1"):
        blackbox.solve("sphere", "random", problem_config={"dim": 0}, evals=10)
    with pytest.raises(ValueError, match="starting point has shape"):
        blackbox.solve("sphere", "random", x0=np.zeros(3), evals=10)
    with pytest.raises(ValueError, match="does not handle binary"):
        from blackbox.solver import Solver, Spec
        type("RealOnly", (Solver,), {"name": "realonly", "domains": frozenset({"real"})})(Spec(4, blackbox.Binary()))


class NoisyQuadratic(Problem):
    """A stochastic problem: the minibatch noise depends on the generation seed."""

    name = "noisy"
    stochastic = True

    def __init__(self):
        self.dim, self.domain = 4, Real()
        self.validation_calls = 0

    def evaluate(self, population, seed=0):
        noise = np.random.default_rng(seed).normal(0, 1.0)
        return np.sum(np.asarray(population) ** 2, axis=1) + noise

    def validation_loss(self, x):
        self.validation_calls += 1
        return float(np.sum(x ** 2))

    def test_metrics(self, x):
        return {"test_calls": self.validation_calls}


def test_stochastic_problems_select_on_validation_and_share_the_minibatch():
    p = NoisyQuadratic()
    seen = []
    orig = p.evaluate
    p.evaluate = lambda pop, seed=0: (seen.append(seed), orig(pop, seed))[1]
    r = blackbox.solve(p, "random", evals=32 * 60, seed=0, validate_every=10)
    assert r.selected_by == "validation loss" and r.validation_evals == 7
    assert len(seen) == 60 and len(set(seen)) == 60  # one data seed per generation
    assert r.test_metrics == {"test_calls": 7}  # test metrics computed once, after selection


def test_problem_suggested_solver_settings_apply_under_the_users():
    from blackbox.problems.benchmarks import Sphere

    class Suggesting(Sphere):
        solver_defaults = {"random": {"popsize": 8, "sigma": 0.5}}

    r = blackbox.solve(Suggesting(), "random", {"sigma": 0.2}, evals=80)
    assert r.solver_config["popsize"] == 8 and r.solver_config["sigma"] == 0.2
    assert blackbox.solve(Suggesting(), "random", evals=80).solver_config["sigma"] == 0.5
    assert blackbox.solve(Sphere(), "random", evals=80).solver_config["popsize"] == 32  # other problems untouched


def test_the_result_records_the_thread_counts_in_force():
    """Issue 14.3: the JSON says how many numba / torch / BLAS threads really ran."""
    import blackbox
    r = blackbox.solve("sphere", "random", problem_config={"dim": 3}, evals=64)
    d = r.to_json()
    assert set(d["threads"]) == {"numba", "torch", "blas"}
    assert d["threads"]["blas"] is None or d["threads"]["blas"] >= 1


def test_a_problem_may_give_its_domain_as_a_pair():
    """Issue 17.6: a (low, high) tuple is accepted wherever a domain is, a subclass's too."""
    import blackbox

    class Box(blackbox.Problem):
        name = "box"

        def __init__(self):
            self.dim, self.domain = 2, (np.array([0.0, 1.0]), np.array([1.0, 2.0]))

        def evaluate(self, population, seed=0):
            return np.abs(np.asarray(population) - 0.9).sum(1)

    r = blackbox.solve(Box(), "random", evals=200)
    assert np.all(r.best_x >= [0, 1]) and np.all(r.best_x <= [1, 2])
