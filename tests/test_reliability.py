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
def test_absurd_sizes_and_numbers_are_refused_before_allocating(args, needles):
    import resource

    def cap_memory():  # a regression must fail with MemoryError here, not take the test machine down
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
    extra = () if "--evals" in args else ("--evals", "10")
    p = subprocess.run([sys.executable, "-m", "blackbox", "solve", *args, *extra], capture_output=True, text=True,
                       env=ENV, cwd=ROOT, timeout=120, preexec_fn=cap_memory)
    one_line_error(p.returncode, p.stderr, *needles)


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


# -- 4: hangs ----------------------------------------------------------------------------------------

HANG = """
import sys, time, numpy as np, blackbox
def f(x):
    if x[0] > 0.5:
        time.sleep(1000)  # hangs on part of the space
    return float(np.sum(x ** 2))
kw = eval(sys.argv[1])
p = blackbox.problem_from_function(f, dim=2, domain=(-1, 1), **kw)
r = blackbox.solve(p, "random", {"popsize": 4, "sigma0": 1.0}, evals=int(sys.argv[2]), seconds=float(sys.argv[3]), seed=0)
print("done", r.stopped, r.evals, r.failures, r.best_loss, repr(r.first_error), flush=True)
"""  # no `if __name__ == "__main__":` guard, on purpose


def run_script(tmp_path, code, *args, timeout=60):
    script = tmp_path / "user_script.py"
    script.write_text(code)
    t = time.monotonic()
    p = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=ENV, cwd=tmp_path,
                       timeout=timeout)
    return p, time.monotonic() - t


@pytest.mark.parametrize("kw", ["{'timeout': 0.3}", "{'timeout': 0.3, 'workers': 2}"])
def test_a_hanging_call_is_a_failure_after_its_timeout(tmp_path, kw):
    p, wall = run_script(tmp_path, HANG, kw, "16", "1000")
    assert p.returncode == 0 and p.stdout.startswith("done evals 16 "), p.stderr
    failures, first = int(p.stdout.split()[3]), p.stdout.split(" ", 5)[5]
    assert failures >= 1 and "timed out after 0.3 s" in first
    assert p.stderr == ""  # no wall of multiprocessing errors without a __main__ guard


def test_a_time_budget_ends_the_run_even_when_calls_hang(tmp_path):
    p, wall = run_script(tmp_path, HANG, "{'timeout': 100, 'workers': 2}", "100000", "2")
    assert p.returncode == 0 and p.stdout.startswith("done time "), p.stderr
    assert wall < 2 + 15  # 2 s of budget, plus start-up on a loaded machine; not 100 s per hanging call


@pytest.mark.parametrize("kw", ["{}", "{'timeout': 100}"])
def test_first_ctrl_c_stops_a_hanging_simulator_at_once(tmp_path, kw):
    (tmp_path / "user_script.py").write_text(HANG)
    proc = subprocess.Popen([sys.executable, "user_script.py", kw, "100000", "1000"], env=ENV, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)  # start-up, then stuck in a hanging call
    assert proc.poll() is None
    t = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - t < 1.0 + 1.0  # "within a second" (+1 s for a loaded test machine)
    assert proc.returncode == 0 and out.startswith("done interrupted"), err
    assert list(tmp_path.glob("blackbox-f-0.ckpt.npz"))  # the driver wrote its checkpoint


def test_a_dying_or_raising_worker_is_a_counted_failure():
    import os as _os

    def f(x):
        if x[0] > 0.8:
            _os._exit(9)
        if x[0] < -0.8:
            raise ValueError("negative")
        return float(x[0] ** 2)
    p = blackbox.problem_from_function(f, dim=1, domain=(-1, 1), timeout=30, workers=2)
    losses = p.evaluate(np.array([[0.5], [0.9], [-0.9], [0.1]]))
    p.close()
    assert losses[0] == 0.25 and losses[3] == pytest.approx(0.01) and np.isnan(losses[1:3]).all()
    assert "died (exit code 9)" in p.last_error


# -- 5: strict wrappers, non-numbers -----------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: blackbox.problem_from_function(lambda x: float("nan"), dim=2, strict=True),
    lambda: blackbox.problem_from_function(lambda x: 1 / 0, dim=2, strict=True, timeout=30),
    lambda: blackbox.problem_from_vectorized(lambda X: np.full(len(X), np.inf), dim=2, strict=True),
    lambda: blackbox.problem_from_vectorized(lambda X: np.where(X[:, 0] > 0, np.nan, 1.0), dim=2, strict=True,
                                             workers=2),
])
def test_strict_given_to_a_wrapper_raises_at_the_first_failure(make):
    from blackbox.evaluator import EvaluationError
    p = make()
    with pytest.raises(EvaluationError):
        blackbox.solve(p, "random", evals=64, seed=0)
    p.close()


@pytest.mark.parametrize("ret,needle", [
    (lambda x: "0.5", "returned a string ('0.5')"),
    (lambda x: 1 + 0j, "complex"),
    (lambda x: np.complex128(0.5), "complex"),
    (lambda x: None, "returned None"),
])
def test_a_string_or_complex_loss_is_a_failure_not_coerced(ret, needle):
    r = blackbox.solve(blackbox.problem_from_function(ret, dim=2), "random", evals=64, seed=0)
    assert r.failures == 64 and needle in r.first_error
    vec = blackbox.problem_from_vectorized(lambda X: np.array(["0.5"] * len(X)), dim=2)
    r = blackbox.solve(vec, "random", evals=64, seed=0)
    assert r.failures == 64 and "returned a string ('0.5')" in r.first_error
    vec = blackbox.problem_from_vectorized(lambda X: X[:, 0].astype(complex), dim=2)
    r = blackbox.solve(vec, "random", evals=64, seed=0)
    assert r.failures == 64 and "complex" in r.first_error


# -- 6: domains, docstrings ----------------------------------------------------------------------------

@pytest.mark.parametrize("solver", ["polystep", "es", "random", "ga", "cge", "cma-es"])
def test_per_coordinate_bounds_and_tuple_domains(solver):
    lo, hi = np.array([0.0, 10.0, -5.0]), np.array([1.0, 20.0, -4.0])
    target = np.array([0.5, 15.0, -4.5])
    for dom in (blackbox.Real(lo, hi), (lo, hi)):
        p = blackbox.problem_from_vectorized(lambda X: np.abs(X - target).sum(1), dim=3, domain=dom)
        r = blackbox.solve(p, solver, evals=300, seed=0)
        assert np.all(r.best_x >= lo) and np.all(r.best_x <= hi), (solver, r.best_x)
    d = blackbox.Integer([0, 0], [3, 10])
    x = d.sample(np.random.default_rng(0), (1000, 2))
    assert x[:, 0].max() == 3 and x[:, 1].max() == 10 and x.min() == 0
    np.testing.assert_array_equal(d.project(np.array([7.2, -1.0]), index=[1, 0]), [7, 0])


def test_domain_bound_errors_are_one_line():
    with pytest.raises(ValueError, match="low=5 is above high=2 at coordinate 1"):
        blackbox.Real([0, 5], [1, 2])
    with pytest.raises(ValueError, match="domain low has 2 bounds; expected one per coordinate"):
        blackbox.problem_from_function(lambda x: 0.0, dim=3, domain=([0, 1], [1, 2]))
    with pytest.raises(ValueError, match="domain must be a Domain"):
        blackbox.problem_from_function(lambda x: 0.0, dim=3, domain="0..1")


def test_wrapper_docstrings_document_their_arguments():
    for fn in (blackbox.problem_from_function, blackbox.problem_from_vectorized, blackbox.problem_from_command):
        for arg in ("domain", "x0", "timeout", "workers", "strict"):
            assert f"    {arg}" in fn.__doc__, (fn.__name__, arg)


def test_pool_workers_without_a_main_guard_just_work(tmp_path):
    code = ("import numpy as np, blackbox\n"
            "p = blackbox.problem_from_function(lambda x: float(np.sum(x ** 2)), dim=3, workers=2)\n"
            "a = blackbox.solve(p, 'random', evals=64, seed=0)\n"
            "b = blackbox.solve(blackbox.problem_from_function(lambda x: float(np.sum(x ** 2)), dim=3), 'random',\n"
            "                   evals=64, seed=0, workers=2)\n"
            "print(a.evals, b.evals, a.best_loss == b.best_loss)\n")
    p, _ = run_script(tmp_path, code)
    assert p.returncode == 0 and p.stdout.split() == ["64", "64", "True"] and p.stderr == "", p.stderr
