"""Numba kernels of the spiking MLP's hard forward after the first layer's currents.

Nothing of size (pop, T, B, H) is ever stored. A hidden neuron with constant input current I, zero
initial membrane and reset to zero follows
    m_0 = I, m_t = (0 if m_{t-1} > th else beta * m_{t-1}) + I,  spike_t = m_t > th,
so after each spike the membrane restarts at exactly 0 + I: its spike train is periodic with
period q = (step of its first spike) + 1. The kernel iterates the recurrence in the same float32
arithmetic as ``models.lif`` for one neuron over the whole minibatch at a time (contiguous and
branch-free, so it vectorizes), keeps each image's first-spike step, and adds the neuron's W2 row
to the image's period-q group. The output current of step t is the sum of the groups whose q
divides t + 1 (in increasing q), and the output LIF layer counts its spikes.

The output currents add the same W2 rows as ``spikes @ W2 + b2`` in another order, so float32
rounding can differ from the torch path in the last bit; that flips a spike only when a membrane
lands within that bit of the threshold.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange


@njit(cache=True, fastmath=False)
def _hidden(Ih, W2h, steps, beta, th, v, first, acc):
    """One hidden neuron over the batch: Ih (B,) currents, W2h (C,) its output weights;
    v (B,) float32 and first (B,) int32 scratch; acc (B, steps + 1, C) period groups."""
    B = Ih.shape[0]
    zero = np.float32(0.0)
    for b in range(B):
        v[b] = zero
        first[b] = steps
    for t in range(steps):
        for b in range(B):
            x = v[b]
            x = (zero if x > th else beta * x) + Ih[b]
            v[b] = x
            first[b] = t if (x > th and first[b] == steps) else first[b]
    C = W2h.shape[0]
    for b in range(B):
        f = first[b]
        if f < steps:
            for c in range(C):
                acc[b, f + 1, c] += W2h[c]


@njit(cache=True, fastmath=False)
def _output(acc, b2, steps, beta, th, out):
    """Output LIF layer of one candidate: acc (B, steps + 1, C) period groups, b2 (C,) -> counts out (B, C)."""
    B, _, C = acc.shape
    zero = np.float32(0.0)
    cur = np.empty((steps, C), dtype=np.float32)
    for b in range(B):
        cur[:, :] = zero
        for q in range(1, steps + 1):  # a period-q neuron spikes at steps q-1, 2q-1, ...
            for t in range(q - 1, steps, q):
                for c in range(C):
                    cur[t, c] += acc[b, q, c]
        for c in range(C):
            v = zero
            n = zero
            for t in range(steps):
                v = (zero if v > th else beta * v) + (cur[t, c] + b2[c])
                if v > th:
                    n += np.float32(1.0)
            out[b, c] = n


@njit(parallel=True, cache=True, fastmath=False)
def snn_counts(I1T, W2, b2, steps, beta, th):
    """I1T (pop, H, B) first-layer currents (neuron-major), W2 (pop, H, C), b2 (pop, C)
    -> output spike counts (pop, B, C)."""
    pop, H, B = I1T.shape
    C = W2.shape[2]
    out = np.zeros((pop, B, C), dtype=np.float32)
    for p in prange(pop):
        acc = np.zeros((B, steps + 1, C), dtype=np.float32)
        v = np.empty(B, dtype=np.float32)
        first = np.empty(B, dtype=np.int32)
        for h in range(H):
            _hidden(I1T[p, h], W2[p, h], steps, beta, th, v, first, acc)
        _output(acc, b2[p], steps, beta, th, out[p])
    return out


@njit(parallel=True, cache=True, fastmath=False)
def snn_counts_factored(baseT, huT, v, bias, W2, b2, steps, beta, th):
    """First-layer currents in low-rank form, one neuron at a time, never stored:
    I1[p, b, h] = (base[b, h] + sum_k hu[p, b, k] * v[p, h, k]) + bias[p, h]
    with baseT (H, B), huT (pop, r, B), v (pop, H, r), bias (pop, H); the rest as ``snn_counts``."""
    pop, r, B = huT.shape
    H = baseT.shape[0]
    C = W2.shape[2]
    out = np.zeros((pop, B, C), dtype=np.float32)
    for p in prange(pop):
        acc = np.zeros((B, steps + 1, C), dtype=np.float32)
        vb = np.empty(B, dtype=np.float32)
        first = np.empty(B, dtype=np.int32)
        Ih = np.empty(B, dtype=np.float32)
        for h in range(H):
            for b in range(B):
                s = np.float32(0.0)
                for k in range(r):
                    s += huT[p, k, b] * v[p, h, k]
                Ih[b] = (baseT[h, b] + s) + bias[p, h]
            _hidden(Ih, W2[p, h], steps, beta, th, vb, first, acc)
        _output(acc, b2[p], steps, beta, th, out[p])
    return out


def set_threads(n: int) -> None:
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))


@njit(parallel=True, cache=True, fastmath=False)
def mean_cross_entropy(logits, y):
    """logits (pop, B, C) float32, y (B,) int64 -> mean cross-entropy per candidate (pop,) float64."""
    pop, B, C = logits.shape
    out = np.zeros(pop, dtype=np.float64)
    for p in prange(pop):
        total = 0.0
        for b in range(B):
            m = logits[p, b, 0]
            for c in range(1, C):
                m = max(m, logits[p, b, c])
            s = 0.0
            for c in range(C):
                s += np.exp(np.float64(logits[p, b, c] - m))
            total += np.log(s) + m - logits[p, b, y[b]]
        out[p] = total / B
    return out
