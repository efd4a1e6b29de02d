import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path | None:
    """BLACKBOX_DATA, else ../shared/data beside the repository (as on CI)."""
    for cand in (os.environ.get("BLACKBOX_DATA"), ROOT.parent / "shared" / "data"):
        if cand and Path(cand).is_dir():
            return Path(cand)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = data_dir()
    if d is None:
        pytest.fail("shared data not found: set BLACKBOX_DATA or place it at ../shared/data")
    return d
