"""The non-differentiable networks: hard-LIF spiking MLP, int8 and binary MLPs, argmax attention,
staircase-activation MLP and a hard top-1 mixture of experts.

Each forward runs a whole population at once (see ``base``); nothing in the hard forward has a
gradient path to the parameters (thresholds are comparisons, rounding/sign/argmax/floor are
piecewise constant). ``smooth=True`` selects the smooth twin used only for the Adam ceiling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import paper
from .base import DTYPE, DenseParams, NeuralConfig, NeuralProblem, _f32

PIXELS = 784


def _sign(w: torch.Tensor) -> torch.Tensor:
    return torch.where(w >= 0, 1.0, -1.0).to(w.dtype)


# -- hard-LIF spiking MLP ---------------------------------------------------------------------------
@dataclass
class SNNConfig(NeuralConfig):
    batch_size: int | None = None  # training minibatch drawn per generation; unset: 256 (arch ours), 512 (paper)
    steps: int | None = None  # time steps T, the image fed as a constant input current at every step; unset: 8 (ours), 15 (paper)
    init_gain: float = 2.0  # weights start uniform in +-init_gain/sqrt(fan_in): enough for output spikes at the start
    beta: float | None = None  # membrane decay per step (snntorch Leaky's beta); unset: 0.9 (ours), 0.95 (paper)
    threshold: float = 1.0  # a neuron spikes when its membrane exceeds this, then resets to zero
    logit_scale: float = 1.0  # logits = output spike counts (0..steps) times this
    surrogate_slope: float = 5.0  # smooth twin only: spike = sigmoid(slope * (membrane - threshold))
    kernel: str = "numba"  # hard forward after layer 1: numba (fused, sparse spikes) or torch (plain recurrence)


def lif(currents: torch.Tensor, steps: int, beta: float, threshold: float, constant: bool,
        smooth_slope: float | None = None) -> torch.Tensor:
    """Leaky integrate-and-fire with hard threshold and reset-to-zero, as snntorch's
    ``Leaky(beta, threshold, reset_mechanism="zero")`` with zero initial membrane:
        m_t = beta * m_{t-1} * [m_{t-1} <= threshold] + I_t,   s_t = [m_t > threshold].
    ``currents`` is (pop, B, n) when ``constant`` (the same input at every step), otherwise
    (pop, T, B, n). Returns spikes (pop, T, B, n). ``smooth_slope`` swaps both Heavisides for
    sigmoids (smooth twin)."""
    first = currents if constant else currents[:, 0]
    spikes = []
    m = torch.zeros_like(first)
    for t in range(steps):
        I_t = currents if constant else currents[:, t]
        if smooth_slope is None:
            m = torch.where(m > threshold, 0.0, beta * m) + I_t
            spikes.append((m > threshold).to(DTYPE))
        else:
            m = beta * (1 - torch.sigmoid(smooth_slope * (m - threshold))) * m + I_t
            spikes.append(torch.sigmoid(smooth_slope * (m - threshold)))
    return torch.stack(spikes, dim=1)


class SpikingMLP(NeuralProblem):
    """784-hidden-classes spiking MLP of hard LIF neurons; logits = output spike counts.
    With arch=paper it is the same net with the paper's 15 steps, decay 0.95 and minibatch 512."""

    name = "snn"
    Config = SNNConfig
    capabilities = frozenset({"lowrank", "deltas"})
    arch_defaults = {"ours": {"batch_size": 256, "steps": 8, "beta": 0.9},
                     "paper": {"batch_size": 512, "steps": 15, "beta": 0.95}}

    def blocks(self):
        h = self.config.hidden
        return [("w1", (PIXELS, h)), ("b1", (h,)), ("w2", (h, self.classes)), ("b2", (self.classes,))]

    def __init__(self, config=None):
        cfg = self.resolve(config)
        if cfg.kernel not in ("numba", "torch"):
            raise ValueError(f"snn: kernel must be numba or torch, got {cfg.kernel!r}")
        if cfg.steps < 1:
            raise ValueError(f"snn: steps must be >= 1, got {cfg.steps}")
        super().__init__(cfg)

    @torch.no_grad()
    def evaluate_deltas(self, d, seed: int = 0):
        """Sparse changes at the cost of what they change (numba kernel): one base forward per
        call, then per candidate only the touched hidden neurons and the images whose spikes or
        output weights moved are recomputed (``kernels.snn_deltas``). Losses equal the dense ones
        up to float32 rounding; the torch kernel goes through the low-rank conversion instead."""
        c = self.config
        if c.kernel != "numba":
            return super().evaluate_deltas(d, seed)
        from . import kernels
        x, y = self.batch(seed)
        base = _f32(d.base)
        I1 = DenseParams(base.reshape(1, -1), self._layout).linear(x, "w1", "b1", shared=True)[0]
        W1, b1, W2, b2 = (self._block(base, n) for n in ("w1", "b1", "w2", "b2"))
        steps, beta, th, scale = c.steps, np.float32(c.beta), np.float32(c.threshold), np.float32(c.logit_scale)
        I1T = I1.T.contiguous().numpy()
        first, acc, ce = kernels.snn_base(I1T, W2, b2, y.numpy(), steps, beta, th, scale)
        kind, neuron, other, order = self._decode(np.asarray(d.indices, np.int64), np.asarray(d.offsets, np.int64))
        value = np.asarray(d.values, np.float64)[order].astype(np.float32)
        losses = kernels.snn_deltas(np.asarray(d.offsets, np.int64), kind, neuron, other, value,
                                    x.T.contiguous().numpy(), I1T, W1, b1, W2, b2,
                                    first, acc, ce, y.numpy(), steps, beta, th, scale, kernels.threads())
        return torch.from_numpy(losses)

    def _block(self, base: torch.Tensor, name: str) -> np.ndarray:
        start, shape = self._layout[name]
        return base[start:start + math.prod(shape)].reshape(shape).contiguous().numpy()

    def _decode(self, idx: np.ndarray, offsets: np.ndarray):
        """Flat indices -> (kind, hidden neuron, other index) per change, sorted within each
        candidate by neuron (output-bias changes, neuron -1, first), and the sorting order."""
        H, C = self.config.hidden, self.classes
        starts = [self._layout[n][0] for n in ("w1", "b1", "w2", "b2")]
        kind = (np.searchsorted(np.array(starts), idx, side="right") - 1).astype(np.int8)
        local = idx - np.array(starts)[kind]
        neuron = np.select([kind == 0, kind == 1, kind == 2], [local % H, local, local // C], -1)
        other = np.select([kind == 0, kind == 2, kind == 3], [local // H, local % C, local], 0)
        cand = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))
        order = np.lexsort((neuron, cand))
        return kind[order], neuron[order].astype(np.int32), other[order].astype(np.int32), order

    def forward(self, p, x, smooth=False):
        c = self.config
        if c.kernel == "numba" and not smooth:
            from . import kernels
            # .detach(): spike counts are piecewise constant in every parameter, so no gradient is lost
            tail = (p.get("w2").detach().contiguous().numpy(), p.get("b2").detach().contiguous().numpy(),
                    c.steps, np.float32(c.beta), np.float32(c.threshold))
            f = p.factors(x, "w1", "b1") if hasattr(p, "factors") else None
            if f is not None:  # low-rank request: first-layer currents never materialized
                base, hu, v, bias = f
                counts = kernels.snn_counts_factored(base.T.contiguous().numpy(), hu.transpose(1, 2).contiguous().numpy(),
                                                     v.numpy(), bias.numpy(), *tail)  # (built under no_grad)
            else:
                I1 = p.linear(x, "w1", "b1", shared=True)  # (pop, B, H)
                counts = kernels.snn_counts(I1.detach().transpose(1, 2).contiguous().numpy(), *tail)
            return torch.from_numpy(counts) * c.logit_scale
        slope = c.surrogate_slope if smooth else None
        s1 = lif(p.linear(x, "w1", "b1", shared=True), c.steps, c.beta, c.threshold, True, slope)
        s2 = lif(p.linear(s1, "w2", "b2", shared=False), c.steps, c.beta, c.threshold, False, slope)
        return s2.sum(dim=1) * c.logit_scale


# -- int8 fake-quantized MLP ---------------------------------------------------------------------
@dataclass
class Int8Config(NeuralConfig):
    w_step: float | None = None  # weight quantum: w -> round(w / w_step) * w_step clamped to int8; unset: 1/128 (arch ours), 0.01 (paper)
    a_step: float = 0.03125  # activation quantum (arch ours only): relu(z) -> clamp(round(z / a_step), 0, 255) * a_step


def fake_quant(x: torch.Tensor, step: float, lo: int, hi: int) -> torch.Tensor:
    return torch.clamp(torch.round(x / step), lo, hi) * step


class Int8MLP(NeuralProblem):
    """784-hidden-classes MLP whose weights are int8 and hidden activations uint8 (round + clamp)
    in the forward. Not low-rank capable: rounding is not linear in the weights. With arch=paper:
    784-H relu, an HxH layer with int8 weights and bias, relu, H-classes; its plain
    first layer takes the low-rank path."""

    name = "int8-mlp"
    Config = Int8Config
    capabilities = frozenset({"deltas"})
    arch_defaults = {"ours": {"w_step": 0.0078125}, "paper": {"w_step": 0.01}}

    def __init__(self, config=None):
        super().__init__(config)
        if self.config.arch == "paper":  # only the middle layer is rounded: the first layer's product is shared
            self.capabilities = frozenset({"lowrank"})

    def blocks(self):
        h = self.config.hidden
        if self.config.arch == "paper":
            return paper.int8_blocks(h, self.classes)
        return [("w1", (PIXELS, h)), ("b1", (h,)), ("w2", (h, self.classes)), ("b2", (self.classes,))]

    def fan_in(self, name, shape):
        return paper.fan_in(name, shape) if self.config.arch == "paper" else super().fan_in(name, shape)

    def forward(self, p, x, smooth=False):
        c = self.config
        if c.arch == "paper":
            return paper.int8_forward(p, x, c.w_step, smooth)
        if smooth:  # the float net with clamped range: no rounding
            wq = lambda W: torch.clamp(W, -127 * c.w_step, 127 * c.w_step)  # noqa: E731
            act = lambda z: torch.clamp(torch.relu(z), 0, 255 * c.a_step)  # noqa: E731
        else:
            wq = lambda W: fake_quant(W, c.w_step, -127, 127)  # noqa: E731
            act = lambda z: fake_quant(torch.relu(z), c.a_step, 0, 255)  # noqa: E731
        h = act(p.linear(x, "w1", "b1", shared=True, weight_fn=wq))
        return p.linear(h, "w2", "b2", shared=False, weight_fn=wq)

    def _quantized(self, W: torch.Tensor) -> torch.Tensor:
        return fake_quant(W, self.config.w_step, -127, 127)

    def incremental_net(self):
        from .incremental import Linear, MLPNet
        c = self.config
        if c.arch == "paper":  # its quantized bias has no description yet: low-rank path
            return None
        return MLPNet((Linear("w1", "b1", "quant-relu", step=c.a_step, hi=255, weight_fn=self._quantized),
                       Linear("w2", "b2", weight_fn=self._quantized)))


# -- binary net ----------------------------------------------------------------------------------
@dataclass
class BinaryConfig(NeuralConfig):
    arch: str = "ours"  # ours only: the PolyStep paper's table has no binary net here
    binary_activations: bool = True  # hidden units output sign(z) in {-1, +1} (else relu)
    logit_scale: float = 3.0  # logits = (h @ sign(W2)) / sqrt(hidden) * logit_scale + b2
    surrogate_slope: float = 5.0  # smooth twin only: sign(w) -> tanh(slope * w / mean|w|)


class BinaryMLP(NeuralProblem):
    """784-hidden-classes MLP with sign(weights) in both layers and (by default) sign activations;
    the real-valued latent weights only matter through their signs."""

    name = "binary-mlp"
    Config = BinaryConfig
    capabilities = frozenset({"deltas"})
    archs = ("ours",)  # no paper variant here

    def blocks(self):
        h = self.config.hidden
        return [("w1", (PIXELS, h)), ("b1", (h,)), ("w2", (h, self.classes)), ("b2", (self.classes,))]

    def forward(self, p, x, smooth=False):
        c = self.config
        if smooth:
            wq = lambda W: torch.tanh(c.surrogate_slope * W / (W.abs().mean() + 1e-8))  # noqa: E731
            act = torch.tanh if c.binary_activations else torch.relu
        else:
            wq, act = _sign, (_sign if c.binary_activations else torch.relu)
        h = act(p.linear(x, "w1", "b1", shared=True, weight_fn=wq))
        scale = c.logit_scale / c.hidden ** 0.5
        return p.linear(h * scale, "w2", "b2", shared=False, weight_fn=wq)

    def incremental_net(self):
        from .incremental import Linear, MLPNet
        c = self.config
        act, scale = ("sign" if c.binary_activations else "relu"), c.logit_scale / c.hidden ** 0.5
        return MLPNet((Linear("w1", "b1", act, scale=scale, weight_fn=_sign), Linear("w2", "b2", weight_fn=_sign)))


# -- argmax attention ----------------------------------------------------------------------------
@dataclass
class AttentionConfig(NeuralConfig):
    dataset: str | None = None  # mnist, fashion or mnist+fashion; unset: mnist (arch ours), fashion (paper)
    hidden: int | None = None  # ours: embedding width d of each patch token; paper: hidden units; unset: 32 (ours), 128 (paper)
    patch: int = 7  # arch ours: the 28x28 image is cut into (28/patch)^2 tokens of patch^2 pixels
    heads: int = 4  # arch ours: each head attends to exactly one token, the argmax of its scores
    slots: int = 8  # arch paper: key slots; each image is routed to the argmax of its scores
    surrogate_slope: float = 1.0  # smooth twin only (arch ours): softmax(slope * scores) instead of argmax


class ArgmaxAttention(NeuralProblem):
    """Patch tokens E = patches @ We + pos; each head picks the single token argmax(E @ Wk[:, h])
    (hard attention); the picked tokens, through relu, feed a linear classifier. With arch=paper:
    784-H relu, slot = argmax(h K), out = (h Wv + bv) * sigmoid(K[:, slot]), H-classes, on
    Fashion-MNIST."""

    name = "argmax-attn"
    Config = AttentionConfig
    capabilities = frozenset({"lowrank", "deltas"})
    arch_defaults = {"ours": {"dataset": "mnist", "hidden": 32}, "paper": {"dataset": "fashion", "hidden": 128}}

    def __init__(self, config=None):
        cfg = self.resolve(config)
        if cfg.patch < 1 or 28 % cfg.patch:
            raise ValueError(f"argmax-attn: patch must divide 28, got {cfg.patch}")
        for field in ("heads", "slots"):
            if getattr(cfg, field) < 1:
                raise ValueError(f"argmax-attn: {field} must be >= 1, got {getattr(cfg, field)}")
        super().__init__(cfg)

    def blocks(self):
        c = self.config
        if c.arch == "paper":
            return paper.attention_blocks(c.hidden, c.slots, self.classes)
        n, d = (28 // c.patch) ** 2, c.hidden
        return [("we", (c.patch ** 2, d)), ("pos", (n, d)), ("wk", (d, c.heads)),
                ("wo", (c.heads * d, self.classes)), ("bo", (self.classes,))]

    def fan_in(self, name, shape):
        if self.config.arch == "paper":
            return paper.fan_in(name, shape)
        return 1 if name == "pos" else super().fan_in(name, shape)

    def forward(self, p, x, smooth=False):
        c = self.config
        if c.arch == "paper":
            return paper.attention_forward(p, x, smooth)
        g = 28 // c.patch
        tokens = x.reshape(-1, g, c.patch, g, c.patch).permute(0, 1, 3, 2, 4).reshape(-1, g * g, c.patch ** 2)
        E = p.linear(tokens, "we", None, shared=True) + p.get("pos").unsqueeze(1)  # (pop, B, n, d)
        scores = p.linear(E, "wk", None, shared=False)  # (pop, B, n, heads)
        if smooth:
            picked = torch.einsum("pbnh,pbnd->pbhd", torch.softmax(c.surrogate_slope * scores, dim=2), E)
        else:
            idx = scores.argmax(dim=2)  # (pop, B, heads)
            picked = torch.gather(E, 2, idx.unsqueeze(-1).expand(*idx.shape, E.shape[-1]))
        z = torch.relu(picked).reshape(picked.shape[0], picked.shape[1], -1)
        return p.linear(z, "wo", "bo", shared=False)

    def incremental_net(self):
        from .incremental import AttentionNet, Linear
        if self.config.arch == "paper":  # slot attention has no description yet: low-rank path
            return None
        return AttentionNet("we", "pos", "wk", Linear("wo", "bo"), self.config.patch)


# -- staircase activation ------------------------------------------------------------------------
@dataclass
class StaircaseConfig(NeuralConfig):
    levels: int | None = None  # activation floor(levels * sigmoid(z)) / levels, zero gradient a.e.; unset: 4 (arch ours), 5 (paper)


class StaircaseMLP(NeuralProblem):
    """784-hidden-classes MLP whose hidden activation is a staircase (floor of a squashed input).
    With arch=paper: two staircase layers, 784-H-H-classes."""

    name = "staircase-mlp"
    Config = StaircaseConfig
    capabilities = frozenset({"lowrank", "deltas"})
    arch_defaults = {"ours": {"levels": 4}, "paper": {"levels": 5}}

    def __init__(self, config=None):
        cfg = self.resolve(config)
        if cfg.levels < 1:
            raise ValueError(f"staircase-mlp: levels must be >= 1, got {cfg.levels}")
        super().__init__(cfg)

    def blocks(self):
        h = self.config.hidden
        if self.config.arch == "paper":
            return paper.staircase_blocks(h, self.classes)
        return [("w1", (PIXELS, h)), ("b1", (h,)), ("w2", (h, self.classes)), ("b2", (self.classes,))]

    def fan_in(self, name, shape):
        return paper.fan_in(name, shape) if self.config.arch == "paper" else super().fan_in(name, shape)

    def forward(self, p, x, smooth=False):
        k = self.config.levels
        if self.config.arch == "paper":
            return paper.staircase_forward(p, x, k, smooth)
        z = torch.sigmoid(p.linear(x, "w1", "b1", shared=True))
        h = z if smooth else torch.floor(k * z) / k
        return p.linear(h, "w2", "b2", shared=False)

    def incremental_net(self):
        from .incremental import Linear, MLPNet
        levels = self.config.levels
        if self.config.arch == "paper":  # 784-H-H-classes, two staircase layers
            return MLPNet((Linear("w1", "b1", "staircase", levels=levels), Linear("w2", "b2", "staircase", levels=levels),
                           Linear("w3", "b3")))
        return MLPNet((Linear("w1", "b1", "staircase", levels=levels), Linear("w2", "b2")))


# -- hard mixture of experts ---------------------------------------------------------------------
@dataclass
class MoEConfig(NeuralConfig):
    dataset: str = "mnist+fashion"  # 20 classes: MNIST digits 0-9 and Fashion-MNIST items as 10-19
    hidden: int | None = None  # hidden units of each expert (paper: also of the shared layer); unset: 32 (arch ours), 128 (paper)
    experts: int = 4  # experts; each image goes to exactly one: argmax of the router's scores


class HardMoE(NeuralProblem):
    """Router (linear, argmax top-1) sends each image to one of ``experts`` 784-hidden-classes MLP
    experts. All experts are computed and the routed one is gathered (cheap at this size).
    With arch=paper: shared 784-H relu, a linear gate H-E (argmax top-1), E experts H-H relu H-H,
    head H-classes."""

    name = "hard-moe"
    Config = MoEConfig
    capabilities = frozenset({"lowrank", "deltas"})
    arch_defaults = {"ours": {"hidden": 32}, "paper": {"hidden": 128}}

    def __init__(self, config=None):
        cfg = self.resolve(config)
        if cfg.experts < 1:
            raise ValueError(f"hard-moe: experts must be >= 1, got {cfg.experts}")
        super().__init__(cfg)

    def blocks(self):
        e, h, k = self.config.experts, self.config.hidden, self.classes
        if self.config.arch == "paper":
            return paper.moe_blocks(h, e, k)
        return [("wr", (PIXELS, e)), ("br", (e,)), ("w1", (PIXELS, e * h)), ("b1", (e * h,)),
                ("w2", (e, h, k)), ("b2", (e, k))]

    def fan_in(self, name, shape):
        if self.config.arch == "paper":
            return paper.fan_in(name, shape)
        if name == "w2":
            return shape[1]
        return None if name == "b2" else super().fan_in(name, shape)

    def forward(self, p, x, smooth=False):
        e, h = self.config.experts, self.config.hidden
        if self.config.arch == "paper":
            return paper.moe_forward(p, x, e, smooth)
        route = p.linear(x, "wr", "br", shared=True)  # (pop, B, e)
        hid = torch.relu(p.linear(x, "w1", "b1", shared=True))
        hid = hid.reshape(hid.shape[0], hid.shape[1], e, h)
        out = torch.einsum("pbeh,pehc->pbec", hid, p.get("w2")) + p.get("b2").unsqueeze(1)
        if smooth:
            return torch.einsum("pbe,pbec->pbc", torch.softmax(route, dim=-1), out)
        idx = route.argmax(dim=-1)  # (pop, B)
        return torch.gather(out, 2, idx[..., None, None].expand(-1, -1, 1, out.shape[-1])).squeeze(2)

    def incremental_net(self):
        from .incremental import Linear, MoENet
        if self.config.arch == "paper":  # the shared trunk has no description yet: low-rank path
            return None
        return MoENet(Linear("wr", "br"), Linear("w1", "b1", "relu"), "w2", "b2")
