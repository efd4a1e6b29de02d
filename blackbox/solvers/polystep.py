"""PolyStep: polytope probes and an entropic transport step, after "Training Non-Differentiable
Networks via Optimal Transport".

The searched coordinates are cut into small *particles* of ``particle_size`` coordinates. Each
step every probed particle gets a fresh random rotation of a unit polytope (simplex, orthoplex or
cube); the loss is probed with that particle alone displaced to each vertex (at the probe radius)
and everything else held fixed. One generation is therefore a single request of
1 + particles x vertices candidates, each differing from the current point in one particle only,
so it goes out as ``Deltas`` (a problem with the ``deltas`` capability pays per changed
coordinate) or, for matrix layers of a problem with the ``lowrank`` capability, as ``LowRank``
factors. The particles x vertices cost matrix, standardized by its within-particle spread, turns
into transport weights by a softmax at temperature ``eps`` (or a Sinkhorn-balanced plan); each
particle moves ``step_radius`` times the weighted barycentre of its (unit) vertices. The current
point is a vertex too (``include_center``): a particle whose probes are all worse stays.

Subspace mode (``subspace_rank > 0``, real domains) searches per layer (``spec.layout``, else
the whole vector) in ``subspace_rank`` coordinates z through a random projection: dense
Gaussian for small layers, sparse +-1 hashing for large ones, rank-one outer products
a_k b_k^T for matrix layers when the problem evaluates ``LowRank``; projections are re-drawn
every ``subspace_every`` steps (the current point is kept, momentum is reset).

Binary domains: particles of bits, vertices = flip patterns (cube: every non-empty pattern;
simplex: single flips and the all-flip; orthoplex: single flips), asked as ``Deltas.flips``. A
bit flips when the transport weight of the patterns that flip it exceeds 1/2
(``binary_move=threshold``), and the step radius (clipped to 1) is the chance that a particle
makes its move this step: all at the start, fewer as the schedule shrinks, so that interacting
moves (MAX-SAT clauses) stop undoing each other. ``binary_move=sample`` instead draws one vertex
(or stay) per particle from the transport weights; with a low temperature (``eps`` 0.1 -> 0.02,
linear) it escapes greedy local optima: random 3-SAT at 10k variables and ratio 4.27, 200 steps,
leaves 0.43% of the clauses unsatisfied against 0.63% with threshold moves. The cube over 5-bit
particles aligned with the blocks solves the deceptive trap at ``eps`` 0.2 (at 1 the weight of
the many patterns towards all-zeros wins).

Schedules: ``eps``, ``probe_radius`` and ``step_radius`` each have a start, ``*_end`` and
``*_schedule`` (constant, linear, cosine, geometric) over ``horizon`` steps; both radii start at
``sigma0`` (0 = 0.1 x the range of a bounded real domain, else 1; the deprecated
``probe_radius_start`` / ``step_radius_start`` still set one radius each).

Targets reached by the defaults with ``horizon`` = the number of steps (tests/test_solvers.py,
best evaluated loss; seeds 0-3 typically far below): sphere dim 10 < 1e-3 in 300 steps (~1e-20),
sphere dim 1000 < 1 in 60 steps, Rastrigin dim 10 < 7 in 300 steps (1-6: a local optimum or
the global one), Ackley dim 10 < 0.1 in 300 steps (~1e-9), staircase dim 20 (cells of 0.5) = 0
in 200 steps; OneMax solved in one step at any size (1e6 bits through ``evaluate_deltas``);
trap dim 100 (k=5) <= 20 in 50 steps (the all-zeros deceptive optimum of most blocks).
"""
from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np

from ..population import Block, Deltas, LowRank
from ..solver import Solver
from .common import DENSE_BUDGET, check, check_schedule, csr_offsets, resolve_sigma0, schedule

POLYTOPES = ("simplex", "orthoplex", "cube")
SIGMA0_FRACTION = 0.1  # sigma0 = this x (high - low) on a bounded real domain (BBOB: see common.py)


@dataclass
class PolyStepConfig:
    """Defaults work on the built-in benchmarks at dims 10-1000 and on OneMax up to 1e6 bits."""

    particle_size: int = 2  # coordinates (bits) per particle
    polytope: str = "simplex"  # simplex (d+1 vertices), orthoplex (2d) or cube (2^d)
    particles_per_step: int = 0  # particles probed per generation; 0 = all (capped so a dense fallback stays < 16M floats)
    horizon: int = 0  # steps over which the schedules run (held at *_end after); 0 = fit the run's budget (1000 without one)
    eps_start: float = 1.0  # softmax temperature, in units of the within-particle loss spread
    eps_end: float = 1.0  # temperature at the horizon
    eps_schedule: str = "constant"  # constant, linear, cosine or geometric
    sigma0: float = 0.0  # initial probe and step radius; 0 = 0.1 x (high - low) on a bounded real domain, else 1
    probe_radius_end: float = 0.001  # probe radius (distance of the probed vertices from the particle) at the horizon
    probe_radius_schedule: str = "cosine"  # constant, linear, cosine or geometric
    step_radius_end: float = 0.001  # step radius (length of a move towards the vertex barycentre) at the horizon
    step_radius_schedule: str = "cosine"  # constant, linear, cosine or geometric
    momentum: float = 0.0  # heavy-ball momentum on the particle moves (real domains)
    transport: str = "softmax"  # softmax (per particle) or sinkhorn (balanced particles x vertices plan)
    sinkhorn_iters: int = 20  # Sinkhorn iterations when transport=sinkhorn
    include_center: bool = True  # the current point is a zero-displacement vertex (stay if all probes are worse)
    binary_move: str = "threshold"  # binary: threshold (flip bits whose patterns weigh > 1/2) or sample (draw a vertex from the weights)
    subspace_rank: int = 0  # >0: search each layer in this many random-projection coordinates
    subspace_every: int = 50  # re-draw the projections every this many steps (0 = never)
    subspace_dense_max: int = 4_000_000  # layers with size x rank above this use a sparse +-1 hashing projection
    probe_radius_start: float | None = None  # deprecated: the initial probe radius alone (sigma0 sets both)
    step_radius_start: float | None = None  # deprecated: the initial step radius alone (sigma0 sets both)

    def __post_init__(self):
        for old in ("probe_radius_start", "step_radius_start"):
            _renamed_radius(self, old)

    def radius_start(self, which: str) -> float:
        """The initial probe or step radius: its deprecated option when given, else sigma0."""
        own = getattr(self, which + "_radius_start")
        return self.sigma0 if own is None else own


def _renamed_radius(config, old: str) -> None:
    """The polystep form of a renamed option: each old name still sets its own radius (they may
    differ), with the deprecation warning; sigma0 sets both."""
    value = getattr(config, old)
    if value is None:
        return
    warnings.warn(f"polystep: option {old} is deprecated, use sigma0 (the initial probe and step radius)",
                  FutureWarning, stacklevel=4)


def _unit_polytope(kind: str, d: int) -> np.ndarray:
    """Vertices (m, d) of a unit-circumradius polytope centred at the origin."""
    if kind == "orthoplex":
        eye = np.eye(d)
        return np.concatenate([eye, -eye])
    if kind == "cube":
        return np.array(list(itertools.product((-1.0, 1.0), repeat=d))) / np.sqrt(d)
    if d == 1:
        return np.array([[1.0], [-1.0]])
    centred = np.eye(d + 1) - 1.0 / (d + 1)
    basis = np.linalg.svd(centred)[2][:d]  # orthonormal basis of the sum-zero hyperplane
    v = centred @ basis.T
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _flip_patterns(kind: str, d: int) -> np.ndarray:
    """Binary vertices: flip patterns (m, d) of 0/1."""
    if kind == "cube":
        return np.array(list(itertools.product((0, 1), repeat=d))[1:], dtype=bool)
    eye = np.eye(d, dtype=bool)
    if kind == "simplex" and d > 1:
        return np.concatenate([eye, np.ones((1, d), bool)])
    return eye


def _rotations(rng, k: int, d: int) -> np.ndarray:
    """k random orthogonal (d x d) matrices."""
    if d == 1:
        return rng.choice(np.array([-1.0, 1.0]), size=(k, 1, 1))
    if d == 2:
        a = rng.uniform(0, 2 * np.pi, k)
        c, s = np.cos(a), np.sin(a)
        return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    q, r = np.linalg.qr(rng.standard_normal((k, d, d)))
    return q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]


def _rows(a: np.ndarray, ufunc) -> np.ndarray:
    """``ufunc.reduce(a, axis=1, keepdims=True)`` for a tall (k, m) array with a few columns:
    numpy reduces short rows slowly, so reduce column by column instead."""
    if a.shape[1] > 16:
        return ufunc.reduce(a, axis=1, keepdims=True)
    out = a[:, :1].copy()
    for j in range(1, a.shape[1]):
        ufunc(out, a[:, j:j + 1], out=out)
    return out


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    w = np.exp(logits - _rows(logits, np.maximum))
    return w / _rows(w, np.add)


def _sinkhorn_rows(logits: np.ndarray, iters: int) -> np.ndarray:
    """Row-normalized entropic plan between uniform particle and uniform vertex marginals."""
    from scipy.special import logsumexp
    k, m = logits.shape
    f, g = np.zeros(k), np.zeros(m)
    for _ in range(iters):
        f = -np.log(k) - logsumexp(logits + g[None, :], axis=1)
        g = -np.log(m) - logsumexp(logits + f[:, None], axis=0)
    return _softmax_rows(logits + g[None, :])


class PolyStep(Solver):
    name = "polystep"
    Config = PolyStepConfig
    domains = frozenset({"real", "binary"})

    def check_config(self):
        c, o = self.config, "polystep"
        check(o, c.particle_size >= 1, "particle_size", c.particle_size, ">= 1")
        check(o, c.polytope in POLYTOPES, "polytope", c.polytope, "one of " + ", ".join(POLYTOPES))
        check(o, c.polytope != "cube" or c.particle_size <= 10, "particle_size", c.particle_size, "<= 10 for the cube")
        check(o, c.particles_per_step >= 0, "particles_per_step", c.particles_per_step, ">= 0")
        check(o, c.horizon >= 0, "horizon", c.horizon, ">= 0 (0 = fit the evaluation budget)")
        check(o, c.sigma0 > 0, "sigma0", c.sigma0, "> 0 (or 0 = from the domain)")
        check_schedule(o, "eps", c.eps_schedule, c.eps_start, c.eps_end)
        for f in ("probe", "step"):
            check_schedule(o, f + "_radius", getattr(c, f + "_radius_schedule"), c.radius_start(f),
                           getattr(c, f + "_radius_end"))
        check(o, 0 <= c.momentum < 1, "momentum", c.momentum, "in [0, 1)")
        check(o, c.transport in ("softmax", "sinkhorn"), "transport", c.transport, "softmax or sinkhorn")
        check(o, c.binary_move in ("threshold", "sample"), "binary_move", c.binary_move, "threshold or sample")
        check(o, c.sinkhorn_iters >= 1, "sinkhorn_iters", c.sinkhorn_iters, ">= 1")
        check(o, c.subspace_rank >= 0, "subspace_rank", c.subspace_rank, ">= 0")
        check(o, c.subspace_every >= 0, "subspace_every", c.subspace_every, ">= 0")
        check(o, c.subspace_dense_max >= 1, "subspace_dense_max", c.subspace_dense_max, ">= 1")

    def __init__(self, spec, config=None):
        config, self.sigma0_source = resolve_sigma0(config or self.Config(), spec.domain, 1.0, SIGMA0_FRACTION)
        super().__init__(spec, config)
        c, dom = self.config, spec.domain
        self.binary = dom.kind == "binary"
        d = c.particle_size
        self.vertices = _flip_patterns(c.polytope, d) if self.binary else _unit_polytope(c.polytope, d)
        self.n_vertices = len(self.vertices)
        bounded = dom.low is not None or dom.high is not None
        # Coordinate particles go out as Deltas when the problem prices them per change; subspace
        # probes of matrix layers as LowRank factors (rank-one outer products learn far better on
        # neural nets than hashed or Gaussian projections of the same rank).
        self.form = "deltas"
        if (not self.binary and "lowrank" in spec.capabilities and spec.layout and not bounded
                and (c.subspace_rank or "deltas" not in spec.capabilities)):
            self.form = "lowrank"
        self.layers = self._layers()
        # particles: groups of d z-coordinates inside one layer, padded with -1
        groups, owner = [], []
        for li, L in enumerate(self.layers):
            n_g = -(-L["r"] // d)
            g = np.arange(n_g * d).reshape(n_g, d)
            groups.append(np.where(g < L["r"], g + L["zstart"], -1))
            owner.append(np.full(n_g, li))
        self.groups = np.concatenate(groups)
        self.group_layer = np.concatenate(owner)
        self.mz = sum(L["r"] for L in self.layers)
        self._proj = (None, None)

    # -- structure ----------------------------------------------------------------------------
    def _layers(self):
        """Layers (start, n, rows, cols, kind, r, zstart) from spec.layout, gaps filled."""
        dim, c = self.spec.dim, self.config
        blocks = []
        for _, start, shape in sorted(self.spec.layout, key=lambda b: b[1]):
            n = int(np.prod(shape)) if shape else 1
            rows = int(shape[0]) if len(shape) >= 2 else 1
            blocks.append((int(start), n, rows, n // rows))
        filled, pos = [], 0
        for start, n, rows, cols in blocks:
            if start < pos or n == 0:
                continue  # overlapping or empty entries: covered already
            if start > pos:
                filled.append((pos, start - pos, 1, start - pos))
            filled.append((start, n, rows, cols))
            pos = start + n
        if pos < dim:
            filled.append((pos, dim - pos, 1, dim - pos))
        if self.form != "lowrank" and not c.subspace_rank:
            filled = [(0, dim, 1, dim)]  # plain deltas search: the layer cut does not matter
        layers, z = [], 0
        for start, n, rows, cols in filled:
            r, kind = n, "identity"
            if c.subspace_rank and not self.binary and n > c.subspace_rank:
                r = c.subspace_rank
                if self.form == "lowrank":
                    kind = "lowrank" if rows > 1 else "gaussian"
                else:
                    kind = "gaussian" if n * r <= c.subspace_dense_max else "hash"
            layers.append(dict(start=start, n=n, rows=rows, cols=cols, kind=kind, r=r, zstart=z))
            z += r
        return layers

    def _projections(self, state):
        """Per-layer projection arrays of the current epoch: a pure function of (seed, epoch)."""
        every = self.config.subspace_every
        epoch = int(state["generation"]) // every if every else 0
        key = (int(state["seed"]), epoch)
        if self._proj[0] != key:
            rng = np.random.default_rng([key[0] & 0xFFFFFFFF, epoch, 0x5EED])
            out = []
            for L in self.layers:
                n, r, p = L["n"], L["r"], {}
                if L["kind"] == "gaussian":
                    p["Gt"] = (rng.standard_normal((r, n)) / np.sqrt(r)).astype(np.float32)
                elif L["kind"] == "lowrank":
                    s = 1.0 / np.sqrt(np.sqrt(r))
                    p["A"] = (rng.standard_normal((r, L["rows"])) * s).astype(np.float32)
                    p["B"] = (rng.standard_normal((r, L["cols"])) * s).astype(np.float32)
                elif L["kind"] == "hash":
                    hz = np.empty(n, np.int64)
                    hz[rng.permutation(n)] = np.arange(n) % r
                    p["hz"] = hz
                    p["order"] = np.argsort(hz, kind="stable")
                    p["moff"] = csr_offsets(np.bincount(hz, minlength=r))
                    p["sign"] = rng.choice(np.array([-1.0, 1.0], np.float32), n)
                out.append(p)
            self._proj = (key, out)
        return self._proj[1]

    def _n_probe(self) -> int:
        c, n_p, m = self.config, len(self.groups), self.n_vertices
        want = min(c.particles_per_step or n_p, n_p)
        if self.form == "lowrank":
            width = sum(L["rows"] + L["cols"] for L in self.layers) * c.particle_size
            return max(1, min(want, DENSE_BUDGET // (width * m)))
        if "deltas" in self.spec.capabilities:
            return want
        return max(1, min(want, DENSE_BUDGET // (self.spec.dim * m)))

    # -- contract -----------------------------------------------------------------------------
    def init(self, x0, seed):
        state = self.base_state(self.spec.domain.project(x0), seed)
        if not self.binary:
            state["x"] = state["x"].astype(np.float64)
            state["velocity"] = np.zeros(self.mz, np.float32)
        return state

    def plan(self, state, evals=None):
        """With ``horizon = 0`` the schedules span the evaluation budget: horizon = evals divided
        by the size of one generation (1000 steps without an evaluation budget). Kept in the
        state, so a resumed run keeps the horizon it started with."""
        if self.config.horizon:
            return state
        per_generation = len(self.ask(state)[0])
        return dict(state, horizon=max(1, int(evals) // per_generation) if evals else 1000)

    def _sched(self, state, f):
        c = self.config
        horizon = int(state.get("horizon", c.horizon)) or 1000
        start = c.radius_start(f[:-len("_radius")]) if f.endswith("_radius") else getattr(c, f + "_start")
        return schedule(kind=getattr(c, f + "_schedule"), start=start,
                        end=getattr(c, f + "_end"), step=int(state["generation"]), horizon=horizon)

    def _ask(self, state):
        rng = self.rng(state, 0)
        n_p, k = len(self.groups), self._n_probe()
        sel = np.arange(n_p) if k >= n_p else np.sort(rng.choice(n_p, k, replace=False))
        new = dict(state)
        new["probe_particles"] = sel
        if self.binary:
            return self._ask_binary(state["x"], sel), new
        d = self.config.particle_size
        rot = _rotations(rng, sel.size, d)
        unit = np.zeros((sel.size, self.n_vertices, d), np.float32)  # rot @ vertex, per particle
        for i in range(d):
            for j in range(d):
                unit[:, :, i] += rot[:, i, j, None].astype(np.float32) * self.vertices[None, :, j].astype(np.float32)
        new["probe_dirs"] = unit
        delta = unit * np.float32(self._sched(state, "probe_radius"))
        if self.form == "lowrank":
            return self._ask_lowrank(state, sel, delta), new
        return self._ask_deltas(state, sel, delta), new

    def _ask_binary(self, x, sel):
        grp = self.groups[sel]  # (k, d)
        on = self.vertices[None, :, :] & (grp >= 0)[:, None, :]  # (k, m, d)
        idx = np.broadcast_to(grp[:, None, :], on.shape)[on]
        cnt = np.zeros(on.shape[:2], np.int64)
        for i in range(on.shape[2]):
            cnt += on[:, :, i]
        counts = np.concatenate([[0], cnt.reshape(-1)])
        return Deltas.flips(x, csr_offsets(counts), idx.astype(np.int64))

    def _layer_slices(self, sel):
        """(layer index, slice of sel) for each layer with probed particles (sel is sorted)."""
        lay = self.group_layer[sel]
        cuts = np.flatnonzero(np.diff(lay)) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [sel.size]])
        return [(int(lay[a]), slice(a, b)) for a, b in zip(starts, ends)]

    def _ask_deltas(self, state, sel, delta):
        x, m, dom = state["x"], self.n_vertices, self.spec.domain
        proj = self._projections(state)
        counts, idx_parts, val_parts = [np.zeros(1, np.int64)], [], []
        for li, sl in self._layer_slices(sel):
            L, P = self.layers[li], proj[li]
            zloc = np.repeat(self.groups[sel[sl]] - L["zstart"], m, axis=0)  # (c, d), <0 = padding
            dl = delta[sl].reshape(-1, delta.shape[2]).astype(np.float64)  # (c, d)
            valid = zloc >= 0
            if L["kind"] == "identity":
                cnt = valid.sum(1)
                idx = L["start"] + zloc[valid]
                vals = x[idx] + dl[valid]
            elif L["kind"] == "hash":
                zv = zloc[valid]
                per = np.diff(P["moff"])[zv]  # members of each (candidate, z) pair
                cnt = np.zeros(len(zloc), np.int64)
                np.add.at(cnt, np.nonzero(valid)[0], per)
                pair = np.repeat(np.arange(zv.size), per)
                within = np.arange(pair.size) - np.repeat(csr_offsets(per)[:-1], per)
                member = P["order"][P["moff"][zv][pair] + within]
                idx = L["start"] + member
                vals = x[idx] + P["sign"][member] * dl[valid][pair]
            else:  # gaussian: the whole layer moves
                cnt = np.full(len(zloc), L["n"], np.int64)
                ch = np.zeros((len(zloc), L["n"]), np.float64)
                for j in range(zloc.shape[1]):
                    ok = valid[:, j]
                    ch[ok] += dl[ok, j, None] * P["Gt"][zloc[ok, j]]
                idx = np.tile(np.arange(L["start"], L["start"] + L["n"]), len(zloc))
                vals = (x[L["start"]:L["start"] + L["n"]][None, :] + ch).reshape(-1)
            counts.append(cnt)
            idx_parts.append(idx)
            val_parts.append(vals)
        idx = np.concatenate(idx_parts).astype(np.int64)
        vals = dom.project(np.concatenate(val_parts), idx) if (dom.low is not None or dom.high is not None) else np.concatenate(val_parts)
        return Deltas(x, csr_offsets(np.concatenate(counts)), idx, vals)

    def _ask_lowrank(self, state, sel, delta):
        m, d = self.n_vertices, self.config.particle_size
        proj = self._projections(state)
        pop = 1 + sel.size * m
        us = [np.zeros((pop, L["rows"], d), np.float32) for L in self.layers]
        vs = [np.zeros((pop, L["cols"], d), np.float32) for L in self.layers]
        for li, sl in self._layer_slices(sel):
            L, P = self.layers[li], proj[li]
            zloc = np.repeat(self.groups[sel[sl]] - L["zstart"], m, axis=0)  # (c, d)
            dl = delta[sl].reshape(-1, d)
            rows = np.arange(1 + sl.start * m, 1 + sl.stop * m)
            valid = zloc >= 0
            zc = np.where(valid, zloc, 0)
            dl = np.where(valid, dl, 0)
            u, v = us[li], vs[li]
            if L["kind"] == "identity":  # coordinate (a, b) of the matrix: u = delta e_a, v = e_b
                a, b = zc // L["cols"], zc % L["cols"]
                jj = np.broadcast_to(np.arange(d), zc.shape)
                rr = np.broadcast_to(rows[:, None], zc.shape)
                u[rr, a, jj] = dl
                v[rr, b, jj] = valid
            elif L["kind"] == "lowrank":  # sum_j delta_j a_z b_z^T
                u[rows] = (P["A"][zc] * dl[:, :, None]).transpose(0, 2, 1)
                v[rows] = P["B"][zc].transpose(0, 2, 1) * valid[:, None, :]
            else:  # gaussian 1-D layer seen as a (1 x n) block
                u[rows, 0, :] = dl
                v[rows] = P["Gt"][zc].transpose(0, 2, 1) * valid[:, None, :]
        blocks = [Block(L["start"], L["rows"], L["cols"], u, v) for L, u, v in zip(self.layers, us, vs)]
        return LowRank(state["x"], blocks)

    def _tell(self, state, request, losses):
        c = self.config
        sel = state["probe_particles"]
        m = self.n_vertices
        losses = np.asarray(losses, np.float64)
        cost = losses[1:].reshape(sel.size, m)
        if c.include_center:
            cost = np.concatenate([np.full((sel.size, 1), losses[0]), cost], axis=1)
        centred = cost - _rows(cost, np.add) / cost.shape[1]
        spread = float(np.sqrt(np.mean(centred * centred)))
        logits = -(cost - _rows(cost, np.minimum)) / (self._sched(state, "eps") * max(spread, 1e-300))
        if spread == 0:
            logits = np.zeros_like(cost)
        w = _sinkhorn_rows(logits, c.sinkhorn_iters) if c.transport == "sinkhorn" else _softmax_rows(logits)
        w_all = w
        if c.include_center:
            w = w[:, 1:]  # the centre vertex has zero displacement
        new = dict(state)
        new.pop("probe_particles", None)
        new.pop("probe_dirs", None)
        grp = self.groups[sel]
        valid = grp >= 0
        if self.binary:
            new["x"] = self._binary_move(state, grp, valid, w, w_all)
            return new
        dirs = state["probe_dirs"]
        move = np.zeros((sel.size, dirs.shape[2]), np.float64)
        for j in range(m):  # barycentre of the unit vertices under the transport weights
            move += w[:, j, None] * dirs[:, j, :]
        move *= self._sched(state, "step_radius")
        vel = state["velocity"].copy()
        vel[grp[valid]] = c.momentum * vel[grp[valid]] + move[valid]
        dz = np.zeros(self.mz, np.float64)
        dz[grp[valid]] = vel[grp[valid]]
        x = self._apply(state, state["x"].copy(), dz)
        new["x"] = self.spec.domain.project(x)
        every = c.subspace_every
        if c.subspace_rank and every and (int(state["generation"]) + 1) // every != int(state["generation"]) // every:
            vel[:] = 0  # a new projection: old subspace velocities mean nothing there
        new["velocity"] = vel
        return new

    def _binary_move(self, state, grp, valid, w, w_all) -> np.ndarray:
        """The next bit string: each moving particle flips the bits its transport weights choose."""
        c, m, sel = self.config, self.n_vertices, state["probe_particles"]
        rng = self.rng(state, 1)
        take = rng.random(sel.size) < self._sched(state, "step_radius")  # step radius = chance to move
        if c.binary_move == "sample":  # one vertex (or stay) drawn from the transport weights
            u, acc = rng.random(sel.size), np.zeros(sel.size)
            pick = np.zeros(sel.size, np.int64)
            for j in range(w_all.shape[1] - 1):
                acc += w_all[:, j]
                pick += u >= acc
            off = 1 if c.include_center else 0
            moved = pick >= off
            flip = np.zeros(grp.shape, bool)
            flip[moved] = self.vertices[pick[moved] - off]
        else:  # flip the bits whose flip patterns carry more than half the weight
            flip = np.zeros(grp.shape, np.float64)
            for j in range(m):
                flip += w[:, j, None] * self.vertices[j]
            flip = flip > 0.5
        flip &= valid & take[:, None]
        x = state["x"].copy()
        x[grp[flip]] ^= 1
        return x

    def _apply(self, state, x, dz):
        """x + P dz, layer by layer (in place on the given copy)."""
        proj = self._projections(state)
        for L, P in zip(self.layers, proj):
            z = dz[L["zstart"]:L["zstart"] + L["r"]]
            if not z.any():
                continue
            s = slice(L["start"], L["start"] + L["n"])
            if L["kind"] == "identity":
                x[s] += z
            elif L["kind"] == "hash":
                x[s] += P["sign"] * z[P["hz"]]
            elif L["kind"] == "gaussian":
                x[s] += z.astype(np.float32) @ P["Gt"]
            else:
                x[s] += ((P["A"].T * z.astype(np.float32)) @ P["B"]).reshape(-1)
        return x

    def recommend(self, state):
        """The current point (the driver keeps the best evaluated one)."""
        return state["x"]
