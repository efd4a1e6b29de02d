"""cma-es stores pycma's strategy without its population buffers: a state resumed from its bytes
at any generation continues bit for bit, and the bytes hold O(dim) numbers, not the population."""
import numpy as np
import pytest

pytest.importorskip("cma")

from blackbox.baselines.cma_es import CMAES, CMAConfig, _load  # noqa: E402
from blackbox.domain import Real  # noqa: E402
from blackbox.solver import Spec  # noqa: E402


def rastrigin(X):
    return 10 * X.shape[1] + np.sum(X * X - 10 * np.cos(2 * np.pi * X), axis=1)


def run(solver, state, gens):
    out = []
    for _ in range(gens):
        req, state = solver.ask(state)
        state = solver.tell(state, req, rastrigin(req.dense()))
        out.append(state)
    return out


@pytest.mark.parametrize("diagonal_above,domain", [(1000, Real(-5.12, 5.12)), (0, Real())])
def test_resume_from_bytes_at_any_generation_is_bit_identical(diagonal_above, domain):
    spec = Spec(8, domain)
    cfg = CMAConfig(diagonal_above=diagonal_above, popsize=10)
    live = CMAES(spec, cfg)
    states = run(live, live.init(np.full(8, 2.0), seed=5), 12)
    for g in (0, 1, 5, 10):
        fresh = CMAES(spec, cfg)  # no live object: it must unpickle the state's bytes
        copy = {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v) for k, v in states[g].items()}
        resumed = run(fresh, copy, 11 - g)
        a, b = states[-1], resumed[-1]
        assert np.array_equal(a["x"], b["x"]) and a["sigma"] == b["sigma"]
        assert np.array_equal(a["cma"], b["cma"])  # the stored strategy, byte for byte
        ea, eb = _load(a["cma"]), _load(b["cma"])
        for attr in ("mean", "pc", "countiter", "countevals"):
            assert np.array_equal(getattr(ea, attr), getattr(eb, attr)), attr
        assert np.array_equal(ea.sm.variances, eb.sm.variances) and np.array_equal(ea.adapt_sigma.ps, eb.adapt_sigma.ps)


def test_stored_bytes_leave_out_the_population():
    dim, pop = 4000, 40
    s = CMAES(Spec(dim, Real()), CMAConfig(popsize=pop, diagonal_above=0))
    state = run(s, s.init(np.zeros(dim), 0), 2)[-1]
    assert state["cma"].nbytes < pop * dim * 8 / 2  # one population alone is pop x dim x 8 bytes
    es = _load(state["cma"])
    assert es.countiter == 2 and es.pop_sorted is None


def test_population_handed_out_without_copy_is_not_changed_by_tell():
    """On an open domain the request holds pycma's own population array (no copy); the driver
    reads the best candidate from it after tell, so tell must leave it alone."""
    s = CMAES(Spec(20, Real()), CMAConfig(popsize=12, diagonal_above=0))
    state = s.init(np.ones(20), 0)
    for _ in range(10):
        req, state = s.ask(state)
        before = req.dense().copy()
        state = s.tell(state, req, rastrigin(before))
        assert np.array_equal(before, req.dense())
