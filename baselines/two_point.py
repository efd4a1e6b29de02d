"""Two-point zeroth-order gradient estimates: SPSA (Spall 1992) and MeZO-style (Malladi et al. 2023).

Both evaluate pairs x + c*d and x - c*d along random directions d and step along
g = mean_i (L(x + c d_i) - L(x - c d_i)) / (2c) * d_i (SPSA: times 1/d_i, which for the
Rademacher +-1 entries it uses equals d_i). The directions are never stored: ``ask`` and ``tell``
regenerate them from the generation's generator (the "seed trick": only the seed travels), so the
state is the point, a step counter and the seed.

spsa   Rademacher directions; Spall's gain sequences a_k = a / (k + 1 + A)^alpha and
       c_k = c / (k + 1)^gamma with his recommended exponents alpha 0.602, gamma 0.101.
mezo   Gaussian directions, a fixed perturbation scale ``eps`` and plain SGD with a constant (or
       scheduled) learning rate: MeZO's in-place update, without the language-model specifics.

Real domains only (a two-point difference of a binary point is not defined); candidates of a
bounded domain are clipped to it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from blackbox.population import Dense
from blackbox.solver import Solver
from blackbox.solvers.common import check, check_schedule, schedule


@dataclass
class SPSAConfig:
    """SPSA with Spall's gain sequences (defaults suit the built-in benchmarks)."""

    a: float = 0.05  # step gain numerator: a_k = a / (k + 1 + A)^alpha
    A: float = 10.0  # step gain stability constant (Spall: ~10% of the expected iterations)
    alpha: float = 0.602  # step gain decay exponent (Spall's recommendation)
    c: float = 0.1  # perturbation gain numerator: c_k = c / (k + 1)^gamma
    gamma: float = 0.101  # perturbation gain decay exponent (Spall's recommendation)
    directions: int = 1  # two-point estimates averaged per step (2 evaluations each)


@dataclass
class MeZOConfig:
    """MeZO-style SGD on a seeded two-point estimate (defaults suit the built-in benchmarks)."""

    lr: float = 0.01  # SGD learning rate (at step 0)
    lr_end: float = 0.01  # learning rate at the horizon
    lr_schedule: str = "constant"  # constant, linear, cosine or geometric
    horizon: int = 1000  # steps over which the lr schedule runs
    eps: float = 1e-3  # perturbation scale (MeZO: 1e-3)
    weight_decay: float = 0.0  # L2 coefficient added to the estimate
    directions: int = 1  # two-point estimates averaged per step (MeZO-n; 2 evaluations each)


class _TwoPoint(Solver):
    domains = frozenset({"real"})

    def init(self, x0, seed):
        return self.base_state(self.spec.domain.project(np.asarray(x0, np.float64)), seed)

    def _directions(self, state) -> np.ndarray:
        raise NotImplementedError

    def _scale(self, state) -> float:
        raise NotImplementedError

    def _ask(self, state):
        d = self._directions(state)
        c = self._scale(state)
        x = state["x"]
        pop = np.concatenate([x + c * d, x - c * d])
        return Dense(self.spec.domain.project(pop)), state

    def _estimate(self, state, request, losses) -> np.ndarray:
        """mean_i (L+ - L-) / (2c) d_i over this generation's pairs."""
        d = self._directions(state)  # the same directions as ask: same (seed, generation, stream)
        n = d.shape[0]
        losses = np.asarray(losses, np.float64)
        return ((losses[:n] - losses[n:]) / (2 * self._scale(state))) @ d / n

    def _advance(self, state, x):
        new = dict(state)
        new["x"] = self.spec.domain.project(x)
        return new


class SPSA(_TwoPoint):
    name = "spsa"
    Config = SPSAConfig

    def check_config(self):
        c, o = self.config, self.name
        check(o, c.a > 0, "a", c.a, "> 0")
        check(o, c.A >= 0, "A", c.A, ">= 0")
        check(o, c.c > 0, "c", c.c, "> 0")
        check(o, 0 < c.alpha <= 1, "alpha", c.alpha, "in (0, 1]")
        check(o, 0 <= c.gamma < 1, "gamma", c.gamma, "in [0, 1)")
        check(o, c.directions >= 1, "directions", c.directions, ">= 1")

    def _directions(self, state):
        bits = self.rng(state, 1).integers(0, 2, (self.config.directions, self.spec.dim), dtype=np.int8)
        return 2.0 * bits - 1.0

    def _scale(self, state):
        c = self.config
        return c.c / (int(state["generation"]) + 1) ** c.gamma

    def _tell(self, state, request, losses):
        c = self.config
        k = int(state["generation"])
        g = self._estimate(state, request, losses)  # 1/d_i = d_i for Rademacher d
        return self._advance(state, state["x"] - c.a / (k + 1 + c.A) ** c.alpha * g)


class MeZO(_TwoPoint):
    name = "mezo"
    Config = MeZOConfig

    def check_config(self):
        c, o = self.config, self.name
        check_schedule(o, "lr", c.lr_schedule, c.lr, c.lr_end)
        check(o, c.horizon >= 1, "horizon", c.horizon, ">= 1")
        check(o, c.eps > 0, "eps", c.eps, "> 0")
        check(o, c.weight_decay >= 0, "weight_decay", c.weight_decay, ">= 0")
        check(o, c.directions >= 1, "directions", c.directions, ">= 1")

    def _directions(self, state):
        return self.rng(state, 1).standard_normal((self.config.directions, self.spec.dim))

    def _scale(self, state):
        return self.config.eps

    def _tell(self, state, request, losses):
        c = self.config
        lr = schedule(kind=c.lr_schedule, start=c.lr, end=c.lr_end, step=int(state["generation"]), horizon=c.horizon)
        g = self._estimate(state, request, losses) + c.weight_decay * state["x"]
        return self._advance(state, state["x"] - lr * g)
