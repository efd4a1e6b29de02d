"""`blackbox solve maxsat` through real subprocesses: summary, model file, MSE output, errors."""
import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import ROOT

DATA = os.path.join(os.environ.get("BLACKBOX_DATA", os.path.join(ROOT, "..", "shared", "data")), "maxsat")
ENV = dict(os.environ, PYTHONPATH=str(ROOT), CI="true")
needs_data = pytest.mark.usefixtures("shared_data")  # fails, never skips, when the data is missing


def run(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "blackbox", "solve", "maxsat", *args], capture_output=True,
                          text=True, timeout=timeout, env=ENV, cwd=ROOT)


def test_random_instance_summary_model_and_json(tmp_path):
    out, model = tmp_path / "r.json", tmp_path / "m.txt"
    p = run("--vars", "2e3", "--ratio", "4.0", "--flips", "1e6", "--seed", "1", "--out", str(out), "--model", str(model))
    assert p.returncode == 0, p.stderr
    assert "random-3sat-n2000" in p.stdout and "flips" in p.stdout and "satisfied" in p.stdout
    d = json.loads(out.read_text())
    assert d["solver"] == "sls" and d["problem_config"]["vars"] == 2000 and d["evals"] <= 1_000_000
    bits = model.read_text().split()[1]
    assert len(bits) == 2000 and set(bits) <= {"0", "1"}
    assert d["metrics"]["unsatisfied"] == round(d["best_loss"])


@needs_data
def test_maxsat_eval_format_and_exit_codes():
    p = run(os.path.join(DATA, "satlib_uf", "uf50-01.cnf"), "--format", "maxsat-eval", "--time", "20")
    assert p.returncode == 30, p.stderr
    lines = p.stdout.splitlines()
    assert lines[-3:-1] == ["o 0", "s OPTIMUM FOUND"] and lines[-1].startswith("v ") and len(lines[-1]) == 52
    p = run(os.path.join(DATA, "satlib_uuf", "uuf50-01.cnf"), "--format", "maxsat-eval", "--flips", "2e5")
    assert p.returncode == 10, p.stderr
    assert "s SATISFIABLE" in p.stdout and "o 1" in p.stdout
    p = run(os.path.join(DATA, "mse_regression_suite", "baseWCNFs", "emptyClause.wcnf"), "--format", "maxsat-eval",
            "--flips", "100")
    assert p.returncode == 20 and "s UNSATISFIABLE" in p.stdout


def test_format_error_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.cnf"
    bad.write_text("p cnf 3 2\n1 2 0\n-1 4 0\n")
    p = run(str(bad))
    assert p.returncode == 2
    assert p.stderr.strip() == f"blackbox: error: {bad}:3: literal 4 is beyond the 3 variables declared in the p-line"


def test_sigterm_prints_best_and_exits(tmp_path):
    # cwd=tmp_path: under the Evaluation convention a SIGTERM must not leave a checkpoint behind
    p = subprocess.Popen([sys.executable, "-m", "blackbox", "solve", "maxsat", "--vars", "3e4", "--ratio", "4.26",
                          "--format", "maxsat-eval", "--time", "120"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=ENV, cwd=tmp_path)
    first = p.stdout.readline()  # the first 'o' line: the search is running
    assert first.startswith("o "), first
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    lines = out.splitlines()
    assert any(l.startswith("s ") for l in lines), (out, err)
    v = [l for l in lines if l.startswith("v ")]
    assert len(v) == 1 and len(v[0]) == 2 + 30000
    assert p.returncode in (10, 30)
    assert not list(tmp_path.glob("*.ckpt.npz"))
