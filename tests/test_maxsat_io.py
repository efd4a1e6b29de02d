"""MAX-SAT readers, writers and generator: shared real instances and synthetic tricky inputs."""
from __future__ import annotations

import bz2
import glob
import gzip
import lzma
import os
from pathlib import Path

import numpy as np
import pytest

from blackbox.problems.maxsat.instance import FormatError, format_instance, from_clauses, generate, parse, read_instance, write_instance

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BLACKBOX_DATA", ROOT.parent / "shared" / "data")) / "maxsat"
needs_data = pytest.mark.usefixtures("shared_data")  # fails, never skips, when the data is missing


def files(pattern):
    return sorted(glob.glob(str(DATA / pattern), recursive=True))


@needs_data
def test_all_shared_files_parse():
    paths = files("**/*.cnf") + files("**/*.wcnf")
    assert len(paths) > 300
    for p in paths:
        inst = read_instance(p, allow_empty=True)  # the MSE suite's empty.wcnf
        assert inst.offsets[-1] == inst.lits.size
        if inst.lits.size:
            assert int(inst.lits.max()) < 2 * inst.nvars
        if inst.meta["format"] in ("cnf", "wcnf"):
            # the declared counts of the p-line match (SATLIB files keep them exact)
            assert inst.nclauses == inst.meta["declared_clauses"], p


@needs_data
def test_satlib_counts_and_literals():
    inst = read_instance(DATA / "satlib_uf" / "uf20-01.cnf")  # "p cnf 20  91": two spaces
    assert (inst.nvars, inst.nclauses) == (20, 91)
    assert inst.clause(0) == [4, -18, 19]
    assert np.all(np.diff(inst.offsets) == 3)


@needs_data
def test_frb_old_wcnf_weights():
    p = DATA / "weighted_maxsat_frb" / "frb10-6-1.wcnf"
    inst = read_instance(p)
    assert inst.meta["format"] == "wcnf" and inst.nhard == 0
    opt_sat = int(open(p).readline().split()[2])
    assert inst.total_soft_weight() - opt_sat == 50  # README: optimum cost 50
    assert set(np.unique(inst.weights).tolist()) == {1, 61}


@needs_data
def test_mse2022_format_hard_and_huge_weights():
    inst = read_instance(DATA / "mse_regression_suite" / "baseWCNFs" / "SpecialCasesCombined.wcnf")
    # 0 2 -1 0 / h 1 0 / h 0 / 3 -1 0 / 0 0 / 2 1 0 / 2 0
    assert inst.nclauses == 7 and inst.nhard == 2 and inst.nvars == 2
    assert np.diff(inst.offsets).tolist() == [2, 1, 0, 1, 0, 1, 0]
    assert inst.weights.tolist() == [0, 0, 0, 3, 0, 2, 2]
    big = read_instance(DATA / "mse_regression_suite" / "baseWCNFs" / "OneSoftUnitWeightUINT32Maxplus1.wcnf")
    assert int(big.weights[0]) == 2**32


def test_tricky_dimacs():
    text = b"""c leading comment
p cnf 4   3
1   -2
c a comment inside a clause that spans lines
  3 0 -4
 0
0
%
0
garbage after the SATLIB trailer is ignored
"""
    inst = parse(text, "t.cnf")
    assert inst.nvars == 4 and inst.nclauses == 3
    assert [inst.clause(c) for c in range(3)] == [[1, -2, 3], [-4], []]


def test_tabs_crlf_and_no_trailing_newline():
    inst = parse(b"p cnf 2 2\r\n1\t-2 0\r\n2 0", "t.cnf")
    assert [inst.clause(c) for c in range(2)] == [[1, -2], [2]]


def test_old_wcnf_top_marks_hard():
    inst = parse(b"p wcnf 3 3 10\n10 1 2 0\n3 -1 0\n10 -2 3 0\n", "t.wcnf")
    assert inst.hard.tolist() == [True, False, True]
    assert inst.weights.tolist() == [0, 3, 0]


def test_mse2022_weights_up_to_2_63():
    w = 2**63 - 1
    inst = parse(f"c x\nh 1 2 0\n{w} -1 0\n{w} -2 0\n5 0\n".encode(), "t.wcnf")
    assert inst.nvars == 2 and inst.hard.tolist() == [True, False, False, False]
    assert inst.total_soft_weight() == 2 * w + 5  # exact beyond 2^63


@pytest.mark.parametrize("text,line,fragment", [
    (b"p cnf 3 1\n1 2 4 0\n", 2, "literal 4 is beyond the 3 variables"),
    (b"p cnf 3 2\n1 2 0\nc\n-1 -3\n", 4, "without closing 0"),
    (b"p cnf 3 1\n1 x 0\n", 2, "expected an integer literal"),
    (b"p cnf 3 1\n1 2.5 0\n", 2, "expected an integer literal"),
    (b"p wcnf 3 1\n-4 1 0\n", 2, "negative clause weight"),
    (b"p wcnf 3 1\nabc 1 0\n", 2, "bad clause weight"),
    (b"h 1 0\n1.5 1 0\n", 2, "bad clause weight"),
    (b"1 1 0\n99999999999999999999 2 0\n", 2, "does not fit in 64 bits"),
    (b"h 1 0\np cnf 2 2\n", 2, "unexpected p-line"),
    (b"p cnf 3 1\nh 1 2 0\n", 2, "'h' hard-clause marker"),
    (b"c\np cnf 3\n1 0\n", 2, "bad p-line"),
    (b"p cnf 3 1\n1 0\np cnf 3 1\n", 3, "unexpected p-line"),
])
def test_format_errors_name_file_and_line(text, line, fragment):
    with pytest.raises(FormatError) as e:
        parse(text, "bad.cnf")
    msg = str(e.value)
    assert msg.startswith(f"bad.cnf:{line}: "), msg
    assert fragment in msg, msg
    assert "\n" not in msg


def test_missing_file_is_a_format_error(tmp_path):
    with pytest.raises(FormatError, match="cannot read"):
        read_instance(tmp_path / "nope.cnf")


@pytest.mark.parametrize("ext,opener", [(".gz", gzip.open), (".xz", lzma.open), (".bz2", bz2.open), ("", open)])
def test_compressed_roundtrip(tmp_path, ext, opener):
    inst = generate(50, ratio=4.0, seed=3)
    path = tmp_path / f"r.cnf{ext}"
    write_instance(inst, path)
    with opener(path, "rb") as f:
        assert f.read(2) == b"c "
    back = read_instance(path)
    assert back.nvars == 50 and np.array_equal(back.lits, inst.lits) and np.array_equal(back.offsets, inst.offsets)


@pytest.mark.parametrize("fmt", ["wcnf", "wcnf-2022"])
def test_weighted_writer_roundtrip(fmt):
    inst = from_clauses(3, [[1, -2], [3], [], [-1, -3]], weights=[5, 2**62, 7, 1], hard=[True, False, False, False])
    back = parse(format_instance(inst, fmt), "w.wcnf")
    assert back.hard.tolist() == inst.hard.tolist()
    assert back.weights.tolist() == inst.weights.tolist()
    assert [back.clause(c) for c in range(4)] == [[1, -2], [3], [], [-1, -3]]


def test_generator_properties():
    a = generate(2000, ratio=4.27, k=3, seed=5)
    b = generate(2000, ratio=4.27, k=3, seed=5)
    c = generate(2000, ratio=4.27, k=3, seed=6)
    assert a.nclauses == round(4.27 * 2000) and a.lits.size == 3 * a.nclauses
    assert np.array_equal(a.lits, b.lits) and not np.array_equal(a.lits, c.lits)
    v = (a.lits >> 1).reshape(-1, 3)
    assert np.all((v[:, 0] != v[:, 1]) & (v[:, 0] != v[:, 2]) & (v[:, 1] != v[:, 2]))
    assert v.min() >= 0 and v.max() < 2000
    signs = (a.lits & 1).mean()
    assert 0.45 < signs < 0.55
    w = generate(500, k=5, seed=1, weighted=True, max_weight=9)
    assert w.weights.min() >= 1 and w.weights.max() <= 9 and w.weighted
    tiny = generate(4, ratio=3, k=4, seed=0)  # k == vars: every clause is a permutation
    assert np.all(np.sort(tiny.lits.reshape(-1, 4) >> 1, axis=1) == np.arange(4))


def test_generator_rejects_bad_parameters():
    with pytest.raises(ValueError):
        generate(2, k=3)
    with pytest.raises(ValueError):
        generate(0)
