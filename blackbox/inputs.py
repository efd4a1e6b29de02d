"""Checks on user input made before any work starts.

A size typed by mistake (``--dim 1e12``, ``--vars 1e8 --ratio 1e6``) must be refused in one line
before anything is allocated, not after minutes of swapping or with a numpy traceback. The sizes
are compared against the memory this machine has available (``MemAvailable``), or against
``BLACKBOX_MEMORY_LIMIT`` (bytes, or with a K/M/G/T suffix) when set, which is also how a test or a
shared machine pins the limit.

``InputWarning`` marks input that is suspicious but usable (a DIMACS header whose clause count
disagrees with the body). It is a ``UserWarning`` so library users see it through ``warnings``;
it is also a ``ValueError`` so that the CLI's ``--strict`` can turn it into a one-line error.
"""
from __future__ import annotations

import os

# Solvers keep about 20 float64 vectors of the problem's dimension (centre, best, steps, a
# population slice, scratch): measured peak RSS of `blackbox solve sphere|onemax --dim 1e6` with
# the default solver grows by 150-170 bytes per coordinate.
BYTES_PER_COORDINATE = 160
# Random k-SAT: literals, occurrence lists, clause weights and the local search's per-clause
# counters; measured 80-170 bytes per 3-literal clause at 1e5-2e6 variables.
BYTES_PER_CLAUSE_BASE, BYTES_PER_LITERAL, BYTES_PER_VARIABLE = 48, 40, 64

_SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class InputWarning(UserWarning, ValueError):
    """Suspicious but usable input; an error under ``--strict``."""


def available_memory() -> float:
    """Bytes this process may reasonably allocate: BLACKBOX_MEMORY_LIMIT, else MemAvailable."""
    limit = os.environ.get("BLACKBOX_MEMORY_LIMIT", "").strip().upper().removesuffix("B")
    if limit:
        unit = limit[-1] if limit[-1] in _SUFFIX else ""
        try:
            return float(limit[: len(limit) - len(unit)]) * _SUFFIX[unit]
        except ValueError:
            raise ValueError(f"BLACKBOX_MEMORY_LIMIT={os.environ['BLACKBOX_MEMORY_LIMIT']!r} is not a size "
                             "(bytes, or a number with K, M, G or T)") from None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def _gb(nbytes: float) -> str:
    gb = nbytes / 1e9
    return f"{gb:,.0f} GB" if gb >= 10 else f"{gb:.1f} GB"


def check_memory(what: str, nbytes: float) -> None:
    """Raise a one-line ValueError naming ``what`` (the option and value) when ``nbytes`` exceeds
    the available memory."""
    avail = available_memory()
    if nbytes > avail:
        raise ValueError(f"{what} would need about {_gb(nbytes)} of memory; {_gb(avail)} is available"
                         " (BLACKBOX_MEMORY_LIMIT overrides)")


def check_dim(problem: str, dim: int) -> None:
    """Refuse a dimension whose solver state alone cannot fit in memory."""
    check_memory(f"{problem}: --dim {dim:g}", float(dim) * BYTES_PER_COORDINATE)


def check_ksat(nvars: int, ratio: float, k: int) -> None:
    """Refuse a random k-SAT instance (round(ratio * nvars) clauses) that cannot fit in memory."""
    m = float(ratio) * float(nvars)
    need = m * (BYTES_PER_CLAUSE_BASE + BYTES_PER_LITERAL * k) + float(nvars) * BYTES_PER_VARIABLE
    check_memory(f"maxsat: --vars {nvars:g} --ratio {ratio:g} ({m:.3g} clauses of {k})", need)
