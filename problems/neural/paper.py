"""The PolyStep paper's networks (``arch="paper"``), written against the same parameter views as
``models`` so that the batched, low-rank and deltas paths apply unchanged.

Read from the reference repository (anindex/polystep, experiments/runners/nondiff_models.py:
QuantizedMLP, DiscreteAttentionNet, StaircaseNet, HardMoENet and their Smooth* twins); weight
counts match the paper's table (int8 and staircase 118,282, attention 119,306, MoE 235,672).
Every net starts with a plain 784-hidden layer on the shared images, so the first layer (most of
the weights) takes the factored low-rank product. The paper's spiking net (784-128-10, 15 steps,
decay 0.95) is ``models.SpikingMLP`` with other defaults and needs nothing here.

Differences from the reference, on purpose: weights are stored (inputs x outputs) and start
uniform in +-init_gain/sqrt(fan_in) with zero biases (the problems' own initialization), and the
attention keys are stored transposed (hidden x slots) so that the scores are one ``linear``.
"""
from __future__ import annotations

import torch

from .base import _add_bias

PIXELS = 784


def _first(p, x):
    """relu(x W1 + b1): the shared-input layer every paper net starts with."""
    return torch.relu(p.linear(x, "w1", "b1", shared=True))


def fan_in(name: str, shape: tuple) -> int | None:
    """Initial scale of a paper block: biases (names starting with b or eb) start at zero; the
    experts' stacked second layers (e, in, out) scale by ``in``; every other matrix by its rows."""
    if name.startswith(("b", "eb")):
        return None
    return shape[1] if len(shape) == 3 else shape[0]


# -- int8: 784-H relu -> HxH layer with int8 weights and bias -> relu -> H-C ----------------------
def int8_blocks(h: int, classes: int) -> list:
    return [("w1", (PIXELS, h)), ("b1", (h,)), ("wq", (h, h)), ("bq", (h,)), ("w2", (h, classes)), ("b2", (classes,))]


def int8_forward(p, x, step: float, smooth: bool):
    """Only the middle layer is quantized: w -> clamp(round(w / step), -128, 127) * step, its bias
    too. The smooth twin is the float net (the reference's SmoothQuantizedMLP)."""
    def q(w):
        return w if smooth else torch.clamp(torch.round(w / step), -128, 127) * step
    h = _first(p, x)
    z = _add_bias(p.linear(h, "wq", None, shared=False, weight_fn=None if smooth else q), q(p.get("bq")))
    return p.linear(torch.relu(z), "w2", "b2", shared=False)


# -- argmax attention: 784-H relu -> slot = argmax(h K), out = (h Wv + bv) * sigmoid(K[:, slot]) -> H-C
def attention_blocks(h: int, slots: int, classes: int) -> list:
    return [("w1", (PIXELS, h)), ("b1", (h,)), ("k", (h, slots)), ("wv", (h, h)), ("bv", (h,)),
            ("wo", (h, classes)), ("bo", (classes,))]


def attention_forward(p, x, smooth: bool):
    """Hard routing to one key slot per image; the smooth twin mixes the keys by softmax(scores)
    (the reference's SmoothAttention)."""
    h = _first(p, x)
    scores = p.linear(h, "k", None, shared=False)  # (pop, B, slots)
    keys = p.get("k").transpose(1, 2)  # (pop, slots, H): key s is row s
    if smooth:
        picked = torch.bmm(torch.softmax(scores, dim=-1), keys)
    else:
        idx = scores.argmax(dim=-1)  # (pop, B)
        picked = torch.gather(keys, 1, idx.unsqueeze(-1).expand(-1, -1, keys.shape[-1]))
    out = p.linear(h, "wv", "bv", shared=False) * torch.sigmoid(picked)
    return p.linear(out, "wo", "bo", shared=False)


# -- staircase: 784-H -> stair -> H-H -> stair -> H-C, stair(z) = floor(levels sigmoid(z)) / levels
def staircase_blocks(h: int, classes: int) -> list:
    return [("w1", (PIXELS, h)), ("b1", (h,)), ("w2", (h, h)), ("b2", (h,)), ("w3", (h, classes)), ("b3", (classes,))]


def staircase_forward(p, x, levels: int, smooth: bool):
    """Two staircase layers; the smooth twin is plain sigmoid (the reference's SmoothStaircaseNet)."""
    def act(z):
        s = torch.sigmoid(z)
        return s if smooth else torch.floor(levels * s) / levels
    h = act(p.linear(x, "w1", "b1", shared=True))
    h = act(p.linear(h, "w2", "b2", shared=False))
    return p.linear(h, "w3", "b3", shared=False)


# -- hard MoE: 784-H relu -> gate H-E argmax top-1 -> E experts H-H relu H-H -> H-C ----------------
def moe_blocks(h: int, experts: int, classes: int) -> list:
    return [("w1", (PIXELS, h)), ("b1", (h,)), ("wg", (h, experts)), ("bg", (experts,)),
            ("ew1", (h, experts * h)), ("eb1", (experts * h,)), ("ew2", (experts, h, h)), ("eb2", (experts, h)),
            ("wo", (h, classes)), ("bo", (classes,))]


def moe_forward(p, x, experts: int, smooth: bool):
    """Every expert runs on every image (their first layers side by side as one H x E*H matrix)
    and the gate's argmax picks one output; the smooth twin mixes them by softmax(gate) (the
    reference's SoftMoELayer)."""
    h = _first(p, x)
    gate = p.linear(h, "wg", "bg", shared=False)  # (pop, B, E)
    z = torch.relu(p.linear(h, "ew1", "eb1", shared=False))
    z = z.reshape(z.shape[0], z.shape[1], experts, -1)  # (pop, B, E, H)
    out = torch.einsum("pbei,peij->pbej", z, p.get("ew2")) + p.get("eb2").unsqueeze(1)
    if smooth:
        mixed = torch.einsum("pbe,pbej->pbj", torch.softmax(gate, dim=-1), out)
    else:
        idx = gate.argmax(dim=-1)  # (pop, B)
        mixed = torch.gather(out, 2, idx[..., None, None].expand(-1, -1, 1, out.shape[-1])).squeeze(2)
    return p.linear(mixed, "wo", "bo", shared=False)
