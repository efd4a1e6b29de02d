"""Baselines: the OpenAI-ES update against a step computed by hand, and sanity of SPSA, MeZO,
CMA-ES (pycma) and the Adam surrogate ceiling on small problems."""
import math
import pickle
from dataclasses import dataclass

import numpy as np
import pytest

import blackbox
from blackbox.domain import Real
from blackbox.evaluator import InProcessEvaluator
from blackbox.problem import Problem
from blackbox.registry import SOLVERS, solver_class
from blackbox.solver import Spec
from blackbox.problems.benchmarks import Sphere, RealConfig


def sphere(dim):
    return Sphere(RealConfig(dim=dim))


def test_baselines_are_registered_and_say_so():
    for name in ("openai-es", "spsa", "mezo", "cma-es", "adam-ceiling", "random"):
        assert "baseline" in SOLVERS[name].summary
    assert "NOT gradient-free" in SOLVERS["adam-ceiling"].summary


def test_openai_es_defaults_are_the_papers():
    c = solver_class("openai-es").Config()
    assert (c.optimizer, c.lr, c.lr_end, c.lr_schedule) == ("adam", 0.01, 0.01, "constant")
    assert (c.sigma0, c.sigma_end, c.sigma_schedule) == (0.02, 0.02, "constant")
    assert (c.weight_decay, c.antithetic, c.fitness, c.noise) == (0.005, True, "centered_ranks", "table")
    assert (c.beta1, c.beta2) == (0.9, 0.999)


def test_openai_es_step_matches_a_hand_computed_adam_step():
    """dim 3, 2 antithetic pairs, a 500-float noise table: every number below is recomputed here
    from the paper's definitions, not from the solver's helpers."""
    dim, table_size, noise_seed = 3, 500, 7
    cls = solver_class("openai-es")
    solver = cls(Spec.of(sphere(dim)), cls.Config(popsize=4, noise_table_size=table_size, noise_seed=noise_seed))
    theta = np.array([1.0, -2.0, 0.5])
    state = solver.init(theta, seed=11)
    request, asked = solver.ask(state)

    table = np.random.default_rng(noise_seed).standard_normal(table_size, dtype=np.float32)
    offs = asked["noise_offsets"]
    assert offs.shape == (2,) and np.all((0 <= offs) & (offs <= table_size - dim))
    eps = np.stack([table[o:o + dim] for o in offs]).astype(np.float64)
    pop = np.concatenate([theta + 0.02 * eps, theta - 0.02 * eps])
    np.testing.assert_allclose(request.dense(), pop, rtol=0, atol=1e-6)

    losses = np.sum(pop ** 2, axis=1)
    assert len(set(losses)) == 4
    ranks = np.empty(4)
    ranks[np.argsort(losses)] = np.arange(4)  # lowest loss gets rank 0
    shaped = ranks / 3 - 0.5  # centred ranks in [-0.5, 0.5]
    g = (shaped[:2] - shaped[2:]) @ eps / 4 + 0.005 * theta  # estimate over all 4 losses + L2 decay
    m, v = 0.1 * g, 0.001 * g * g  # Adam moments after one step from zero
    a = 0.01 * math.sqrt(1 - 0.999) / (1 - 0.9)
    expected = theta - a * m / (np.sqrt(v) + 1e-8)

    new = solver.tell(asked, request, losses)
    np.testing.assert_allclose(new["theta"], expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(new["x"], expected, rtol=0, atol=1e-6)
    assert new["generation"] == 1 and int(new["opt_t"]) == 1
    # the first Adam step moves every coordinate by lr against the sign of the estimate
    np.testing.assert_allclose(np.abs(expected - theta), 0.01, rtol=1e-4)


@pytest.mark.parametrize("name,opts,evals,factor", [
    ("spsa", {}, 4000, 100.0),
    ("mezo", {}, 4000, 100.0),
    ("cma-es", {}, 1200, 1e3),
])
def test_zeroth_order_baselines_descend_on_sphere(name, opts, evals, factor):
    prob = sphere(10)
    r = blackbox.solve(prob, name, opts, evals=evals, seed=1)
    start = float(prob.evaluate(prob.initial(np.random.default_rng(1))[None])[0])
    assert r.best_loss < start / factor, (r.best_loss, start)


def test_two_point_state_holds_no_perturbations():
    """The seed trick: ask and tell regenerate the directions; the state is point + counters."""
    for name in ("spsa", "mezo"):
        cls = solver_class(name)
        solver = cls(Spec.of(sphere(6)), cls.Config(directions=3))
        state = solver.init(np.ones(6), seed=4)
        req, asked = solver.ask(state)
        assert set(asked) == {"seed", "generation", "x"}
        assert len(req) == 6
        d = req.dense()
        np.testing.assert_allclose(d[:3] - 1, -(d[3:] - 1))  # antithetic pairs around x


def test_spsa_step_by_hand():
    cls = solver_class("spsa")
    cfg = cls.Config(a=0.2, A=1.0, c=0.1, directions=1)
    solver = cls(Spec.of(sphere(4)), cfg)
    x = np.array([1.0, -1.0, 2.0, 0.0])
    state = solver.init(x, seed=0)
    req, asked = solver.ask(state)
    plus, minus = req.dense()
    delta = (plus - x) / 0.1
    assert set(np.abs(delta).round(12)) == {1.0}  # Rademacher
    losses = np.array([np.sum(plus ** 2), np.sum(minus ** 2)])
    g = (losses[0] - losses[1]) / (2 * 0.1) * delta  # 1/delta_i = delta_i
    expected = x - 0.2 / (0 + 1 + 1.0) ** 0.602 * g
    np.testing.assert_allclose(solver.tell(asked, req, losses)["x"], expected)


def test_cma_is_reproducible_and_leaves_the_global_generator_alone():
    prob = sphere(8)
    np.random.seed(123)
    expected = np.random.random_sample()
    np.random.seed(123)
    a = blackbox.solve(prob, "cma-es", evals=300, seed=2)
    assert np.random.random_sample() == expected
    b = blackbox.solve(prob, "cma-es", evals=300, seed=2)
    assert a.best_loss == b.best_loss
    np.testing.assert_array_equal(a.best_x, b.best_x)


def test_cma_goes_diagonal_above_the_threshold_and_handles_binary():
    cls = solver_class("cma-es")
    solver = cls(Spec.of(sphere(30)), cls.Config(diagonal_above=20))
    es = pickle.loads(solver.init(np.zeros(30), 0)["cma"].tobytes())
    assert es.opts["CMA_diagonal"] is True
    r = blackbox.solve("onemax", "cma-es", problem_config={"dim": 30}, evals=400, seed=0)
    assert r.best_loss <= 3 and set(np.unique(r.best_x)) <= {0, 1}


@dataclass
class _StairConfig:
    dim: int = 6  # coordinates


class SmoothStaircase(Problem):
    """Hard loss floor(4 ||x||^2) / 4: zero gradient almost everywhere. Its smooth twin is ||x||^2."""

    name = "smooth-staircase"
    Config = _StairConfig

    def __init__(self, config=None):
        self.config = config or _StairConfig()
        self.dim, self.domain = self.config.dim, Real()

    def initial(self, rng):
        return rng.uniform(-2, 2, self.dim)

    def evaluate(self, population, seed=0):
        p = np.asarray(population, np.float64)
        return np.floor(4 * np.sum(p * p, axis=1)) / 4

    def batch(self, seed):
        return seed

    def surrogate_loss_torch(self, params, batch):
        return (params ** 2).sum()


def test_adam_ceiling_reaches_what_the_hard_gradient_cannot_see():
    prob = SmoothStaircase()
    r = blackbox.solve(prob, "adam-ceiling", {"lr": 0.05, "lr_end": 0.05}, evals=600, seed=0)
    assert r.best_loss == 0.0 and r.evals <= 600 + 6
    assert np.sum(r.best_x ** 2) < 0.25


def test_adam_ceiling_needs_the_surrogate_hook():
    with pytest.raises(ValueError, match="surrogate_loss_torch"):
        blackbox.solve(sphere(3), "adam-ceiling", evals=10)
