"""Writing files all-or-nothing.

Results, checkpoints and comparison summaries are written through ``atomic_write``: the content
goes to a uniquely named temporary file in the target's folder, is flushed to disk (fsync) and
renamed over the target. A reader (or a run killed mid-write) therefore sees the old file or the
new one, never half of one, and two processes writing beside each other never share a temporary.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Callable


def atomic_write(path: str, write: Callable[[str], None], suffix: str = "") -> str:
    """Fill a temporary file with ``write(tmp_path)``, fsync it and rename it to ``path``.
    ``suffix`` ends the temporary name (``.npz``: numpy appends it otherwise)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".", suffix=".tmp" + suffix)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path: str, text: str) -> str:
    """Write ``text`` to ``path`` all-or-nothing."""
    def write(tmp):
        with open(tmp, "w") as fh:
            fh.write(text)
    return atomic_write(path, write)


def atomic_write_json(path: str, obj, **dump_options) -> str:
    """Write ``obj`` as JSON to ``path`` all-or-nothing (``json.dump`` options pass through)."""
    return atomic_write_text(path, json.dumps(obj, **dump_options))
