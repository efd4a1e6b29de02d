"""Saving and loading run checkpoints as a plain ``.npz``: no pickles.

Arrays of the solver state are stored under ``state/<key>``, the driver's arrays under
``run/<key>``, and everything else (scalars, configs, history) as one JSON string under ``meta``.
Writes go through ``fileio.atomic_write``, so a checkpoint is never half-written.
"""
from __future__ import annotations

import json
import os
import zipfile
import zlib

import numpy as np

from .fileio import atomic_write


class CheckpointError(ValueError):
    pass


def split_state(state: dict) -> tuple[dict, dict]:
    """Separate a solver state into arrays and JSON scalars; reject anything else by key."""
    arrays, scalars = {}, {}
    for k, v in state.items():
        if isinstance(v, np.ndarray):
            arrays[k] = v
        elif isinstance(v, (bool, np.bool_)):
            scalars[k] = bool(v)
        elif isinstance(v, (int, np.integer)):
            scalars[k] = int(v)
        elif isinstance(v, (float, np.floating)):
            scalars[k] = float(v)
        elif isinstance(v, str) or v is None:
            scalars[k] = v
        else:
            raise CheckpointError(f"solver state entry {k!r} is a {type(v).__name__}; states hold only numpy arrays, numbers and strings")
    return arrays, scalars


def save(path: str, state: dict, run_arrays: dict, meta: dict) -> None:
    arrays, scalars = split_state(state)
    payload = {f"state/{k}": v for k, v in arrays.items()}
    payload.update({f"run/{k}": np.asarray(v) for k, v in run_arrays.items()})
    meta = dict(meta, state_scalars=scalars)
    payload["meta"] = np.array(json.dumps(meta, default=jsonable))
    atomic_write(path, lambda tmp: np.savez(tmp, **payload), suffix=".npz")


def load(path: str) -> tuple[dict, dict, dict]:
    """Return (solver state, run arrays, meta)."""
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            state = {k[6:]: z[k] for k in z.files if k.startswith("state/")}
            run = {k[4:]: z[k] for k in z.files if k.startswith("run/")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        # a 0-byte file (EOFError), a truncated one (BadZipFile, zlib.error) or another .npz
        why = "the file is empty" if os.path.getsize(path) == 0 else f"truncated or another file: {type(e).__name__}: {e}"
        raise CheckpointError(f"{path}: not a blackbox checkpoint ({why})") from None
    state.update(meta.pop("state_scalars", {}))
    return state, run, meta


def jsonable(v):
    """``json.dumps(default=...)`` for numpy scalars and arrays."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)
