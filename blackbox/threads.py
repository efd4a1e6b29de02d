"""One place that sets, and reports, how many threads numba, torch and BLAS use.

Why one helper: numba's OpenMP threading layer and torch share the same OpenMP runtime (libgomp),
and starting numba's pool or setting its thread count resets torch's count to the core count.
Setting torch first and numba after therefore silently undoes the torch setting (measured: every
neural problem but the SNN went from 1 back to 2 torch threads after its first evaluation, whose
loss is summed by a parallel numba kernel). numpy's and scipy's BLAS (OpenBLAS) each keep their
own pool, which nothing limited. ``pin`` sets the three in the order that sticks; ``counts`` reads
back what each library really uses, for the result JSON.

Only libraries already imported are touched (torch and numba are never imported here); scipy.linalg
is, so that scipy's BLAS pool exists when the limit is set.
"""
from __future__ import annotations

import sys


def pin(n: int) -> dict:
    """Use ``n`` threads in numba (if imported), then torch (if imported), then every BLAS library
    loaded in the process (threadpoolctl). numba is capped at its NUMBA_NUM_THREADS. Setting
    numba's count starts its pool, so its reset of the shared OpenMP runtime happens here, before
    torch's count is set, not later at the first parallel kernel. Returns ``counts()``."""
    n = int(n)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    numba = sys.modules.get("numba")
    if numba is not None:
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
    import scipy.linalg  # noqa: F401  loads scipy's own OpenBLAS now (numba's first compile would, unlimited)
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=n, user_api="blas")  # called, not entered: the limit stays (libraries loaded later are not covered)
    return counts()


def counts() -> dict:
    """The thread counts in force now: ``{"numba": int | None, "torch": int | None, "blas": int | None}``
    (None = library not imported / no BLAS loaded; ``blas`` is the largest count over the loaded
    BLAS libraries, so a single stray pool shows)."""
    numba = sys.modules.get("numba")
    torch = sys.modules.get("torch")
    from threadpoolctl import threadpool_info
    blas = [lib["num_threads"] for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return {"numba": numba.get_num_threads() if numba is not None else None,
            "torch": torch.get_num_threads() if torch is not None else None,
            "blas": max(blas) if blas else None}
