"""Every example in examples/ runs in its small-budget mode (BLACKBOX_EXAMPLE_SMALL=1), so none can
rot; each test checks something meaningful in what it printed or wrote.

The examples start together in one module-scoped fixture (each a subprocess writing into its own
temporary --out folder) and each test waits for its own: most of the wall time is process start-up,
imports, first numba compiles and Ray's start, which overlap well. The timeout is generous because
the development machine is shared; the small budgets themselves take seconds.
"""
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

EXAMPLES = ["custom_simulator", "maxsat", "mnist_nondiff", "snntorch_conv", "gym_policy", "compare_openai_es",
            "ray_cluster"]
TIMEOUT = 900


@pytest.fixture(scope="module")
def runs(tmp_path_factory, shared_data):
    env = dict(os.environ, BLACKBOX_EXAMPLE_SMALL="1", BLACKBOX_DATA=str(shared_data),
               PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", RAY_AUTH_MODE="disabled")
    procs = {}
    for name in EXAMPLES:
        out = tmp_path_factory.mktemp(name)
        log = open(out / "output.txt", "w+")
        procs[name] = (subprocess.Popen([sys.executable, str(ROOT / "examples" / f"{name}.py"), "--out", str(out)],
                                        cwd=str(out), env=env, stdout=log, stderr=subprocess.STDOUT, text=True), out, log)
    yield procs
    for proc, _, log in procs.values():
        if proc.poll() is None:
            proc.kill()
        log.close()


def finished(runs, name):
    proc, out, log = runs[name]
    rc = proc.wait(timeout=TIMEOUT)
    log.seek(0)
    text = log.read()
    assert rc == 0, f"examples/{name}.py --small failed ({rc}):\n{text[-3000:]}"
    return text, out


def test_every_example_is_tested_and_documented():
    scripts = sorted(p.stem for p in (ROOT / "examples").glob("*.py") if not p.stem.startswith("_"))
    assert scripts == sorted(EXAMPLES)
    index = (ROOT / "examples" / "README.md").read_text()
    for name in EXAMPLES:
        doc = (ROOT / "examples" / f"{name}.py").read_text()
        assert "--small" in doc and "Expected" in doc, f"{name}: docstring must give the small mode and the expected result"
        assert f"{name}.py" in index


def test_custom_simulator(runs):
    text, out = finished(runs, "custom_simulator")
    start = float(re.search(r"start loss ([\d.]+)", text).group(1))
    rows = re.findall(r"^(\w+)\s+(\w+)\s+best loss ([\d.]+).*failures (\d+)$", text, re.M)
    assert {(w, s) for w, s, _, _ in rows} == {(w, s) for w in ("function", "vectorized", "command")
                                               for s in ("polystep", "es")}
    for wrap, solver, best, failures in rows:
        assert float(best) < 0.5 * start, (wrap, solver, best, start)
        assert failures == "0"
    by = {(w, s): b for w, s, b, _ in rows}
    assert by["function", "polystep"] == by["vectorized", "polystep"]  # same simulator, same seed
    assert (out / "pid_sim.py").exists()


def test_maxsat(runs):
    text, out = finished(runs, "maxsat")
    frac = float(re.search(r"satisfied ([\d.]+)% of 84,000 clauses", text).group(1))
    assert frac > 99.0
    assert re.search(r"sls\s+cost 50 \(optimum 50\) feasible=True .* stopped by target", text)
    assert re.search(r"polystep\s+cost \d+ \(optimum 50\) feasible=True", text)
    model = (out / "model.txt").read_text()
    assert re.fullmatch(r"v [01]{60}\n", model)


def test_mnist_nondiff(runs):
    text, _ = finished(runs, "mnist_nondiff")
    for name in ("snn", "int8-mlp"):
        m = re.search(rf"^{name}\s.*validation accuracy ([\d.]+), test accuracy ([\d.]+) \(model selected by validation loss\)",
                      text, re.M)
        assert m, text
        assert float(m.group(2)) > 0.11, f"{name} test accuracy {m.group(2)} not above chance (0.10)"


def test_snntorch_conv(runs):
    text, out = finished(runs, "snntorch_conv")
    assert "module (ConvSNN" in text and "first-layer shared product: conv1.weight" in text, text
    assert re.search(r"evaluations in [\d.]+ s \(polystep\), failures 0", text), text
    m = re.search(r"validation accuracy ([\d.]+), test accuracy ([\d.]+) \(model selected by validation loss\)", text)
    assert m and float(m.group(2)) > 0.12, f"test accuracy not above chance (0.10):\n{text}"
    assert (out / "conv_snn.pt").stat().st_size > 40_000  # the trained weights, saved from the user's module


def test_gym_policy(runs):
    text, out = finished(runs, "gym_policy")
    before = float(re.search(r"initial policy returns ([\d.]+)", text).group(1))
    val = float(re.search(r"validation return ([\d.]+)", text).group(1))
    test = float(re.search(r"test return ([\d.]+)", text).group(1))
    assert val > before and test > before
    gif = out / "cartpole_binary.gif"
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a") and gif.stat().st_size > 1000


def test_compare_openai_es(runs):
    text, out = finished(runs, "compare_openai_es")
    table = (out / "summary.md").read_text()
    rows = dict(re.findall(r"^\| ([\w-]+) \| 1 \| ([\d.]+)[ |]", table, re.M))
    assert set(rows) == {"polystep", "es", "snes", "cge", "ga", "openai-es"}, table
    assert float(rows["polystep"]) == 0 and float(rows["polystep"]) < float(rows["openai-es"])
    assert len(list((out / "runs").glob("*.json"))) == 6
    assert (out / "plots" / "staircase-dim=20.png").stat().st_size > 1000


def test_ray_cluster(runs):
    text, _ = finished(runs, "ray_cluster")
    start = float(re.search(r"start loss ([\d.]+)", text).group(1))
    ray_best = float(re.search(r"^ray\s+best loss ([\d.]+)", text, re.M).group(1))
    local_best = float(re.search(r"^in-process best loss ([\d.]+)", text, re.M).group(1))
    assert ray_best < start and ray_best == local_best
    assert "same result on Ray and in-process: True" in text
