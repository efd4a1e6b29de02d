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


# A layer's moved images are kept sparse: ``flag[b]`` (moved), ``lst[:n]`` (their order),
# ``cnt[b]`` units of image b that moved, ``cu[b, :cnt[b]]`` which and ``cv[b, :cnt[b]]`` their
# new activations. Consumers read only the moved units, never a whole row of the layer.


@njit(cache=True, fastmath=False, inline="always")
def _new_value(cu, cv, n, i, default):
    """Unit i's new activation in one image's sparse list, else ``default``."""
    for q in range(n):
        if cu[q] == i:
            return cv[q]
    return default


@njit(cache=True, fastmath=False, inline="always")
def _push(flag, lst, n_t, cnt, cu, cv, b, j, a):
    """Record that unit j of image b moved to a; returns the new count of moved images."""
    if not flag[b]:
        flag[b] = True
        lst[n_t] = b
        n_t += 1
        cnt[b] = 0
    cu[b, cnt[b]] = j
    cv[b, cnt[b]] = a
    cnt[b] += 1
    return n_t


@njit(cache=True, fastmath=False)
def _rows(Aprev, Wf, Z, A, cs, ce, ci, cj, cd, cbias, act, ap0, ap1, scale,
          pl, n_prev, pcnt, pcu, pcv, flag, lst, cnt, cu, cv, rowz, rowa):
    """Images whose input moved: their whole pre-activation row, incrementally
    ``Z[b] + sum over moved inputs (a'_i - a_i) W[i] + a' dW + db`` (``rowa``: scratch for a')."""
    n_out = Wf.shape[1]
    n_t = 0
    for q in range(n_prev):
        b = pl[q]
        rowz[:] = Z[b]
        for r in range(pcnt[b]):
            i = pcu[b, r]
            d = pcv[b, r] - Aprev[b, i]
            for j in range(n_out):
                rowz[j] += d * Wf[i, j]
        if ce - cs > 4:  # many weight changes: the image's new inputs as a row, not searched per change
            rowa[:Aprev.shape[1]] = Aprev[b]
            for r in range(pcnt[b]):
                rowa[pcu[b, r]] = pcv[b, r]
        for k in range(cs, ce):
            if cbias[k]:
                rowz[cj[k]] += cd[k]
            elif ce - cs > 4:
                rowz[cj[k]] += rowa[ci[k]] * cd[k]
            else:
                rowz[cj[k]] += _new_value(pcu[b], pcv[b], pcnt[b], ci[k], Aprev[b, ci[k]]) * cd[k]
        for j in range(n_out):
            a = _act(rowz[j], act, ap0, ap1, scale)
            if a != A[b, j]:
                n_t = _push(flag, lst, n_t, cnt, cu, cv, b, j, a)
    return n_t


@njit(cache=True, fastmath=False)
def input_columns(A):
    """The nonzeros of a layer input A (B, n) column by column, as CSR (off (n + 1), images,
    values): a weight change (i, j) moves z_j only on the images where input i is nonzero (a
    pixel is zero in most images), so the column pass visits only those."""
    B, n = A.shape
    off = np.zeros(n + 1, dtype=np.int64)
    for b in range(B):
        for i in range(n):
            if A[b, i] != np.float32(0.0):
                off[i + 1] += 1
    for i in range(n):
        off[i + 1] += off[i]
    img = np.empty(off[n], dtype=np.int32)
    val = np.empty(off[n], dtype=np.float32)
    pos = off[:n].copy()
    for b in range(B):
        for i in range(n):
            if A[b, i] != np.float32(0.0):
                img[pos[i]] = b
                val[pos[i]] = A[b, i]
                pos[i] += 1
    return off, img, val


@njit(cache=True, fastmath=False)
def _column(j, cs, ce, ci, cd, cbias, nz_off, nz_img, nz_val, ZT, colz, mark, mlist):
    """Column j's moved pre-activations: ``colz[b] = Z[b, j] + sum of its changes cs:ce`` for the
    images ``mlist[:m]`` that a change reaches (all of them if the bias moved); returns m."""
    B = ZT.shape[1]
    m = 0
    for k in range(cs, ce):
        if cbias[k]:  # the bias moves every image
            for b in range(B):
                mark[b] = True
                mlist[b] = b
                colz[b] = ZT[j, b]
            m = B
            break
    for k in range(cs, ce):
        if cbias[k]:
            for b in range(B):
                colz[b] += cd[k]
            continue
        for r in range(nz_off[ci[k]], nz_off[ci[k] + 1]):
            b = nz_img[r]
            if not mark[b]:
                mark[b] = True
                mlist[m] = b
                m += 1
                colz[b] = ZT[j, b]
            colz[b] += nz_val[r] * cd[k]
    for q in range(m):
        mark[mlist[q]] = False
    return m


@njit(cache=True, fastmath=False)
def _layer(Aprev, nz_off, nz_img, nz_val, Wf, Z, ZT, A, cs, ce, ci, cj, cd, cbias, act, ap0, ap1, scale,
           pflag, pl, n_prev, pcnt, pcu, pcv, flag, lst, cnt, cu, cv, colz, rowz, rowa, mark, mlist):
    """One layer of one candidate: changes ``cs:ce`` of this layer (``cbias`` bias, else weight
    (ci, cj); ``cd`` the transformed delta), the previous layer's moved images (``pflag``,
    ``pl[:n_prev]``, sparse lists ``pcnt/pcu/pcv``) and the layer input's nonzeros by column
    (``input_columns``). Fills this layer's sparse lists and returns the count of its moved images."""
    n_t = _rows(Aprev, Wf, Z, A, cs, ce, ci, cj, cd, cbias, act, ap0, ap1, scale,
                pl, n_prev, pcnt, pcu, pcv, flag, lst, cnt, cu, cv, rowz, rowa)
    k = cs
    while k < ce:  # one pass per changed column (its changes are contiguous), over the images whose input is unchanged
        j = cj[k]
        g = k + 1
        while g < ce and cj[g] == j:
            g += 1
        m = _column(j, k, g, ci, cd, cbias, nz_off, nz_img, nz_val, ZT, colz, mark, mlist)
        for q in range(m):
            b = mlist[q]
            if pflag[b]:
                continue
            a = _act(colz[b], act, ap0, ap1, scale)
            if a != A[b, j]:
                n_t = _push(flag, lst, n_t, cnt, cu, cv, b, j, a)
        k = g
    return n_t


@njit(cache=True, fastmath=False)
def _loss(flag, cnt, cu, cv, A, ce_base, y, logits):
    """Mean cross-entropy summed in image order: moved images from their new logits (base row
    with the moved entries replaced), the rest from the cache (so a candidate that moves
    nothing gets exactly the base loss)."""
    total = 0.0
    for b in range(ce_base.shape[0]):
        if flag[b]:
            logits[:] = A[b]
            for r in range(cnt[b]):
                logits[cu[b, r]] = cv[b, r]
            total += _image_cross_entropy(logits, y[b])
        else:
            total += ce_base[b]
    return total / ce_base.shape[0]


@njit(cache=True, fastmath=False)
def _reset(flag, lst, n):
    for q in range(n):
        flag[lst[q]] = False


@njit(parallel=True, cache=True, fastmath=False)
def mlp_deltas(off, ci, cj, cd, cb, X, Wf, Z, ZT, A, nz_off, nz_img, nz_val, acts, ce_base, y, n_chunks):
    """Losses of candidates on an MLP of L layers (tuples of per-layer arrays: ``Wf`` transformed
    weights (in, out), ``Z``/``A`` base pre-activations/activations (B, out), ``ZT`` (out, B),
    ``nz_*`` each layer input's ``input_columns``, ``acts`` (L, 4): kind, p0, p1, scale).
    Candidate p's changes of layer l are ``off[p*L+l]:off[p*L+l+1]``."""
    L = len(Wf)
    pop = (off.shape[0] - 1) // L
    B = X.shape[0]
    width = 1
    for l in range(L):
        width = max(width, Wf[l].shape[1])
    out = np.empty(pop, dtype=np.float64)
    per = (pop + n_chunks - 1) // n_chunks
    for chunk in prange(n_chunks):
        flags = np.zeros((L + 1, B), dtype=np.bool_)  # row 0: the pixels, never moved
        lists = np.empty((L + 1, B), dtype=np.int32)
        counts = np.zeros(L + 1, dtype=np.int32)
        cnt = np.zeros((L + 1, B), dtype=np.int32)
        cu = np.empty((L + 1, B, width), dtype=np.int32)
        cv = np.empty((L + 1, B, width), dtype=np.float32)
        colz = np.empty(B, dtype=np.float32)
        rowz = np.empty(width, dtype=np.float32)
        logits = np.empty(Wf[L - 1].shape[1], dtype=np.float32)
        mark = np.zeros(B, dtype=np.bool_)
        mlist = np.empty(B, dtype=np.int32)
        rowa = np.empty(max(width, X.shape[1]), dtype=np.float32)
        for p in range(chunk * per, min(pop, (chunk + 1) * per)):
            for l in range(L):
                kind, p0, p1, scale = int(acts[l, 0]), acts[l, 1], acts[l, 2], acts[l, 3]
                s, e = off[p * L + l], off[p * L + l + 1]
                n_out = Wf[l].shape[1]
                Ap = X if l == 0 else A[l - 1]
                counts[l + 1] = _layer(Ap, nz_off[l], nz_img[l], nz_val[l], Wf[l], Z[l], ZT[l], A[l], s, e, ci, cj, cd,
                                       cb, kind, p0, p1, scale, flags[l], lists[l], counts[l], cnt[l], cu[l], cv[l],
                                       flags[l + 1], lists[l + 1], cnt[l + 1], cu[l + 1], cv[l + 1], colz,
                                       rowz[:n_out], rowa, mark, mlist)
            out[p] = _loss(flags[L], cnt[L], cu[L], cv[L], A[L - 1], ce_base, y, logits)
            for l in range(L + 1):
                _reset(flags[l], lists[l], counts[l])
    return out


@njit(cache=True, fastmath=False, inline="always")
def _attn_score(S, dE, slot_j, n_slots, wkc, E, ks, ke, ci, cj, cd, b, t, h):
    """Head h's moved score of token t in image b: S + dE @ Wk' + E @ dWk (``ks:ke`` the key
    changes: (ci, cj) = (feature, head))."""
    s = S[b, t, h]
    for q in range(n_slots):
        s += dE[q, b, t] * wkc[slot_j[q], h]
    for k in range(ks, ke):
        if cj[k] == h:
            s += E[b, t, ci[k]] * cd[k]
    return s


@njit(cache=True, fastmath=False, inline="always")
def _attn_argmax(S, E, dE, slot_j, n_slots, wkc, ks, ke, ci, cj, cd, b, h, full, order, tmark, tl, n_tl, sc):
    """First argmax over tokens of head h's moved scores for image b. With key changes on the
    head (``full``) every score moved: a full scan. Otherwise only the tokens ``tl[:n_tl]`` moved
    (their new scores in ``sc[:n_tl, h]``): the best unmoved one is the first unmoved in the base
    order (``order[b, h]``: tokens by decreasing base score, ties by index), and only the moved
    ones are compared with it."""
    if full:
        best, arg = _attn_score(S, dE, slot_j, n_slots, wkc, E, ks, ke, ci, cj, cd, b, 0, h), 0
        for t in range(1, S.shape[1]):
            s = _attn_score(S, dE, slot_j, n_slots, wkc, E, ks, ke, ci, cj, cd, b, t, h)
            if s > best:
                best, arg = s, t
        return arg
    arg = -1
    best = S[b, 0, h]
    for r in range(S.shape[1]):
        t = order[b, h, r]
        if not tmark[b, t]:
            best, arg = S[b, t, h], t
            break
    for q in range(n_tl):
        t, s = tl[q], sc[q, h]
        if arg < 0 or s > best or (s == best and t < arg):
            best, arg = s, t
    return arg


@njit(cache=True, fastmath=False, inline="always")
def _attn_moved_scores(S, E, dE, slot_j, n_slots, wkc, ks, ke, ci, cj, cd, b, tl, n_tl, sc):
    """New scores of image b's moved tokens for every head at once, in ``_attn_score``'s order."""
    for q in range(n_tl):
        t = tl[q]
        sc[q] = S[b, t]
        for r in range(n_slots):
            v, j = dE[r, b, t], slot_j[r]
            for h in range(S.shape[2]):
                sc[q, h] += v * wkc[j, h]
        for k in range(ks, ke):
            sc[q, cj[k]] += E[b, t, ci[k]] * cd[k]


@njit(cache=True, fastmath=False)
def _attn_embed(TOK, cs, ce, ci, cj, cd, cb, dE, slot_of, slot_j, tmark, tcnt, tl, timg):
    """Accumulate the token-embedding changes ``cs:ce`` (cb = a position change) into one
    (B, tokens) slot per changed feature column, and list the moved tokens of each image
    (``tcnt[b]``, ``tl[b]``; images ``timg``). Returns (slots, images with moved tokens)."""
    B, n = dE.shape[1], dE.shape[2]
    n_slots, n_img = 0, 0
    for k in range(cs, ce):
        j = cj[k]
        if slot_of[j] < 0:
            slot_of[j] = n_slots
            slot_j[n_slots] = j
            dE[n_slots] = np.float32(0.0)
            n_slots += 1
        q = slot_of[j]
        for b in range(B):
            for t in range(ci[k], ci[k] + 1) if cb[k] else range(n):
                v = cd[k] if cb[k] else TOK[b, t, ci[k]] * cd[k]
                if v == np.float32(0.0):
                    continue
                dE[q, b, t] += v
                if not tmark[b, t]:
                    tmark[b, t] = True
                    if tcnt[b] == 0:
                        timg[n_img] = b
                        n_img += 1
                    tl[b, tcnt[b]] = t
                    tcnt[b] += 1
    return n_slots, n_img


@njit(cache=True, fastmath=False, inline="always")
def _attn_image(b, E, S, idx, order, Zf, dE, slot_of, slot_j, n_slots, wkc, ks, ke, ci, cj, cd, heads_on, tmark, tcnt, tl,
                sc, flag, lst, n_t, cnt, cu, cv):
    """One image of the attention front: each head's (possibly new) token and the picked
    features that moved, pushed to the sparse lists; returns the count of moved images."""
    d, H = E.shape[2], S.shape[2]
    _attn_moved_scores(S, E, dE, slot_j, n_slots, wkc, ks, ke, ci, cj, cd, b, tl[b], tcnt[b], sc)
    for h in range(H):
        t0 = idx[b, h]
        moved0 = tmark[b, t0]
        if heads_on[h] or tcnt[b] > 0:
            t1 = _attn_argmax(S, E, dE, slot_j, n_slots, wkc, ks, ke, ci, cj, cd, b, h, heads_on[h], order, tmark,
                              tl[b], tcnt[b], sc)
        else:
            t1 = t0
        if t1 == t0 and not moved0:
            continue
        for q in range(d if t1 != t0 else n_slots):  # a new token: every feature; else the moved ones
            k = q if t1 != t0 else slot_j[q]
            e = E[b, t1, k] + (dE[slot_of[k], b, t1] if slot_of[k] >= 0 else np.float32(0.0))
            a = e if e > np.float32(0.0) else np.float32(0.0)
            if a != Zf[b, h * d + k]:
                n_t = _push(flag, lst, n_t, cnt, cu, cv, b, h * d + k, a)
    return n_t


@njit(cache=True, fastmath=False)
def _attn_front(TOK, E, S, idx, order, Zf, Wk, cs, ce, ks, ke, ci, cj, cd, cb,
                dE, slot_of, slot_j, wkc, heads_on, tmark, tcnt, tl, timg, sc, flag, lst, cnt, cu, cv):
    """Attention front of one candidate: embedding/position changes ``cs:ce``, key changes
    ``ks:ke``. Fills the sparse lists of the picked-token features that moved; returns the
    count of moved images. Without key changes only images with a moved token are visited."""
    B = E.shape[0]
    n_slots, n_img = _attn_embed(TOK, cs, ce, ci, cj, cd, cb, dE, slot_of, slot_j, tmark, tcnt, tl, timg)
    wkc[:, :] = Wk
    heads_on[:] = False
    for k in range(ks, ke):
        wkc[ci[k], cj[k]] += cd[k]
        heads_on[cj[k]] = True
    n_t = 0
    for r in range(B if ke > ks else n_img):
        b = r if ke > ks else timg[r]
        n_t = _attn_image(b, E, S, idx, order, Zf, dE, slot_of, slot_j, n_slots, wkc, ks, ke, ci, cj, cd, heads_on,
                          tmark, tcnt, tl, sc, flag, lst, n_t, cnt, cu, cv)
    for r in range(n_img):
        b = timg[r]
        for q in range(tcnt[b]):
            tmark[b, tl[b, q]] = False
        tcnt[b] = 0
    for q in range(n_slots):
        slot_of[slot_j[q]] = -1
    return n_t


@njit(parallel=True, cache=True, fastmath=False)
def attn_deltas(off, ci, cj, cd, cb, TOK, E, S, idx, order, Zf, nz_off, nz_img, nz_val, Wk, Wo, Zo, ZoT, ce_base, y,
                n_chunks):
    """Losses of candidates on the argmax-attention net. Candidate p's changes come in 3 groups
    ``off[3p + g]:off[3p + g + 1]``: g = 0 token embedding (ci = pixel, cj = feature, cb False)
    or position (ci = token, cj = feature, cb True), 1 = keys (ci = feature, cj = head), 2 = the
    output layer (ci, cj) or bias cj (cb True). Deltas are new - old (float32)."""
    pop = (off.shape[0] - 1) // 3
    B, n, d = E.shape
    H, C = S.shape[2], Wo.shape[1]
    out = np.empty(pop, dtype=np.float64)
    per = (pop + n_chunks - 1) // n_chunks
    for chunk in prange(n_chunks):
        dE = np.empty((d, B, n), dtype=np.float32)
        slot_of = np.full(d, -1, dtype=np.int64)
        slot_j = np.empty(d, dtype=np.int64)
        wkc = np.empty((d, H), dtype=np.float32)
        heads_on = np.zeros(H, dtype=np.bool_)
        tmark = np.zeros((B, n), dtype=np.bool_)
        tcnt = np.zeros(B, dtype=np.int64)
        tl = np.empty((B, n), dtype=np.int64)
        timg = np.empty(B, dtype=np.int64)
        sc = np.empty((n, H), dtype=np.float32)
        flags = np.zeros((2, B), dtype=np.bool_)
        lists = np.empty((2, B), dtype=np.int32)
        cnt = np.zeros((2, B), dtype=np.int32)
        cu = np.empty((2, B, H * d), dtype=np.int32)
        cv = np.empty((2, B, H * d), dtype=np.float32)
        colz = np.empty(B, dtype=np.float32)
        rowz = np.empty(C, dtype=np.float32)
        mark = np.zeros(B, dtype=np.bool_)
        mlist = np.empty(B, dtype=np.int32)
        rowa = np.empty(H * d, dtype=np.float32)
        one = np.float32(1.0)
        for p in range(chunk * per, min(pop, (chunk + 1) * per)):
            o = off[3 * p:3 * p + 4]
            n_f = _attn_front(TOK, E, S, idx, order, Zf, Wk, o[0], o[1], o[1], o[2], ci, cj, cd, cb, dE, slot_of, slot_j,
                              wkc, heads_on, tmark, tcnt, tl, timg, sc, flags[0], lists[0], cnt[0], cu[0], cv[0])
            n_o = _layer(Zf, nz_off, nz_img, nz_val, Wo, Zo, ZoT, Zo, o[2], o[3], ci, cj, cd, cb, 0, one, one, one,
                         flags[0], lists[0], n_f, cnt[0], cu[0], cv[0], flags[1], lists[1], cnt[1], cu[1], cv[1],
                         colz, rowz, rowa, mark, mlist)
            out[p] = _loss(flags[1], cnt[1], cu[1], cv[1], Zo, ce_base, y, rowz)
            _reset(flags[0], lists[0], n_f)
            _reset(flags[1], lists[1], n_o)
    return out


@njit(cache=True, fastmath=False, inline="always")
def _moe_route(b, route, flag, cnt, cu, cv, Zr, row):
    """Image b's expert: the base one, or the first argmax of its moved router scores."""
    if not flag[b]:
        return route[b]
    row[:] = Zr[b]
    for r in range(cnt[b]):
        row[cu[b, r]] = cv[b, r]
    e = 0
    for k in range(1, row.shape[0]):
        if row[k] > row[e]:
            e = k
    return e


@njit(cache=True, fastmath=False, inline="always")
def _moe_logits(b, e, h, Ah, flag, cnt, cu, cv, W2, b2, cs, ce, ci, cj, cd, cb, hid, logits):
    """Expert e's logits of image b (its hidden units from the base row with the moved ones
    replaced), with the output changes ``cs:ce`` (ci = e * h + unit, or ci = expert for a bias)."""
    hid[:] = Ah[b, e * h:(e + 1) * h]
    if flag[b]:
        for r in range(cnt[b]):
            u = cu[b, r] - e * h
            if 0 <= u < h:
                hid[u] = cv[b, r]
    logits[:] = np.float32(0.0)
    for u in range(h):
        for c in range(logits.shape[0]):
            logits[c] += hid[u] * W2[e * h + u, c]
    for k in range(cs, ce):
        if cb[k]:
            if ci[k] == e:
                logits[cj[k]] += cd[k]
        elif ci[k] // h == e:
            logits[cj[k]] += hid[ci[k] - e * h] * cd[k]
    for c in range(logits.shape[0]):
        logits[c] += b2[e, c]


@njit(cache=True, fastmath=False, inline="always")
def _moe_moved(b, e, h, flag, cnt, cu):
    """Whether a hidden unit of expert e moved for image b."""
    if flag[b]:
        for r in range(cnt[b]):
            if e * h <= cu[b, r] < (e + 1) * h:
                return True
    return False


@njit(parallel=True, cache=True, fastmath=False)
def moe_deltas(off, ci, cj, cd, cb, X, nz_off, nz_img, nz_val, Wr, Zr, ZrT, route, W1, Zh, ZhT, Ah, hact, W2, b2,
               ce_base, y, h, n_chunks):
    """Losses of candidates on the hard mixture of experts. Groups ``off[3p + g]:off[3p + g + 1]``:
    0 router (weights (ci, cj) / bias cj), 1 all experts' hidden layer (same; activation ``hact``:
    kind, p0, p1, scale), 2 expert outputs
    (W2 as (experts * h, C): (ci, cj), or bias (expert ci, class cj) with cb True). An image is
    re-scored when its routed expert, that expert's hidden units or its output weights moved."""
    pop = (off.shape[0] - 1) // 3
    B = X.shape[0]
    n_e, C, n_h = Wr.shape[1], W2.shape[1], W1.shape[1]
    out = np.empty(pop, dtype=np.float64)
    per = (pop + n_chunks - 1) // n_chunks
    for chunk in prange(n_chunks):
        flags = np.zeros((3, B), dtype=np.bool_)  # the pixels (never moved), router, hidden
        lists = np.empty((3, B), dtype=np.int32)
        cnt = np.zeros((3, B), dtype=np.int32)
        cu = np.empty((3, B, max(n_e, n_h)), dtype=np.int32)
        cv = np.empty((3, B, max(n_e, n_h)), dtype=np.float32)
        colz = np.empty(B, dtype=np.float32)
        rowz = np.empty(max(n_e, n_h), dtype=np.float32)
        echg = np.zeros(n_e, dtype=np.bool_)
        hid = np.empty(h, dtype=np.float32)
        logits = np.empty(C, dtype=np.float32)
        mark = np.zeros(B, dtype=np.bool_)
        mlist = np.empty(B, dtype=np.int32)
        one = np.float32(1.0)
        for p in range(chunk * per, min(pop, (chunk + 1) * per)):
            o = off[3 * p:3 * p + 4]
            n_r = _layer(X, nz_off, nz_img, nz_val, Wr, Zr, ZrT, Zr, o[0], o[1], ci, cj, cd, cb, 0, one, one, one,
                         flags[0], lists[0], 0, cnt[0], cu[0], cv[0], flags[1], lists[1], cnt[1], cu[1], cv[1], colz,
                         rowz[:n_e], rowz, mark, mlist)
            n_h2 = _layer(X, nz_off, nz_img, nz_val, W1, Zh, ZhT, Ah, o[1], o[2], ci, cj, cd, cb, int(hact[0]), hact[1],
                          hact[2], hact[3],
                          flags[0], lists[0], 0, cnt[0], cu[0], cv[0], flags[2], lists[2], cnt[2], cu[2], cv[2], colz,
                          rowz[:n_h], rowz, mark, mlist)
            echg[:] = False
            for k in range(o[2], o[3]):
                echg[ci[k] if cb[k] else ci[k] // h] = True
            total = 0.0
            for b in range(B):
                e = _moe_route(b, route, flags[1], cnt[1], cu[1], cv[1], Zr, rowz[:n_e])
                if e != route[b] or echg[e] or _moe_moved(b, e, h, flags[2], cnt[2], cu[2]):
                    _moe_logits(b, e, h, Ah, flags[2], cnt[2], cu[2], cv[2], W2, b2, o[2], o[3], ci, cj, cd, cb,
                                hid, logits)
                    total += _image_cross_entropy(logits, y[b])
                else:
                    total += ce_base[b]
            out[p] = total / B
            _reset(flags[1], lists[1], n_r)
            _reset(flags[2], lists[2], n_h2)
    return out


@njit(cache=True, fastmath=False)
def image_cross_entropies(logits, y):
    """logits (B, C) float32, y (B,) -> per-image cross-entropies (B,) float64."""
    out = np.empty(logits.shape[0], dtype=np.float64)
    for b in range(logits.shape[0]):
        out[b] = _image_cross_entropy(logits[b], y[b])
    return out
