"""Numba kernels of the incremental (sparse-change) evaluation in ``incremental.py``.

A candidate differs from the base point in a few parameters. Every layer's base pre-activations
``Z`` and activations ``A`` on the minibatch are cached once per call; a candidate then carries,
layer by layer, only what moved:

* a weight change (i, j) or bias change j of a layer moves column j of its pre-activations, for
  every image (``z_j += a_i * dw``): one pass over the batch per changed column;
* an image whose input row moved (its previous layer's activations changed) gets its whole row
  recomputed as ``Z[b] + sum_i (a'_i - a_i) W[i] + a' dW + db`` (only the moved inputs count);
* an image is handed to the next layer only when its *activation* moved: behind a quantizer,
  a sign or a staircase most changes move few images; only those reach the loss, and every other
  image keeps its cached cross-entropy.

Weight changes arrive already transformed (``dw = f(new) - f(old)`` for the layer's weight
quantizer or sign, computed by the caller with the model's own torch function), so the kernels
know only activations: 0 identity, 1 relu, 2 quantized relu (``clamp(round(relu(z)/step), 0,
hi) * step``), 3 sign (``+1 if z >= 0 else -1``), 4 staircase (``floor(levels sigmoid(z)) /
levels``), each followed by a multiplication by ``scale``.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .kernels import _image_cross_entropy


@njit(cache=True, fastmath=False)
def _act(z, kind, p0, p1, scale):
    """One activation in float32 arithmetic (the torch forwards' formulas)."""
    zero = np.float32(0.0)
    if kind == 1:
        a = z if z > zero else zero
    elif kind == 2:
        r = z if z > zero else zero
        a = min(max(np.float32(np.rint(r / p0)), zero), p1) * p0
    elif kind == 3:
        a = np.float32(1.0) if z >= zero else np.float32(-1.0)
    elif kind == 4:
        s = np.float32(1.0) / (np.float32(1.0) + np.exp(-z))
        a = np.float32(np.floor(p0 * s)) / p0
    else:
        a = z
    return a * scale


@njit(cache=True, fastmath=False)
def _rows(Aprev, Wf, Z, A, cs, ce, ci, cj, cd, cbias, act, ap0, ap1, scale,
          prev_list, n_prev, prev_rows, flag, lst, n_t, rows, rowz):
    """Images whose input row moved: their whole pre-activation row, incrementally."""
    n_in, n_out = Wf.shape
    for q in range(n_prev):
        b = prev_list[q]
        rowz[:] = Z[b]
        for i in range(n_in):
            d = prev_rows[b, i] - Aprev[b, i]
            if d != np.float32(0.0):
                for j in range(n_out):
                    rowz[j] += d * Wf[i, j]
        for k in range(cs, ce):
            if cbias[k]:
                rowz[cj[k]] += cd[k]
            else:
                rowz[cj[k]] += prev_rows[b, ci[k]] * cd[k]
        moved = False
        for j in range(n_out):
            a = _act(rowz[j], act, ap0, ap1, scale)
            rows[b, j] = a
            moved = moved or a != A[b, j]
        if moved:
            flag[b] = True
            lst[n_t] = b
            n_t += 1
    return n_t


@njit(cache=True, fastmath=False)
def _layer(AprevT, Wf, Z, ZT, A, cs, ce, ci, cj, cd, cbias, act, ap0, ap1, scale,
           prev_flag, prev_list, n_prev, prev_rows, Aprev, flag, lst, rows, colz, rowz):
    """One layer of one candidate: changes ``cs:ce`` of this layer (``cbias`` bias, else weight
    (ci, cj); ``cd`` the transformed delta), the previous layer's moved images ``prev_list`` with
    their new rows. Fills ``flag``/``lst``/``rows`` with this layer's moved images and returns
    their count."""
    B = A.shape[0]
    n_t = _rows(Aprev, Wf, Z, A, cs, ce, ci, cj, cd, cbias, act, ap0, ap1, scale,
                prev_list, n_prev, prev_rows, flag, lst, 0, rows, rowz)
    for k in range(cs, ce):  # one pass per changed column, over the images whose input is unchanged
        j = cj[k]
        first = True
        for k2 in range(cs, k):
            if cj[k2] == j:
                first = False
        if not first:
            continue
        colz[:] = ZT[j]
        for k2 in range(k, ce):
            if cj[k2] != j:
                continue
            if cbias[k2]:
                for b in range(B):
                    colz[b] += cd[k2]
            else:
                src = AprevT[ci[k2]]
                for b in range(B):
                    colz[b] += src[b] * cd[k2]
        for b in range(B):
            if prev_flag[b]:
                continue
            a = _act(colz[b], act, ap0, ap1, scale)
            if a != A[b, j]:
                if not flag[b]:
                    flag[b] = True
                    lst[n_t] = b
                    n_t += 1
                    rows[b] = A[b]
                rows[b, j] = a
    return n_t


@njit(cache=True, fastmath=False)
def _loss(flag, rows, ce_base, y):
    """Mean cross-entropy summed in image order: moved images from their new logits, the rest
    from the cache (so a candidate that moves nothing gets exactly the base loss)."""
    total = 0.0
    for b in range(ce_base.shape[0]):
        total += _image_cross_entropy(rows[b], y[b]) if flag[b] else ce_base[b]
    return total / ce_base.shape[0]


@njit(parallel=True, cache=True, fastmath=False)
def mlp_deltas(off, ci, cj, cd, cbias, X, XT, Wf, Z, ZT, A, AT, acts, ce_base, y, n_chunks):
    """Losses of candidates on an MLP of L layers (tuples of per-layer arrays: ``Wf`` transformed
    weights (in, out), ``Z``/``A`` base pre-activations/activations (B, out) and their transposes
    ``ZT``/``AT`` (out, B), ``acts`` (L, 4):
    kind, p0, p1, scale). Candidate p's changes of layer l are ``off[p*L+l]:off[p*L+l+1]``."""
    L = len(Wf)
    pop = (off.shape[0] - 1) // L
    B = X.shape[0]
    width = 1
    for l in range(L):
        width = max(width, Wf[l].shape[1])
    out = np.empty(pop, dtype=np.float64)
    per = (pop + n_chunks - 1) // n_chunks
    for chunk in prange(n_chunks):
        flags = np.zeros((L, B), dtype=np.bool_)
        lists = np.empty((L, B), dtype=np.int32)
        counts = np.zeros(L, dtype=np.int32)
        rows = [np.empty((B, Wf[l].shape[1]), dtype=np.float32) for l in range(L)]
        colz = np.empty(B, dtype=np.float32)
        rowz = np.empty(width, dtype=np.float32)
        none = np.zeros(B, dtype=np.bool_)
        for p in range(chunk * per, min(pop, (chunk + 1) * per)):
            for l in range(L):
                kind, p0, p1, scale = int(acts[l, 0]), acts[l, 1], acts[l, 2], acts[l, 3]
                s, e = off[p * L + l], off[p * L + l + 1]
                if l == 0:
                    counts[0] = _layer(XT, Wf[0], Z[0], ZT[0], A[0], s, e, ci, cj, cd, cbias, kind, p0, p1, scale,
                                       none, lists[0], 0, rows[0], X, flags[0], lists[0], rows[0], colz,
                                       rowz[:Wf[0].shape[1]])
                else:
                    counts[l] = _layer(AT[l - 1], Wf[l], Z[l], ZT[l], A[l], s, e, ci, cj, cd, cbias, kind, p0, p1,
                                       scale, flags[l - 1], lists[l - 1], counts[l - 1], rows[l - 1], A[l - 1],
                                       flags[l], lists[l], rows[l], colz, rowz[:Wf[l].shape[1]])
            out[p] = _loss(flags[L - 1], rows[L - 1], ce_base, y)
            for l in range(L):
                for q in range(counts[l]):
                    flags[l, lists[l, q]] = False
    return out


@njit(cache=True, fastmath=False)
def image_cross_entropies(logits, y):
    """logits (B, C) float32, y (B,) -> per-image cross-entropies (B,) float64."""
    out = np.empty(logits.shape[0], dtype=np.float64)
    for b in range(logits.shape[0]):
        out[b] = _image_cross_entropy(logits[b], y[b])
    return out


@njit(cache=True, fastmath=False)
def _attn_argmax(S, E, dE, slot_j, n_slots, wkc, cs, ce, ci, cj, cd, b, h):
    """First argmax over tokens of head h's moved scores for image b:
    S + dE @ Wk' + E @ dWk (``cs:ce`` the Wk changes: (ci, cj) = (row j, head))."""
    best, arg = -np.inf, 0
    for t in range(S.shape[1]):
        s = S[b, t, h]
        for q in range(n_slots):
            s += dE[q, b, t] * wkc[slot_j[q], h]
        for k in range(cs, ce):
            if cj[k] == h:
                s += E[b, t, ci[k]] * cd[k]
        if s > best:
            best, arg = s, t
    return arg


@njit(cache=True, fastmath=False)
def _attn_front(TOK, E, S, idx, Zf, Wk, cs, ce, ks, ke, ci, cj, cd, cb,
                dE, slot_of, slot_j, wkc, heads_on, flag, lst, rows):
    """Attention front of one candidate: embedding/position changes ``cs:ce`` (cb = position),
    key changes ``ks:ke``. Returns the count of images whose picked-token features moved, their
    new feature rows in ``rows``."""
    B, n, d = E.shape
    H = S.shape[2]
    n_slots = 0
    for k in range(cs, ce):
        j = cj[k]
        if slot_of[j] < 0:
            slot_of[j] = n_slots
            slot_j[n_slots] = j
            dE[n_slots] = np.float32(0.0)
            n_slots += 1
        q = slot_of[j]
        if cb[k]:
            for b in range(B):
                dE[q, b, ci[k]] += cd[k]
        else:
            for b in range(B):
                for t in range(n):
                    dE[q, b, t] += TOK[b, t, ci[k]] * cd[k]
    wkc[:, :] = Wk
    heads_on[:] = n_slots > 0
    for k in range(ks, ke):
        wkc[ci[k], cj[k]] += cd[k]
        heads_on[cj[k]] = True
    n_t = 0
    for b in range(B):
        moved = False
        for h in range(H):
            t0 = idx[b, h]
            t1 = _attn_argmax(S, E, dE, slot_j, n_slots, wkc, ks, ke, ci, cj, cd, b, h) if heads_on[h] else t0
            for k in range(d):
                if t1 == t0 and slot_of[k] < 0:
                    continue
                e = E[b, t1, k] + (dE[slot_of[k], b, t1] if slot_of[k] >= 0 else np.float32(0.0))
                a = e if e > np.float32(0.0) else np.float32(0.0)
                if a != Zf[b, h * d + k]:
                    if not moved:
                        moved = True
                        rows[b] = Zf[b]
                    rows[b, h * d + k] = a
        if moved:
            flag[b] = True
            lst[n_t] = b
            n_t += 1
    for q in range(n_slots):
        slot_of[slot_j[q]] = -1
    return n_t


@njit(parallel=True, cache=True, fastmath=False)
def attn_deltas(off, ci, cj, cd, cb, TOK, E, S, idx, Zf, ZfT, Wk, Wo, Zo, ZoT, Ao, ce_base, y, n_chunks):
    """Losses of candidates on the argmax-attention net. Candidate p's changes come in 3 groups
    ``off[3p + g]:off[3p + g + 1]``: g = 0 token embedding (ci = pixel, cj = feature, cb False)
    or position (ci = token, cj = feature, cb True), 1 = keys (ci = feature, cj = head), 2 = the
    output layer (ci, cj) or bias cj (cb True). Deltas are new - old (float32)."""
    pop = (off.shape[0] - 1) // 3
    B, n, d = E.shape
    H = S.shape[2]
    out = np.empty(pop, dtype=np.float64)
    per = (pop + n_chunks - 1) // n_chunks
    for chunk in prange(n_chunks):
        dE = np.empty((d, B, n), dtype=np.float32)
        slot_of = np.full(d, -1, dtype=np.int64)
        slot_j = np.empty(d, dtype=np.int64)
        wkc = np.empty((d, H), dtype=np.float32)
        heads_on = np.zeros(H, dtype=np.bool_)
        flags = np.zeros((2, B), dtype=np.bool_)
        lists = np.empty((2, B), dtype=np.int32)
        rows_f = np.empty((B, H * d), dtype=np.float32)
        rows_o = np.empty((B, Wo.shape[1]), dtype=np.float32)
        colz = np.empty(B, dtype=np.float32)
        rowz = np.empty(Wo.shape[1], dtype=np.float32)
        one = np.float32(1.0)
        for p in range(chunk * per, min(pop, (chunk + 1) * per)):
            o = off[3 * p:3 * p + 4]
            n_f = _attn_front(TOK, E, S, idx, Zf, Wk, o[0], o[1], o[1], o[2], ci, cj, cd, cb,
                              dE, slot_of, slot_j, wkc, heads_on, flags[0], lists[0], rows_f)
            n_o = _layer(ZfT, Wo, Zo, ZoT, Ao, o[2], o[3], ci, cj, cd, cb, 0, one, one, one,
                         flags[0], lists[0], n_f, rows_f, Zf, flags[1], lists[1], rows_o, colz, rowz)
            out[p] = _loss(flags[1], rows_o, ce_base, y)
            for q in range(n_f):
                flags[0, lists[0, q]] = False
            for q in range(n_o):
                flags[1, lists[1, q]] = False
    return out


@njit(cache=True, fastmath=False)
def _moe_logits(hid, e, W2, b2, cs, ce, ci, cj, cd, cb, h, logits):
    """Expert e's logits of one image from its hidden row ``hid`` (all experts' units), with the
    output changes ``cs:ce`` of that expert (ci = e * h + unit, or ci = expert for a bias)."""
    C = logits.shape[0]
    logits[:] = np.float32(0.0)
    for u in range(h):
        a = hid[e * h + u]
        for c in range(C):
            logits[c] += a * W2[e * h + u, c]
    for k in range(cs, ce):
        if cb[k]:
            if ci[k] == e:
                logits[cj[k]] += cd[k]
        elif ci[k] // h == e:
            logits[cj[k]] += hid[ci[k]] * cd[k]
    for c in range(C):
        logits[c] += b2[e, c]


@njit(parallel=True, cache=True, fastmath=False)
def moe_deltas(off, ci, cj, cd, cb, X, XT, Wr, Zr, ZrT, route, W1, Zh, ZhT, Ah, W2, b2, ce_base, y,
               h, n_chunks):
    """Losses of candidates on the hard mixture of experts. Groups ``off[3p + g]:off[3p + g + 1]``:
    0 router (weights (ci, cj) / bias cj), 1 all experts' hidden layer (same), 2 expert outputs
    (W2 as (experts * h, C): (ci, cj), or bias (expert ci, class cj) with cb True). An image is
    re-scored when its routed expert, that expert's hidden units or its output weights moved."""
    pop = (off.shape[0] - 1) // 3
    B = X.shape[0]
    n_e, C = Wr.shape[1], W2.shape[1]
    out = np.empty(pop, dtype=np.float64)
    per = (pop + n_chunks - 1) // n_chunks
    for chunk in prange(n_chunks):
        flags = np.zeros((2, B), dtype=np.bool_)
        lists = np.empty((2, B), dtype=np.int32)
        rows_r = np.empty((B, n_e), dtype=np.float32)
        rows_h = np.empty((B, W1.shape[1]), dtype=np.float32)
        colz = np.empty(B, dtype=np.float32)
        rowz = np.empty(W1.shape[1], dtype=np.float32)
        none = np.zeros(B, dtype=np.bool_)
        echg = np.zeros(n_e, dtype=np.bool_)
        logits = np.empty(C, dtype=np.float32)
        one = np.float32(1.0)
        for p in range(chunk * per, min(pop, (chunk + 1) * per)):
            o = off[3 * p:3 * p + 4]
            n_r = _layer(XT, Wr, Zr, ZrT, Zr, o[0], o[1], ci, cj, cd, cb, 0, one, one, one,
                         none, lists[0], 0, rows_r, X, flags[0], lists[0], rows_r, colz, rowz[:n_e])
            n_h = _layer(XT, W1, Zh, ZhT, Ah, o[1], o[2], ci, cj, cd, cb, 1, one, one, one,
                         none, lists[1], 0, rows_h, X, flags[1], lists[1], rows_h, colz, rowz)
            echg[:] = False
            for k in range(o[2], o[3]):
                echg[ci[k] if cb[k] else ci[k] // h] = True
            total = 0.0
            for b in range(B):
                e = route[b]
                if flags[0, b]:  # first argmax, as torch
                    e = 0
                    for k in range(1, n_e):
                        if rows_r[b, k] > rows_r[b, e]:
                            e = k
                need = e != route[b] or echg[e]
                if flags[1, b] and not need:
                    for u in range(e * h, (e + 1) * h):
                        need = need or rows_h[b, u] != Ah[b, u]
                if need:
                    _moe_logits(rows_h[b] if flags[1, b] else Ah[b], e, W2, b2, o[2], o[3], ci, cj, cd, cb,
                                h, logits)
                    total += _image_cross_entropy(logits, y[b])
                else:
                    total += ce_base[b]
            out[p] = total / B
            for q in range(n_r):
                flags[0, lists[0, q]] = False
            for q in range(n_h):
                flags[1, lists[1, q]] = False
    return out
