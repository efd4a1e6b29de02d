"""Numba kernels of the ``sls`` MAX-SAT local search (imported lazily by ``sls``).

Two walks share one state layout (arrays indexed [walker, ...]):
  * probSAT (unit weights, no hard clauses): pick a random falsified clause, flip one of its
    variables with probability proportional to (eps + break)^-cb; break counts are cached and kept
    exact per flip through a per-clause true count and the XOR of its true variables.
  * clause weighting in the spirit of SATLike/NuWLS (weighted and partial instances): dynamic clause
    weights, cached scores (weighted make - break), a list of improving variables sampled
    best-from-multiple-selections; at a local optimum, falsified hard clauses gain weight (soft ones
    up to a cap) and a variable of a random falsified clause (hard first) is flipped.
The best assignment of a walker is kept through a flip log replayed on improvement (O(1)
amortized per flip), so the walk never copies an assignment per step.

ctr columns: 0 falsified soft clauses, 1 falsified hard clauses, 2 best hard count, 3 log length,
4 improving-variable count, 5 step, 6 best falsified soft count.  ucost: 0 current soft cost,
1 best soft cost (uint64, exact).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .kernels import clause_state

U64 = np.uint64


@njit(cache=True, inline="always")
def _rand(rng, w):
    s = rng[w]
    s ^= s >> U64(12)
    s ^= s << U64(25)
    s ^= s >> U64(27)
    rng[w] = s
    return s * U64(0x2545F4914F6CDD1D)


@njit(cache=True, inline="always")
def _below(rng, w, n):
    return np.int64((_rand(rng, w) >> U64(33)) % U64(n))


@njit(cache=True, inline="always")
def _uniform(rng, w):
    return np.float64(_rand(rng, w) >> U64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, inline="always")
def _list_remove(lst, where, ctr, w, col, c):
    """Take clause ``c`` out of walker ``w``'s falsified list ``lst`` (length ``ctr[w, col]``,
    positions in ``where``) by moving the list's last entry into its place."""
    n = ctr[w, col] - 1
    last = lst[w, n]
    pos = where[w, c]
    lst[w, pos] = last
    where[w, last] = pos
    ctr[w, col] = n


@njit(cache=True)
def _record_best(x, best_x, log, ctr, w):
    """The current assignment is the walker's new best: replay the log onto best_x."""
    for i in range(ctr[w, 3]):
        v = log[w, i]
        best_x[w, v] ^= 1
    ctr[w, 3] = 0


@njit(cache=True)
def _log_flip(x, best_x, log, ctr, w, v):
    n = ctr[w, 3]
    if n >= log.shape[1]:  # compact: the log becomes the set of differences to best_x (<= nvars)
        n = 0
        for u in range(x.shape[1]):
            if x[w, u] != best_x[w, u]:
                log[w, n] = u
                n += 1
        # v was already flipped in x, so it is included when it differs
        ctr[w, 3] = n
        return
    log[w, n] = v
    ctr[w, 3] = n + 1


# -- initialization ----------------------------------------------------------------------------

@njit(cache=True, parallel=True)
def init_walkers(x, lits, offs, occ_off, occ, wts, hard, nt, crit, unsat, unsat_h, where, dw, score, brk,
                 good, goodpos, ctr, ucost, best_x, weighting):
    """Counts, critical variables, falsified lists and break counts (probSAT) or scores
    (weighting) of every walker's assignment x[w]."""
    W = x.shape[0]
    m = offs.size - 1
    nv = x.shape[1]
    for w in prange(W):
        ns = 0
        nh = 0
        cost = U64(0)
        for v in range(nv):
            if weighting:
                score[w, v] = 0
            else:
                brk[w, v] = 0
        xw = x[w]
        for c in range(m):
            k, cr = clause_state(xw, lits, offs, c)
            nt[w, c] = k
            crit[w, c] = cr
            d = dw[w, c] if weighting else 1
            if k == 0:
                if hard[c]:
                    unsat_h[w, nh] = c
                    where[w, c] = nh
                    nh += 1
                else:
                    unsat[w, ns] = c
                    where[w, c] = ns
                    ns += 1
                    cost += wts[c]
                if weighting:
                    for q in range(offs[c], offs[c + 1]):
                        score[w, lits[q] >> 1] += d
            elif k == 1:
                if weighting:
                    score[w, cr] -= d
                else:
                    brk[w, cr] += 1
        ng = 0
        if weighting:
            for v in range(nv):
                if score[w, v] > 0:
                    good[w, ng] = v
                    goodpos[w, v] = ng
                    ng += 1
                else:
                    goodpos[w, v] = -1
        ctr[w, 0] = ns
        ctr[w, 1] = nh
        ctr[w, 2] = nh
        ctr[w, 3] = 0
        ctr[w, 4] = ng
        ctr[w, 6] = ns
        ucost[w, 0] = cost
        ucost[w, 1] = cost
        for v in range(nv):
            best_x[w, v] = x[w, v]


# -- probSAT ----------------------------------------------------------------------------------

@njit(cache=True)
def _probsat_walker(w, x, lits, offs, occ_off, occ, ntc, unsat, where, brk, ctr, ucost, rng, probs, best_x, log,
                    kfix, wts, wb, weighted, maxflips):
    """probSAT flips. ``ntc[w, c]`` packs a clause's true-literal count (low 8 bits) with the XOR
    of its true variables (the critical variable when the count is 1): one memory access per
    clause and flip. ``kfix`` > 0 means every clause has exactly kfix literals (no offs lookup).
    Weighted (``weighted``): breaks are sums of the integer break weights ``wb`` (weight quantized
    against the average weight) instead of counts; ``probs`` maps a break to its selection weight."""
    nprob = probs.size
    nunsat = ctr[w, 0]
    best = ctr[w, 6]
    flips = 0
    pr = np.empty(64, np.float64)
    while flips < maxflips and nunsat > 0:
        c = unsat[w, _below(rng, w, nunsat)]
        if kfix > 0:
            a = c * kfix
            b = a + kfix
        else:
            a = offs[c]
            b = offs[c + 1]
        tot = 0.0
        for q in range(a, b):
            br = brk[w, lits[q] >> 1]
            p = probs[br if br < nprob else nprob - 1]
            if q - a < 64:
                pr[q - a] = p
            tot += p
        r = _uniform(rng, w) * tot
        v = lits[b - 1] >> 1
        for q in range(a, b):
            p = pr[q - a] if q - a < 64 else probs[min(brk[w, lits[q] >> 1], nprob - 1)]
            r -= p
            if r <= 0.0:
                v = lits[q] >> 1
                break
        # flip v
        xv = x[w, v] ^ 1
        x[w, v] = xv
        t = 2 * v + (1 - xv)  # the literal of v that is now true
        f = t ^ 1
        vs = np.int64(v) << 8
        for q in range(occ_off[t], occ_off[t + 1]):
            cc = occ[q]
            val = ntc[w, cc]
            k = val & 255
            if k == 0:
                last = unsat[w, nunsat - 1]
                pos = where[w, cc]
                unsat[w, pos] = last
                where[w, last] = pos
                nunsat -= 1
                ucost[w, 0] -= wts[cc]
                brk[w, v] += wb[cc] if weighted else wb[0]
            elif k == 1:
                brk[w, val >> 8] -= wb[cc] if weighted else wb[0]
            ntc[w, cc] = (val ^ vs) + 1
        for q in range(occ_off[f], occ_off[f + 1]):
            cc = occ[q]
            val = ntc[w, cc]
            k = val & 255
            nv = (val ^ vs) - 1
            ntc[w, cc] = nv
            if k == 1:
                unsat[w, nunsat] = cc
                where[w, cc] = nunsat
                nunsat += 1
                ucost[w, 0] += wts[cc]
                brk[w, v] -= wb[cc] if weighted else wb[0]
            elif k == 2:
                brk[w, nv >> 8] += wb[cc] if weighted else wb[0]
        flips += 1
        _log_flip(x, best_x, log, ctr, w, v)
        if (nunsat < best) if not weighted else (ucost[w, 0] < ucost[w, 1]):
            best = nunsat
            ucost[w, 1] = ucost[w, 0]
            _record_best(x, best_x, log, ctr, w)
    ctr[w, 0] = nunsat
    ctr[w, 6] = best
    ctr[w, 5] += flips
    return flips


@njit(cache=True, parallel=True)
def probsat_run(x, lits, offs, occ_off, occ, ntc, unsat, where, brk, ctr, ucost, rng, probs, best_x, log, kfix,
                wts, wb, weighted, maxflips):
    W = x.shape[0]
    done = np.zeros(W, np.int64)
    for w in prange(W):
        done[w] = _probsat_walker(w, x, lits, offs, occ_off, occ, ntc, unsat, where, brk, ctr, ucost, rng, probs,
                                  best_x, log, kfix, wts, wb, weighted, maxflips)
    return done


@njit(cache=True)
def pack_counts(nt, crit):
    """(count, critical XOR) -> the packed int64 form used by probSAT."""
    out = np.empty(nt.shape, np.int64)
    for w in range(nt.shape[0]):
        for c in range(nt.shape[1]):
            out[w, c] = (np.int64(crit[w, c]) << 8) | nt[w, c]
    return out


# -- clause weighting (weighted / partial) -------------------------------------------------------

@njit(cache=True, inline="always")
def _set_score(w, u, s, score, good, goodpos, ctr):
    score[w, u] = s
    gp = goodpos[w, u]
    if s > 0:
        if gp < 0:
            ng = ctr[w, 4]
            good[w, ng] = u
            goodpos[w, u] = ng
            ctr[w, 4] = ng + 1
    elif gp >= 0:
        ng = ctr[w, 4] - 1
        last = good[w, ng]
        good[w, gp] = last
        goodpos[w, last] = gp
        goodpos[w, u] = -1
        ctr[w, 4] = ng


@njit(cache=True)
def _weighted_flip(w, v, x, lits, offs, occ_off, occ, wts, hard, nt, crit, unsat, unsat_h, where, dw, score,
                   good, goodpos, ctr, ucost):
    sv = score[w, v]
    xv = x[w, v] ^ 1
    x[w, v] = xv
    t = 2 * v + (1 - xv)
    f = t ^ 1
    for q in range(occ_off[t], occ_off[t + 1]):
        c = occ[q]
        k = nt[w, c]
        d = dw[w, c]
        if k == 0:
            if hard[c]:
                _list_remove(unsat_h, where, ctr, w, 1, c)
            else:
                _list_remove(unsat, where, ctr, w, 0, c)
                ucost[w, 0] -= wts[c]
            for qq in range(offs[c], offs[c + 1]):
                u = lits[qq] >> 1
                if u != v:
                    _set_score(w, u, score[w, u] - d, score, good, goodpos, ctr)
        elif k == 1:
            u = crit[w, c]
            _set_score(w, u, score[w, u] + d, score, good, goodpos, ctr)
        crit[w, c] ^= v
        nt[w, c] = k + 1
    for q in range(occ_off[f], occ_off[f + 1]):
        c = occ[q]
        k = nt[w, c]
        d = dw[w, c]
        crit[w, c] ^= v
        if k == 1:
            if hard[c]:
                n = ctr[w, 1]
                unsat_h[w, n] = c
                where[w, c] = n
                ctr[w, 1] = n + 1
            else:
                n = ctr[w, 0]
                unsat[w, n] = c
                where[w, c] = n
                ctr[w, 0] = n + 1
                ucost[w, 0] += wts[c]
            for qq in range(offs[c], offs[c + 1]):
                u = lits[qq] >> 1
                if u != v:
                    _set_score(w, u, score[w, u] + d, score, good, goodpos, ctr)
        elif k == 2:
            u = crit[w, c]
            _set_score(w, u, score[w, u] - d, score, good, goodpos, ctr)
        nt[w, c] = k - 1
    _set_score(w, v, -sv, score, good, goodpos, ctr)


@njit(cache=True)
def _weighted_walker(w, x, lits, offs, occ_off, occ, wts, hard, nt, crit, unsat, unsat_h, where, dw, score,
                     good, goodpos, lastflip, ctr, ucost, rng, best_x, log, s_inc, s_cap, h_inc, h0, smooth,
                     bms, maxflips):
    flips = 0
    step = ctr[w, 5]
    while flips < maxflips:
        if ctr[w, 1] == 0 and ctr[w, 0] == 0:
            break
        ng = ctr[w, 4]
        v = -1
        if ng > 0:
            bs = np.int64(0)
            for t in range(bms if ng > bms else ng):
                u = good[w, _below(rng, w, ng)] if ng > bms else good[w, t]
                su = score[w, u]
                if v < 0 or su > bs or (su == bs and lastflip[w, u] < lastflip[w, v]):
                    v = u
                    bs = su
        else:
            if _uniform(rng, w) < smooth:
                # smoothing: satisfied clauses give back one increment (never below the initial weight)
                for c in range(nt.shape[1]):
                    k = nt[w, c]
                    if k > 0:
                        dec = h_inc if hard[c] else s_inc[c]
                        if dw[w, c] - dec >= (h0 if hard[c] else s_inc[c]):
                            dw[w, c] -= dec
                            if k == 1:
                                u = crit[w, c]
                                _set_score(w, u, score[w, u] + dec, score, good, goodpos, ctr)
            # local optimum: raise the weights of falsified clauses
            for i in range(ctr[w, 1]):
                c = unsat_h[w, i]
                dw[w, c] += h_inc
                for q in range(offs[c], offs[c + 1]):
                    u = lits[q] >> 1
                    _set_score(w, u, score[w, u] + h_inc, score, good, goodpos, ctr)
            for i in range(ctr[w, 0]):
                c = unsat[w, i]
                if dw[w, c] < s_cap[c]:
                    inc = s_inc[c]
                    dw[w, c] += inc
                    for q in range(offs[c], offs[c + 1]):
                        u = lits[q] >> 1
                        _set_score(w, u, score[w, u] + inc, score, good, goodpos, ctr)
            if ctr[w, 1] > 0:
                c = unsat_h[w, _below(rng, w, ctr[w, 1])]
            else:
                c = unsat[w, _below(rng, w, ctr[w, 0])]
            bs = np.int64(0)
            for q in range(offs[c], offs[c + 1]):
                u = lits[q] >> 1
                su = score[w, u]
                if v < 0 or su > bs or (su == bs and lastflip[w, u] < lastflip[w, v]):
                    v = u
                    bs = su
        _weighted_flip(w, v, x, lits, offs, occ_off, occ, wts, hard, nt, crit, unsat, unsat_h, where, dw, score,
                       good, goodpos, ctr, ucost)
        step += 1
        lastflip[w, v] = step
        flips += 1
        _log_flip(x, best_x, log, ctr, w, v)
        nh = ctr[w, 1]
        if nh < ctr[w, 2] or (nh == ctr[w, 2] and ucost[w, 0] < ucost[w, 1]):
            ctr[w, 2] = nh
            ucost[w, 1] = ucost[w, 0]
            ctr[w, 6] = ctr[w, 0]
            _record_best(x, best_x, log, ctr, w)
    ctr[w, 5] = step
    return flips


@njit(cache=True, parallel=True)
def weighted_run(x, lits, offs, occ_off, occ, wts, hard, nt, crit, unsat, unsat_h, where, dw, score, good,
                 goodpos, lastflip, ctr, ucost, rng, best_x, log, s_inc, s_cap, h_inc, h0, smooth, bms, maxflips):
    W = x.shape[0]
    done = np.zeros(W, np.int64)
    for w in prange(W):
        done[w] = _weighted_walker(w, x, lits, offs, occ_off, occ, wts, hard, nt, crit, unsat, unsat_h, where,
                                   dw, score, good, goodpos, lastflip, ctr, ucost, rng, best_x, log, s_inc,
                                   s_cap, h_inc, h0, smooth, bms, maxflips)
    return done
