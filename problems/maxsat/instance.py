"""MAX-SAT instances: compact CSR clauses, a seeded random k-SAT generator, readers and writers.

Formats read (plain or .gz/.xz/.bz2, by content magic):
  * DIMACS CNF ``p cnf NV NC``: every clause is a unit-weight soft clause;
  * old weighted ``p wcnf NV NC [TOP]``: weight first on every clause, weight >= TOP is hard;
  * MaxSAT Evaluation 2022+ (no p-line): ``h`` starts a hard clause, a soft clause starts with its
    weight (unsigned 64-bit).
Comments (``c`` lines) may appear anywhere, SATLIB's ``%`` line ends the formula, clauses may span
lines and tokens may be separated by runs of spaces or tabs; empty clauses are kept (``p cnf 0 0``
is a valid, empty instance). Malformed input raises ``FormatError`` whose text is
``path:line: problem`` (``path: problem`` for the whole file): among others a file with neither a
p-line nor a clause (an empty file is no instance, never "solved") and ``-0`` as a literal. A
p-line whose clause count disagrees with the body is an ``InputWarning`` (an error under the CLI's
``--strict``).

Literal codes: variable v (1-based) with sign s is ``2*(v-1) + (s < 0)``; a literal with code l is
true under assignment x (0/1 per variable) iff ``x[l >> 1] != (l & 1)``.
"""
from __future__ import annotations

import bz2
import gzip
import lzma
import os
from dataclasses import dataclass, field

import numpy as np

UINT64_MAX = (1 << 64) - 1


class FormatError(ValueError):
    """Malformed instance file; ``str(e)`` is ``path:line: message``."""

    def __init__(self, path: str, line: int, message: str):
        self.path, self.line, self.message = str(path), int(line), message
        where = f"{self.path}:{self.line}" if self.line > 0 else self.path  # line 0: the whole file
        super().__init__(f"{where}: {message}")


@dataclass
class Instance:
    """Clauses in CSR form: clause c owns ``lits[offsets[c]:offsets[c+1]]``.

    ``weights`` (uint64) holds the soft weights (0 for hard clauses), ``hard`` marks hard clauses.
    """

    nvars: int
    lits: np.ndarray  # int32 literal codes
    offsets: np.ndarray  # int64, nclauses + 1
    weights: np.ndarray  # uint64, nclauses
    hard: np.ndarray  # bool, nclauses
    name: str = "instance"
    meta: dict = field(default_factory=dict)  # format, declared counts, generator parameters

    @property
    def nclauses(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def nhard(self) -> int:
        return int(np.count_nonzero(self.hard))

    @property
    def weighted(self) -> bool:
        soft = self.weights[~self.hard]
        return bool(soft.size and (soft.min() != soft.max()))

    def total_soft_weight(self) -> int:
        """Exact sum of the soft weights (a Python int, may exceed 2**63)."""
        return exact_sum(self.weights[~self.hard])

    def clause(self, c: int) -> list[int]:
        """Clause c as DIMACS literals."""
        codes = self.lits[self.offsets[c]:self.offsets[c + 1]]
        return [int((l >> 1) + 1) * (-1 if l & 1 else 1) for l in codes]

    def describe(self) -> str:
        kind = "partial " if self.nhard else ""
        kind += "weighted" if self.weighted else "unweighted"
        return f"{self.name}: {self.nvars} vars, {self.nclauses} clauses ({self.nhard} hard, {kind})"


def exact_sum(w: np.ndarray) -> int:
    """Exact integer sum of a uint64 array (Python int when it could overflow 64 bits)."""
    w = np.asarray(w, dtype=np.uint64)
    if w.size == 0:
        return 0
    if int(w.max()) <= (UINT64_MAX // max(1, w.size)):
        return int(w.sum(dtype=np.uint64))
    return sum(int(v) for v in w)


def from_clauses(nvars: int, clauses, weights=None, hard=None, name: str = "instance") -> Instance:
    """Build an instance from DIMACS literal lists (small instances, tests)."""
    m = len(clauses)
    lens = np.array([len(c) for c in clauses], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    flat = np.array([l for c in clauses for l in c], dtype=np.int64)
    if flat.size and (np.any(flat == 0) or np.abs(flat).max() > nvars):
        raise ValueError("literals must be nonzero and within nvars")
    lits = (2 * (np.abs(flat) - 1) + (flat < 0)).astype(np.int32)
    w = np.ones(m, np.uint64) if weights is None else np.array([int(x) for x in weights], dtype=np.uint64)
    h = np.zeros(m, bool) if hard is None else np.asarray(hard, dtype=bool)
    w = np.where(h, np.uint64(0), w).astype(np.uint64)
    return Instance(int(nvars), lits, offsets, w, h, name)


# -- random k-SAT --------------------------------------------------------------------------------

def generate(nvars: int, ratio: float = 4.27, k: int = 3, seed: int = 0, weighted: bool = False,
             max_weight: int = 100) -> Instance:
    """Uniform random k-SAT: round(ratio * nvars) clauses of k distinct variables with random
    signs, drawn with numpy (seconds for 1M variables). ``weighted`` draws integer weights
    uniformly in [1, max_weight]."""
    nvars, k = int(nvars), int(k)
    if nvars < 1 or k < 1:
        raise ValueError(f"random k-SAT needs vars >= 1 and k >= 1 (got vars={nvars}, k={k})")
    if nvars > (1 << 30):
        raise ValueError(f"random k-SAT: vars={nvars} is beyond the 2^30 variables a literal code can hold")
    if k > nvars:
        raise ValueError(f"k={k} distinct variables per clause need vars >= k (got vars={nvars})")
    if ratio <= 0:
        raise ValueError(f"ratio must be > 0, got {ratio}")
    m = int(round(ratio * nvars))
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x6B736174])
    v = rng.integers(0, nvars, size=(m, k), dtype=np.int32)
    for _ in range(1000):  # redraw rows with a repeated variable (a fraction ~k^2/2n of them)
        bad = _rows_with_repeats(v)
        if not bad.size:
            break
        if 2 * k > nvars:  # dense case: permutations
            v[bad] = np.argsort(rng.random((bad.size, nvars)), axis=1)[:, :k].astype(np.int32)
        else:
            v[bad] = rng.integers(0, nvars, size=(bad.size, k), dtype=np.int32)
    neg = rng.integers(0, 2, size=(m, k), dtype=np.int32)
    lits = (2 * v + neg).astype(np.int32).reshape(-1)
    offsets = np.arange(0, m * k + 1, k, dtype=np.int64)
    if weighted:
        weights = rng.integers(1, int(max_weight) + 1, size=m).astype(np.uint64)
    else:
        weights = np.ones(m, np.uint64)
    name = f"random-{k}sat-n{nvars}-r{ratio:g}-s{seed}" + ("-w" if weighted else "")
    meta = {"format": "generated", "vars": nvars, "ratio": ratio, "k": k, "seed": int(seed),
            "weighted": bool(weighted)}
    return Instance(nvars, lits, offsets, weights, np.zeros(m, bool), name, meta)


def _rows_with_repeats(v: np.ndarray) -> np.ndarray:
    k = v.shape[1]
    if k <= 8:
        bad = np.zeros(v.shape[0], bool)
        for i in range(k):
            for j in range(i + 1, k):
                bad |= v[:, i] == v[:, j]
    else:
        s = np.sort(v, axis=1)
        bad = (np.diff(s, axis=1) == 0).any(axis=1)
    return np.flatnonzero(bad)


# -- reading -------------------------------------------------------------------------------------

_MESSAGES = {
    1: "expected an integer literal",
    2: "literal {val} is beyond the {nv} variables declared in the p-line",
    3: "literal too large (variables are limited to 2^30)",
    4: "clause without closing 0 at end of file",
    5: "bad clause weight (expected a nonnegative integer{h})",
    6: "clause weight does not fit in 64 bits",
    7: "unexpected p-line (mixed formats or a second header)",
    8: "'h' hard-clause marker in a file with a p-line (mixed formats)",
    9: "negative clause weight",
    10: "'-0' is not a literal (0 ends a clause; variables start at 1)",
}


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        head = f.read(6)
    opener = open
    if head[:2] == b"\x1f\x8b":
        opener = gzip.open
    elif head[:3] == b"BZh":
        opener = bz2.open
    elif head[:6] == b"\xfd7zXZ\x00":
        opener = lzma.open
    with opener(path, "rb") as f:
        return f.read()


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def parse(data: bytes, path: str = "<string>", allow_empty: bool = False) -> Instance:
    """Parse CNF / WCNF text (bytes or str). Text with neither a p-line nor a clause is an error
    unless ``allow_empty`` (in the 2022 format it is a valid empty instance, and the Evaluation's
    regression suite has one; but far more often it is a failed download or a wrong path, and
    reporting it "OPTIMUM FOUND" would be a lie about the file the user meant)."""
    from . import _textio

    if isinstance(data, str):
        data = data.encode()
    # Find the first line that is not blank or a comment: a p-line, or the first clause (MSE 2022).
    pos, n = 0, len(data)
    header = None
    while pos < n:
        end = data.find(b"\n", pos)
        end = n if end < 0 else end
        line = data[pos:end].strip()
        if not line or line[:1] == b"c":
            pos = end + 1
            continue
        if line[:1] == b"p":
            header = (line, pos)
            pos = end + 1
        break
    mode, nv_decl, nc_decl, top, fmt = 2, 0, None, 0, "wcnf-2022"
    if header is not None:
        tok = header[0].decode("latin-1").split()
        line_no = _line_of(data, header[1])
        if len(tok) < 4 or tok[1] not in ("cnf", "wcnf") or (tok[1] == "cnf" and len(tok) != 4) or len(tok) > 5:
            raise FormatError(path, line_no, f"bad p-line {header[0].decode('latin-1')!r} "
                                             "(expected 'p cnf VARS CLAUSES' or 'p wcnf VARS CLAUSES [TOP]')")
        try:
            nums = [int(t) for t in tok[2:]]
        except ValueError:
            raise FormatError(path, line_no, f"bad p-line {header[0].decode('latin-1')!r}: counts must be integers") from None
        if any(x < 0 for x in nums) or nums[0] > (1 << 30):
            raise FormatError(path, line_no, f"bad p-line {header[0].decode('latin-1')!r}: counts out of range")
        nv_decl, nc_decl = nums[0], nums[1]
        mode = 0 if tok[1] == "cnf" else 1
        fmt = "cnf" if mode == 0 else "wcnf"
        if len(nums) == 3:
            top = nums[2]
            if top < 1 or top > UINT64_MAX:
                raise FormatError(path, line_no, f"bad top weight {top}")
    buf = np.frombuffer(data, dtype=np.uint8)
    lits, offs, wts, hard, max_var, err, err_pos, err_val = _textio.parse_body(
        buf, pos, mode, nv_decl, np.uint64(top), top > 0)
    if err:
        msg = _MESSAGES[err].format(val=err_val, nv=nv_decl, h=" or 'h'" if mode == 2 else "")
        if err == 1 and mode == 2 and data[err_pos:err_pos + 1] == b"p":
            msg = _MESSAGES[7]
        raise FormatError(path, _line_of(data, err_pos), msg)
    _check_counts(path, None if header is None else _line_of(data, header[1]), nc_decl, offs.size - 1, allow_empty)
    nvars = nv_decl if mode < 2 else int(max_var)
    meta = {"format": fmt, "declared_vars": nv_decl if mode < 2 else None, "declared_clauses": nc_decl,
            "top": top or None}
    name = os.path.basename(str(path))
    for ext in (".gz", ".xz", ".bz2", ".lzma"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    return Instance(int(nvars), lits, offs, wts, hard.astype(bool), name, meta)


def _check_counts(path: str, header_line: int | None, declared: int | None, found: int, allow_empty: bool) -> None:
    """No p-line and no clause (an empty file, a 0-byte .gz, only comments) is no instance. A
    header whose clause count is wrong is kept (most solvers ignore the count) but said in one
    line, as an ``InputWarning`` (an error where warnings are errors, as under ``--strict``)."""
    if header_line is None and found == 0 and not allow_empty:
        raise FormatError(path, 0, "no p-line and no clause: not a CNF/WCNF instance (empty file?"
                                   " --allow-empty reads it as an instance without clauses)")
    if declared is not None and declared != found:
        import warnings

        from blackbox.inputs import InputWarning
        warnings.warn(InputWarning(f"{path}:{header_line}: the p-line declares {declared} clauses, the file has {found}"),
                      stacklevel=4)


def read_instance(path: str, allow_empty: bool = False) -> Instance:
    """Read a DIMACS CNF / WCNF (old or 2022) file, plain or compressed (``allow_empty``: see parse)."""
    path = os.fspath(path)
    try:
        data = read_bytes(path)
    except OSError as e:
        raise FormatError(path, 0, f"cannot read: {e.strerror or e}") from None
    except (EOFError, lzma.LZMAError, OSError, ValueError) as e:  # corrupt archives
        raise FormatError(path, 0, f"cannot decompress: {e}") from None
    return parse(data, path, allow_empty)


# -- writing -------------------------------------------------------------------------------------

def format_instance(inst: Instance, fmt: str = "auto") -> bytes:
    """DIMACS text. fmt: ``cnf`` (unit-weight soft only), ``wcnf`` (old, with top) or ``wcnf-2022``;
    ``auto`` = cnf when unweighted without hard clauses, else wcnf-2022."""
    from . import _textio

    if fmt == "auto":
        fmt = "cnf" if (not inst.nhard and not inst.weighted and
                        (inst.nclauses == 0 or int(inst.weights.max(initial=1)) == 1)) else "wcnf-2022"
    if fmt == "cnf":
        if inst.nhard or (inst.nclauses and int(inst.weights.max()) != 1):
            raise ValueError("cnf output needs unit-weight soft clauses only; use wcnf")
        head, mode, top = f"p cnf {inst.nvars} {inst.nclauses}\n", 0, 0
    elif fmt == "wcnf":
        top = inst.total_soft_weight() + 1
        if top > UINT64_MAX:
            raise ValueError("total soft weight too large for the old wcnf top; use wcnf-2022")
        head, mode = f"p wcnf {inst.nvars} {inst.nclauses} {top}\n", 1
    elif fmt == "wcnf-2022":
        head, mode, top = "", 2, 0
    else:
        raise ValueError(f"unknown format {fmt!r} (cnf, wcnf, wcnf-2022, auto)")
    body = _textio.format_body(inst.lits, inst.offsets, inst.weights, inst.hard.astype(np.uint8),
                               mode, np.uint64(top))
    return (f"c {inst.name}\n" + head).encode() + body.tobytes()


def write_instance(inst: Instance, path: str, fmt: str = "auto") -> None:
    """Write ``inst`` to ``path`` (compressed when it ends in .gz/.xz/.bz2)."""
    data = format_instance(inst, fmt)
    path = os.fspath(path)
    opener = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}.get(os.path.splitext(path)[1], open)
    with opener(path, "wb") as f:
        f.write(data)
