"""The PolyStep paper's architectures (``arch="paper"``) of the neural problems: weight counts of the
paper's table, the hard forward against a plain per-candidate reference written here from the
paper's model code, the smooth twins, the low-rank path, the arch defaults and the CLI.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT

from blackbox.population import Block, LowRank
from blackbox.problems.neural import models as M
from blackbox.problems.neural.base import DenseParams

PAPER = {M.SpikingMLP: 101_770, M.Int8MLP: 118_282, M.ArgmaxAttention: 119_306, M.StaircaseMLP: 118_282,
         M.HardMoE: 235_672}
_cache = {}


def paper(cls, data, **kw):
    key = (cls, tuple(sorted(kw.items())))
    if key not in _cache:
        cfg = dict(arch="paper", train_subset=2000, val_size=200, data_dir=str(data))
        cfg.update(kw)
        _cache[key] = cls(cls.Config(**cfg))
    return _cache[key]


def population(p, n=3, scale=0.3, seed=0):
    rng = np.random.default_rng(seed)
    x0 = p.initial(rng)
    for name, start, shape in p.layout:  # non-zero biases, so that they matter
        if len(shape) == 1 or name.startswith("eb"):
            x0[start:start + int(np.prod(shape))] = rng.normal(0, 0.2, int(np.prod(shape)))
    return x0 + scale * rng.standard_normal((n, p.dim)) * np.abs(x0).mean()


# -- straightforward references, one candidate at a time, from the paper's model code --------------
def unpack(p, vec):
    return {name: torch.from_numpy(np.asarray(vec[start:start + int(np.prod(shape))], np.float32)).reshape(shape)
            for name, start, shape in p.layout}


def ref_snn(w, x, steps, beta):
    """SpikingMNISTNet: mem = beta mem + I; spike = mem >= 1; mem = mem (1 - spike); logits = spike sums."""
    mem1, mem2 = torch.zeros(len(x), w["w1"].shape[1]), torch.zeros(len(x), w["w2"].shape[1])
    total = torch.zeros(len(x), w["w2"].shape[1])
    cur1 = x @ w["w1"] + w["b1"]
    for _ in range(steps):
        mem1 = beta * mem1 + cur1
        spk1 = (mem1 >= 1.0).float()
        mem1 = mem1 * (1 - spk1)
        mem2 = beta * mem2 + (spk1 @ w["w2"] + w["b2"])
        spk2 = (mem2 >= 1.0).float()
        mem2 = mem2 * (1 - spk2)
        total = total + spk2
    return total


def ref_int8(w, x):
    q = lambda t: torch.clamp(torch.round(t / 0.01), -128, 127) * 0.01  # noqa: E731
    h = torch.relu(x @ w["w1"] + w["b1"])
    h = torch.relu(h @ q(w["wq"]) + q(w["bq"]))
    return h @ w["w2"] + w["b2"]


def ref_attention(w, x):
    h = torch.relu(x @ w["w1"] + w["b1"])
    keys = w["k"].T  # (slots, H)
    out = []
    for b in range(len(x)):  # one image at a time, as the definition reads
        slot = int(torch.argmax(h[b] @ keys.T))
        out.append((h[b] @ w["wv"] + w["bv"]) * torch.sigmoid(keys[slot]))
    return torch.stack(out) @ w["wo"] + w["bo"]


def ref_staircase(w, x):
    stair = lambda z: torch.floor(torch.sigmoid(z) * 5) / 5  # noqa: E731
    h = stair(x @ w["w1"] + w["b1"])
    h = stair(h @ w["w2"] + w["b2"])
    return h @ w["w3"] + w["b3"]


def ref_moe(w, x):
    h = torch.relu(x @ w["w1"] + w["b1"])
    H = h.shape[1]
    out = []
    for b in range(len(x)):
        e = int(torch.argmax(h[b] @ w["wg"] + w["bg"]))
        z = torch.relu(h[b] @ w["ew1"][:, e * H:(e + 1) * H] + w["eb1"][e * H:(e + 1) * H])
        out.append(z @ w["ew2"][e] + w["eb2"][e])
    return torch.stack(out) @ w["wo"] + w["bo"]


# -- tests ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", list(PAPER), ids=lambda c: c.name)
def test_weight_counts_are_the_papers(cls, shared_data):
    p = paper(cls, shared_data)
    assert p.dim == PAPER[cls] == sum(int(np.prod(s)) for _, _, s in p.layout)
    assert p.config.hidden == 128
    assert len(set(p.initial(np.random.default_rng(0)))) > 1000


@pytest.mark.parametrize("cls,ref", [(M.Int8MLP, ref_int8), (M.ArgmaxAttention, ref_attention),
                                     (M.StaircaseMLP, ref_staircase), (M.HardMoE, ref_moe)],
                         ids=["int8-mlp", "argmax-attn", "staircase-mlp", "hard-moe"])
def test_hard_forward_equals_the_reference(cls, ref, shared_data):
    p = paper(cls, shared_data)
    pop = population(p)
    x, _ = p.batch(3)
    logits = p.forward(DenseParams(torch.from_numpy(pop).float(), p._layout), x)
    expect = torch.stack([ref(unpack(p, v), x) for v in pop])
    torch.testing.assert_close(logits, expect, rtol=1e-4, atol=1e-4)
    assert logits.std() > 0


@pytest.mark.parametrize("kernel", ["numba", "torch"])
def test_snn_paper_forward_equals_the_papers_lif(kernel, shared_data):
    """Spike on ``mem >= threshold`` then ``mem *= 1 - spike`` (the paper) is our reset-to-zero LIF
    (spike on ``>``): they differ only when a membrane equals the threshold exactly."""
    p = paper(M.SpikingMLP, shared_data, kernel=kernel)
    assert (p.config.steps, p.config.beta, p.config.batch_size) == (15, 0.95, 512)
    pop = population(p, scale=0.5)
    x, _ = p.batch(1)
    counts = p.forward(DenseParams(torch.from_numpy(pop).float(), p._layout), x)
    expect = torch.stack([ref_snn(unpack(p, v), x, 15, 0.95) for v in pop])
    assert expect.sum() > 0 and (expect < 15).any()  # spikes, not saturated
    assert (counts != expect).float().mean() < 1e-3  # a last-bit rounding difference may flip a rare spike


@pytest.mark.parametrize("cls", list(PAPER), ids=lambda c: c.name)
def test_smooth_twin_differs_and_is_differentiable(cls, shared_data):
    p = paper(cls, shared_data)
    vec = torch.from_numpy(population(p, n=1)[0]).float()
    x, y = p.batch(0)
    hard = p.forward(DenseParams(vec.reshape(1, -1), p._layout), x)
    params = vec.clone().requires_grad_(True)
    soft = p.forward(DenseParams(params.reshape(1, -1), p._layout), x, smooth=True)
    assert not torch.allclose(hard, soft.detach())
    loss = p.surrogate_loss_torch(params, (x, y))
    loss.backward()
    assert torch.isfinite(loss)
    for name, start, shape in p.layout:  # every weight matrix gets a gradient through the twin
        if len(shape) >= 2:
            assert params.grad[start:start + int(np.prod(shape))].abs().sum() > 0, name


def lowrank_request(p, rng, pop=3, r=2):
    blocks = []
    for name, start, shape in p.layout:
        rows, cols = (shape[0], int(np.prod(shape[1:]))) if len(shape) > 1 else (1, shape[0])
        blocks.append(Block(start, rows, cols, 0.05 * rng.standard_normal((pop, rows, r)),
                            0.05 * rng.standard_normal((pop, cols, r))))
    return LowRank(p.initial(rng), blocks)


@pytest.mark.parametrize("cls", list(PAPER), ids=lambda c: c.name)
def test_lowrank_path_equals_dense(cls, shared_data):
    p = paper(cls, shared_data)
    assert "lowrank" in p.capabilities  # the plain first layer takes the factored product
    lr = lowrank_request(p, np.random.default_rng(7))
    torch.testing.assert_close(p.evaluate_lowrank(lr, seed=2), p.evaluate(lr.dense(), seed=2), rtol=1e-4, atol=1e-5)


def test_arch_defaults_apply_unless_set(shared_data):
    snn = M.SpikingMLP.resolve(M.SNNConfig(arch="paper", steps=10))
    assert (snn.steps, snn.beta, snn.batch_size) == (10, 0.95, 512)
    ours = M.SpikingMLP.resolve(M.SNNConfig())
    assert (ours.steps, ours.beta, ours.batch_size) == (8, 0.9, 256)
    assert paper(M.ArgmaxAttention, shared_data).config.dataset == "fashion"
    assert paper(M.ArgmaxAttention, shared_data).classes == 10
    assert M.ArgmaxAttention.resolve(M.AttentionConfig(arch="paper", dataset="mnist")).dataset == "mnist"
    ours = M.ArgmaxAttention.resolve(None)
    assert (ours.dataset, ours.hidden) == ("mnist", 32)
    assert M.StaircaseMLP.resolve(M.StaircaseConfig(arch="paper")).levels == 5
    assert M.StaircaseMLP.resolve(None).levels == 4
    assert M.Int8MLP.resolve(M.Int8Config(arch="paper")).w_step == 0.01
    assert (M.HardMoE.resolve(M.MoEConfig(arch="paper")).hidden, M.HardMoE.resolve(None).hidden) == (128, 32)
    assert paper(M.HardMoE, shared_data).classes == 20


def test_bad_arch_is_a_clear_error(shared_data):
    with pytest.raises(ValueError, match="arch must be one of ours, paper, got 'papr'"):
        M.Int8MLP(M.Int8Config(arch="papr", data_dir=str(shared_data)))
    with pytest.raises(ValueError, match="binary-mlp: arch must be one of ours"):
        M.BinaryMLP(M.BinaryConfig(arch="paper", data_dir=str(shared_data)))


ENV = dict(os.environ, PYTHONPATH=str(ROOT), CI="true")


def test_cli_solve_with_arch_paper(tmp_path, shared_data):
    out = tmp_path / "r.json"
    p = subprocess.run([sys.executable, "-m", "blackbox", "solve", "int8-mlp", "--arch", "paper", "--evals", "200",
                        "--train-subset", "1000", "--val-size", "200", "--data-dir", str(shared_data),
                        "--out", str(out)], capture_output=True, text=True, timeout=300, env=ENV, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    d = json.loads(out.read_text())
    assert d["dim"] == 118_282 and d["problem_config"]["arch"] == "paper" and d["problem_config"]["w_step"] == 0.01
    assert 0 <= d["test_metrics"]["test_accuracy"] <= 1
    snn = tmp_path / "snn.json"
    p = subprocess.run([sys.executable, "-m", "blackbox", "solve", "snn", "--arch", "paper", "--steps", "10", "--evals", "50",
                        "--train-subset", "1000", "--val-size", "200", "--data-dir", str(shared_data),
                        "--out", str(snn)], capture_output=True, text=True, timeout=300, env=ENV, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    cfg = json.loads(snn.read_text())["problem_config"]
    assert (cfg["steps"], cfg["beta"], cfg["batch_size"]) == (10, 0.95, 512)  # the flag wins, the rest are the paper's
    bad = subprocess.run([sys.executable, "-m", "blackbox", "solve", "snn", "--arch", "nope", "--evals", "10",
                          "--data-dir", str(shared_data)], capture_output=True, text=True, timeout=300, env=ENV, cwd=ROOT)
    assert bad.returncode != 0 and "arch must be one of ours, paper" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("cls", list(PAPER), ids=lambda c: c.name)
def test_deltas_path_equals_dense(cls, shared_data):
    from blackbox.population import Deltas
    p = paper(cls, shared_data)
    rng = np.random.default_rng(8)
    x0 = p.initial(rng)
    counts = np.array([0, 1, 3, 20])
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int64)
    idx = np.concatenate([rng.choice(p.dim, k, replace=False) for k in counts]).astype(np.int64)
    d = Deltas(x0, offsets, idx, x0[idx] + 0.3 * rng.standard_normal(idx.size))
    torch.testing.assert_close(p.evaluate_deltas(d, seed=1), p.evaluate(d.dense(), seed=1), rtol=1e-4, atol=1e-5)


HARD = {M.SpikingMLP: ["w1", "b1", "w2", "b2"], M.Int8MLP: ["wq", "bq"], M.ArgmaxAttention: [],
        M.StaircaseMLP: ["w1", "b1", "w2", "b2"], M.HardMoE: ["wg", "bg"]}


@pytest.mark.parametrize("cls", list(PAPER), ids=lambda c: c.name)
def test_hard_parts_have_no_gradient(cls, shared_data):
    """Quantized weights, staircase layers, spikes and the MoE gate reach the loss only through
    piecewise-constant functions (attention's keys also gate through a sigmoid, so they keep one)."""
    p = paper(cls, shared_data)
    params = torch.from_numpy(population(p, n=1)[0]).float().requires_grad_(True)
    logits = p.forward(DenseParams(params.reshape(1, -1), p._layout), p.batch(0)[0])
    if not logits.requires_grad:
        assert cls is M.SpikingMLP
        return
    (g,) = torch.autograd.grad(logits.sum(), params)
    for name in HARD[cls]:
        start, shape = p._layout[name]
        assert not g[start:start + int(np.prod(shape))].any(), name
    assert g.abs().sum() > 0
