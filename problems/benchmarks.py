"""Standard test functions, vectorized over the population.

Real: sphere, Rastrigin, Ackley, Rosenbrock, and a piecewise-constant staircase whose gradient is
zero almost everywhere (the case gradient-based and small-sigma estimators cannot see). Binary:
OneMax and concatenated deceptive traps. The optimum of every one is 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from blackbox.domain import Binary, Real
from blackbox.inputs import check_dim
from blackbox.problem import Problem


@dataclass
class RealConfig:
    dim: int = 10  # number of coordinates
    shift: float = 0.0  # optimum at x = shift in every coordinate (0 = origin)
    init_scale: float = 3.0  # starting points are drawn uniformly in [-init_scale, init_scale]


class _RealFunction(Problem):
    Config = RealConfig
    default_solver = "auto"
    bound = None  # half-width of the box, None = unbounded

    def __init__(self, config: RealConfig | None = None):
        self.config = config or self.Config()
        if self.config.dim < 1:
            raise ValueError(f"{self.name}: dim must be >= 1, got {self.config.dim}")
        check_dim(self.name, self.config.dim)  # before a solver allocates its vectors
        self.dim = int(self.config.dim)
        self.domain = Real(-self.bound, self.bound) if self.bound else Real()

    def initial(self, rng):
        s = self.config.init_scale
        return rng.uniform(-s, s, self.dim) + self.config.shift

    def evaluate(self, population, seed=0):
        return self.f(np.asarray(population, dtype=np.float64) - self.config.shift)

    def metrics(self, x):
        return {"distance_to_optimum": float(np.linalg.norm(np.asarray(x) - self.config.shift))}


class Sphere(_RealFunction):
    name = "sphere"

    @staticmethod
    def f(z):
        return np.einsum("pd,pd->p", z, z)


class Rastrigin(_RealFunction):
    name = "rastrigin"
    bound = 5.12

    @staticmethod
    def f(z):
        return 10.0 * z.shape[1] + np.sum(z * z - 10.0 * np.cos(2 * np.pi * z), axis=1)


class Ackley(_RealFunction):
    name = "ackley"
    bound = 32.768

    @staticmethod
    def f(z):
        d = z.shape[1]
        a = -20.0 * np.exp(-0.2 * np.sqrt(np.einsum("pd,pd->p", z, z) / d))
        b = -np.exp(np.mean(np.cos(2 * np.pi * z), axis=1))
        return a + b + 20.0 + np.e


class Rosenbrock(_RealFunction):
    name = "rosenbrock"

    def evaluate(self, population, seed=0):
        z = np.asarray(population, dtype=np.float64) - self.config.shift + 1.0  # optimum at shift
        return np.sum(100.0 * (z[:, 1:] - z[:, :-1] ** 2) ** 2 + (1.0 - z[:, :-1]) ** 2, axis=1)


@dataclass
class StaircaseConfig(RealConfig):
    step: float = 0.5  # width of one stair: the loss is constant inside each cell of this size


class Staircase(_RealFunction):
    """sum(floor(|x_i| / step)^2): flat on cells of width ``step``, so every finite difference
    smaller than a cell reads zero, and only steps that cross cells see any signal."""

    name = "staircase"
    Config = StaircaseConfig

    def evaluate(self, population, seed=0):
        z = np.floor(np.abs(np.asarray(population, dtype=np.float64) - self.config.shift) / self.config.step)
        return np.einsum("pd,pd->p", z, z)


@dataclass
class BinaryConfig:
    dim: int = 100  # number of bits


class OneMax(Problem):
    """Loss = number of zero bits."""

    name = "onemax"
    default_solver = "auto"
    Config = BinaryConfig
    capabilities = frozenset({"deltas"})

    def __init__(self, config: BinaryConfig | None = None):
        self.config = config or self.Config()
        if self.config.dim < 1:
            raise ValueError(f"{self.name}: dim must be >= 1, got {self.config.dim}")
        check_dim(self.name, self.config.dim)
        self.dim = int(self.config.dim)
        self.domain = Binary()

    def evaluate(self, population, seed=0):
        return self.dim - np.asarray(population).sum(axis=1, dtype=np.int64).astype(np.float64)

    def evaluate_deltas(self, d, seed=0):
        """Loss of base minus the gained ones: O(changed bits) per candidate."""
        base_loss = self.dim - int(d.base.sum(dtype=np.int64))
        gain = d.values.astype(np.int64) - d.base[d.indices].astype(np.int64)
        per = np.add.reduceat(np.append(gain, 0), d.offsets[:-1]) if gain.size else np.zeros(len(d))
        per = np.where(np.diff(d.offsets) > 0, per, 0)
        return (base_loss - per).astype(np.float64)

    def metrics(self, x):
        return {"ones": int(np.sum(x))}


@dataclass
class TrapConfig:
    dim: int = 100  # number of bits; must be a multiple of k
    k: int = 5  # trap size: all-ones is optimal, but every other block pulls towards all-zeros


class Trap(Problem):
    """Concatenated deceptive traps: block with u ones scores k if u == k, else k - 1 - u.
    Loss = sum over blocks of (k - score), 0 at all ones."""

    name = "trap"
    default_solver = "auto"
    Config = TrapConfig

    def __init__(self, config: TrapConfig | None = None):
        self.config = config or self.Config()
        k, n = self.config.k, self.config.dim
        if k < 2 or n < k or n % k:
            raise ValueError(f"trap: dim ({n}) must be a positive multiple of k ({k}), k >= 2")
        check_dim(self.name, n)
        self.dim, self.domain = int(n), Binary()

    def evaluate(self, population, seed=0):
        k = self.config.k
        u = np.asarray(population).reshape(len(population), -1, k).sum(axis=2)
        score = np.where(u == k, k, k - 1 - u)
        return (k - score).sum(axis=1).astype(np.float64)
