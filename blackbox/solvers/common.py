"""Pieces the built-in solvers share: schedules, the Adam/SGD step, rank shaping, best tracking.

Everything here is a pure function of arrays and numbers, so solver state stays a flat dict.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SCHEDULES = ("constant", "linear", "cosine", "geometric")

# A request evaluated through ``dense()`` costs pop x dim floats; solvers keep it under this.
DENSE_BUDGET = 1 << 24


def schedule(*, kind: str, start: float, end: float, step: int, horizon: int) -> float:
    """Value of a schedule at ``step`` of ``horizon``: constant (= start), linear, cosine or
    geometric (equal time per factor, so little of it at large values) from ``start`` to ``end``;
    held at ``end`` after the horizon. Keyword-only on purpose: a start/end or kind/value swap
    cannot go unnoticed."""
    if kind == "constant" or horizon <= 0:
        return float(start)
    t = min(max(step, 0) / horizon, 1.0)
    if kind == "linear":
        return float(start + (end - start) * t)
    if kind == "cosine":
        return float(end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * t)))
    if kind == "geometric":
        return float(start * (end / start) ** t)
    raise ValueError(f"unknown schedule {kind!r}; expected one of {', '.join(SCHEDULES)}")


def check_schedule(owner: str, field: str, kind: str, start: float, end: float, positive=True) -> None:
    if kind not in SCHEDULES:
        raise ValueError(f"{owner}: {field}_schedule must be one of {', '.join(SCHEDULES)}, got {kind!r}")
    if (positive or kind == "geometric") and not (start > 0 and end > 0):
        raise ValueError(f"{owner}: {field}_start and {field}_end must be > 0 (for lr: lr and lr_end), got {start} and {end}")


def check(owner: str, ok: bool, field: str, value, need: str) -> None:
    """Raise the ValueError of a config check: names the solver, the field and the range."""
    if not ok:
        raise ValueError(f"{owner}: {field} must be {need}, got {value!r}")


@dataclass
class OptimizerConfig:
    """Fields of the first-order step that ES and CGE apply to their gradient estimate."""

    optimizer: str = "adam"  # adam or sgd (sgd uses `momentum`)
    lr: float = 0.05  # learning rate of the step on the mean / point (at step 0)
    lr_end: float = 0.05  # learning rate at the horizon
    lr_schedule: str = "constant"  # constant, linear, cosine or geometric from lr to lr_end over the horizon
    beta1: float = 0.9  # adam: first-moment decay
    beta2: float = 0.999  # adam: second-moment decay
    momentum: float = 0.0  # sgd: heavy-ball momentum
    weight_decay: float = 0.0  # L2 coefficient added to the gradient (OpenAI-ES: 0.005)


def check_optimizer(owner: str, c: OptimizerConfig) -> None:
    check(owner, c.optimizer in ("adam", "sgd"), "optimizer", c.optimizer, "adam or sgd")
    check_schedule(owner, "lr", c.lr_schedule, c.lr, c.lr_end)
    check(owner, 0 <= c.beta1 < 1, "beta1", c.beta1, "in [0, 1)")
    check(owner, 0 <= c.beta2 < 1, "beta2", c.beta2, "in [0, 1)")
    check(owner, 0 <= c.momentum < 1, "momentum", c.momentum, "in [0, 1)")
    check(owner, c.weight_decay >= 0, "weight_decay", c.weight_decay, ">= 0")


def optimizer_state(dim: int) -> dict:
    return {"opt_m": np.zeros(dim, np.float32), "opt_v": np.zeros(dim, np.float32), "opt_t": 0}


def optimizer_step(c: OptimizerConfig, state: dict, theta: np.ndarray, grad: np.ndarray, horizon: int):
    """One descent step on ``theta`` along ``grad`` (+ weight decay) at the scheduled learning
    rate; returns (new theta, updates to merge into the state). Pure: inputs are not modified."""
    lr = schedule(kind=c.lr_schedule, start=c.lr, end=c.lr_end, step=int(state["generation"]), horizon=horizon)
    g = grad.astype(np.float32, copy=False)
    if c.weight_decay:
        g = g + np.float32(c.weight_decay) * theta.astype(np.float32, copy=False)
    t = int(state["opt_t"]) + 1
    if c.optimizer == "adam":
        m = c.beta1 * state["opt_m"] + (1 - c.beta1) * g
        v = c.beta2 * state["opt_v"] + (1 - c.beta2) * (g * g)
        a = lr * math.sqrt(1 - c.beta2 ** t) / (1 - c.beta1 ** t)
        step = a * m / (np.sqrt(v) + np.float32(1e-8))
    else:
        m = c.momentum * state["opt_m"] + g
        v = state["opt_v"]
        step = lr * m
    return theta - step, {"opt_m": m.astype(np.float32), "opt_v": v.astype(np.float32), "opt_t": t}


def centered_ranks(losses: np.ndarray) -> np.ndarray:
    """Ranks scaled to [-0.5, 0.5] (lowest loss -> -0.5); tied losses share their mean rank, so a
    flat generation (all losses equal) gives all-zero weights instead of a spurious direction."""
    n = losses.size
    _, inv, cnt = np.unique(losses, return_inverse=True, return_counts=True)
    first = np.cumsum(cnt) - cnt
    r = (first + (cnt - 1) / 2.0)[inv.reshape(-1)]
    return r / max(n - 1, 1) - 0.5


def dense_cap(dim: int, capabilities, want: int, budget: int = DENSE_BUDGET) -> int:
    """How many candidates of a sparse request to ask for: ``want`` when the problem evaluates
    deltas natively, else as many as keep the dense fallback under ``budget`` floats (at least 1)."""
    if "deltas" in capabilities:
        return want
    return max(1, min(want, budget // max(dim, 1)))


def csr_offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(counts.size + 1, np.int64)
    np.cumsum(counts, out=out[1:])
    return out


# -- the initial step size (``sigma0``) ----------------------------------------------------------
# Each solver takes a fraction of the range (hi - lo) as its initial step on a bounded real or
# integer domain when ``sigma0`` is not set. The fractions were measured on BBOB (fractions
# 0.01-0.5 of the range at d = 5, the best ones checked at d = 20; docs/benchmarks.md, "Initial
# step size on BBOB"): random and es 0.01 (at d 5 flat up to 0.05, at d 20 0.10 / 0.14 of the
# targets against 0.08 / 0.12 at 0.05), snes 0.05 (0.43 at d 5, against 0.41 at 0.1 and 0.35 at
# 0.2), polystep 0.1 (0.33; 0.31 at 0.05, 0.28 at 0.2).


def renamed_option(owner: str, config, old: str, new: str = "sigma0") -> None:
    """Accept a deprecated option name: warn (a FutureWarning, which Python shows to end users; a
    DeprecationWarning is hidden outside __main__) and copy its value to ``new`` when that is
    unset (0); both set to different values is an error naming both."""
    value = getattr(config, old)
    if value is None:
        return
    import warnings
    warnings.warn(f"{owner}: option {old} is deprecated, use {new}", FutureWarning, stacklevel=4)
    current = getattr(config, new)
    if current and current != value:
        raise ValueError(f"{owner}: {old}={value} and {new}={current} disagree; give {new} only "
                         f"({old} is its deprecated name)")
    setattr(config, new, value)


def check_sigma0(owner: str, config, old: str) -> None:
    """The range check of ``sigma0``, naming the option the user gave (the old name if that one)."""
    if getattr(config, old) is not None:
        check(owner, config.sigma0 > 0, old, config.sigma0, "> 0")
    check(owner, config.sigma0 > 0, "sigma0", config.sigma0, "> 0 (or 0 = from the domain)")


def initial_step(sigma0: float, domain, fallback: float, fraction: float) -> tuple[float, str]:
    """(initial step size, where it came from): ``sigma0`` when set (> 0); else ``fraction`` of
    the range on a bounded real or integer domain; else the solver's ``fallback`` (its old default,
    so runs on open and binary domains are unchanged)."""
    if sigma0:
        return float(sigma0), "sigma0"
    lo, hi = domain.lower(), domain.upper()
    if domain.kind != "binary" and lo is not None and hi is not None:
        width = float(np.mean(np.asarray(hi, np.float64) - np.asarray(lo, np.float64)))  # per-coordinate: the mean
        if width > 0:
            return fraction * width, f"{fraction:g} x the domain's range"
    return float(fallback), "default"


def resolve_sigma0(config, domain, fallback: float, fraction: float):
    """A copy of ``config`` whose ``sigma0`` holds the step actually used (so the result's
    solver_config and checkpoints state it), and where it came from."""
    import copy
    value, source = initial_step(config.sigma0, domain, fallback, fraction)
    config = copy.copy(config)
    config.sigma0 = value
    return config, source
