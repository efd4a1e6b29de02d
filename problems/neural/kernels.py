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
def _first_spikes(Ih, steps, beta, th, v, first):
    """One hidden neuron over the batch: Ih (B,) constant currents -> first (B,) int32 the step of
    each image's first spike (``steps`` = none); v (B,) float32 scratch."""
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


@njit(cache=True, fastmath=False)
def _hidden(Ih, W2h, steps, beta, th, v, first, acc):
    """One hidden neuron over the batch: Ih (B,) currents, W2h (C,) its output weights;
    v (B,) float32 and first (B,) int32 scratch; acc (B, steps + 1, C) period groups."""
    _first_spikes(Ih, steps, beta, th, v, first)
    C = W2h.shape[0]
    for b in range(Ih.shape[0]):
        f = first[b]
        if f < steps:
            for c in range(C):
                acc[b, f + 1, c] += W2h[c]


@njit(cache=True, fastmath=False)
def _output_image(acc_b, b2, steps, beta, th, cur, out_b):
    """Output LIF layer of one image: acc_b (steps + 1, C) period groups, b2 (C,) -> spike counts
    out_b (C,); cur (steps, C) float32 scratch."""
    C = acc_b.shape[1]
    zero = np.float32(0.0)
    cur[:, :] = zero
    for q in range(1, steps + 1):  # a period-q neuron spikes at steps q-1, 2q-1, ...
        for t in range(q - 1, steps, q):
            for c in range(C):
                cur[t, c] += acc_b[q, c]
    for c in range(C):
        v = zero
        n = zero
        for t in range(steps):
            v = (zero if v > th else beta * v) + (cur[t, c] + b2[c])
            if v > th:
                n += np.float32(1.0)
        out_b[c] = n


@njit(cache=True, fastmath=False)
def _output(acc, b2, steps, beta, th, out):
    """Output LIF layer of one candidate: acc (B, steps + 1, C) period groups, b2 (C,) -> counts out (B, C)."""
    cur = np.empty((steps, acc.shape[2]), dtype=np.float32)
    for b in range(acc.shape[0]):
        _output_image(acc[b], b2, steps, beta, th, cur, out[b])


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


@njit(cache=True, fastmath=False)
def snn_base(I1T, W2, b2, y, steps, beta, th, scale):
    """The unperturbed net on the minibatch, kept for ``snn_deltas``: I1T (H, B) first-layer
    currents -> first-spike steps (H, B) int32, period groups acc (B, steps + 1, C) and per-image
    cross-entropies (B,) float64, each computed as ``snn_counts`` + ``mean_cross_entropy`` do."""
    H, B = I1T.shape
    C = W2.shape[1]
    first = np.empty((H, B), dtype=np.int32)
    acc = np.zeros((B, steps + 1, C), dtype=np.float32)
    v = np.empty(B, dtype=np.float32)
    for h in range(H):
        _hidden(I1T[h], W2[h], steps, beta, th, v, first[h], acc)
    counts = np.empty((B, C), dtype=np.float32)
    _output(acc, b2, steps, beta, th, counts)
    ce = np.empty(B, dtype=np.float64)
    for b in range(B):
        ce[b] = _image_cross_entropy(counts[b] * scale, y[b])
    return first, acc, ce


@njit(parallel=True, cache=True, fastmath=False)
def snn_deltas(offsets, kind, neuron, other, value, XT, I1T, W1, b1, W2, b2, first, acc, ce, y,
               steps, beta, th, scale, n_chunks):
    """Mean cross-entropy of candidates that each change a few parameters of the base net.

    Candidate p's changes are ``offsets[p]:offsets[p+1]``, sorted by ``neuron`` (output-bias
    changes first, neuron -1): ``kind`` 0 = W1[other, neuron], 1 = b1[neuron], 2 =
    W2[neuron, other], 3 = b2[other], ``value`` the new float32 value. Only the hidden neurons a
    candidate touches are re-run (their currents move by delta * pixel), only the images whose
    first-spike step or output weights changed get their period groups patched
    (acc - old row + new row) and their output layer re-run; every other image keeps its base
    cross-entropy. The mean is summed in image order like ``mean_cross_entropy``, so a candidate
    that changes nothing gets exactly the base loss; otherwise the loss equals the dense one up to
    float32 rounding of the patched sums."""
    pop = offsets.shape[0] - 1
    H, B = I1T.shape
    C = W2.shape[1]
    out = np.empty(pop, dtype=np.float64)
    per = (pop + n_chunks - 1) // n_chunks
    for chunk in prange(n_chunks):
        acc_c = np.empty((B, steps + 1, C), dtype=np.float32)
        touched = np.zeros(B, dtype=np.bool_)
        imgs = np.empty(B, dtype=np.int32)
        dI = np.empty(B, dtype=np.float32)
        v = np.empty(B, dtype=np.float32)
        fnew = np.empty(B, dtype=np.int32)
        w2row = np.empty(C, dtype=np.float32)
        b2c = np.empty(C, dtype=np.float32)
        cur = np.empty((steps, C), dtype=np.float32)
        counts = np.empty(C, dtype=np.float32)
        logits = np.empty(C, dtype=np.float32)
        for p in range(chunk * per, min(pop, (chunk + 1) * per)):
            s, e = offsets[p], offsets[p + 1]
            b2c[:] = b2
            b2_changed = False
            while s < e and kind[s] == 3:
                b2c[other[s]] = value[s]
                b2_changed = True
                s += 1
            n_t = 0
            while s < e:
                h = neuron[s]
                g = s
                while g < e and neuron[g] == h:
                    g += 1
                moved, w2_changed = False, False
                w2row[:] = W2[h]
                dI[:] = np.float32(0.0)
                for q in range(s, g):
                    if kind[q] == 0:
                        j = other[q]
                        dw = value[q] - W1[j, h]
                        for b in range(B):
                            dI[b] += dw * XT[j, b]
                        moved = True
                    elif kind[q] == 1:
                        db = value[q] - b1[h]
                        for b in range(B):
                            dI[b] += db
                        moved = True
                    else:
                        w2row[other[q]] = value[q]
                        w2_changed = True
                if moved:
                    for b in range(B):
                        dI[b] = I1T[h, b] + dI[b]
                    _first_spikes(dI, steps, beta, th, v, fnew)
                for b in range(B):
                    fo = first[h, b]
                    fn = fnew[b] if moved else fo
                    if fo == fn and (fo == steps or not w2_changed):
                        continue
                    if not touched[b]:
                        touched[b] = True
                        imgs[n_t] = b
                        n_t += 1
                        acc_c[b] = acc[b]
                    if fo < steps:
                        for c in range(C):
                            acc_c[b, fo + 1, c] -= W2[h, c]
                    if fn < steps:
                        for c in range(C):
                            acc_c[b, fn + 1, c] += w2row[c]
                s = g
            total = 0.0
            for b in range(B):
                if touched[b] or b2_changed:
                    _output_image(acc_c[b] if touched[b] else acc[b], b2c, steps, beta, th, cur, counts)
                    for c in range(C):
                        logits[c] = counts[c] * scale
                    total += _image_cross_entropy(logits, y[b])
                else:
                    total += ce[b]
            out[p] = total / B
            for i in range(n_t):
                touched[imgs[i]] = False
    return out


def threads() -> int:
    """Numba threads in use (the deltas kernel splits its candidates into this many chunks)."""
    return numba.get_num_threads()


@njit(cache=True, fastmath=False)
def _image_cross_entropy(logits_b, label):
    """Cross-entropy of one image's float32 logits (C,) in float64."""
    C = logits_b.shape[0]
    m = logits_b[0]
    for c in range(1, C):
        m = max(m, logits_b[c])
    s = 0.0
    for c in range(C):
        s += np.exp(np.float64(logits_b[c] - m))
    return np.log(s) + m - logits_b[label]


@njit(parallel=True, cache=True, fastmath=False)
def mean_cross_entropy(logits, y):
    """logits (pop, B, C) float32, y (B,) int64 -> mean cross-entropy per candidate (pop,) float64."""
    pop, B, C = logits.shape
    out = np.zeros(pop, dtype=np.float64)
    for p in prange(pop):
        total = 0.0
        for b in range(B):
            total += _image_cross_entropy(logits[p, b], y[b])
        out[p] = total / B
    return out
