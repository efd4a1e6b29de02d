"""The incremental (sparse-change) evaluation of every neural adapter against the dense forward:
each layer's weights and biases, several changes on one unit, changes on every layer at once,
PolyStep/CGE/GA requests, and a candidate that changes nothing (exactly the base loss).

Tiny nets on small minibatches, so the file runs in seconds after numba's first compilation
(cached on disk)."""
import numpy as np
import pytest
import torch

from blackbox.population import Deltas
from blackbox.problems.neural import models as M

ADAPTERS = [M.Int8MLP, M.BinaryMLP, M.StaircaseMLP, M.ArgmaxAttention, M.HardMoE]


class DeepMLP(M.Int8MLP):
    """A three-layer net like the paper architectures (784-h relu -> quantized h x h, quantized
    relu -> h-10 int8 weights), described to the engine as three ``Linear`` layers: exercises the
    path where moved images of one hidden layer move every unit of the next."""

    name = "deep-mlp"

    def blocks(self):
        h = self.config.hidden
        return [("w1", (784, h)), ("b1", (h,)), ("w2", (h, h)), ("b2", (h,)), ("w3", (h, 10)), ("b3", (10,))]

    def _wq(self, W):
        return M.fake_quant(W, self.config.w_step, -127, 127)

    def forward(self, p, x, smooth=False):
        c = self.config
        h = torch.relu(p.linear(x, "w1", "b1", shared=True))
        h = M.fake_quant(torch.relu(p.linear(h, "w2", "b2", shared=False, weight_fn=self._wq)), c.a_step, 0, 255)
        return p.linear(h, "w3", "b3", shared=False, weight_fn=self._wq)

    def incremental_net(self):
        from blackbox.problems.neural.incremental import Linear, MLPNet
        c = self.config
        return MLPNet((Linear("w1", "b1", "relu"), Linear("w2", "b2", "quant-relu", step=c.a_step, hi=255, weight_fn=self._wq),
                       Linear("w3", "b3", weight_fn=self._wq)))


EXTRA = {M.ArgmaxAttention: dict(hidden=6, heads=3), M.HardMoE: dict(hidden=5, experts=3),
         M.Int8MLP: dict(w_step=0.02, a_step=0.1), DeepMLP: dict(w_step=0.02, a_step=0.1)}


@pytest.fixture(scope="module")
def problems(shared_data):
    """The tiny problems; numba's and torch's thread counts are restored afterwards (the problems
    set them, and numba-parallel solver kernels elsewhere depend on them)."""
    import numba
    threads = numba.get_num_threads(), torch.get_num_threads()
    out = {}
    for cls in ADAPTERS + [DeepMLP]:
        cfg = dict(hidden=8, batch_size=48, train_subset=1500, val_size=200, data_dir=str(shared_data))
        cfg.update(EXTRA.get(cls, {}))
        out[cls] = cls(cls.Config(**cfg))
    yield out
    numba.set_num_threads(threads[0])  # numba first: setting it resets torch's count
    torch.set_num_threads(threads[1])


def start_point(p, rng):
    """The initial point with non-zero biases (zero biases sit exactly on sign boundaries)."""
    x0 = p.initial(rng)
    for name, start, shape in p.layout:
        if len(shape) == 1 or name in ("b2", "pos"):
            x0[start:start + int(np.prod(shape))] = rng.normal(0, 0.3, int(np.prod(shape)))
    return x0


def every_kind_of_change(p, rng):
    """Candidates as index lists: nothing; one change in each layout entry; two changes on one
    unit (same output column) of each matrix; one change in every entry at once; a whole column
    and a whole row of each matrix (GA units); a first-layer change with a whole column of the
    last matrix; 2 neighbouring coordinates (a PolyStep particle); 30 anywhere."""
    cands = [[]]
    for name, start, shape in p.layout:
        n = int(np.prod(shape))
        cands.append([start + int(rng.integers(n))])
        if len(shape) >= 2:
            cols = n // shape[0]
            rows = rng.choice(shape[0], 2, replace=False)
            col = int(rng.integers(cols))
            cands.append([start + int(r) * cols + col for r in rows])
    cands.append([start + int(rng.integers(int(np.prod(shape)))) for _, start, shape in p.layout])
    mats = [(start, shape[0], int(np.prod(shape)) // shape[0]) for _, start, shape in p.layout if len(shape) >= 2]
    for start, rows, cols in mats:  # GA units: a whole column, a whole row
        col, row = int(rng.integers(cols)), int(rng.integers(rows))
        cands += [[start + r * cols + col for r in range(rows)], [start + row * cols + c for c in range(cols)]]
    start, rows, cols = mats[-1]  # moved inputs and many weight changes in one layer
    first = mats[0][0] + int(rng.integers(mats[0][1] // 3, mats[0][1] * 2 // 3)) * mats[0][2] + 1  # a middle pixel
    cands.append([first] + [start + r * cols + 1 for r in range(rows)])
    s = int(rng.integers(p.dim - 1))
    cands += [[s, s + 1], list(rng.choice(p.dim, 30, replace=False))]
    return cands


def request(x0, cands, rng, scale):
    offsets = np.r_[0, np.cumsum([len(c) for c in cands])].astype(np.int64)
    idx = np.concatenate([np.asarray(c, np.int64) for c in cands])
    return Deltas(x0, offsets, idx, x0[idx] + scale * rng.standard_normal(idx.size))


@pytest.mark.parametrize("cls", ADAPTERS + [DeepMLP], ids=lambda c: c.name)
def test_incremental_equals_dense_for_every_kind_of_change(cls, problems):
    p = problems[cls]
    assert "deltas" in p.capabilities and p.incremental_net() is not None
    rng = np.random.default_rng(3)
    x0 = start_point(p, rng)
    cands = every_kind_of_change(p, rng)
    for scale in (0.5, 0.02):  # large moves (signs and levels cross) and small ones (most do not)
        d = request(x0, cands * 2, rng, scale)
        fast, dense = p.evaluate_deltas(d, seed=5), p.evaluate(d.dense(), seed=5)
        torch.testing.assert_close(fast, dense, rtol=1e-6, atol=1e-7)
        assert fast[0] == p.evaluate(x0[None], seed=5)[0]  # nothing changed: exactly the base loss
    assert len(set(np.round(dense.numpy(), 7).tolist())) > len(cands) // 2  # the changes do move the loss


@pytest.mark.parametrize("cls", ADAPTERS, ids=lambda c: c.name)
@pytest.mark.parametrize("solver", ["polystep", "cge", "ga"])
def test_incremental_equals_dense_on_solver_requests(cls, solver, problems):
    """The Deltas a solver actually asks (PolyStep particles, CGE central differences of single
    coordinates, GA point/unit mutations and crossovers) after a few generations."""
    from blackbox.driver import make_solver, with_problem_defaults
    from blackbox.solver import Spec
    p = problems[cls]
    s = make_solver(solver, Spec.of(p), with_problem_defaults(p, solver, None))
    state = s.init(start_point(p, np.random.default_rng(0)), seed=1)
    for gen in range(3):
        req, state = s.ask(state)
        if not isinstance(req, Deltas):  # the GA's initial elites
            state = s.tell(state, req, np.asarray(p.evaluate(req.dense(), seed=gen)))
            continue
        fast = p.evaluate_deltas(req, seed=gen)
        part = req.take(0, min(len(req), 200))  # CGE asks for every coordinate: check a slice densely
        torch.testing.assert_close(fast[:len(part)], p.evaluate(part.dense(), seed=gen), rtol=1e-6, atol=1e-7)
        state = s.tell(state, req, np.asarray(fast))


def test_quantized_moves_that_cross_no_level_cost_nothing(problems):
    """An int8 weight moved by less than half a quantum keeps its level: the candidate is the
    base net, and its loss is exactly the base loss."""
    p = problems[M.Int8MLP]
    x0 = start_point(p, np.random.default_rng(4))
    step = p.config.w_step
    x0[:p.dim - 10] = np.round(x0[:p.dim - 10] / step) * step  # weights on their levels
    idx = np.arange(0, 2000, 7, dtype=np.int64)
    d = Deltas(x0, np.arange(idx.size + 1, dtype=np.int64), idx, x0[idx] + 0.3 * step)
    base = p.evaluate(x0[None], seed=2)[0]
    assert (p.evaluate_deltas(d, seed=2) == base).all()


def test_base_forward_is_reused_only_for_the_same_base_and_minibatch(problems):
    from blackbox.problems.neural import incremental
    p = problems[M.Int8MLP]
    assert p.incremental_net() == p.incremental_net()  # equal descriptions: the cache can hit
    rng = np.random.default_rng(8)
    x0 = start_point(p, rng)
    x1 = x0.copy()
    x1[5] += 0.5
    cands = every_kind_of_change(p, rng)
    for base, seed in ((x0, 1), (x0, 1), (x0, 2), (x1, 2)):
        d = request(base, cands, rng, 0.3)
        torch.testing.assert_close(p.evaluate_deltas(d, seed=seed), p.evaluate(d.dense(), seed=seed), rtol=1e-6, atol=1e-7)
    assert incremental._CACHE["base"][5] == x1[5]


def test_description_errors_are_clear(problems):
    from blackbox.problems.neural.incremental import Linear
    with pytest.raises(ValueError, match="Linear.act"):
        Linear("w1", act="tanh")
    from blackbox.problems.neural.incremental import MoENet, evaluate_deltas
    with pytest.raises(ValueError, match="router layer must have act='identity'"):
        moe = problems[M.HardMoE]
        x0 = moe.initial(np.random.default_rng(0))
        evaluate_deltas(moe, MoENet(Linear("wr", "br", "relu"), Linear("w1", "b1", "relu"), "w2", "b2"),
                        Deltas(x0, np.array([0, 1]), np.array([0]), np.array([0.5])))
