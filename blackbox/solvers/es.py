"""Evolution strategies on the mean: OpenAI-ES (``es``) and separable NES (``snes``).

``es`` (Salimans et al. 2017 style): antithetic Gaussian perturbations mean +- sigma*eps,
centred-rank fitness shaping (tied losses share a rank, so a flat generation moves nothing), the
gradient estimate g = sum_i w_i eps_i / n (the OpenAI convention: not divided by sigma), and an
Adam or SGD step on the mean with L2 weight decay; sigma follows a schedule from ``sigma0`` (0 =
0.01 (es) or 0.05 (snes) x the range of a bounded real domain, else 0.1 (es) or 0.5 (snes); the old name
``sigma_start`` still works, with a FutureWarning). ``openai_es_config()``
is the paper's setting (Adam lr 0.01, weight decay 0.005, sigma 0.02 fixed, noise table).

``snes``: separable natural ES: a per-coordinate sigma vector adapted by the natural gradient
(Schaul et al. 2011) with log-rank utilities.

Perturbations are never stored: with ``noise="table"`` (the default) each candidate is a window of
a fixed seeded float32 table (``noise_seed``, ``blackbox.noise``) and the state keeps only the
window offsets; ``ask`` returns a ``NoiseWindows`` request (center, scale, offsets, signs), so a
process pool or Ray ships O(dim + pop) numbers per generation and each worker materializes its
candidates from its own copy of the table, bit for bit as here. With ``noise="seeded"`` they are
re-drawn from the generation's generator in ``tell`` and ``ask`` returns ``Dense`` rows.

Binary domains: the search runs on real logits theta (started at +-sigma/2 towards x0); a
candidate is the threshold 1[theta + sigma*eps > 0] and the recommendation is 1[theta > 0].

Targets reached by the defaults (tests/test_solvers.py; best evaluated loss or the mean):
es: sphere dim 10 < 3e-3 (mean ~6e-4, the floor of a fixed sigma 0.1) and dim 1000 < 500 (from
~3000) in 300 generations, Rastrigin dim 10 < 50, OneMax dim 100 <= 10 in 100 generations.
snes: sphere dim 10 < 1e-6, Ackley dim 10 < 1e-3 in 300 generations, OneMax dim 100 <= 5.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..noise import noise_table, windows
from ..population import Dense, NoiseWindows, gaussian_candidates
from ..solver import Solver
from .common import (OptimizerConfig, centered_ranks, check, check_optimizer, check_schedule,
                     optimizer_state, optimizer_step, check_sigma0, renamed_option, resolve_sigma0, schedule)


@dataclass
class ESConfig(OptimizerConfig):
    """OpenAI-style ES; the defaults suit the built-in benchmarks (for the paper see openai_es_config)."""

    popsize: int = 0  # candidates per generation (even when antithetic); 0 = auto max(16, 4 + 3 ln dim)
    antithetic: bool = True  # evaluate mean + sigma*eps and mean - sigma*eps as a pair
    sigma0: float = 0.0  # perturbation std at step 0; 0 = 0.01 x (high - low) on a bounded real domain, else 0.1
    sigma_end: float = 0.0  # perturbation std at the horizon; 0 = sigma0
    sigma_schedule: str = "constant"  # constant, linear, cosine or geometric
    horizon: int = 1000  # steps over which the sigma schedule runs
    fitness: str = "centered_ranks"  # centered_ranks, zscore or raw
    noise: str = "table"  # table (fixed seeded float32 table, offsets in state) or seeded (re-drawn)
    noise_table_size: int = 0  # floats in the noise table; 0 = auto max(2**22, 4*dim)
    noise_seed: int = 12345  # seed of the noise table (shared by every run that uses it)
    sigma_start: float | None = None  # deprecated name of sigma0

    def __post_init__(self):
        renamed_option("es", self, "sigma_start")


def openai_es_config(**overrides) -> ESConfig:
    """The OpenAI-ES paper setting (Salimans et al. 2017): antithetic sampling, centred ranks, Adam
    with lr 0.01, L2 weight decay 0.005, fixed sigma 0.02, a shared noise table."""
    base = dict(optimizer="adam", lr=0.01, lr_end=0.01, lr_schedule="constant", weight_decay=0.005, antithetic=True, fitness="centered_ranks",
                sigma0=0.02, sigma_end=0.02, sigma_schedule="constant", noise="table")
    base.update(overrides)
    return ESConfig(**base)


class _Gaussian(Solver):
    """Shared machinery: population size, noise, binary logits, the request (NoiseWindows or Dense)."""

    domains = frozenset({"real", "binary"})
    sigma0_open: float = 0.1  # the initial std on open and binary domains (the old default)
    sigma0_fraction: float = 0.01  # the initial std on bounded real domains: this x (high - low) (BBOB: common.py)

    def __init__(self, spec, config=None):
        config, self.sigma0_source = resolve_sigma0(config or self.Config(), spec.domain, self.sigma0_open,
                                                     self.sigma0_fraction)
        if not config.sigma_end:
            config.sigma_end = config.sigma0  # (a copy: resolve_sigma0 copied it)
        super().__init__(spec, config)

    def _check_common(self):
        c, o = self.config, self.name
        check(o, c.popsize >= 0, "popsize", c.popsize, ">= 0")
        check(o, c.popsize == 0 or c.popsize >= 2, "popsize", c.popsize, ">= 2 (or 0 = auto)")
        check(o, not (c.antithetic and c.popsize % 2), "popsize", c.popsize, "even when antithetic")
        check_sigma0(o, c, "sigma_start")
        check(o, c.sigma_end > 0, "sigma_end", c.sigma_end, "> 0 (or 0 = sigma0)")
        check_schedule(o, "sigma", c.sigma_schedule, c.sigma0, c.sigma_end)
        check(o, c.horizon >= 1, "horizon", c.horizon, ">= 1")
        check(o, c.noise in ("table", "seeded"), "noise", c.noise, "table or seeded")
        check(o, c.noise_table_size == 0 or c.noise_table_size >= self.spec.dim, "noise_table_size",
              c.noise_table_size, ">= dim (or 0 = auto)")

    @property
    def popsize(self) -> int:
        c = self.config
        n = c.popsize or max(16, int(4 + 3 * math.log(self.spec.dim)))
        return n + (n % 2) if c.antithetic else n

    @property
    def n_noise(self) -> int:
        return self.popsize // 2 if self.config.antithetic else self.popsize

    @property
    def table_size(self) -> int:
        return self.config.noise_table_size or max(1 << 22, 4 * self.spec.dim)

    def _table(self):
        return noise_table(self.config.noise_seed, self.table_size)

    def _init_theta(self, x0, seed):
        state = self.base_state(self.spec.domain.project(x0), seed)
        if self.spec.domain.kind == "binary":  # logits: +-sigma/2 towards the start point
            state["theta"] = (state["x"].astype(np.float64) - 0.5) * self.config.sigma0
        else:
            state["theta"] = state["x"].astype(np.float64)
        return state

    def _sigma(self, state) -> float:
        c = self.config
        return schedule(kind=c.sigma_schedule, start=c.sigma0, end=c.sigma_end,
                        step=int(state["generation"]), horizon=c.horizon)

    def _noise(self, state, offsets=None) -> np.ndarray:
        """(n_noise, dim) float32 perturbations of this generation."""
        dim = self.spec.dim
        if self.config.noise == "seeded":
            return self.rng(state, 1).standard_normal((self.n_noise, dim), dtype=np.float32)
        return windows(self._table(), dim)[offsets]

    def _eps(self, state):
        return self._noise(state, state.get("noise_offsets"))

    def _signs(self) -> np.ndarray:
        """+1 per noise vector, then -1 per noise vector when antithetic (the mirrored half)."""
        n = self.n_noise
        return np.repeat(np.array([1, -1], np.int8), n) if self.config.antithetic else np.ones(n, np.int8)

    def _finish(self, state, new, request, losses, theta):
        new["theta"] = theta
        if self.spec.domain.kind == "binary":
            new["x"] = (theta > 0).astype(np.int8)
        else:
            new["x"] = self.spec.domain.project(theta)
        return new

    def _ask(self, state):
        """Candidates theta +- scale*eps: a ``NoiseWindows`` request (table offsets, materialized by
        whoever evaluates it) with the noise table, else ``Dense`` rows of this generation's draws."""
        c, dom, new = self.config, self.spec.domain, dict(state)
        theta, scale, signs = state["theta"], self._scale(state), self._signs()
        if c.noise == "table":
            hi = self.table_size - self.spec.dim + 1
            new["noise_offsets"] = offs = self.rng(state, 0).integers(0, hi, self.n_noise)
            center = theta.astype(np.float32) if dom.kind == "binary" else theta
            return NoiseWindows(center, np.tile(offs, signs.size // offs.size), signs, scale, c.noise_seed,
                                self.table_size, dom), new
        eps = self._noise(state)
        return Dense(gaussian_candidates(theta, scale, lambda i: eps[np.arange(i.start, i.stop) % eps.shape[0]], signs, dom)), new


class ES(_Gaussian):
    name = "es"
    Config = ESConfig

    def check_config(self):
        self._check_common()
        check_optimizer(self.name, self.config)
        c = self.config
        check(self.name, c.fitness in ("centered_ranks", "zscore", "raw"), "fitness", c.fitness,
              "centered_ranks, zscore or raw")

    def init(self, x0, seed):
        state = self._init_theta(x0, seed)
        state.update(optimizer_state(self.spec.dim))
        return state

    def _scale(self, state):
        return self._sigma(state)

    def _weights(self, losses):
        f = self.config.fitness
        if f == "centered_ranks":
            return centered_ranks(losses)
        if f == "zscore":
            return (losses - losses.mean()) / (losses.std() + 1e-12)
        return losses

    def _tell(self, state, request, losses):
        losses = np.asarray(losses, np.float64)
        eps = self._eps(state)
        w = self._weights(losses)
        if self.config.antithetic:
            n = eps.shape[0]
            w = w[:n] - w[n:]
        grad = (w.astype(np.float32) @ eps) / np.float32(losses.size)
        theta, opt = optimizer_step(self.config, state, state["theta"], grad, self.config.horizon)
        new = dict(state)
        new.update(opt)
        new.pop("noise_offsets", None)
        return self._finish(state, new, request, losses, theta)

    def recommend(self, state):
        return state["x"]


@dataclass
class SNESConfig:
    """Separable NES; defaults suit the built-in benchmarks."""

    popsize: int = 0  # candidates per generation; 0 = auto max(16, 4 + 3 ln dim)
    antithetic: bool = True  # mirrored samples mean +- sigma*eps
    sigma0: float = 0.0  # initial per-coordinate std; 0 = 0.05 x (high - low) on a bounded real domain, else 0.5
    sigma_end: float = 0.0  # the sigma schedule scales the adapted sigma by sigma_end/sigma0 at the horizon; 0 = sigma0
    sigma_schedule: str = "constant"  # constant, linear, cosine or geometric
    horizon: int = 1000  # steps over which the sigma schedule runs
    lr_mean: float = 1.0  # natural-gradient step on the mean
    lr_sigma: float = 0.0  # natural-gradient step on log sigma; 0 = auto (3 + ln dim) / (5 sqrt dim)
    noise: str = "table"  # table or seeded (see es)
    noise_table_size: int = 0  # floats in the noise table; 0 = auto max(2**22, 4*dim)
    noise_seed: int = 12345  # seed of the noise table
    sigma_start: float | None = None  # deprecated name of sigma0

    def __post_init__(self):
        renamed_option("snes", self, "sigma_start")


def rank_utilities(losses: np.ndarray) -> np.ndarray:
    """NES log-rank utilities (sum 0; best gets the most), ties sharing their mean utility."""
    n = losses.size
    k = np.arange(1, n + 1)
    u = np.maximum(0.0, math.log(n / 2 + 1) - np.log(k))
    u = u / u.sum() - 1.0 / n
    _, inv, cnt = np.unique(losses, return_inverse=True, return_counts=True)
    group_sum = np.add.reduceat(u, np.cumsum(cnt) - cnt)
    return (group_sum / cnt)[inv.reshape(-1)]


class SNES(_Gaussian):
    name = "snes"
    Config = SNESConfig
    sigma0_open = 0.5
    sigma0_fraction = 0.05

    def check_config(self):
        self._check_common()
        c = self.config
        check(self.name, c.lr_mean > 0, "lr_mean", c.lr_mean, "> 0")
        check(self.name, c.lr_sigma >= 0, "lr_sigma", c.lr_sigma, ">= 0 (0 = auto)")

    def init(self, x0, seed):
        state = self._init_theta(x0, seed)
        state["sigma"] = np.full(self.spec.dim, self.config.sigma0, np.float32)
        return state

    def _scale(self, state):
        return state["sigma"] * np.float32(self._sigma(state) / self.config.sigma0)

    def _tell(self, state, request, losses):
        c = self.config
        losses = np.asarray(losses, np.float64)
        eps = self._eps(state)
        if c.antithetic:
            eps = np.concatenate([eps, -eps])
        u = rank_utilities(losses).astype(np.float32)
        scale = self._scale(state)
        theta = state["theta"] + c.lr_mean * scale * (u @ eps)
        lr_s = c.lr_sigma or (3 + math.log(self.spec.dim)) / (5 * math.sqrt(self.spec.dim))
        sigma = state["sigma"] * np.exp(np.float32(lr_s / 2) * (u @ (eps * eps - 1)))
        new = dict(state)
        new["sigma"] = sigma.astype(np.float32)
        new.pop("noise_offsets", None)
        return self._finish(state, new, request, losses, theta)
