"""Exact incremental evaluation of ``Deltas`` requests on the hard neural nets.

The requests PolyStep, CGE and the GA send change a handful of coordinates per candidate against
one base point. A dense forward pays the whole net per candidate; here the base point's forward
on the minibatch runs once per call (every layer's pre-activations and activations cached), and
each candidate recomputes only what its changes touch (see ``incremental_kernels``): a changed
first-layer weight (i, j) moves hidden unit j by ``x_i * dw`` on every image, and only the
images whose unit *output* moved (a quantization level, a sign, a staircase step, a routing or
attention choice) travel further; the loss is re-summed from cached per-image cross-entropies.

A net is described as data, so that a new architecture plugs in without a new kernel:

* ``Linear(weight, bias, act, ...)``: ``act(h @ weight_fn(W) + b) * scale``; ``MLPNet`` is a
  sequence of them from the pixels to the logits (int8, binary, staircase MLPs, any depth);
* ``AttentionNet``: the patch-token argmax-attention front, then a ``Linear`` tail;
* ``MoENet``: a router ``Linear`` (top-1 argmax), a hidden ``Linear`` of all experts' units
  side by side, and per-expert output weights.

Losses equal ``evaluate(request.dense())`` up to float32 rounding of the incremental sums (an
output flips only if a pre-activation lands within that rounding of a quantization, sign or
argmax boundary); a candidate that changes nothing gets exactly the base loss.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .base import DTYPE, DenseParams, _add_bias, _f32, _per_candidate_matmul, _shared_matmul

ACTS = {"identity": 0, "relu": 1, "quant-relu": 2, "sign": 3, "staircase": 4}


@dataclass(frozen=True)
class Linear:
    """One layer ``act(h @ weight_fn(W) + b) * scale`` of a net description."""

    weight: str  # layout name of the (in, out) weight matrix
    bias: str | None = None  # layout name of the (out,) bias, or None
    act: str = "identity"  # identity, relu, quant-relu, sign or staircase
    step: float = 0.0  # quant-relu: the activation quantum
    hi: float = 0.0  # quant-relu: the top level (relu(z) -> clamp(round(z / step), 0, hi) * step)
    levels: int = 0  # staircase: floor(levels * sigmoid(z)) / levels
    scale: float = 1.0  # multiplies the activation (binary net: logit_scale / sqrt(hidden))
    weight_fn: Callable | None = None  # elementwise torch transform of the weights (quantizer, sign)

    def __post_init__(self):
        if self.act not in ACTS:
            raise ValueError(f"Linear.act must be one of {', '.join(ACTS)}, got {self.act!r}")

    def torch_act(self, z: torch.Tensor) -> torch.Tensor:
        """The activation as the models' torch forwards compute it."""
        if self.act == "relu":
            z = torch.relu(z)
        elif self.act == "quant-relu":
            z = torch.clamp(torch.round(torch.relu(z) / self.step), 0, self.hi) * self.step
        elif self.act == "sign":
            z = torch.where(z >= 0, 1.0, -1.0).to(z.dtype)
        elif self.act == "staircase":
            z = torch.floor(self.levels * torch.sigmoid(z)) / self.levels
        return z if self.scale == 1.0 else z * self.scale

    def params(self) -> list:
        """(kind, p0, p1, scale) as the kernels read them."""
        p0 = self.step if self.act == "quant-relu" else float(self.levels)
        return [ACTS[self.act], p0, self.hi, self.scale]


@dataclass(frozen=True)
class MLPNet:
    """Pixels -> ``layers[0]`` -> ... -> ``layers[-1]`` (the logits, identity activation)."""

    layers: tuple  # Linear layers, the first applied to the pixels


def _check_scores(problem, layer: Linear, what: str):
    if layer.act != "identity":
        raise ValueError(f"{problem.name}: the incremental {what} layer must have act='identity', got {layer.act!r}")


@dataclass(frozen=True)
class AttentionNet:
    """Patch tokens ``E = patches @ embed + pos``; each head picks the token argmax(E @ keys[:, h])
    (first on ties); relu of the picked tokens, heads side by side, feeds ``out``."""

    embed: str  # (patch^2, d) token embedding
    pos: str  # (tokens, d) position embedding
    keys: str  # (d, heads) one score vector per head
    out: Linear  # (heads * d, classes) classifier on the picked tokens
    patch: int  # the 28x28 image is cut into (28 / patch)^2 tokens


@dataclass(frozen=True)
class MoENet:
    """Top-1 routing: image b goes to expert e = argmax(router(x_b)) (first on ties), whose hidden
    units (columns e*h ... e*h + h - 1 of ``hidden``, h = w2's middle size) feed its output weights."""

    router: Linear  # pixels -> expert scores (identity activation)
    hidden: Linear  # pixels -> all experts' hidden units side by side
    w2: str  # (experts, h, classes) output weights
    b2: str  # (experts, classes) output biases


# -- shared plumbing ---------------------------------------------------------------------------
def _threads(problem) -> int:
    """The kernels' thread count: numba's, as ``threads.pin`` set it when the problem was built."""
    from . import kernels
    return max(1, min(kernels.threads(), int(problem.config.threads)))


def _block(problem, base: torch.Tensor, name: str) -> torch.Tensor:
    start, shape = problem._layout[name]
    return base[start:start + math.prod(shape)].reshape(shape)


def _c(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(DTYPE).contiguous().numpy()


def _decode(problem, d, spec: dict, n_groups: int):
    """The changes of ``d`` sorted by (candidate, group, cj) as CSR offsets (pop * n_groups + 1) and
    per change (ci, cj, delta float32, flag). ``spec`` maps each layout name to (group, current
    matrix M (rows, cols) float32, transform or None, flag): the change at local index k is at
    (ci, cj) = divmod(k, cols) and its delta is ``transform(new) - M[ci, cj]``; changes whose
    transformed delta is zero (a quantized or sign weight that did not cross a level) are dropped."""
    idx = np.asarray(d.indices, np.int64)
    starts = np.array([s for _, s, _ in problem.layout], np.int64)
    ent = np.searchsorted(starts, idx, side="right") - 1
    cand = np.repeat(np.arange(len(d)), np.diff(np.asarray(d.offsets, np.int64)))
    new = torch.from_numpy(np.asarray(d.values, np.float64)).to(DTYPE)
    local = idx - starts[ent]
    n = idx.size
    group, ci, cj = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
    cd, cb = torch.zeros(n, dtype=DTYPE), np.zeros(n, bool)
    for e, (name, _, _) in enumerate(problem.layout):
        sel = ent == e
        if not sel.any():
            continue
        if name not in spec:
            raise ValueError(f"{problem.name}: the incremental net does not cover layout entry {name!r}")
        g, M, fn, flag = spec[name]
        i, j = np.divmod(local[sel], M.shape[1])
        nv = new[torch.from_numpy(sel)]
        cd[torch.from_numpy(sel)] = (fn(nv) if fn is not None else nv) - M[torch.from_numpy(i), torch.from_numpy(j)]
        group[sel], ci[sel], cj[sel], cb[sel] = g, i, j, flag
    cd = cd.numpy()
    keep = cd != 0
    order = np.lexsort((cj[keep], group[keep], cand[keep]))  # a column's changes side by side
    key = (cand[keep] * n_groups + group[keep])[order]
    off = np.zeros(len(d) * n_groups + 1, np.int64)
    np.cumsum(np.bincount(key, minlength=len(d) * n_groups), out=off[1:])
    return off, ci[keep][order], cj[keep][order], np.ascontiguousarray(cd[keep][order]), cb[keep][order]


def _base(problem, base: np.ndarray, seed):
    """(x, y, base float32 vector, its parameter view with a population of one)."""
    x, y = problem.batch(seed)
    base = _f32(base)
    return x, y, base, DenseParams(base.reshape(1, -1), problem._layout)


def _linear_spec(problem, base, layer: Linear, group: int, spec: dict):
    """Add a ``Linear`` layer's weight (transformed) and bias to a ``_decode`` spec; returns the
    transformed weight."""
    W = _block(problem, base, layer.weight)
    Wf = layer.weight_fn(W) if layer.weight_fn is not None else W
    spec[layer.weight] = (group, Wf, layer.weight_fn, False)
    if layer.bias:
        spec[layer.bias] = (group, _block(problem, base, layer.bias).reshape(1, -1), None, True)
    return Wf


def image_losses(logits: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Per-image cross-entropies (B,) float64 of one candidate's logits, as ``cross_entropy``."""
    from .incremental_kernels import image_cross_entropies
    return image_cross_entropies(_c(logits), y.numpy())


# The last base forward (one entry): a parallel evaluator sends a generation to each worker in
# chunks with the same base point and minibatch. Nets compare equal field by field, so a weight
# transform must be a function or method, not a fresh lambda per call.
_CACHE: dict = {}


def clear_cache() -> None:
    """Forget the cached base forward (benchmarks time it in every call)."""
    _CACHE.clear()


def _prepared(problem, net, d, seed):
    """(spec, groups, kernel, kernel inputs) of the base point on minibatch ``seed``, reused while
    the problem, net, seed and base point are the same as in the last call."""
    base = np.asarray(d.base)
    hit = (_CACHE.get("problem") is problem and _CACHE["key"] == (net, int(seed))
           and np.array_equal(_CACHE["base"], base))
    if not hit:
        prepare = {MLPNet: _mlp, AttentionNet: _attention, MoENet: _moe}.get(type(net))
        if prepare is None:
            raise TypeError(f"{problem.name}: no incremental evaluator for a {type(net).__name__}")
        _CACHE.clear()
        _CACHE.update(problem=problem, key=(net, int(seed)), base=base.copy(), prepared=prepare(problem, net, base, seed))
    return _CACHE["prepared"]


@torch.no_grad()
def evaluate_deltas(problem, net, d, seed: int = 0) -> torch.Tensor:
    """Losses of a ``Deltas`` request on ``problem`` described by ``net`` (an ``MLPNet``,
    ``AttentionNet`` or ``MoENet``), equal to ``problem.evaluate(d.dense(), seed)``."""
    if len(d) == 0:
        return torch.zeros(0, dtype=torch.float64)
    spec, groups, kernel, inputs = _prepared(problem, net, d, seed)
    return torch.from_numpy(kernel(*_decode(problem, d, spec, groups), *inputs, _threads(problem)))


# -- the three net kinds: base forward, decode spec and kernel inputs ---------------------------
def _mlp(problem, net: MLPNet, base, seed):
    """Base forward as ``DenseParams.linear`` computes it for a population of one (the weight
    transformed once, then the same matmul and bias add), so a candidate that changes nothing
    gets the dense loss bit for bit."""
    from . import incremental_kernels as K
    x, y, base, params = _base(problem, base, seed)
    h, spec, Wf, Z, A = x, {}, [], [], []
    for n, layer in enumerate(net.layers):
        Wf.append(_linear_spec(problem, base, layer, n, spec))
        z = (_shared_matmul(h, Wf[-1][None]) if n == 0 else _per_candidate_matmul(h[None], Wf[-1][None]))
        z = (z if layer.bias is None else _add_bias(z, params.get(layer.bias)))[0]
        h = layer.torch_act(z)
        Z.append(z)
        A.append(h)
    acts = np.array([layer.params() for layer in net.layers], np.float32)
    nz = [K.input_columns(_c(a)) for a in [x] + A[:-1]]
    return spec, len(net.layers), K.mlp_deltas, (
        _c(x), tuple(_c(w) for w in Wf), tuple(_c(z) for z in Z), tuple(_c(z.T) for z in Z),
        tuple(_c(a) for a in A), *(tuple(c[k] for c in nz) for k in range(3)), acts, image_losses(A[-1], y), y.numpy())


def _attention(problem, net: AttentionNet, base, seed):
    """Base forward exactly as ``ArgmaxAttention.forward`` with a population of one."""
    from . import incremental_kernels as K
    _check_scores(problem, net.out, "attention output")
    x, y, base, params = _base(problem, base, seed)
    g, P = 28 // net.patch, net.patch
    tokens = x.reshape(-1, g, P, g, P).permute(0, 1, 3, 2, 4).reshape(-1, g * g, P * P)
    E = params.linear(tokens, net.embed, None, shared=True) + params.get(net.pos).unsqueeze(1)
    S = params.linear(E, net.keys, None, shared=False)
    idx = S.argmax(dim=2)
    picked = torch.gather(E, 2, idx.unsqueeze(-1).expand(*idx.shape, E.shape[-1]))
    Zf = torch.relu(picked).reshape(1, x.shape[0], -1)
    Zo = params.linear(Zf, net.out.weight, net.out.bias, shared=False)[0]
    spec = {net.embed: (0, _block(problem, base, net.embed), None, False),
            net.pos: (0, _block(problem, base, net.pos), None, True),
            net.keys: (1, _block(problem, base, net.keys), None, False)}
    Wo = _linear_spec(problem, base, net.out, 2, spec)
    S0 = _c(S[0])
    order = np.ascontiguousarray(np.argsort(-S0, axis=1, kind="stable").transpose(0, 2, 1))  # (B, heads, tokens)
    return spec, 3, K.attn_deltas, (
        _c(tokens), _c(E[0]), S0, idx[0].numpy().astype(np.int64), order, _c(Zf[0]), *K.input_columns(_c(Zf[0])),
        _c(spec[net.keys][1]), _c(Wo), _c(Zo), _c(Zo.T), image_losses(Zo, y), y.numpy())


def _moe(problem, net: MoENet, base, seed):
    """Base forward exactly as ``HardMoE.forward`` with a population of one."""
    from . import incremental_kernels as K
    _check_scores(problem, net.router, "router")
    x, y, base, params = _base(problem, base, seed)
    route = params.linear(x, net.router.weight, net.router.bias, shared=True)
    zh = params.linear(x, net.hidden.weight, net.hidden.bias, shared=True)
    W2, b2 = params.get(net.w2), params.get(net.b2)
    e, h = W2.shape[1], W2.shape[2]
    hid = net.hidden.torch_act(zh).reshape(1, x.shape[0], e, h)
    out = torch.einsum("pbeh,pehc->pbec", hid, W2) + b2.unsqueeze(1)
    r = route.argmax(dim=-1)
    logits = torch.gather(out, 2, r[..., None, None].expand(-1, -1, 1, out.shape[-1])).squeeze(2)[0]
    spec = {net.w2: (2, W2[0].reshape(e * h, -1), None, False), net.b2: (2, b2[0], None, True)}
    Wr = _linear_spec(problem, base, net.router, 0, spec)
    W1 = _linear_spec(problem, base, net.hidden, 1, spec)
    return spec, 3, K.moe_deltas, (
        _c(x), *K.input_columns(_c(x)), _c(Wr), _c(route[0]), _c(route[0].T), r[0].numpy().astype(np.int64),
        _c(W1), _c(zh[0]), _c(zh[0].T), _c(hid[0].reshape(x.shape[0], -1)), np.array(net.hidden.params(), np.float32),
        _c(W2[0].reshape(e * h, -1)), _c(b2[0]), image_losses(logits, y), y.numpy(), h)
