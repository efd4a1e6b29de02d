"""Faults and bad input of issue 17: each case names what happens (docs/failures.md lists them all)."""
import gzip
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT

import blackbox
from blackbox.cli import main

ENV = dict(os.environ, PYTHONPATH=str(ROOT), CI="true", BLACKBOX_MEMORY_LIMIT="16G")


def cli(capsys, monkeypatch, *args):
    """Run the CLI in this process: (exit code, stdout, stderr)."""
    monkeypatch.setenv("BLACKBOX_MEMORY_LIMIT", "16G")  # the size checks see the same machine everywhere
    monkeypatch.setenv("CI", "true")
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err, *needles):
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err


# -- 2, 3: MAX-SAT files ---------------------------------------------------------------------------

@pytest.mark.parametrize("name,content", [
    ("z.cnf", b""), ("z.cnf.gz", b""), ("gz-of-nothing.cnf.gz", gzip.compress(b"")),
    ("comments.wcnf", b"c only a comment\nc and another\n"),
])
def test_maxsat_file_without_header_or_clause_is_an_error(tmp_path, capsys, monkeypatch, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = cli(capsys, monkeypatch, "solve", "maxsat", str(path), "--format", "maxsat-eval", "--flips", "10")
    one_line_error(code, err, f"{path}: no p-line and no clause")
    assert "OPTIMUM" not in out


def test_maxsat_empty_instance_with_header_stays_valid(tmp_path, capsys, monkeypatch):
    path = tmp_path / "p0.cnf"
    path.write_text("p cnf 0 0\n")
    code, out, _ = cli(capsys, monkeypatch, "solve", "maxsat", str(path), "--format", "maxsat-eval", "--flips", "10")
    assert code == 30 and "s OPTIMUM FOUND" in out
    empty = tmp_path / "empty.wcnf"  # the MaxSAT Evaluation regression suite's empty.wcnf, on request
    empty.write_bytes(b"")
    code, out, _ = cli(capsys, monkeypatch, "solve", "maxsat", str(empty), "--allow-empty", "--format", "maxsat-eval",
                       "--flips", "10")
    assert code == 30 and "s OPTIMUM FOUND" in out


def test_maxsat_minus_zero_literal_is_an_error_with_line(tmp_path, capsys, monkeypatch):
    path = tmp_path / "m0.cnf"
    path.write_text("c x\np cnf 3 2\n1 2 0\n1 -0 2 0\n")
    code, _, err = cli(capsys, monkeypatch, "solve", "maxsat", str(path), "--flips", "10")
    one_line_error(code, err, f"{path}:4: '-0' is not a literal")


def test_maxsat_clause_count_mismatch_warns_and_strict_refuses(tmp_path, capsys, monkeypatch):
    path = tmp_path / "count.cnf"
    path.write_text("p cnf 3 5\n1 2 0\n-3 0\n")
    code, out, err = cli(capsys, monkeypatch, "solve", "maxsat", str(path), "--format", "maxsat-eval", "--flips", "100")
    assert code == 30, err
    assert err.strip() == f"blackbox: warning: {path}:1: the p-line declares 5 clauses, the file has 2"
    code, out, err = cli(capsys, monkeypatch, "solve", "maxsat", str(path), "--strict", "--flips", "100")
    one_line_error(code, err, "declares 5 clauses, the file has 2")
    assert not out


# -- 7: sizes and numbers ---------------------------------------------------------------------------

@pytest.mark.parametrize("args,needles", [
    (("sphere", "--dim", "1e12"), ("--dim 1e+12", "GB of memory")),
    (("rastrigin", "--dim", "3e8"), ("--dim 3e+08", "48 GB")),
    (("onemax", "--dim", "3e8"), ("--dim 3e+08", "GB of memory")),
    (("maxsat", "--vars", "1e10"), ("--vars 1e+10", "GB of memory")),
    (("maxsat", "--vars", "1e8", "--ratio", "1e6"), ("--vars 1e+08 --ratio 1e+06", "GB of memory")),
    (("sphere", "--time", "nan"), ("'--time'", "not a finite number")),
    (("sphere", "--target", "nan"), ("'--target'", "not a finite number")),
    (("sphere", "--workers", "0"), ("'--workers'", ">= 1")),
    (("sphere", "--workers", "-1"), ("'--workers'", ">= 1")),
    (("sphere", "--seed", "-1"), ("'--seed'", ">= 0")),
    (("sphere", "--evals", "inf"), ("'--evals'", "not a finite number")),
    (("sphere", "--time", "0"), ("'--time'", "> 0")),
])
def test_absurd_sizes_and_numbers_are_refused_before_allocating(capsys, monkeypatch, args, needles):
    import resource
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code, _, err = cli(capsys, monkeypatch, "solve", *args, "--evals", "10") if "--evals" not in args else \
        cli(capsys, monkeypatch, "solve", *args)
    one_line_error(code, err, *needles)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB: nothing big was allocated


# -- 8, 9: checkpoints and interrupts ---------------------------------------------------------------

def test_truncated_or_empty_checkpoint_is_one_line(tmp_path, capsys, monkeypatch):
    ck = tmp_path / "c.ckpt.npz"
    code, _, err = cli(capsys, monkeypatch, "solve", "sphere", "--dim", "5", "--evals", "200", "--checkpoint", str(ck))
    assert code == 0 and ck.exists(), err
    data = ck.read_bytes()
    for cut in (data[: len(data) // 2], data[:100], b""):
        ck.write_bytes(cut)
        code, _, err = cli(capsys, monkeypatch, "solve", "sphere", "--resume", str(ck), "--evals", "400")
        one_line_error(code, err, f"{ck}: not a blackbox checkpoint")
    assert "the file is empty" in err


def test_interrupted_solve_exits_130_after_writing_its_checkpoint(tmp_path):
    ck = tmp_path / "c.ckpt.npz"
    proc = subprocess.Popen([sys.executable, "-m", "blackbox", "solve", "sphere", "--dim", "20", "--evals", "1e12",
                             "--checkpoint", str(ck), "--checkpoint-every", "0.05"], env=ENV, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not ck.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)  # the run is in its loop once the first periodic checkpoint is there
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stopped   interrupted" in out and f"checkpoint {ck}" in out and ck.exists()
