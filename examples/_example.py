"""What every example shares: the small-budget switch, the output folder and the data folder.

    args = example_args(__doc__)     # --small / BLACKBOX_EXAMPLE_SMALL=1, --out DIR (default: a new temp dir)
    data = data_dir()                # BLACKBOX_DATA, else ../shared/data beside the repository

Outputs never go into the repository: they go to ``--out`` or to a fresh temporary folder, whose
path each example prints. The examples use the installed package (the README's set-up installs
it; ``blackbox.problems`` exists only as installed: the repository's ``problems/`` folder is mapped
there), so they run the same from an editable install, a wheel or any working directory.
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def example_args(doc: str, add=None) -> argparse.Namespace:
    """Parse --small and --out (plus what ``add(parser)`` adds); create the output folder."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true",
                    help="tiny budget (what CI runs); the same as BLACKBOX_EXAMPLE_SMALL=1")
    ap.add_argument("--out", default=None, help="folder for the outputs (default: a new temporary folder)")
    if add:
        add(ap)
    args = ap.parse_args()
    args.small = args.small or os.environ.get("BLACKBOX_EXAMPLE_SMALL", "0") not in ("", "0")
    args.out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="blackbox-example-"))
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def data_dir() -> Path:
    """The folder holding mnist/, fashion-mnist/ and maxsat/: BLACKBOX_DATA, else ../shared/data."""
    return Path(os.environ.get("BLACKBOX_DATA") or ROOT.parent / "shared" / "data")
