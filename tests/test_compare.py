"""The comparison harness: a tiny grid end to end, the table against the run JSONs, resuming
after the process was killed mid-grid, grid files, labels and skipped/errored cells."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from blackbox.compare import Grid, Report, run

ROOT = Path(__file__).resolve().parents[1]


def table_rows(md: str, section: str) -> dict:
    """solver -> {column: cell text} of the markdown table under '## section'."""
    part = md.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in part.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header, cells))
    return rows


def mean_pm_std(text: str) -> tuple[float, float]:
    m, s = re.fullmatch(r"(\S+) ± (\S+)", text).groups()
    return float(m.replace(",", "")), float(s.replace(",", ""))


def test_tiny_grid_end_to_end_and_table_matches_the_jsons(tmp_path):
    grid = Grid.parse(["sphere:dim=5", "onemax"], ["random", "es"], seeds=3, evals=400,
                      problem_opts=["dim=12"])  # dim=12 reaches onemax only: sphere's own dim wins
    out = tmp_path / "g"
    lines = []
    report = run(grid, str(out), workers=0, echo=lines.append)
    files = sorted(os.listdir(out / "runs"))
    assert len(files) == 12 and all(f.endswith(".json") for f in files)
    assert (out / "summary.md").exists()
    assert {p.name for p in (out / "plots").iterdir()} == {"sphere-dim=5.png", "onemax-dim=12.png"}
    assert len(report.runs) == 12

    md = (out / "summary.md").read_text()
    for plabel in ("sphere[dim=5]", "onemax[dim=12]"):
        rows = table_rows(md, plabel)
        assert set(rows) == {"random", "es"}
        for solver, row in rows.items():
            runs = []
            for seed in range(3):
                stem = f"{plabel.replace('[', '-').replace(']', '')}__{solver}__seed{seed}"
                runs.append(json.loads((out / "runs" / f"{stem}.json").read_text()))
            assert all(r["status"] == "done" and r["seed"] == s for s, r in enumerate(runs))
            assert all(r["budget"]["evals"] == 400 and r["evals"] >= 400 for r in runs)
            assert all(r["problem_config"]["dim"] == (5 if "sphere" in plabel else 12) for r in runs)
            assert all(r["versions"]["numpy"] and r["history"] and r["trace"] for r in runs)
            assert row["seeds"] == "3"
            for col, values in (("best loss", [r["best_loss"] for r in runs]),
                                ("wall s", [r["wall_time"] for r in runs])):
                m, s = mean_pm_std(row[col])  # printed to 4 and 2 significant digits
                assert m == pytest.approx(np.mean(values), rel=5e-4)
                assert s == pytest.approx(np.std(values, ddof=1), rel=0.05)
            assert float(row["evals"].replace(",", "")) == pytest.approx(np.mean([r["evals"] for r in runs]), abs=0.5)

    # a second run finds everything done and rewrites nothing
    before = {f: (out / "runs" / f).stat().st_mtime_ns for f in files}
    lines.clear()
    run(grid, str(out), workers=0, echo=lines.append)
    assert "12 already finished, 0 to run" in lines[0]
    assert before == {f: (out / "runs" / f).stat().st_mtime_ns for f in files}


def test_resume_after_kill_keeps_finished_cells(tmp_path):
    out = tmp_path / "k"
    cmd = [sys.executable, "-m", "blackbox", "compare", "--problem", "sphere:dim=4", "--solver", "random",
           "--solver", "es", "--seeds", "2", "--time", "0.6", "--out", str(out), "--workers", "0"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    runs = out / "runs"
    deadline = time.time() + 60
    while time.time() < deadline and not (runs.exists() and any(p.suffix == ".json" for p in runs.iterdir())):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = {p.name: p.read_bytes() for p in runs.iterdir() if p.suffix == ".json"}
    assert 1 <= len(first) < 4, "the kill should land mid-grid"
    assert not any(p.name.endswith(".tmp") and p.stat().st_size == 0 for p in runs.iterdir())

    if len(first) < 3:  # Ctrl-C (SIGINT) next: the grid stops, finished cells stay, the command says so
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        while time.time() < deadline and sum(p.suffix == ".json" for p in runs.iterdir()) == len(first):
            time.sleep(0.02)
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        text, _ = proc.communicate(timeout=60)
        assert "interrupted" in text and proc.returncode == 130, text  # issue 17.10: && chains stop
        assert (out / "summary.md").exists()
        for name, content in first.items():
            assert (runs / name).read_bytes() == content
        first = {p.name: p.read_bytes() for p in runs.iterdir() if p.suffix == ".json"}
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{len(first)} already finished, {4 - len(first)} to run" in done.stdout
    assert not any(p.name.endswith(".ckpt.npz") for p in runs.iterdir())
    after = {p.name: p.read_bytes() for p in runs.iterdir() if p.suffix == ".json"}
    assert len(after) == 4
    for name, content in first.items():  # finished cells were kept as they were, not redone
        assert after[name] == content
    assert all(json.loads(c)["stopped"] == "time" for c in after.values())


def test_grid_file_labels_max_dim_and_errors(tmp_path):
    grid_file = tmp_path / "g.toml"
    grid_file.write_text("""
seeds = [3]
evals = 200
[[problem]]
name = "sphere"
options = { dim = 50 }
label = "sphere50"
[[problem]]
name = "onemax"
options = { dim = 20 }
evals = 100
[[solver]]
name = "random"
options = { sigma = 0.3 }
[[solver]]
name = "spsa"
label = "spsa-small"
max_dim = 10
""")
    grid = Grid.load(str(grid_file))
    cells = grid.cells()
    assert [(c.problem_label, c.solver_label, c.seed, c.evals) for c in cells] == [
        ("sphere50", "random[sigma=0.3]", 3, 200), ("sphere50", "spsa-small", 3, 200),
        ("onemax[dim=20]", "random[sigma=0.3]", 3, 100), ("onemax[dim=20]", "spsa-small", 3, 100)]
    out = tmp_path / "o"
    report = run(grid, str(out), workers=0, echo=lambda s: None)
    status = {k: r["status"] for k, r in report.runs.items()}
    assert status["sphere50__spsa-small__seed3"] == "skipped"  # dim 50 > max_dim 10
    assert status["onemax-dim=20__spsa-small__seed3"] == "skipped"  # dim 20 > 10 as well
    assert status["sphere50__random-sigma=0.3__seed3"] == "done"
    md = (out / "summary.md").read_text()
    assert "| spsa-small | 0 |" in md and "skipped" in md
    # an errored cell (a solver that cannot take the domain) is recorded, reported, and retried
    bad = Grid.parse(["onemax:dim=8"], ["spsa"], seeds=1, evals=50)
    rep = run(bad, str(tmp_path / "bad"), workers=0, echo=lambda s: None)
    (r,) = rep.runs.values()
    assert r["status"] == "error" and "binary" in r["error"]
    assert "## Errors" in (tmp_path / "bad" / "summary.md").read_text()
    lines = []
    run(bad, str(tmp_path / "bad"), workers=0, echo=lines.append)
    assert "0 already finished, 1 to run" in lines[0]


def test_changed_grid_in_the_same_directory_is_refused(tmp_path):
    run(Grid.parse(["sphere:dim=3"], ["random"], seeds=1, evals=64), str(tmp_path), workers=0, echo=lambda s: None)
    with pytest.raises(ValueError, match="different cell"):
        run(Grid.parse(["sphere:dim=3"], ["random"], seeds=1, evals=128), str(tmp_path), workers=0, echo=lambda s: None)


def test_option_errors_name_the_option():
    with pytest.raises(ValueError, match="nope"):
        Grid.parse(["sphere"], ["es"], problem_opts=["nope=1"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        Grid.parse(["sphere:dim"], ["es"])
    with pytest.raises(ValueError, match="label"):
        Grid.parse(["sphere", "sphere"], ["es"]).cells()
    with pytest.raises(ValueError, match="dimm"):  # checked before any cell runs
        Grid.parse(["sphere:dimm=3"], ["es"]).check()
    with pytest.raises(LookupError, match="nope"):
        Grid.parse(["sphere"], ["nope"]).check()


def test_cli_compare_in_worker_processes(tmp_path):
    out = tmp_path / "c"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", "blackbox", "compare", "--problem", "rastrigin", "--problem-opt", "dim=3",
                        "--solver", "random", "--solver", "openai-es", "--set", "popsize=8", "--seeds", "2",
                        "--evals", "96", "--out", str(out), "--workers", "2"],
                       env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    rep = Report.load(str(out))
    assert len(rep.runs) == 4 and all(r["status"] == "done" for r in rep.runs.values())
    assert rep.runs["rastrigin-dim=3__openai-es-popsize=8__seed1"]["solver_config"]["popsize"] == 8
    assert rep.runs["rastrigin-dim=3__random-popsize=8__seed0"]["solver_config"]["popsize"] == 8
    assert "| openai-es[popsize=8] | 2 |" in (out / "summary.md").read_text()


def test_cells_use_the_problems_suggested_solver_settings(tmp_path, monkeypatch):
    """A cell runs a solver exactly as ``blackbox solve`` would: the problem's suggested settings
    under the grid's own options."""
    from blackbox.problems.benchmarks import Sphere
    monkeypatch.setattr(Sphere, "solver_defaults", {"random": {"popsize": 8, "sigma": 0.5}})
    grid = Grid.parse(["sphere:dim=3"], ["random:sigma=0.2"], seeds=1, evals=40)
    run(grid, str(tmp_path / "d"), workers=0, echo=lambda line: None)
    [f] = (tmp_path / "d" / "runs").glob("*.json")
    cfg = json.loads(f.read_text())["solver_config"]
    assert cfg["popsize"] == 8 and cfg["sigma"] == 0.2


def test_ctrl_c_cancels_queued_cells_writes_the_summary_and_exits_130(tmp_path):
    """Issue 17.10: the first Ctrl-C stops the grid at once (queued cells never start), the
    summary covers what finished, and the exit code is 130 so `&&` chains stop."""
    out = tmp_path / "grid"
    cmd = [sys.executable, "-m", "blackbox", "compare", "--problem", "sphere:dim=4", "--solver", "random",
           "--seeds", "6", "--time", "1.5", "--out", str(out), "--workers", "1"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    runs, deadline = out / "runs", time.time() + 90
    while time.time() < deadline and not (runs.exists() and any(p.suffix == ".json" for p in runs.iterdir())):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    t0 = time.time()
    text, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, text
    assert time.time() - t0 < 10, "queued cells must not run after Ctrl-C"
    assert (out / "summary.md").exists() and "interrupted" in text
    assert sum(p.suffix == ".json" for p in runs.iterdir()) < 6
