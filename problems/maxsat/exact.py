"""Exact optimum of small MAX-SAT instances with pysat's RC2 (a reference for tests and reports).

RC2 does not accept empty clauses, so they are handled here: an empty hard clause makes the
instance unsatisfiable, an empty soft clause adds its weight to every assignment's cost. Weight-0
soft clauses are dropped (they cost nothing), tautologies were already removed by the problem.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Exact:
    cost: int | None  # optimum cost; None when the hard clauses are unsatisfiable
    model: np.ndarray | None  # an optimal assignment (int8 per variable)


def exact_optimum(problem) -> Exact:
    """Optimum of a ``MaxSAT`` problem by RC2 (only for small instances: RC2 may take very long
    on random Max-k-SAT)."""
    from pysat.examples.rc2 import RC2
    from pysat.formula import WCNF

    if problem.empty_hard:
        return Exact(None, None)
    wcnf = WCNF()
    lits, offs = problem.lits, problem.offs
    for c in range(offs.size - 1):
        cl = [int((l >> 1) + 1) * (-1 if l & 1 else 1) for l in lits[offs[c]:offs[c + 1]]]
        if problem.hard[c]:
            wcnf.append(cl)
        elif int(problem.w[c]) > 0:
            wcnf.append(cl, weight=int(problem.w[c]))
    n = problem.dim
    if n:  # make sure every variable is known to the solver
        wcnf.nv = max(wcnf.nv, n)
    with RC2(wcnf) as rc2:
        model = rc2.compute()
        if model is None:
            return Exact(None, None)
        x = np.zeros(n, np.int8)
        for lit in model:
            if 0 < abs(lit) <= n:
                x[abs(lit) - 1] = 1 if lit > 0 else 0
    cost, hv = problem.cost(x)
    assert hv == 0
    return Exact(int(cost), x)


def gap(problem, x, exact: Exact | None = None) -> dict:
    """Cost of ``x`` next to the exact optimum."""
    exact = exact or exact_optimum(problem)
    cost, hv = problem.cost(x)
    return {"cost": cost, "hard_violated": hv, "optimum": exact.cost,
            "gap": None if exact.cost is None or hv else cost - exact.cost}
