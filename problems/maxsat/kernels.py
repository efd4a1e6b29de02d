"""Numba kernels of the MAX-SAT problem (imported lazily, when a MaxSAT problem is built).

Clauses are CSR (``lits`` int32 literal codes, ``offs`` int64); ``w`` (uint64) are soft weights
(0 for hard clauses) and ``hard`` (uint8) marks hard clauses. Costs are summed in uint64: the true
cost always fits in 64 bits, so modular addition and subtraction stay exact.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def simplify(lits, offs):
    """Drop repeated literals and tautological clauses; return (lits, offs, keep_index, ntaut)
    where kept clause j is original clause keep_index[j] (empty clauses are dropped too and
    counted by the caller from the original offsets)."""
    m = offs.size - 1
    out = np.empty(lits.size, np.int32)
    new_offs = np.empty(m + 1, np.int64)
    keep = np.empty(m, np.int64)
    p = 0
    nk = 0
    ntaut = 0
    new_offs[0] = 0
    for c in range(m):
        a, b = offs[c], offs[c + 1]
        if a == b:
            continue
        start = p
        taut = False
        for q in range(a, b):
            l = lits[q]
            dup = False
            for r in range(start, p):
                if out[r] == l:
                    dup = True
                    break
                if out[r] == (l ^ 1):
                    taut = True
            if taut:
                break
            if not dup:
                out[p] = l
                p += 1
        if taut:
            p = start
            ntaut += 1
            continue
        keep[nk] = c
        nk += 1
        new_offs[nk] = p
    return out[:p].copy(), new_offs[:nk + 1].copy(), keep[:nk].copy(), ntaut


@njit(cache=True)
def occurrences(lits, offs, nvars):
    """Literal -> clause index: clauses of literal code l are occ[occ_off[l]:occ_off[l+1]], in
    increasing order. Two scatter passes (by the top 8 bits of the literal, then by the literal
    inside each bucket) keep the writes cache-local: a direct scatter of 12.8M entries at 1M
    variables spends most of its time on cache misses."""
    nl = 2 * nvars
    nnz = lits.size
    shift = 0
    while (nl >> shift) > 256:
        shift += 1
    nb = (nl >> shift) + 1
    bpos = np.zeros(nb + 1, np.int64)
    for q in range(nnz):
        bpos[(lits[q] >> shift) + 1] += 1
    for b in range(nb):
        bpos[b + 1] += bpos[b]
    tmp_lit = np.empty(nnz, np.int32)
    tmp_cls = np.empty(nnz, np.int32)
    for c in range(offs.size - 1):
        for q in range(offs[c], offs[c + 1]):
            l = lits[q]
            b = l >> shift
            p = bpos[b]
            tmp_lit[p] = l
            tmp_cls[p] = c
            bpos[b] = p + 1
    occ_off = np.zeros(nl + 1, np.int64)  # counted in bucket order: cache-local increments
    for p in range(nnz):
        occ_off[tmp_lit[p] + 1] += 1
    for l in range(nl):
        occ_off[l + 1] += occ_off[l]
    fill = occ_off[:nl].copy()
    occ = np.empty(nnz, np.int32)
    for p in range(nnz):
        l = tmp_lit[p]
        occ[fill[l]] = tmp_cls[p]
        fill[l] += 1
    return occ_off, occ


@njit(cache=True)
def true_counts(x, lits, offs):
    """Number of true literals of every clause under x."""
    m = offs.size - 1
    nt = np.zeros(m, np.int32)
    for c in range(m):
        nt[c] = clause_state(x, lits, offs, c)[0]
    return nt


@njit(cache=True, inline="always")
def clause_state(x, lits, offs, c):
    """(true literals, XOR of the true literals' variables) of clause ``c`` under ``x``: the
    literal encoding is 2 * var + negated, so literal l is true when x[l >> 1] != (l & 1). With
    exactly one true literal the XOR is that literal's variable (the clause's critical variable)."""
    k = 0
    cr = 0
    for q in range(offs[c], offs[c + 1]):
        l = lits[q]
        if x[l >> 1] != (l & 1):
            k += 1
            cr ^= l >> 1
    return k, cr


@njit(cache=True)
def cost_of_counts(nt, w, hard):
    """(soft cost uint64, violated hard clauses) of per-clause true counts."""
    cost = np.uint64(0)
    nh = 0
    for c in range(nt.size):
        if nt[c] == 0:
            if hard[c]:
                nh += 1
            else:
                cost += w[c]
    return cost, nh


@njit(cache=True, parallel=True)
def evaluate_population(X, lits, offs, w, hard):
    """Soft cost (uint64) and violated hard count of every row of X (pop x nvars, 0/1)."""
    pop = X.shape[0]
    m = offs.size - 1
    cost = np.zeros(pop, np.uint64)
    nh = np.zeros(pop, np.int64)
    for i in prange(pop):
        x = X[i]
        s = np.uint64(0)
        h = 0
        for c in range(m):
            sat = False
            for q in range(offs[c], offs[c + 1]):
                l = lits[q]
                if x[l >> 1] != (l & 1):
                    sat = True
                    break
            if not sat:
                if hard[c]:
                    h += 1
                else:
                    s += w[c]
        cost[i] = s
        nh[i] = h
    return cost, nh


@njit(cache=True)
def _delta_one(base, nt, occ_off, occ, w, hard, idx, a, b, scratch):
    """Change of (gained weight, lost weight, hard delta) when the variables idx[a:b] of base flip."""
    # pass 1: net change of the true count of every touched clause
    for s in range(a, b):
        v = idx[s]
        t = 2 * v + (1 - base[v])  # literal true before the flip
        f = t ^ 1
        for q in range(occ_off[t], occ_off[t + 1]):
            scratch[occ[q]] -= 1
        for q in range(occ_off[f], occ_off[f + 1]):
            scratch[occ[q]] += 1
    up = np.uint64(0)
    down = np.uint64(0)
    dh = 0
    # pass 2: status changes, each clause once (its scratch is reset when seen)
    for s in range(a, b):
        v = idx[s]
        for l in (2 * v, 2 * v + 1):
            for q in range(occ_off[l], occ_off[l + 1]):
                c = occ[q]
                d = scratch[c]
                if d == 0:
                    continue
                scratch[c] = 0
                before = nt[c] > 0
                after = nt[c] + d > 0
                if before and not after:
                    if hard[c]:
                        dh += 1
                    else:
                        up += w[c]
                elif after and not before:
                    if hard[c]:
                        dh -= 1
                    else:
                        down += w[c]
    return up, down, dh


@njit(cache=True)
def _flips_range(base, nt, base_cost, base_hard, offsets, idx, occ_off, occ, w, hard, scratch, lo, hi, cost, nh):
    for i in range(lo, hi):
        up, down, dh = _delta_one(base, nt, occ_off, occ, w, hard, idx, offsets[i], offsets[i + 1], scratch)
        cost[i] = base_cost + up - down
        nh[i] = base_hard + dh


@njit(cache=True, parallel=True)
def _flips_parallel(base, nt, base_cost, base_hard, offsets, idx, occ_off, occ, w, hard, scratch, cost, nh):
    pop = offsets.size - 1
    nchunks = scratch.shape[0]
    per = (pop + nchunks - 1) // nchunks
    for ch in prange(nchunks):
        _flips_range(base, nt, base_cost, base_hard, offsets, idx, occ_off, occ, w, hard, scratch[ch],
                     ch * per, min(pop, (ch + 1) * per), cost, nh)


def evaluate_flips(problem, base, nt, base_cost, base_hard, offsets, idx, scratch):
    """Cost and hard count of every candidate base-with-idx[offsets[i]:offsets[i+1]]-flipped, in
    O(occurrences of the flipped variables) each; ``nt`` are the base's true counts. ``scratch``
    (chunks x clauses, all zero) is one work row per parallel chunk and is left all zero. Small
    requests run on one thread: a parallel region can wait a scheduler slice on a busy machine."""
    occ_off, occ, w, hard = problem.occ_off, problem.occ, problem.w, problem.hard
    pop = offsets.size - 1
    cost = np.empty(pop, np.uint64)
    nh = np.empty(pop, np.int64)
    touched = 2 * idx.size * occ.size // max(1, occ_off.size - 1)  # clause visits, about
    if scratch.shape[0] == 1 or touched < 200_000:
        _flips_range(base, nt, base_cost, base_hard, offsets, idx, occ_off, occ, w, hard, scratch[0], 0, pop, cost, nh)
    else:
        _flips_parallel(base, nt, base_cost, base_hard, offsets, idx, occ_off, occ, w, hard, scratch, cost, nh)
    return cost, nh
