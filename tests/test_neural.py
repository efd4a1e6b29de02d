"""Neural adapters: IDX loader, batched forwards, low-rank path, snntorch equivalence, hard forwards.

Tiny nets on small slices of the real data (train_subset), so the whole file runs in seconds.
"""
import gzip
import struct

import numpy as np
import pytest

import torch  # noqa: E402  (the test extra installs it: fail, never skip)

from blackbox.evaluator import InProcessEvaluator  # noqa: E402
from blackbox.population import Block, Dense, LowRank  # noqa: E402
from blackbox.problems import data as D  # noqa: E402
from blackbox.problems.neural import models as M  # noqa: E402
from blackbox.problems.neural.base import DenseParams  # noqa: E402

ALL = [M.SpikingMLP, M.Int8MLP, M.BinaryMLP, M.ArgmaxAttention, M.StaircaseMLP, M.HardMoE]
LOWRANK = [c for c in ALL if "lowrank" in c.capabilities]


def tiny(cls, data, **kw):
    cfg = dict(hidden=8, batch_size=32, train_subset=1500, val_size=200, data_dir=str(data))
    cfg.update(kw)
    return cls(cls.Config(**cfg))


@pytest.fixture(scope="module")
def data(shared_data):
    return shared_data


_cache = {}


def problem(cls, data):
    if cls not in _cache:
        _cache[cls] = tiny(cls, data)
    return _cache[cls]


# -- loader --------------------------------------------------------------------------------------
def write_idx(path, arr, magic=None):
    arr = np.asarray(arr, dtype=np.uint8)
    magic = magic if magic is not None else (0x0800 | arr.ndim)
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes())


def fake_dataset(root, sub="mnist", n=50):
    d = root / sub
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for part, m in (("train", n), ("t10k", n // 2)):
        write_idx(d / f"{part}-images-idx3-ubyte.gz", rng.integers(0, 256, (m, 28, 28)))
        write_idx(d / f"{part}-labels-idx1-ubyte.gz", rng.integers(0, 10, m))
    return d


def test_idx_roundtrip_and_load(tmp_path):
    fake_dataset(tmp_path)
    x, y = D.load("mnist", "train", tmp_path)
    assert x.shape == (50, 784) and y.shape == (50,) and x.dtype == np.uint8
    xt, _ = D.load("mnist", "test", tmp_path)
    assert xt.shape == (25, 784)


def test_corrupt_idx_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.gz"
    write_idx(bad, np.zeros((3, 2, 2)), magic=0x12345678)
    with pytest.raises(D.DataError, match="bad IDX magic"):
        D.read_idx(bad)
    short = tmp_path / "short.gz"
    with gzip.open(short, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, 5, 28, 28) + b"\0" * 10)
    with pytest.raises(D.DataError, match="IDX header says"):
        D.read_idx(short)
    notgz = tmp_path / "x.gz"
    notgz.write_bytes(b"not gzip at all")
    with pytest.raises(D.DataError, match="corrupt"):
        D.read_idx(notgz)


def test_missing_dir_message_says_where_to_put_files(tmp_path):
    with pytest.raises(D.DataError) as e:
        D.find_dir("fashion", tmp_path / "nowhere")
    msg = str(e.value)
    assert "fashion-mnist" in msg and "BLACKBOX_DATA" in msg and "../shared/data" in msg and "\n" not in msg


def test_split_is_deterministic_and_disjoint():
    a_tr, a_va = D.split(1000, 100, seed=3)
    b_tr, b_va = D.split(1000, 100, seed=3)
    c_tr, c_va = D.split(1000, 100, seed=4)
    np.testing.assert_array_equal(a_va, b_va)
    assert not set(a_va) & set(a_tr) and len(a_va) + len(a_tr) == 1000 and len(set(a_tr) | set(a_va)) == 1000
    assert not np.array_equal(a_va, c_va)


def test_real_data_present(data):
    x, y = D.load("mnist", "train", data)
    assert x.shape == (60000, 784) and set(np.unique(y)) == set(range(10))
    x, y = D.load_many(["mnist", "fashion"], "test", data)
    assert x.shape == (20000, 784) and y.max() == 19


# -- adapters ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_shapes_layout_and_determinism(cls, data):
    p = problem(cls, data)
    assert p.dim == sum(int(np.prod(s)) for _, _, s in p.layout)
    starts = [s for _, s, _ in p.layout]
    assert starts == sorted(starts) and starts[0] == 0
    rng = np.random.default_rng(0)
    x0 = p.initial(rng)
    pop = x0 + 0.1 * rng.standard_normal((5, p.dim))
    x, _ = p.batch(0)
    logits = p.forward(DenseParams(torch.from_numpy(pop).float(), p._layout), x)
    assert logits.shape == (5, 32, p.classes)
    a, b = p.evaluate(pop, seed=1), p.evaluate(torch.from_numpy(pop), seed=1)
    assert a.shape == (5,) and torch.equal(a, b)
    assert not torch.equal(p.evaluate(pop, seed=1), p.evaluate(pop, seed=2))  # another minibatch
    m = p.metrics(x0)
    assert 0 <= m["val_accuracy"] <= 1 and np.isfinite(p.validation_loss(x0))


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_batched_equals_per_candidate_loop(cls, data):
    p = problem(cls, data)
    rng = np.random.default_rng(1)
    pop = p.initial(rng) + 0.2 * rng.standard_normal((6, p.dim))
    batched = p.evaluate(pop, seed=4)
    loop = torch.cat([p.evaluate(pop[i:i + 1], seed=4) for i in range(6)])
    torch.testing.assert_close(batched, loop, rtol=1e-5, atol=1e-5)


def test_chunking_does_not_change_losses(data):
    p = tiny(M.StaircaseMLP, data, chunk=2)
    rng = np.random.default_rng(2)
    pop = p.initial(rng) + 0.2 * rng.standard_normal((5, p.dim))
    torch.testing.assert_close(p.evaluate(pop, seed=0), problem(M.StaircaseMLP, data).evaluate(pop, seed=0))


def lowrank_request(p, rng, pop=4, r=2, rest=False, scale=0.1):
    blocks = []
    for name, start, shape in p.layout:
        if len(shape) == 2:
            blocks.append(Block(start, shape[0], shape[1], scale * rng.standard_normal((pop, shape[0], r)),
                                scale * rng.standard_normal((pop, shape[1], r))))
        elif len(shape) == 1:  # a bias as a 1 x n block, as PolyStep sends it
            blocks.append(Block(start, 1, shape[0], scale * rng.standard_normal((pop, 1, r)),
                                scale * rng.standard_normal((pop, shape[0], r))))
    return LowRank(p.initial(rng), blocks, 0.01 * rng.standard_normal((pop, p.dim)) if rest else None)


@pytest.mark.parametrize("rest", [False, True])
@pytest.mark.parametrize("cls", LOWRANK, ids=lambda c: c.name)
def test_lowrank_equals_dense(cls, data, rest):
    p = problem(cls, data)
    lr = lowrank_request(p, np.random.default_rng(3), rest=rest)
    torch.testing.assert_close(p.evaluate_lowrank(lr, seed=5), p.evaluate(lr.dense(), seed=5), rtol=1e-4, atol=1e-5)
    ev = InProcessEvaluator(strict=True)
    np.testing.assert_allclose(ev.evaluate(p, lr, seed=5).losses, ev.evaluate(p, Dense(lr.dense()), seed=5).losses, rtol=1e-4, atol=1e-5)


def test_lowrank_that_misses_the_layout_falls_back_to_dense(data):
    p = problem(M.SpikingMLP, data)
    rng = np.random.default_rng(4)
    x0 = p.initial(rng)
    lr = LowRank(x0, [Block(3, 2, 5, rng.standard_normal((3, 2, 1)), rng.standard_normal((3, 5, 1)))])
    torch.testing.assert_close(p.evaluate_lowrank(lr, seed=0), p.evaluate(lr.dense(), seed=0))


# -- spiking net -------------------------------------------------------------------------------------
def test_lif_equals_snntorch_leaky_reset_zero():
    import snntorch as snn
    rng = np.random.default_rng(0)
    cur = torch.from_numpy(rng.uniform(-0.5, 1.5, (6, 3, 4, 7)).astype(np.float32))  # (pop, T, B, n)
    leaky = snn.Leaky(beta=0.8, threshold=1.0, reset_mechanism="zero")
    ref = []
    for p in range(cur.shape[0]):
        mem = leaky.reset_mem()
        spikes = []
        for t in range(cur.shape[1]):
            spk, mem = leaky(cur[p, t], mem)
            spikes.append(spk)
        ref.append(torch.stack(spikes))
    ref = torch.stack(ref)
    assert ref.sum() > 0 and ref.sum() < ref.numel()  # some spikes, not all
    torch.testing.assert_close(M.lif(cur, 3, 0.8, 1.0, constant=False), ref, rtol=0, atol=0)
    const = cur[:, 0]
    torch.testing.assert_close(M.lif(const, 5, 0.8, 1.0, constant=True),
                               M.lif(const.unsqueeze(1).expand(-1, 5, -1, -1), 5, 0.8, 1.0, constant=False))


def test_snn_numba_kernel_equals_torch_recurrence(data):
    a = tiny(M.SpikingMLP, data, hidden=16, steps=6)
    b = tiny(M.SpikingMLP, data, hidden=16, steps=6, kernel="torch")
    rng = np.random.default_rng(5)
    pop = a.initial(rng) + 0.05 * rng.standard_normal((4, a.dim))
    torch.testing.assert_close(a.evaluate(pop, seed=2), b.evaluate(pop, seed=2))
    lr = lowrank_request(a, rng, scale=0.2)
    torch.testing.assert_close(a.evaluate_lowrank(lr, seed=2), b.evaluate(lr.dense(), seed=2))


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_hard_forward_has_no_gradient_path(cls, data):
    p = problem(cls, data)
    params = torch.from_numpy(p.initial(np.random.default_rng(0))).float().requires_grad_(True)
    x, y = p.batch(0)
    logits = p.forward(DenseParams(params.reshape(1, -1), p._layout), x)
    if logits.requires_grad:  # only parameters that enter after the last hard op may have a gradient
        (g,) = torch.autograd.grad(logits.sum(), params, allow_unused=True)
        hard_first = {"snn": "w1", "int8-mlp": "w1", "binary-mlp": "w1", "argmax-attn": "wk",
                      "staircase-mlp": "w1", "hard-moe": "wr"}[p.name]
        start, shape = p._layout[hard_first]
        assert g is None or not g[start:start + int(np.prod(shape))].any()
    if p.name == "snn":
        assert not logits.requires_grad  # spike counts: no gradient anywhere


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_smooth_twin_is_differentiable_everywhere(cls, data):
    p = problem(cls, data)
    params = torch.from_numpy(p.initial(np.random.default_rng(0))).float().requires_grad_(True)
    loss = p.surrogate_loss_torch(params, p.batch(0))
    loss.backward()
    start, shape = p.layout[0][1], p.layout[0][2]
    assert torch.isfinite(loss) and params.grad[start:start + int(np.prod(shape))].abs().sum() > 0


def test_test_data_is_read_only_by_test_metrics(data, monkeypatch):
    parts = []
    real = D.load

    def spy(name, part="train", data_dir=None):
        parts.append(part)
        return real(name, part, data_dir)

    monkeypatch.setattr(D, "load", spy)
    p = tiny(M.StaircaseMLP, data)
    x0 = p.initial(np.random.default_rng(0))
    p.evaluate(x0[None], seed=0)
    p.metrics(x0)
    p.validation_loss(x0)
    assert "test" not in parts
    t = p.test_metrics(x0)
    assert parts.count("test") == 1 and 0 <= t["test_accuracy"] <= 1


def test_minibatch_is_a_pure_function_of_the_seed(data):
    p, q = problem(M.Int8MLP, data), tiny(M.Int8MLP, data)
    xa, ya = p.batch(11)
    p.batch(12)
    xb, yb = q.batch(11)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(p.batch(12)[1], ya) or not torch.equal(p.batch(12)[0], xa)


def test_hard_moe_has_twenty_classes(data):
    p = problem(M.HardMoE, data)
    assert p.classes == 20 and int(p._y_train.max()) >= 10


def test_config_errors_name_the_field(data):
    with pytest.raises(ValueError, match="kernel"):
        tiny(M.SpikingMLP, data, kernel="cuda")
    with pytest.raises(ValueError, match="patch"):
        tiny(M.ArgmaxAttention, data, patch=5)
    with pytest.raises(ValueError, match="hidden"):
        tiny(M.Int8MLP, data, hidden=0)


def test_snn_torch_recurrence_is_hard_too(data):
    p = tiny(M.SpikingMLP, data, kernel="torch")
    params = torch.from_numpy(p.initial(np.random.default_rng(0))).float().requires_grad_(True)
    logits = p.forward(DenseParams(params.reshape(1, -1), p._layout), p.batch(0)[0])
    assert not logits.requires_grad  # thresholds are comparisons: the graph is cut at every spike


@pytest.mark.parametrize("cls", LOWRANK, ids=lambda c: c.name)
def test_deltas_equal_dense(cls, data):
    from blackbox.population import Deltas
    p = problem(cls, data)
    rng = np.random.default_rng(6)
    x0 = p.initial(rng)
    counts = np.array([0, 1, 2, 5, 40])  # unchanged, one change, ... many changes in one entry
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int64)
    idx = np.concatenate([rng.choice(p.dim, k, replace=False) for k in counts]).astype(np.int64)
    d = Deltas(x0, offsets, idx, x0[idx] + 0.3 * rng.standard_normal(idx.size))
    torch.testing.assert_close(p.evaluate_deltas(d, seed=3), p.evaluate(d.dense(), seed=3), rtol=1e-4, atol=1e-5)
    small = tiny(cls, data, chunk=2)  # conversion in chunks
    torch.testing.assert_close(small.evaluate_deltas(d, seed=3), p.evaluate(d.dense(), seed=3), rtol=1e-4, atol=1e-5)


def test_snn_deltas_kernel_matches_dense_for_every_kind_of_change(data):
    """The incremental SNN path (only touched neurons and images recomputed) against the dense
    forward: first-layer weights and biases, output weights and biases, several changes on one
    neuron, a candidate that changes nothing (exactly the base loss)."""
    from blackbox.population import Deltas
    p = tiny(M.SpikingMLP, data, hidden=16, batch_size=64, init_gain=3.0)
    H, C = 16, 10
    w1, b1, w2, b2 = (p._layout[n][0] for n in ("w1", "b1", "w2", "b2"))
    rng = np.random.default_rng(11)
    x0 = p.initial(rng)
    x0[b1:b1 + H] = rng.normal(0, 0.3, H)
    x0[b2:b2 + C] = rng.normal(0, 0.3, C)
    cands = [[], [w1 + 300 * H + 3], [w1 + 300 * H + 3, w1 + 300 * H + 4], [b1 + 5], [w2 + 2 * C + 7],
             [b2 + 1], [w1 + 400 * H + 9, w1 + 401 * H + 9, b1 + 9, w2 + 9 * C + 2, b2 + 0],
             list(rng.choice(p.dim, 30, replace=False))]
    offsets = np.r_[0, np.cumsum([len(c) for c in cands])].astype(np.int64)
    idx = np.concatenate([np.asarray(c, np.int64) for c in cands])
    d = Deltas(x0, offsets, idx, x0[idx] + rng.normal(0, 0.5, idx.size))
    fast, dense = p.evaluate_deltas(d, seed=4), p.evaluate(d.dense(), seed=4)
    torch.testing.assert_close(fast, dense, rtol=1e-6, atol=1e-7)
    assert fast[0] == dense[0]
    assert len(set(dense.tolist())) > 4  # the changes do move the loss
    slow = tiny(M.SpikingMLP, data, hidden=16, batch_size=64, init_gain=3.0, kernel="torch")
    torch.testing.assert_close(slow.evaluate_deltas(d, seed=4), dense, rtol=1e-4, atol=1e-5)


def test_snn_keeps_torch_at_the_configured_threads(data):
    """numba's OpenMP layer resets torch's thread count when numba's is set; a 1-thread problem
    must leave torch at 1 (2 threads next to a busy core made small torch ops ~100x slower)."""
    tiny(M.SpikingMLP, data, threads=1)
    assert torch.get_num_threads() == 1
