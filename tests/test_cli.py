"""The command line, driven through real subprocesses."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT

ENV = dict(os.environ, PYTHONPATH=str(ROOT), CI="true")


def run(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "blackbox", *args], capture_output=True, text=True,
                          timeout=timeout, env=ENV, cwd=ROOT)


def test_version_list_and_help():
    assert run("--version").stdout.strip().endswith(__import__("blackbox").__version__)
    out = run("list").stdout
    assert "sphere" in out and "random" in out and "onemax" in out
    help_ = run("solve", "sphere", "--help").stdout
    for opt in ("--dim", "--solver", "--set", "--evals", "--time", "--target", "--seed", "--out", "--resume"):
        assert opt in help_


def test_help_does_not_import_torch_or_numba():
    code = "import sys, blackbox, blackbox.cli; print(sorted(m for m in ('torch','numba') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, cwd=ROOT).stdout
    assert out.strip() == "[]"


def test_solve_writes_a_result_json(tmp_path):
    out = tmp_path / "r.json"
    p = run("solve", "sphere", "--dim", "5", "--evals", "2e3", "--seed", "4", "--solver", "random", "--set", "popsize=16", "--out", str(out))
    assert p.returncode == 0, p.stderr
    d = json.loads(out.read_text())
    assert d["problem"] == "sphere" and d["seed"] == 4 and d["solver_config"]["popsize"] == 16
    assert d["problem_config"]["dim"] == 5 and 2000 <= d["evals"] < 2016 and len(d["best_x"]) == 5
    assert "best loss" in p.stdout and not list(tmp_path.glob("*.ckpt.npz"))


@pytest.mark.parametrize("args,needle", [
    (("solve", "sphere", "--dim", "x"), "'--dim': 'x' is not a number"),
    (("solve", "sphere", "--solver", "random", "--set", "popsiz=3"), "unknown option 'popsiz' for solver random"),
    (("solve", "sphere", "--set", "popsize"), "expected KEY=VALUE"),
    (("solve", "sphere", "--solver", "nope"), "unknown solver 'nope'"),
    (("solve", "nope"), "No such command 'nope'"),
    (("solve", "sphere", "--evals", "0"), "'--evals': '0' must be >= 1"),
    (("solve", "sphere", "--resume", "missing.npz"), "missing.npz: no such checkpoint"),
    (("solve", "trap", "--dim", "7"), "trap: dim (7) must be a positive multiple of k (5)"),
])
def test_usage_errors_exit_2_with_one_line(args, needle):
    p = run(*args)
    assert p.returncode == 2
    assert needle in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_sigint_checkpoints_and_resume_finishes(tmp_path):
    ck, out = tmp_path / "c.ckpt.npz", tmp_path / "r.json"
    proc = subprocess.Popen([sys.executable, "-m", "blackbox", "solve", "rastrigin", "--dim", "50", "--evals", "1e12",
                             "--checkpoint", str(ck), "--out", str(out)], env=ENV, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr  # interrupted: checkpoint written, `&&` chains stop
    assert "stopped   interrupted" in stdout and ck.exists()
    first = json.loads(out.read_text())
    p = run("solve", "rastrigin", "--resume", str(ck), "--evals", str(first["evals"] + 3200), "--out", str(out))
    assert p.returncode == 0, p.stderr
    second = json.loads(out.read_text())
    assert second["evals"] >= first["evals"] + 3200 and second["best_loss"] <= first["best_loss"]
    assert second["problem_config"]["dim"] == 50
    p = run("solve", "rastrigin", "--resume", str(ck), "--dim", "3", "--evals", "1e9")
    assert p.returncode == 2 and "differs from the checkpoint" in p.stderr


def test_artifacts_write_a_gif_of_the_policy(tmp_path):
    prefix = tmp_path / "policy"
    p = run("solve", "gym", "--env", "CartPole-v1", "--policy", "binary", "--evals", "200", "--eval-episodes", "2",
            "--test-episodes", "2", "--artifacts", str(prefix))
    assert p.returncode == 0, p.stderr
    gif = tmp_path / "policy.gif"
    assert gif.read_bytes()[:6] in (b"GIF89a", b"GIF87a") and f"artifact  {gif}" in p.stdout
    p = run("solve", "sphere", "--artifacts", str(prefix))
    assert p.returncode == 2 and "has no artifacts to write" in p.stderr
