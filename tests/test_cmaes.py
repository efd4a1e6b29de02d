"""cmaes: targets on small standard functions, restarts on termination, bounds, resumption."""
import numpy as np
import pytest

from blackbox import checkpoint as ckpt
from blackbox.domain import Integer, Real
from blackbox.solver import Spec
from blackbox.solvers.cmaes import CMAES, CMAESConfig, mirror, weights


def sphere(x):
    return np.sum(x * x, axis=1)


def ellipsoid(x):
    n = x.shape[1]
    return np.sum(10.0 ** (6 * np.arange(n) / (n - 1)) * x * x, axis=1)


def rosenbrock(x):
    return np.sum(100 * (x[:, 1:] - x[:, :-1] ** 2) ** 2 + (1 - x[:, :-1]) ** 2, axis=1)


def rastrigin(x):
    return 10 * x.shape[1] + np.sum(x * x - 10 * np.cos(2 * np.pi * x), axis=1)


def run(f, dim, evals, domain=Real(), seed=0, x0=3.0, watch=None, **config):
    """Best loss, final state and the solver after ``evals`` evaluations of an ask/tell loop."""
    solver = CMAES(Spec(dim, domain), CMAESConfig(**config))
    state = solver.init(np.full(dim, x0), seed)
    best, used = np.inf, 0
    while used < evals:
        request, state = solver.ask(state)
        x = request.dense()
        if watch is not None:
            watch(x, state)
        losses = f(x)
        used += len(losses)
        best = min(best, float(losses.min()))
        state = solver.tell(state, request, losses)
    return best, state, solver


@pytest.mark.parametrize("covariance", ["full", "sep"])
def test_sphere_and_ellipsoid_reach_1e_8(covariance):
    assert run(sphere, 10, 3000, covariance=covariance)[0] < 1e-8
    assert run(ellipsoid, 10, 8000, covariance=covariance)[0] < 1e-8


def test_rosenbrock_full_reaches_1e_8():
    assert run(rosenbrock, 5, 6000, covariance="full")[0] < 1e-8


def test_rastrigin_bipop_finds_the_global_basin():
    best, state, _ = run(rastrigin, 5, 30000, domain=Real(-5.12, 5.12), seed=1)
    assert int(state["restarts"]) >= 2
    assert best < 1.0 + 1e-9  # the global optimum 0 or its nearest local one


def test_termination_triggers_restarts_and_ipop_doubles_the_population():
    lam0 = 4 + int(3 * np.log(5))
    _, state, _ = run(sphere, 5, 4000, restarts="ipop")
    assert int(state["restarts"]) >= 1 and state["stop_reason"] in ("tolfun", "tolx")
    assert int(state["lam"]) == lam0 * 2 ** int(state["restarts"])
    _, state, _ = run(sphere, 5, 4000, restarts="none")
    assert int(state["restarts"]) == 0


def test_bipop_alternates_with_small_populations():
    regimes = []
    run(sphere, 5, 20000, restarts="bipop", watch=lambda x, s: regimes.append(
        (str(s["regime"]), int(s["lam"]), int(s["run_gen"]), int(s["last_large_evals"]))))
    small = [r for r in regimes if r[0] == "small"]
    assert small and max(r[1] for r in small) <= max(r[1] for r in regimes if r[0] == "large")
    # a small run gets at most half the evaluations of the last large run (plus the generation that crosses it)
    assert all(gen * lam <= 0.5 * last + lam for _, lam, gen, last in small)


def test_bounds_are_respected_by_every_candidate():
    def watch(x, state):
        assert x.min() >= 1.0 and x.max() <= 2.0

    best, _, _ = run(sphere, 4, 3000, domain=Real(1.0, 2.0), x0=1.5, watch=watch)
    assert best < 4.0 + 1e-6  # optimum of the box at its corner x = 1


def test_mirror_reflects_periodically():
    x = np.array([-0.5, 0.5, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(mirror(x, 0.0, 1.0), [0.5, 0.5, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(mirror(x, 1.0, None), [2.5, 1.5, 1.5, 2.5, 3.5])


def test_integer_lattice():
    def f(x):
        return np.sum((x - 3) ** 2, axis=1).astype(float)

    def watch(x, state):
        assert x.dtype == np.int64 and x.min() >= -10 and x.max() <= 10

    assert run(f, 8, 3000, domain=Integer(-10, 10), x0=0.0, watch=watch)[0] == 0


def test_weights_sum_to_one_and_active_negatives():
    p = weights(10, 5, sep=False, active=True)
    assert np.isclose(p["w"][:5].sum(), 1) and np.all(p["w"][5:] < 0)
    assert np.all(weights(10, 5, sep=True, active=True)["w"][5:] == 0)


def test_state_resumes_bit_for_bit_across_a_restart(tmp_path):
    solver = CMAES(Spec(3, Real(-5, 5)), CMAESConfig())
    state = solver.init(np.full(3, 2.0), 7)

    def gens(state, n):
        out = []
        for _ in range(n):
            request, state = solver.ask(state)
            losses = sphere(request.dense())
            out.append(losses)
            state = solver.tell(state, request, losses)
        return state, np.concatenate(out)

    state, _ = gens(state, 150)  # sphere in 3-D: the first restart comes within ~150 generations
    path = str(tmp_path / "s.npz")
    ckpt.save(path, state, {}, {})
    loaded, _, _ = ckpt.load(path)
    a, la = gens(state, 200)
    b, lb = gens(loaded, 200)
    assert int(a["restarts"]) >= 1
    np.testing.assert_array_equal(la, lb)
    np.testing.assert_array_equal(a["cov"], b["cov"])


@pytest.mark.parametrize("field,value", [("sigma0", -1.0), ("popsize", 1), ("covariance", "diag"),
                                         ("restarts", "sometimes"), ("full_max_dim", 0)])
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"cmaes: {field} must be"):
        CMAES(Spec(3, Real()), CMAESConfig(**{field: value}))


def test_binary_domain_is_refused_in_one_line():
    from blackbox.domain import Binary
    with pytest.raises(ValueError, match="does not handle binary"):
        CMAES(Spec(3, Binary()), CMAESConfig())


def test_noise_table_sep_reaches_targets_and_resumes(tmp_path):
    from blackbox.population import NoiseWindows
    best, state, solver = run(sphere, 30, 8000, covariance="sep", noise="table")
    assert solver.table and best < 1e-8
    request, asked = solver.ask(state)
    assert isinstance(request, NoiseWindows) and "offsets" in asked
    path = str(tmp_path / "s.npz")
    ckpt.save(path, asked, {}, {})
    loaded, _, _ = ckpt.load(path)
    losses = sphere(request.dense())
    a, b = solver.tell(asked, request, losses), solver.tell(loaded, request, losses)
    np.testing.assert_array_equal(a["mean"], b["mean"])
    np.testing.assert_array_equal(a["cov"], b["cov"])


def test_noise_table_is_automatic_only_for_large_open_sep():
    assert CMAES(Spec(20_000, Real()), CMAESConfig()).table
    assert not CMAES(Spec(20_000, Real(-1, 1)), CMAESConfig()).table
    assert not CMAES(Spec(50, Real()), CMAESConfig()).table
    with pytest.raises(ValueError, match="cmaes: noise must be seeded or auto unless"):
        CMAES(Spec(20, Real(-1, 1)), CMAESConfig(covariance="sep", noise="table"))
