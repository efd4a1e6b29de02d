"""Shared machinery of the neural adapters: data, minibatches, batched parameters, losses.

A neural problem's solution is one flat float vector; ``layout`` names its blocks. Weight matrices
are stored row-major as (inputs x outputs), so a layer computes ``h @ W + b``; a ``LowRank`` block
(rows = inputs, cols = outputs) adds ``u v^T`` to ``W``, and its effect on a layer is
``(h @ u) @ v^T``.

The forward of every model is written once against a *parameter view* with two methods:
``get(name)`` (a (pop, *shape) tensor) and ``linear(h, w, b, shared)`` (a layer applied to either a
shared activation without population axis, or a per-candidate one with a leading pop axis):

* ``DenseParams`` holds a (pop, dim) tensor: ``linear`` is one GEMM across the population when the
  input is shared (first layer) and a ``bmm`` otherwise.
* ``LowRankParams`` holds a ``LowRank`` request: ``linear`` on a perturbed matrix computes the base
  product once (``h @ W0``, shared when ``h`` is) and a per-candidate correction ``(h @ U_i) @ V_i^T``
  of cost O(B (in + out) r). The saving is largest in the first layer, whose input (the images) is the
  same for every candidate: there the O(pop B in out) GEMM becomes O(B in out + pop B (in+out) r).
  Later layers see per-candidate activations, so their base product still costs a GEMM per candidate
  (they are small in the nets here: 128x10, say); elementwise work (spiking dynamics) is unchanged.

Every forward also has a smooth twin (``smooth=True``: sigmoid for thresholds, identity for
rounding, tanh for sign, softmax for argmax) used only by ``surrogate_loss_torch`` for an Adam
ceiling baseline; the problems' losses never use it.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from blackbox.domain import Real
from blackbox.population import Block, Deltas, LowRank
from blackbox.problem import Problem
from blackbox.threads import pin

from .. import data as D

DTYPE = torch.float32


@dataclass
class NeuralConfig:
    dataset: str = "mnist"  # mnist, fashion, or mnist+fashion (20 classes: fashion labels + 10)
    data_dir: str = ""  # folder holding mnist/ and fashion-mnist/ IDX files ("" = BLACKBOX_DATA, ~/.cache/blackbox, ../shared/data)
    hidden: int = 128  # hidden units per layer
    batch_size: int = 256  # training minibatch drawn per generation (same for every candidate of one call)
    val_size: int = 5000  # images of the training set held out for validation (model selection)
    split_seed: int = 0  # seed of the train/validation split and of the minibatch stream
    train_subset: int = 0  # use only this many training images (0 = all), for quick runs and tests
    chunk: int = 256  # candidates evaluated together at most (memory bound); larger populations run in chunks
    threads: int = 1  # numba, torch and BLAS threads set when the problem is built, at most 2: 1 is faster on a busy 2-core machine
    init_gain: float = 1.0  # weights start uniform in +-init_gain/sqrt(fan_in), biases at zero
    arch: str = "ours"  # ours | paper: this package's net or the PolyStep paper's (docs/neural.md); unset options take the arch's defaults


def _f32(a) -> torch.Tensor:
    """numpy/torch -> float32 tensor (torch.from_numpy(...).to: as_tensor(dtype=) is far slower)."""
    t = a if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a))
    return t.to(DTYPE)


def _per_candidate_matmul(h: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """(pop, ..., in) @ (pop, in, out) -> (pop, ..., out) as one bmm."""
    pop = W.shape[0]
    lead = h.shape[1:-1]
    out = torch.bmm(h.reshape(pop, -1, h.shape[-1]), W)
    return out.reshape(pop, *lead, W.shape[-1])


def _shared_matmul(h: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """(..., in) shared by all candidates @ (pop, in, out) -> (pop, ..., out) as one GEMM."""
    pop, n_in, n_out = W.shape
    lead = h.shape[:-1]
    flat = h.reshape(-1, n_in) @ W.permute(1, 0, 2).reshape(n_in, pop * n_out)
    return flat.reshape(-1, pop, n_out).transpose(0, 1).reshape(pop, *lead, n_out)


class DenseParams:
    """A (pop, dim) population seen through the layout."""

    def __init__(self, P: torch.Tensor, layout: dict):
        self.P, self.layout, self.pop = P, layout, P.shape[0]

    def get(self, name: str) -> torch.Tensor:
        start, shape = self.layout[name]
        n = math.prod(shape)
        return self.P[:, start:start + n].reshape(self.pop, *shape)

    def linear(self, h, w: str, b: str | None, shared: bool, weight_fn=None):
        W = self.get(w)
        if weight_fn is not None:
            W = weight_fn(W)
        out = _shared_matmul(h, W) if shared else _per_candidate_matmul(h, W)
        return out if b is None else _add_bias(out, self.get(b))


def _add_bias(out: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """out (pop, ..., n) + bias (pop, n) broadcast over the middle axes."""
    return out + bias.reshape(bias.shape[0], *([1] * (out.dim() - 2)), bias.shape[-1])


class LowRankParams:
    """A ``LowRank`` request seen through the layout (see the module doc for the cost). A block may
    cover any layout entry of rows*cols values (a bias as a 1 x n block, say); only blocks on a
    weight used through ``linear`` with the weight's (in, out) shape take the factored product,
    the others are materialized by ``get`` (cheap for biases and small matrices)."""

    def __init__(self, req: LowRank, layout: dict):
        self.layout = layout
        self.base = _f32(req.base)
        self.pop = len(req)
        by_start = {start: name for name, (start, shape) in layout.items()}
        self.blocks = {}
        for start, rows, cols, u, v in req.blocks:
            name = by_start.get(int(start))  # a block must cover exactly one layout entry
            if name is None or rows * cols != math.prod(layout[name][1]) or name in self.blocks:
                raise _NotNative
            self.blocks[name] = (_f32(u), _f32(v))
        self.rest = None if req.rest is None else _f32(req.rest)

    def _rest(self, name):
        if self.rest is None:
            return None
        start, shape = self.layout[name]
        r = self.rest[:, start:start + math.prod(shape)]
        return r.reshape(self.pop, *shape) if bool(r.any()) else None

    def get(self, name: str) -> torch.Tensor:
        start, shape = self.layout[name]
        n = math.prod(shape)
        x = self.base[start:start + n].reshape(1, *shape).expand(self.pop, *shape)
        if name in self.blocks:
            u, v = self.blocks[name]
            x = x + torch.bmm(u, v.transpose(1, 2)).reshape(self.pop, *shape)
        r = self._rest(name)
        return x if r is None else x + r

    def factors(self, h, w: str, b: str):
        """For a shared 2-d input ``h`` (B, in) and a perturbed weight without dense remainder:
        (h @ W0 (B, out), h @ U (pop, B, r), V (pop, out, r), bias (pop, out)), so that the layer's
        output is (h @ W0 + (h @ U) V^T) + bias; None when that form does not apply."""
        if not self._factored(w) or h.dim() != 2 or self._rest(w) is not None:
            return None
        start, (n_in, n_out) = self.layout[w]
        u, v = self.blocks[w]
        base = h @ self.base[start:start + n_in * n_out].reshape(n_in, n_out)
        r = u.shape[-1]
        hu = (h @ u.permute(1, 0, 2).reshape(n_in, self.pop * r)).reshape(-1, self.pop, r).transpose(0, 1)
        return base, hu.contiguous(), v.contiguous(), self.get(b).contiguous()

    def _factored(self, w: str) -> bool:
        """A block on weight ``w`` with the weight's own (in, out) shape."""
        return w in self.blocks and tuple(self.blocks[w][0].shape[1:2] + self.blocks[w][1].shape[1:2]) == self.layout[w][1]

    def linear(self, h, w: str, b: str | None, shared: bool, weight_fn=None):
        if not self._factored(w) or weight_fn is not None:
            return DenseParams.linear(self, h, w, b, shared, weight_fn)
        start, (n_in, n_out) = self.layout[w]
        W0 = self.base[start:start + n_in * n_out].reshape(n_in, n_out)
        u, v = self.blocks[w]
        if shared:
            lead = h.shape[:-1]
            h2 = h.reshape(-1, n_in)
            base = (h2 @ W0).reshape(1, *lead, n_out)
            r = u.shape[-1]
            hu = (h2 @ u.permute(1, 0, 2).reshape(n_in, self.pop * r)).reshape(-1, self.pop, r).transpose(0, 1)
            out = base + torch.bmm(hu, v.transpose(1, 2)).reshape(self.pop, *lead, n_out)
        else:
            base = h @ W0
            out = base + _per_candidate_matmul(_per_candidate_matmul(h, u), v.transpose(1, 2))
        rest = self._rest(w)
        if rest is not None:
            out = out + (_shared_matmul(h, rest) if shared else _per_candidate_matmul(h, rest))
        return out if b is None else _add_bias(out, self.get(b))


def _deltas_as_lowrank(d, layout) -> LowRank:
    """A ``Deltas`` request as an exactly equal ``LowRank`` one with a block on every layout entry:
    candidate i's k-th change inside an entry (rows x cols = shape[0] x rest) is column k of its
    u (the change at the row) and v (a one at the column)."""
    pop = len(d)
    starts = np.array([s for _, s, _ in layout], dtype=np.int64)
    idx = np.asarray(d.indices, dtype=np.int64)
    cand = np.repeat(np.arange(pop), np.diff(d.offsets))
    ent = np.searchsorted(starts, idx, side="right") - 1
    delta = np.asarray(d.values, dtype=np.float64) - np.asarray(d.base, dtype=np.float64)[idx]
    order = np.lexsort((ent, cand))  # group the changes by (candidate, entry)
    cand, ent, idx, delta = cand[order], ent[order], idx[order], delta[order]
    key = cand * len(layout) + ent
    first = np.r_[True, key[1:] != key[:-1]] if key.size else np.zeros(0, bool)
    group_start = np.maximum.accumulate(np.where(first, np.arange(key.size), 0)) if key.size else key
    slot = np.arange(key.size) - group_start
    blocks = []
    for e, (_, start, shape) in enumerate(layout):
        rows = shape[0] if len(shape) > 1 else 1
        cols = math.prod(shape) // rows
        sel = ent == e
        r = int(slot[sel].max()) + 1 if sel.any() else 1
        u = np.zeros((pop, rows, r), np.float32)
        v = np.zeros((pop, cols, r), np.float32)
        row, col = np.divmod(idx[sel] - start, cols)
        u[cand[sel], row, slot[sel]] = delta[sel]
        v[cand[sel], col, slot[sel]] = 1.0
        blocks.append(Block(start, rows, cols, u, v))
    return LowRank(np.asarray(d.base, dtype=np.float64), blocks)


class _NotNative(Exception):
    """The low-rank request does not match the layout: evaluate it densely."""


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per candidate: logits (pop, B, C), y (B,) -> (pop,). Without autograd a
    numba loop (float64 sums); with it, a reduction over a class-major copy (torch's log_softmax
    over a short last axis is several times slower)."""
    if not logits.requires_grad:
        from .kernels import mean_cross_entropy
        return torch.from_numpy(mean_cross_entropy(logits.to(DTYPE).contiguous().numpy(), y.numpy()))
    zt = logits.transpose(1, 2).contiguous()  # (pop, C, B)
    picked = zt.gather(1, y.view(1, 1, -1).expand(zt.shape[0], 1, -1)).squeeze(1)
    return (torch.logsumexp(zt, dim=1) - picked).mean(dim=1)


class NeuralProblem(Problem):
    """Base of the image classifiers. Subclasses define ``blocks()`` (ordered (name, shape)) and
    ``forward(p, x, smooth=False) -> logits (pop, B, classes)``, and declare
    ``capabilities = {"lowrank"}`` when their weights enter only through ``p.linear`` without a
    ``weight_fn`` (then a LowRank block costs a factored product, not a dense one)."""

    Config = NeuralConfig
    backend = "torch"  # evaluate takes a torch tensor (numpy is accepted and converted)
    stochastic = True
    classes = 10
    # PolyStep probing every particle of a 100k-weight net spends a whole budget on one generation;
    # 32 random particles per step (97 candidates) with the radius annealed 1 -> 0.001 over the
    # evaluation budget (horizon 0) measured best here: snn 0.505 test accuracy at 20k evaluations,
    # against 0.332 for a rank-32 subspace at a constant radius 0.1.
    solver_defaults = {"polystep": {"particles_per_step": 32, "horizon": 0}}
    archs = ("ours", "paper")  # values of the ``arch`` option this problem accepts
    # {arch: {Config field: value}}: the value a field declared ``None`` (= "the arch's default") takes
    arch_defaults: dict = {}

    def __init__(self, config=None):
        self.config = self.resolve(config)
        c = self.config
        for field in ("hidden", "batch_size", "chunk", "threads"):
            if getattr(c, field) < 1:
                raise ValueError(f"{self.name}: {field} must be >= 1, got {getattr(c, field)}")
        from . import kernels  # noqa: F401  numba imported now, so pin starts its pool before setting torch's count
        pin(min(int(c.threads), 2))
        self.datasets = c.dataset.split("+")
        x, y = D.load_many(self.datasets, "train", c.data_dir or None)
        self.classes = 10 * len(self.datasets)
        if c.train_subset:
            keep = np.random.default_rng([c.split_seed, 1]).permutation(len(y))[:c.train_subset]
            x, y = x[np.sort(keep)], y[np.sort(keep)]
        if not 0 <= c.val_size < len(y) - c.batch_size:
            raise ValueError(f"{self.name}: val_size must leave at least batch_size training images, got {c.val_size}")
        tr, va = D.split(len(y), c.val_size, c.split_seed)
        self._x_train = np.ascontiguousarray(x[tr])  # uint8 numpy, scaled per minibatch
        self._y_train = torch.from_numpy(y[tr].astype(np.int64))
        self._x_val = torch.from_numpy(x[va]).to(DTYPE) / 255.0
        self._y_val = torch.from_numpy(y[va].astype(np.int64))
        self.layout, start = [], 0
        self._layout = {}
        for name, shape in self.blocks():
            self.layout.append((name, start, tuple(shape)))
            self._layout[name] = (start, tuple(shape))
            start += math.prod(shape)
        self.dim = start
        self.domain = Real()
        self._batch_cache = (None, None)
        if type(self).evaluate_deltas is NeuralProblem.evaluate_deltas and self.incremental_net() is None:
            self.capabilities = self.capabilities - {"deltas"}  # no sparse path of its own: solvers send LowRank

    @classmethod
    def resolve(cls, config=None):
        """``config`` with ``arch`` checked and every field left at None set to that arch's
        default (``arch_defaults``), so a value the user gave always wins and the recorded config
        holds the values used."""
        c = config or cls.Config()
        if c.arch not in cls.archs:
            raise ValueError(f"{cls.name}: arch must be one of {', '.join(cls.archs)}, got {c.arch!r}")
        fill = {k: v for k, v in cls.arch_defaults.get(c.arch, {}).items() if getattr(c, k) is None}
        return dataclasses.replace(c, **fill) if fill else c

    @classmethod
    def small_config(cls):
        """A cheap configuration for contract tests: tiny net, 2,000 training images."""
        return cls.Config(hidden=8, batch_size=32, train_subset=2000, val_size=200)

    # -- model definition (subclasses) ----------------------------------------------------------
    def blocks(self) -> list:
        raise NotImplementedError

    def forward(self, p, x: torch.Tensor, smooth: bool = False) -> torch.Tensor:
        raise NotImplementedError

    def incremental_net(self):
        """The net as an ``incremental`` description (``MLPNet``, ``AttentionNet``, ``MoENet``) for
        the exact sparse-change path of ``evaluate_deltas``; None = no such path (low-rank fallback)."""
        return None

    def fan_in(self, name: str, shape: tuple) -> int | None:
        """Fan-in used to scale a block's initial values; None = start at zero (biases)."""
        return shape[0] if len(shape) >= 2 else None

    # -- the Problem contract ---------------------------------------------------------------------
    def initial(self, rng):
        x = np.zeros(self.dim)
        for name, start, shape in self.layout:
            fan = self.fan_in(name, shape)
            if fan:
                bound = self.config.init_gain / math.sqrt(fan)
                x[start:start + math.prod(shape)] = rng.uniform(-bound, bound, math.prod(shape))
        return x

    def batch(self, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The training minibatch of generation ``seed``: a pure function of (split_seed, seed)."""
        if self._batch_cache[0] == seed:
            return self._batch_cache[1]
        rng = np.random.default_rng([int(self.config.split_seed), 2, int(seed) & 0xFFFFFFFFFFFF])
        idx = rng.choice(len(self._y_train), self.config.batch_size, replace=False, shuffle=False)
        out = (torch.from_numpy(self._x_train[idx]).to(DTYPE) / 255.0, self._y_train[torch.from_numpy(idx)])
        self._batch_cache = (seed, out)
        return out

    def _as_tensor(self, population) -> torch.Tensor:
        P = _f32(population)
        if P.dim() != 2 or P.shape[1] != self.dim:
            raise ValueError(f"{self.name}: population must be (pop, {self.dim}), got {tuple(P.shape)}")
        return P

    @torch.no_grad()
    def evaluate(self, population, seed: int = 0):
        """Cross-entropy of every candidate on generation ``seed``'s minibatch, as a (pop,) tensor."""
        P = self._as_tensor(population)
        x, y = self.batch(seed)
        c = self.config.chunk
        return torch.cat([cross_entropy(self.forward(DenseParams(P[i:i + c], self._layout), x), y)
                          for i in range(0, P.shape[0], c)]) if len(P) else torch.zeros(0)

    @torch.no_grad()
    def evaluate_lowrank(self, req: LowRank, seed: int = 0):
        """Same losses as ``evaluate(req.dense())`` with one shared base product per layer."""
        x, y = self.batch(seed)
        c, pop = self.config.chunk, len(req)
        out = []
        for i in range(0, pop, c):
            part = LowRank(req.base, [(s, r, k, u[i:i + c], v[i:i + c]) for s, r, k, u, v in req.blocks],
                           None if req.rest is None else req.rest[i:i + c])
            try:
                p = LowRankParams(part, self._layout)
            except _NotNative:
                return self.evaluate(req.dense(), seed)
            out.append(cross_entropy(self.forward(p, x), y))
        return torch.cat(out)

    @torch.no_grad()
    def evaluate_deltas(self, d, seed: int = 0):
        """Same losses as ``evaluate(d.dense())``: each chunk's sparse changes become low-rank
        blocks (a changed entry (i, j) of a matrix is the rank-one term delta e_i e_j^T; a bias is a
        1 x n matrix), so the first layer keeps its shared base product.

        Declared in ``capabilities`` only where a model has a faster path of its own: an
        ``incremental_net`` description (only what a change touches is recomputed, see
        ``incremental``) or the SNN's kernel; this conversion is the fallback for direct calls."""
        net = self.incremental_net()
        if net is not None:
            from .incremental import evaluate_deltas
            return evaluate_deltas(self, net, d, seed)
        c, out = self.config.chunk, []
        for i in range(0, len(d), c):  # convert chunk by chunk: u is (chunk, rows, rank)
            o = d.offsets[i:i + c + 1]
            part = Deltas(d.base, o - o[0], d.indices[o[0]:o[-1]], d.values[o[0]:o[-1]])
            out.append(self.evaluate_lowrank(_deltas_as_lowrank(part, self.layout), seed))
        return torch.cat(out) if out else torch.zeros(0)

    @torch.no_grad()
    def _scores(self, x_vec, X: torch.Tensor, Y: torch.Tensor) -> tuple[float, float]:
        P = self._as_tensor(np.asarray(x_vec, dtype=np.float64).reshape(1, -1))
        loss, correct = 0.0, 0
        for i in range(0, len(Y), 2000):
            logits = self.forward(DenseParams(P, self._layout), X[i:i + 2000])
            loss += float(cross_entropy(logits, Y[i:i + 2000])[0]) * len(Y[i:i + 2000])
            correct += int((logits[0].argmax(-1) == Y[i:i + 2000]).sum())
        return loss / len(Y), correct / len(Y)

    def validation_loss(self, x):
        return self._scores(x, self._x_val, self._y_val)[0] if len(self._y_val) else None

    def metrics(self, x):
        if not len(self._y_val):
            return {}
        loss, acc = self._scores(x, self._x_val, self._y_val)
        return {"val_loss": loss, "val_accuracy": acc}

    def test_metrics(self, x):
        """Accuracy on the official test set(s): read here and nowhere else."""
        xt, yt = D.load_many(self.datasets, "test", self.config.data_dir or None)
        loss, acc = self._scores(x, torch.from_numpy(xt).to(DTYPE) / 255.0, torch.from_numpy(yt))
        return {"test_loss": loss, "test_accuracy": acc}

    # -- smooth twin ---------------------------------------------------------------------------
    def surrogate_loss_torch(self, params: torch.Tensor, batch) -> torch.Tensor:
        """Differentiable smooth-surrogate cross-entropy of one parameter vector (dim,) on
        ``batch = (x, y)``: for an Adam ceiling baseline, never for the problem's own loss."""
        x, y = batch
        logits = self.forward(DenseParams(params.to(DTYPE).reshape(1, -1), self._layout), x, smooth=True)
        return cross_entropy(logits, y)[0]

    def describe(self):
        return f"{self.name} (dim={self.dim}, {self.config.dataset}, batch {self.config.batch_size})"
