"""blackbox.threads: numba, torch and BLAS thread counts that stay where they were set.

Each check runs in a fresh interpreter: the bug it guards against (numba's OpenMP pool starting
at the first parallel kernel and resetting torch's count) happens once per process.
"""
import json
import os
import subprocess
import sys

from conftest import ROOT

ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def python(code: str, *args: str) -> dict:
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, env=ENV, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


NEURAL = """
import json, sys, numpy as np, torch
from blackbox.problems.neural import models as M
from blackbox.population import Block, LowRank
from blackbox import threads
out = {}
for cls in (M.SpikingMLP, M.Int8MLP, M.BinaryMLP, M.ArgmaxAttention, M.StaircaseMLP, M.HardMoE):
    for arch in cls.archs:
        p = cls(cls.Config(arch=arch, hidden=8, batch_size=32, train_subset=1500, val_size=200, threads=1,
                           data_dir=sys.argv[1]))
        rng = np.random.default_rng(0)
        x0 = p.initial(rng)
        for seed in range(3):
            p.evaluate(x0 + 0.1 * rng.standard_normal((4, p.dim)), seed=seed)
        name, start, shape = p.layout[0]
        p.evaluate_lowrank(LowRank(x0, [Block(start, shape[0], shape[1], rng.standard_normal((4, shape[0], 1)),
                                             rng.standard_normal((4, shape[1], 1)))]), seed=0)
        p.metrics(x0)
        out[f"{p.name}/{arch}"] = dict(threads.counts(), torch_now=torch.get_num_threads())
print(json.dumps(out))
"""


def test_every_neural_problem_keeps_its_thread_count(shared_data):
    """Before: every neural problem but the SNN was back at 2 torch threads after its first
    evaluation (its loss is summed by a parallel numba kernel), and BLAS was never limited."""
    out = python(NEURAL, str(shared_data))
    assert len(out) == 11  # 6 problems ours + 5 paper
    for key, c in out.items():
        assert c == {"numba": 1, "torch": 1, "blas": 1, "torch_now": 1}, key


def test_pin_sets_numba_then_torch_then_blas():
    out = python("""
import json, numpy, numba, torch
from numba import njit, prange
from blackbox.threads import pin, counts
pin(1)
@njit(parallel=True)
def f(a):
    s = 0.0
    for i in prange(a.size):
        s += a[i]
    return s
f(numpy.ones(1000))  # numba's pool is already running: nothing resets torch now
print(json.dumps(dict(counts(), torch_now=torch.get_num_threads())))
""")
    assert out == {"numba": 1, "torch": 1, "blas": 1, "torch_now": 1}


def test_counts_without_torch_or_numba_and_bad_count():
    out = python("""
import json, sys
from blackbox.threads import counts, pin
c = counts()
try:
    pin(0)
except ValueError as e:
    c["error"] = str(e)
c["imported"] = sorted(m for m in ("torch", "numba") if m in sys.modules)
print(json.dumps(c))
""")
    assert out["numba"] is None and out["torch"] is None and out["imported"] == []
    assert out["error"] == "threads must be >= 1, got 0"
