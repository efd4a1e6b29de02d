"""Contract tests every registered solver and problem must pass.

They are parametrized over the registries, so a solver or problem added later is tested here
without a line of new test code. A problem's ``small_config()`` (declared on ``Problem``: its default Config
unless it says otherwise) is what these tests build.
"""
import copy
import json

import numpy as np
import pytest

from blackbox import checkpoint as ckpt
from blackbox.evaluator import InProcessEvaluator
from blackbox.population import FORMS, Deltas, Dense, LowRank
from blackbox.registry import problem_class, problem_names, solver_class, solver_names
from blackbox.solver import Spec


def make_problem(name):
    cls = problem_class(name)
    return cls(cls.small_config())


_problems = {}


def problem(name):
    if name not in _problems:
        _problems[name] = make_problem(name)
    return _problems[name]


SMALL_BY_DOMAIN = {"real": "sphere", "binary": "onemax", "integer": None}


def solver_cases(native=True):
    for s in solver_names():
        cls = solver_class(s)
        for kind in ("real", "binary"):
            if kind in cls.domains and not cls.native:
                yield pytest.param(s, SMALL_BY_DOMAIN[kind], id=f"{s}-{kind}")
    # native solvers are exercised on the registered problems they do not refuse
    for s in solver_names() if native else ():
        cls = solver_class(s)
        if cls.native:
            for p in problem_names():
                if cls.refuses(problem_class(p)) is None:
                    yield pytest.param(s, p, id=f"{s}-{p}")


def fresh(solver_name, prob, seed=0):
    cls = solver_class(solver_name)
    solver = cls(Spec.of(prob), cls.Config())
    x0 = prob.initial(np.random.default_rng(seed))
    return solver, solver.init(x0, seed)


def run_generations(solver, state, prob, n):
    ev = InProcessEvaluator()
    losses = []
    for g in range(n):
        if solver.native:
            state, used = solver.advance(state, prob, 2000, 0.2)
            losses.append(solver.best(state)[1])
            continue
        request, state = solver.ask(state)
        assert isinstance(request, tuple(FORMS.values()))
        assert len(request) >= 1
        out = ev.evaluate(prob, request, seed=g)
        state = solver.tell(state, request, out.losses)
        losses.append(float(out.losses.min()))
    return state, losses


def states_equal(a, b):
    assert set(a) == set(b)
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        else:
            assert a[k] == b[k], k


@pytest.mark.parametrize("solver_name,problem_name", list(solver_cases()))
class TestSolverContract:
    def test_state_is_plain_and_generation_advances(self, solver_name, problem_name):
        prob = problem(problem_name)
        solver, state = fresh(solver_name, prob)
        state, _ = run_generations(solver, state, prob, 3)
        ckpt.split_state(state)  # raises on anything but arrays / numbers / strings
        assert int(state["generation"]) >= 3 or solver.native
        x = np.asarray(solver.recommend(state))
        assert x.shape == (prob.dim,)


@pytest.mark.parametrize("solver_name,problem_name", list(solver_cases(native=False)))
class TestAskTellContract:
    """Only for ask/tell solvers; native solvers have no ask/tell to check."""

    def test_ask_and_tell_do_not_mutate_their_input(self, solver_name, problem_name):
        prob = problem(problem_name)
        solver, state = fresh(solver_name, prob)
        state, _ = run_generations(solver, state, prob, 2)
        before = copy.deepcopy(state)
        request, asked = solver.ask(state)
        states_equal(state, before)
        asked_copy = copy.deepcopy(asked)
        losses = InProcessEvaluator().evaluate(prob, request, seed=0).losses
        solver.tell(asked, request, losses)
        states_equal(asked, asked_copy)

    def test_candidates_stay_in_the_domain(self, solver_name, problem_name):
        prob = problem(problem_name)
        solver, state = fresh(solver_name, prob)
        for _ in range(3):
            request, state = solver.ask(state)
            x = request.dense()
            if prob.domain.kind == "binary":
                assert set(np.unique(x)) <= {0, 1}
            losses = InProcessEvaluator().evaluate(prob, request, seed=0).losses
            state = solver.tell(state, request, losses)

    def test_saved_state_continues_bit_for_bit(self, solver_name, problem_name, tmp_path):
        prob = problem(problem_name)
        solver, state = fresh(solver_name, prob, seed=5)
        state, _ = run_generations(solver, state, prob, 2)
        path = str(tmp_path / "s.npz")
        ckpt.save(path, state, {}, {})
        loaded, _, _ = ckpt.load(path)
        a, la = run_generations(solver, state, prob, 3)
        b, lb = run_generations(solver, loaded, prob, 3)
        if not solver.native:  # native solvers may be time-sliced; ask/tell must be exact
            assert la == lb
            states_equal(a, b)

    def test_same_seed_same_run_and_it_improves(self, solver_name, problem_name):
        prob = problem(problem_name)
        s1, st1 = fresh(solver_name, prob, seed=3)
        s2, st2 = fresh(solver_name, prob, seed=3)
        _, l1 = run_generations(s1, st1, prob, 30)
        _, l2 = run_generations(s2, st2, prob, 30)
        if not s1.native:
            assert l1 == l2
        first = prob.evaluate(prob.initial(np.random.default_rng(3))[None, :])[0]
        assert min(l1) <= first


@pytest.mark.parametrize("name", problem_names())
class TestProblemContract:
    def test_evaluate_shape_dtype_and_determinism(self, name):
        prob = problem(name)
        rng = np.random.default_rng(0)
        x0 = prob.initial(rng)
        assert np.asarray(x0).shape == (prob.dim,)
        pop = np.stack([x0, prob.domain.project(prob.domain.sample(rng, (prob.dim,)))])
        ev = InProcessEvaluator(strict=True)
        a = ev.evaluate(prob, Dense(pop), seed=1).losses
        b = ev.evaluate(prob, Dense(pop), seed=1).losses
        assert a.shape == (2,) and np.all(np.isfinite(a))
        np.testing.assert_array_equal(a, b)

    def test_metrics_are_json(self, name):
        prob = problem(name)
        x0 = prob.initial(np.random.default_rng(0))
        json.dumps(prob.metrics(x0))
        json.dumps(prob.test_metrics(x0))

    def test_capabilities_agree_with_dense(self, name):
        prob = problem(name)
        rng = np.random.default_rng(1)
        x0 = np.asarray(prob.domain.project(prob.initial(rng)))
        ev = InProcessEvaluator(strict=True)
        if "deltas" in prob.capabilities:
            k = min(3, prob.dim)
            offsets = np.array([0, 0, 1, k], dtype=np.int64)  # no change, one change, k changes
            idx = np.concatenate([rng.choice(prob.dim, 1, replace=False), rng.choice(prob.dim, k - 1, replace=False)]).astype(np.int64)
            if prob.domain.kind == "binary":
                d = Deltas.flips(x0, offsets, idx)
            else:
                d = Deltas(x0, offsets, idx, x0[idx] + rng.standard_normal(idx.size))
            np.testing.assert_allclose(prob.evaluate_deltas(d, seed=2), ev.evaluate(prob, Dense(d.dense()), seed=2).losses, rtol=1e-5)
        if "lowrank" in prob.capabilities:
            from blackbox.population import Block
            blocks = []
            for nm, start, shape in getattr(prob, "layout", ()):
                if len(shape) == 2:
                    blocks.append(Block(start, shape[0], shape[1], 0.01 * rng.standard_normal((2, shape[0], 1)),
                                        0.01 * rng.standard_normal((2, shape[1], 1))))
            lr = LowRank(x0, blocks)
            np.testing.assert_allclose(prob.evaluate_lowrank(lr, seed=2), ev.evaluate(prob, Dense(lr.dense()), seed=2).losses,
                                       rtol=1e-4, atol=1e-5)
