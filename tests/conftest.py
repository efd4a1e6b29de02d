import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# CI passes BLACKBOX_DATA=../shared/data relative to the repository; tests start examples and the
# CLI in other working directories, so pin it to an absolute path once, here.
if os.environ.get("BLACKBOX_DATA"):
    os.environ["BLACKBOX_DATA"] = str(Path(os.environ["BLACKBOX_DATA"]).resolve())


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


NOT_RUN = "# not run in tests"


def python_blocks(path: Path) -> list[tuple[int, str, bool]]:
    """The ```python blocks of a markdown file: (line number, code, runnable). A block is runnable
    unless its first line is the explicit marker ``# not run in tests`` (docs/README.md)."""
    import re
    text = path.read_text()
    out = []
    for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
        code = m.group(1)
        line = text.count("\n", 0, m.start()) + 2
        out.append((line, code, not code.lstrip().startswith(NOT_RUN)))
    return out
