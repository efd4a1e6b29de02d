"""MNIST / Fashion-MNIST from the standard IDX ``.gz`` files, with a seeded train/validation split.

Where the files are looked for, first hit wins:
  1. the ``data_dir`` argument (a problem's ``data_dir`` option),
  2. the ``BLACKBOX_DATA`` environment variable,
  3. the user's cache ``~/.cache/blackbox``,
  4. ``../shared/data`` next to the repository (the layout of the development machines).
Each data set lives in its own sub-folder: ``<dir>/mnist/`` and ``<dir>/fashion-mnist/``, holding
``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
``t10k-labels-idx1-ubyte.gz``. Nothing is downloaded.

The training set is split once, by a seeded permutation, into train and validation indices; the
test set is read only through ``load(..., part="test")``, which the neural problems call only from
``test_metrics``.
"""
from __future__ import annotations

import gzip
import os
import struct
from functools import lru_cache
from pathlib import Path

import numpy as np

DATASETS = {"mnist": "mnist", "fashion": "fashion-mnist", "fashion-mnist": "fashion-mnist"}
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension


class DataError(RuntimeError):
    """A data file is missing or not a valid IDX file."""


def candidate_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    dirs = []
    if data_dir:
        dirs.append(Path(data_dir).expanduser())
    if os.environ.get("BLACKBOX_DATA"):
        dirs.append(Path(os.environ["BLACKBOX_DATA"]).expanduser())
    dirs.append(Path.home() / ".cache" / "blackbox")
    dirs.append(Path(__file__).resolve().parent.parent.parent / "shared" / "data")
    return dirs


def find_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding data set ``name`` (mnist, fashion), or DataError saying where to put it."""
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; known: mnist, fashion")
    sub = DATASETS[name]
    tried = candidate_dirs(data_dir)
    if data_dir:  # an explicit directory is the only one looked at
        tried = tried[:1]
    for d in tried:
        if all((d / sub / f).is_file() for pair in FILES.values() for f in pair):
            return d / sub
    where = ", ".join(str(d / sub) for d in tried)
    raise DataError(f"{name} IDX files not found (looked in {where}); put the 4 standard "
                    f"*-ubyte.gz files in <dir>/{sub}/ and pass data_dir=<dir> or set BLACKBOX_DATA=<dir> "
                    f"(e.g. BLACKBOX_DATA=../shared/data), or copy them to ~/.cache/blackbox/{sub}/")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse one (gzipped or raw) IDX file of unsigned bytes; DataError when it is not one."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read ({e}); the file is corrupt or not gzip") from None
    if len(raw) < 4:
        raise DataError(f"{path}: too short to be an IDX file")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or not 1 <= ndim <= 4:
        raise DataError(f"{path}: bad IDX magic 0x{int.from_bytes(raw[:4], 'big'):08x} "
                        f"(expected 0x00000801 labels or 0x00000803 images)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    n = int(np.prod(shape))
    if len(raw) - header != n:
        raise DataError(f"{path}: IDX header says {n} bytes of data for shape {shape}, file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


@lru_cache(maxsize=8)
def _load(folder: str, part: str) -> tuple[np.ndarray, np.ndarray]:
    img_name, lab_name = FILES[part]
    images = read_idx(Path(folder) / img_name)
    labels = read_idx(Path(folder) / lab_name)
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(f"{folder}: expected 3-d images and 1-d labels, got {images.shape} and {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{folder}: {images.shape[0]} images but {labels.shape[0]} labels ({part})")
    return images.reshape(images.shape[0], -1), labels


def load(name: str, part: str = "train", data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images as uint8 (n, 784), labels as uint8 (n,)) of ``part`` in {"train", "test"}."""
    if part not in FILES:
        raise ValueError(f"part must be 'train' or 'test', got {part!r}")
    return _load(str(find_dir(name, data_dir)), part)


def load_many(names: list[str], part: str, data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """Several data sets stacked, labels offset by 10 per data set (mnist+fashion = 20 classes)."""
    xs, ys = [], []
    for k, name in enumerate(names):
        x, y = load(name, part, data_dir)
        xs.append(x)
        ys.append(y.astype(np.int64) + 10 * k)
    return np.concatenate(xs), np.concatenate(ys)


def split(n: int, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (train_indices, validation_indices) of range(n) from a seeded permutation."""
    if not 0 <= val_size < n:
        raise ValueError(f"val_size must be in [0, {n}), got {val_size}")
    perm = np.random.default_rng([int(seed), 0x5EED]).permutation(n)
    return np.sort(perm[val_size:]), np.sort(perm[:val_size])


def minibatch_indices(n: int, batch_size: int, split_seed: int, seed: int) -> np.ndarray:
    """Indices of generation ``seed``'s minibatch of ``batch_size`` out of ``n`` training examples:
    a pure function of (split_seed, seed), drawn without replacement (the neural problems' stream)."""
    rng = np.random.default_rng([int(split_seed), 2, int(seed) & 0xFFFFFFFFFFFF])
    return rng.choice(n, batch_size, replace=False, shuffle=False)
