"""The built-in solvers reach their documented targets, and their request forms are exact.

Targets are documented in each solver's module docstring; runs here are seconds long and seeded.
"""
import dataclasses

import numpy as np
import pytest

from blackbox.domain import Real
from blackbox.evaluator import InProcessEvaluator
from blackbox.population import Deltas, Dense, LowRank, NoiseWindows, gaussian_candidates
from blackbox.problem import Problem
from blackbox.registry import solver_class
from blackbox.solver import Spec
from blackbox.solvers.common import centered_ranks, schedule
from blackbox.noise import noise_table, windows
from blackbox.solvers.es import ES, SNES, openai_es_config
from blackbox.solvers.polystep import PolyStep
from blackbox.problems.benchmarks import Ackley, OneMax, Rastrigin, Sphere, Staircase, Trap


def run(solver_name, prob, *, gens=None, evals=None, seed=0, **cfg):
    """Run ask/tell for a number of generations or evaluations; return (best, final, evals, state)."""
    cls = solver_class(solver_name)
    solver = cls(Spec.of(prob), cls.Config(**cfg))
    state = solver.init(prob.initial(np.random.default_rng(seed)), seed)
    ev, used, best, g = InProcessEvaluator(), 0, np.inf, 0
    while (gens is None or g < gens) and (evals is None or used < evals):
        request, state = solver.ask(state)
        losses = ev.evaluate(prob, request, seed=g).losses
        state = solver.tell(state, request, losses)
        used, best, g = used + len(request), min(best, float(losses.min())), g + 1
    final = float(prob.evaluate(np.asarray(solver.recommend(state))[None, :])[0])
    return best, final, used, state


def real(cls, dim, **kw):
    return cls(cls.Config(dim=dim, **kw))


# (solver, problem, gens, config, target on the best evaluated loss) -- the documented targets
TARGETS = [
    ("polystep", real(Sphere, 10), 300, dict(horizon=300), 1e-3),
    ("polystep", real(Sphere, 1000), 60, dict(horizon=60), 1.0),
    ("polystep", real(Rastrigin, 10), 300, dict(horizon=300), 7.0),
    ("polystep", real(Ackley, 10), 300, dict(horizon=300), 0.1),
    ("polystep", real(Staircase, 20), 200, dict(horizon=200), 0.0),
    ("polystep", OneMax(OneMax.Config(dim=1000)), 2, {}, 0.0),
    ("polystep", Trap(Trap.Config(dim=100)), 50, dict(horizon=50), 20.0),
    ("es", real(Sphere, 10), 300, {}, 3e-3),
    ("es", real(Sphere, 1000), 300, {}, 500.0),
    ("es", real(Rastrigin, 10), 300, {}, 50.0),
    ("es", OneMax(OneMax.Config(dim=100)), 100, {}, 10.0),
    ("snes", real(Sphere, 10), 300, {}, 1e-6),
    ("snes", real(Ackley, 10), 300, {}, 1e-3),
    ("snes", OneMax(OneMax.Config(dim=100)), 100, {}, 5.0),
    ("cge", real(Sphere, 10), 300, dict(horizon=300), 1e-5),
    ("cge", real(Sphere, 100), 300, dict(horizon=300), 1e-3),
    ("cge", OneMax(OneMax.Config(dim=1000)), 10, {}, 0.0),
    ("ga", real(Sphere, 10), 800, {}, 1e-3),
    ("ga", real(Rastrigin, 10), 800, {}, 40.0),
    ("ga", real(Staircase, 20), 600, {}, 0.0),
    ("ga", OneMax(OneMax.Config(dim=100)), 600, {}, 0.0),
    ("ga", Trap(Trap.Config(dim=100)), 600, {}, 20.0),
]


@pytest.mark.parametrize("solver,prob,gens,cfg,target", TARGETS,
                         ids=[f"{t[0]}-{t[1].name}{t[1].dim}" for t in TARGETS])
def test_documented_targets(solver, prob, gens, cfg, target):
    best, final, _, _ = run(solver, prob, gens=gens, **cfg)
    assert min(best, final) <= target  # best evaluated candidate, or the recommended point (ES mean)


def test_piecewise_constant_loss_polystep_keeps_improving_where_es_and_cge_stall():
    """The paper's central claim on a staircase (flat cells of width 0.5), equal evaluations."""
    prob = real(Staircase, 20)
    start = float(prob.evaluate(prob.initial(np.random.default_rng(0))[None])[0])
    poly, _, n_poly, _ = run("polystep", prob, evals=5000, horizon=160)
    es_small, _, n_es, _ = run("es", prob, evals=5000, sigma0=0.001, sigma_end=0.001)
    es_mid, _, _, _ = run("es", prob, evals=5000, sigma0=0.01, sigma_end=0.01)
    cge_fwd, _, n_cge, _ = run("cge", prob, evals=5000)
    cge_cen, _, _, _ = run("cge", prob, evals=5000, difference="central")
    assert abs(n_poly - n_es) < 100 and abs(n_poly - n_cge) < 100
    assert poly == 0.0
    assert es_small == start and cge_fwd == start and cge_cen == start  # no signal at all
    assert es_mid > 0.25 * start  # a sigma of 1/50 of a cell sees the edges only now and then


# -- PolyStep request forms ------------------------------------------------------------------------
class TinyNet(Problem):
    """A 2-layer net with a hard threshold, vectorized, with an exact ``evaluate_lowrank``:
    one base forward plus a rank-r correction per candidate (what the neural adapters do)."""

    name = "tinynet"
    capabilities = frozenset({"lowrank"})

    def __init__(self, deltas=False):
        rng = np.random.default_rng(0)
        self.layout = [("w1", 0, (6, 5)), ("b1", 30, (6,)), ("w2", 36, (3, 6))]
        self.dim, self.domain = 54, Real()
        if deltas:
            self.capabilities = frozenset({"lowrank", "deltas"})
        self.X = rng.standard_normal((40, 5))
        self.Y = rng.standard_normal((40, 3))

    def split(self, x):
        return x[:, :30].reshape(-1, 6, 5), x[:, 30:36], x[:, 36:].reshape(-1, 3, 6)

    def evaluate(self, population, seed=0):
        w1, b1, w2 = self.split(np.asarray(population, dtype=np.float64))
        h = np.sign(np.einsum("nd,phd->pnh", self.X, w1) + b1[:, None, :])
        out = np.einsum("pnh,poh->pno", h, w2)
        return ((out - self.Y) ** 2).mean(axis=(1, 2))

    def evaluate_lowrank(self, req, seed=0):
        (s1, _, _, u1, v1), (sb, _, _, ub, vb), (s2, _, _, u2, v2) = sorted(req.blocks, key=lambda b: b.start)
        w1, b1, w2 = self.split(req.base[None])
        pre = self.X @ w1[0].T + b1[0]  # base forward, shared
        pre = pre[None] + np.einsum("nd,pdr,phr->pnh", self.X, v1, u1)  # (X V) U^T per candidate
        pre = pre + np.einsum("pkr,phr->ph", ub, vb)[:, None, :]  # bias block is (1 x 6)
        h = np.sign(pre)
        out = h @ w2[0].T + np.einsum("pnh,phr,por->pno", h, v2, u2)
        return ((out - self.Y) ** 2).mean(axis=(1, 2))


def probe_consistency(solver, state, request):
    """Candidate 1 + j must equal x moved by the solver's own projection of its probe."""
    sel = state["probe_particles"]
    radius = solver._sched(state, "probe_radius")
    m = solver.n_vertices
    for cand in (1, 1 + m * (sel.size // 2) + 1, len(request) - 1):
        p, j = divmod(cand - 1, m)
        grp = solver.groups[sel[p]]
        dz = np.zeros(solver.mz)
        ok = grp >= 0
        dz[grp[ok]] = state["probe_dirs"][p, j][ok] * radius
        want = solver._apply(state, state["x"].astype(np.float64).copy(), dz)
        np.testing.assert_allclose(request.candidate(cand), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(request.candidate(0), state["x"])


@pytest.mark.parametrize("rank", [0, 4])
def test_polystep_lowrank_probes_match_dense(rank):
    prob = TinyNet()
    solver = PolyStep(Spec.of(prob), PolyStep.Config(subspace_rank=rank))
    assert solver.form == "lowrank"
    if rank:
        assert [L["kind"] for L in solver.layers] == ["lowrank", "gaussian", "lowrank"]
    state = solver.init(prob.initial(np.random.default_rng(0)), 0)
    request, asked = solver.ask(state)
    assert isinstance(request, LowRank)
    dense = request.dense()
    np.testing.assert_allclose(prob.evaluate_lowrank(request), prob.evaluate(dense), rtol=1e-6)  # float32 factors
    probe_consistency(solver, asked, request)
    best, _, _, _ = run("polystep", prob, gens=40, subspace_rank=rank, horizon=40)
    assert best < 0.8 * prob.evaluate(prob.initial(np.random.default_rng(0))[None])[0]


def test_polystep_prefers_deltas_when_the_problem_has_them():
    solver = PolyStep(Spec.of(TinyNet(deltas=True)))
    assert solver.form == "deltas"
    # ... for coordinate particles only: subspace probes of matrix layers stay rank-one LowRank
    solver = PolyStep(Spec.of(TinyNet(deltas=True)), PolyStep.Config(subspace_rank=4))
    assert solver.form == "lowrank"


class Layered(Problem):
    """A sphere with a layout: a matrix, a vector and an unlisted tail."""

    name = "layered"
    capabilities = frozenset({"deltas"})

    def __init__(self):
        self.layout = [("w", 0, (40, 50)), ("b", 2000, (900,))]
        self.dim, self.domain = 3000, Real()

    def evaluate(self, population, seed=0):
        return np.einsum("pd,pd->p", population, population)

    def evaluate_deltas(self, d, seed=0):
        return self.evaluate(d.dense())


def test_polystep_subspace_projections_are_consistent_with_the_step():
    prob = Layered()
    cfg = PolyStep.Config(subspace_rank=30, subspace_dense_max=40_000, subspace_every=3)
    solver = PolyStep(Spec.of(prob), cfg)
    assert [L["kind"] for L in solver.layers] == ["hash", "gaussian", "gaussian"]
    assert solver.mz == 90
    state = solver.init(prob.initial(np.random.default_rng(1)), 1)
    ev = InProcessEvaluator()
    for g in range(5):  # crosses a re-draw at generation 3
        request, asked = solver.ask(state)
        assert isinstance(request, Deltas)
        probe_consistency(solver, asked, request)
        state = solver.tell(asked, request, ev.evaluate(prob, request, g).losses)
    assert state["velocity"].shape == (90,)


def test_polystep_subspace_searches_a_large_vector_in_few_coordinates():
    prob = real(Sphere, 2000)
    x0 = prob.initial(np.random.default_rng(0))
    best, _, _, state = run("polystep", prob, gens=30, subspace_rank=50, subspace_every=1, horizon=30)
    assert best < 0.8 * float(prob.evaluate(x0[None])[0])  # 30 steps in 25 random 2-d planes at a time


def test_polystep_binary_uses_flip_deltas_and_solves_onemax_at_a_million_bits():
    prob = OneMax(OneMax.Config(dim=1_000_000))
    solver = PolyStep(Spec.of(prob))
    state = solver.init(prob.initial(np.random.default_rng(0)), 0)
    request, state = solver.ask(state)
    assert isinstance(request, Deltas) and len(request) == 1 + 500_000 * 3
    np.testing.assert_array_equal(request.values, 1 - request.base[request.indices])
    state = solver.tell(state, request, prob.evaluate_deltas(request))
    assert prob.evaluate(state["x"][None])[0] == 0


@pytest.mark.parametrize("cfg", [dict(binary_move="sample", eps_start=0.1, eps_end=0.02, eps_schedule="linear"),
                                 dict(polytope="cube", particle_size=5, eps_start=0.2, eps_end=0.2),
                                 dict(transport="sinkhorn")])
def test_polystep_binary_variants(cfg):
    best, _, _, _ = run("polystep", Trap(Trap.Config(dim=100)), gens=60, horizon=60, **cfg)
    assert best <= 20  # a cube over aligned 5-bit particles solves the traps outright
    if cfg.get("polytope") == "cube":
        assert best == 0


@pytest.mark.parametrize("transport", ["softmax", "sinkhorn"])
@pytest.mark.parametrize("polytope", ["simplex", "orthoplex", "cube"])
def test_polystep_variants_descend(transport, polytope):
    prob = real(Sphere, 12)
    x0 = prob.initial(np.random.default_rng(2))
    best, _, _, _ = run("polystep", prob, gens=60, seed=2, transport=transport, polytope=polytope,
                        particle_size=3, momentum=0.3, horizon=60)
    assert best < 1e-2 * float(prob.evaluate(x0[None])[0])


def test_polystep_samples_particles_when_asked_and_without_deltas():
    prob = real(Sphere, 1000)
    solver = PolyStep(Spec.of(prob), PolyStep.Config(particles_per_step=50))
    request, _ = solver.ask(solver.init(np.zeros(1000), 0))
    assert len(request) == 1 + 50 * 3
    big = PolyStep(Spec(dim=2_000_000, domain=Real()))  # no deltas: dense fallback must stay bounded
    assert big._n_probe() * 3 * 2_000_000 <= 1 << 24 or big._n_probe() == 1


# -- ES ---------------------------------------------------------------------------------------------
def test_openai_es_preset_is_the_paper_setting_and_keeps_only_offsets():
    c = openai_es_config()
    assert (c.lr, c.weight_decay, c.sigma0, c.sigma_end, c.sigma_schedule) == (0.01, 0.005, 0.02, 0.02, "constant")
    assert c.antithetic and c.fitness == "centered_ranks" and c.noise == "table"
    prob = real(Sphere, 50)
    es = ES(Spec.of(prob), c)
    request, asked = es.ask(es.init(np.ones(50), 0))
    assert asked["noise_offsets"].shape == (es.popsize // 2,)
    assert not any(isinstance(v, np.ndarray) and v.size >= es.popsize * 50 for v in asked.values())
    x = request.dense()
    np.testing.assert_allclose(x[: es.popsize // 2] - 1, -(x[es.popsize // 2:] - 1), atol=1e-6)  # antithetic


def reference_rows(center, scale, eps, antithetic, domain):
    """The population arithmetic ES used when it sent dense rows, restated whole-array: float32
    step, float64 rows center +- step clipped to bounds; binary: int8 of step > -c32 and step < c32."""
    step = eps * np.asarray(scale, np.float32)
    if domain.kind == "binary":
        c32 = center.astype(np.float32)
        halves = [np.greater(step, -c32)] + ([np.less(step, c32)] if antithetic else [])
        return np.concatenate(halves).astype(np.int8)
    out = np.concatenate([center + step] + ([center - step] if antithetic else []))
    return out if domain.low is None and domain.high is None else np.clip(out, domain.low, domain.high)


@pytest.mark.parametrize("cls", [ES, SNES])
@pytest.mark.parametrize("antithetic", [True, False])
@pytest.mark.parametrize("prob,sigma", [(real(Sphere, 37), 0.3), (real(Rastrigin, 37), 4.0),  # 4: many clipped
                                        (OneMax(OneMax.Config(dim=41)), 0.5)], ids=["real", "bounded", "binary"])
@pytest.mark.parametrize("noise", ["table", "seeded"])
def test_es_requests_are_exactly_the_dense_rows(cls, antithetic, prob, sigma, noise):
    """Table noise travels as NoiseWindows (offsets + signs), seeded noise as Dense rows; either
    way the rows are bit-for-bit the reference arithmetic, whole, chunked and one candidate at a time."""
    solver = cls(Spec.of(prob), cls.Config(popsize=10, antithetic=antithetic, noise=noise, noise_table_size=1000,
                                            sigma0=sigma, sigma_end=sigma))
    state = solver.init(prob.initial(np.random.default_rng(1)), 5)
    ev = InProcessEvaluator()
    for g in range(4):
        request, asked = solver.ask(state)
        assert isinstance(request, NoiseWindows if noise == "table" else Dense) and len(request) == 10
        if noise == "table":
            eps = np.lib.stride_tricks.sliding_window_view(noise_table(12345, 1000), prob.dim)[asked["noise_offsets"]]
        else:
            eps = solver.rng(state, 1).standard_normal((solver.n_noise, prob.dim), dtype=np.float32)
        want = reference_rows(state["theta"], solver._scale(state), eps, antithetic, prob.domain)
        got = request.dense()
        assert got.dtype == want.dtype == prob.domain.dtype
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.concatenate([request.take(a, b).dense() for a, b in [(0, 3), (3, 7), (7, 10)]]), want)
        for i in range(len(request)):
            np.testing.assert_array_equal(request.candidate(i), want[i])
        if noise == "table":  # blocks of 3 rows split the runs of 5 equal signs: same rows
            rows = windows(noise_table(12345, 1000), prob.dim)
            np.testing.assert_array_equal(gaussian_candidates(request.center, request.scale, lambda i: rows[request.offsets[i]],
                                                              request.signs, prob.domain, block_floats=3 * prob.dim), want)
        state = solver.tell(asked, request, ev.evaluate(prob, request, seed=g).losses)
    assert "noise_offsets" not in state  # the request is never part of the state


def test_a_noise_windows_chunk_ships_offsets_not_rows():
    import pickle
    dim = 100_000
    prob = real(Sphere, dim)
    es = ES(Spec.of(prob), ES.Config(popsize=32))
    request, _ = es.ask(es.init(np.ones(dim), 0))
    chunk = request.take(8, 16)  # one of the 4 chunks a 2-worker pool sends per generation
    size = len(pickle.dumps(chunk))
    assert size < 8 * dim + 16 * 8 + 2000  # the float64 center, 8 offsets and signs, a header
    assert size < chunk.dense().nbytes / 7  # vs 8 rows of dim float64
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(chunk)).dense(), request.dense()[8:16])


def test_noise_windows_reach_a_problem_as_rows_unless_it_evaluates_them_natively():
    from blackbox.evaluator import call_problem
    from blackbox.population import form_of

    class Seen(Sphere):
        def evaluate(self, population, seed=0):
            self.got = population
            return super().evaluate(population, seed)

    class Native(Seen):
        capabilities = frozenset({"noise"})

        def evaluate_noise(self, request, seed=0):
            self.got = request
            return np.zeros(len(request))

    es = ES(Spec.of(real(Sphere, 12)), ES.Config(popsize=6))
    request, _ = es.ask(es.init(np.ones(12), 0))
    assert form_of(request) == "noise"
    plain, native = Seen(Sphere.Config(dim=12)), Native(Sphere.Config(dim=12))
    call_problem(plain, request, 0)
    np.testing.assert_array_equal(plain.got, request.dense())
    call_problem(native, request, 0)
    assert native.got is request


def test_es_seeded_noise_descends_too():
    prob = real(Sphere, 10)
    best, final, _, _ = run("es", prob, gens=200, noise="seeded")
    assert final < 0.1


def test_centered_ranks_tie_to_zero():
    np.testing.assert_array_equal(centered_ranks(np.ones(6)), np.zeros(6))
    np.testing.assert_allclose(centered_ranks(np.array([3.0, 1.0, 2.0])), [0.5, -0.5, 0.0])


# -- shared pieces ----------------------------------------------------------------------------------
def test_schedules_are_keyword_only_and_correct():
    with pytest.raises(TypeError):
        schedule("cosine", 1.0, 0.0, 5, 10)  # positional use is refused
    assert schedule(kind="constant", start=2.0, end=0.0, step=7, horizon=10) == 2.0
    assert schedule(kind="linear", start=1.0, end=0.0, step=5, horizon=10) == 0.5
    assert schedule(kind="cosine", start=1.0, end=0.0, step=5, horizon=10) == pytest.approx(0.5)
    assert schedule(kind="cosine", start=1.0, end=0.1, step=99, horizon=10) == pytest.approx(0.1)


BAD = [
    ("polystep", "polytope", "hexagon"), ("polystep", "eps_schedule", "exp"), ("polystep", "eps_start", 0.0),
    ("polystep", "particle_size", 0), ("polystep", "transport", "emd"),
    ("es", "sigma_start", -1.0), ("es", "popsize", 7), ("es", "optimizer", "lbfgs"), ("es", "fitness", "x"),
    ("snes", "lr_mean", 0.0), ("cge", "coord_ratio", 0.0), ("cge", "difference", "backward"),
    ("cge", "layer_ratios", "nolayer=0.5"), ("ga", "elite_size", 0), ("ga", "bandit_floor", 2.0),
]


@pytest.mark.parametrize("solver,field,value", BAD, ids=[f"{s}-{f}" for s, f, _ in BAD])
def test_bad_config_names_the_field(solver, field, value):
    cls = solver_class(solver)
    cfg = dataclasses.replace(cls.Config(), **{field: value})
    with pytest.raises(ValueError, match=field):
        cls(Spec.of(real(Sphere, 5)), cfg)


def test_cge_layer_ratios_pick_coordinates_per_layer():
    prob = Layered()
    cls = solver_class("cge")
    solver = cls(Spec.of(prob), cls.Config(layer_ratios="w=0.1,b=0.5", coord_ratio=0.01))
    request, state = solver.ask(solver.init(np.ones(3000), 0))
    c = state["coords"]
    assert ((c < 2000).sum(), ((c >= 2000) & (c < 2900)).sum(), (c >= 2900).sum()) == (200, 450, 1)
    assert len(request) == 1 + c.size and np.all(np.diff(request.offsets) == [0] + [1] * c.size)


def test_ga_children_are_one_request_against_the_parent_with_structured_units():
    prob = Layered()
    cls = solver_class("ga")
    solver = cls(Spec.of(prob))
    state = solver.init(np.ones(3000), 0)
    request, state = solver.ask(state)  # first: the elites, dense
    state = solver.tell(state, request, prob.evaluate(request.dense()))
    request, asked = solver.ask(state)
    assert isinstance(request, Deltas) and len(request) == solver.config.children
    np.testing.assert_array_equal(request.base, state["elite"][asked["parent"]])
    sizes = set(np.diff(request.offsets).tolist())
    assert sizes <= {1, 40, 50}  # one coordinate, a row (50) or a column (40) of w


def test_polystep_horizon_zero_fits_the_evaluation_budget(tmp_path):
    import blackbox
    from blackbox.registry import solver_class
    from blackbox.solver import Spec
    from blackbox.problems.benchmarks import Sphere
    p = Sphere()
    cls = solver_class("polystep")
    s = cls(Spec.of(p), cls.Config(horizon=0, particles_per_step=4))
    state = s.init(p.initial(np.random.default_rng(0)), 0)
    per_gen = len(s.ask(state)[0])
    assert s.plan(state, evals=100 * per_gen)["horizon"] == 100
    assert s.plan(state, evals=None)["horizon"] == 1000
    assert "horizon" not in cls(Spec.of(p), cls.Config(horizon=1000)).plan(state, evals=500)  # an explicit horizon stays
    assert cls.Config().horizon == 0  # the default fits the budget
    r = blackbox.solve(p, "polystep", {"horizon": 0}, evals=5000, seed=1)
    ck = str(tmp_path / "c.npz")
    part = blackbox.solve(p, "polystep", {"horizon": 0}, evals=5000, seed=1, checkpoint=ck,
                          callbacks=[lambda t: t.generation >= 5])
    resumed = blackbox.solve(p, "polystep", {"horizon": 0}, evals=5000, resume=ck)
    assert part.evals < r.evals and resumed.best_loss == r.best_loss and resumed.evals == r.evals


def test_polystep_horizon_zero_fits_a_time_budget_from_the_pace():
    """Under a time-only budget the driver plans after a few generations, from their pace."""
    import time as _time

    import blackbox
    from blackbox.problems.benchmarks import Sphere

    class Slow(Sphere):
        def evaluate(self, population, seed=0):
            _time.sleep(0.002)  # ~2 ms a generation, whatever the load: about 500 in a second
            return super().evaluate(population, seed)

    seen = {}
    blackbox.solve(Slow(), "polystep", {"horizon": 0, "particles_per_step": 4}, seconds=1.0,
                   callbacks=[lambda t: seen.setdefault(t.generation, t.state.get("horizon"))])
    assert seen[1] is None  # not planned yet: still measuring the pace
    planned = [h for h in seen.values() if h is not None]
    assert planned and 100 < planned[0] < 800  # fitted to the ~500 generations a second allows, not 1000


def test_geometric_schedule_spends_equal_steps_per_factor():
    from blackbox.solvers.common import check_schedule, schedule
    assert schedule(kind="geometric", start=0.1, end=0.001, step=5, horizon=10) == pytest.approx(0.01)
    assert schedule(kind="geometric", start=0.1, end=0.001, step=50, horizon=10) == pytest.approx(0.001)
    with pytest.raises(ValueError, match="step_radius_start and step_radius_end must be > 0"):
        check_schedule("polystep", "step_radius", "geometric", 0.1, 0.0, positive=False)
