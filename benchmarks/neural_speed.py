"""Candidates per second on the hard-LIF SNN task: our batched and low-rank paths against the
reference implementation's evaluator (polystep's NNCostEvaluator: vmap over functional_call), same
model, same minibatch, same population, same machine, in one run.

The reference runs in a subprocess of a separate venv that has the PyPI package polystep (it is
NOT a dependency of this project):
    python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install polystep torch==2.13.0 numpy
Point --ref-python elsewhere if it lives elsewhere; without it only our paths are timed.

    PYTHONPATH=$PWD python benchmarks/neural_speed.py [--pop 64] [--threads 1] [--rank 1]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def timed(f, repeats):
    f(0)  # warm-up (numba compile, caches)
    t0 = time.perf_counter()
    for s in range(repeats):
        f(s + 1)
    return (time.perf_counter() - t0) / repeats


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pop", type=int, default=64)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rank", type=int, default=1, help="rank of the low-rank probes")
    ap.add_argument("--threads", type=int, default=1, help="torch (and numba) threads, both sides")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ref-python", default=os.environ.get("POLYSTEP_PYTHON", "/tmp/refvenv/bin/python"))
    a = ap.parse_args()

    import torch

    from blackbox.population import Block, Deltas, LowRank
    from blackbox.problems.neural.models import SNNConfig, SpikingMLP

    cfg = dict(hidden=a.hidden, steps=a.steps, batch_size=a.batch, threads=a.threads)
    ours = SpikingMLP(SNNConfig(**cfg))
    ours_torch = SpikingMLP(SNNConfig(kernel="torch", **cfg))
    rng = np.random.default_rng(a.seed)
    x0 = ours.initial(rng)
    blocks = [Block(s, sh[0], sh[1], 0.05 * rng.standard_normal((a.pop, sh[0], a.rank)),
                    0.05 * rng.standard_normal((a.pop, sh[1], a.rank))) for _, s, sh in ours.layout if len(sh) == 2]
    lr = LowRank(x0, blocks, None)
    # PolyStep's coordinate probes: each candidate moves one particle of 2 neighbouring coordinates
    starts = rng.integers(0, ours.dim - 1, a.pop)
    idx = np.stack([starts, starts + 1], 1).reshape(-1).astype(np.int64)
    sparse = Deltas(x0, np.arange(0, 2 * a.pop + 1, 2, dtype=np.int64), idx, x0[idx] + 0.1 * rng.standard_normal(idx.size))
    seed = 7  # one generation: every path sees the same minibatch
    populations = {
        f"low-rank probes (rank {a.rank})": (lr, {
            "ours: dense (numba kernel)": lambda P: ours.evaluate(P, seed=seed),
            "ours: low-rank (numba kernel)": lambda P: ours.evaluate_lowrank(lr, seed=seed),
            "ours: dense (torch recurrence)": lambda P: ours_torch.evaluate(P, seed=seed)}),
        "2-coordinate probes (PolyStep particles)": (sparse, {
            "ours: dense (numba kernel)": lambda P: ours.evaluate(P, seed=seed),
            "ours: sparse deltas (numba incremental)": lambda P: ours.evaluate_deltas(sparse, seed=seed)}),
    }
    print(f"hard-LIF SNN 784-{a.hidden}-10, T={a.steps}, minibatch {a.batch}, population {a.pop}, "
          f"threads {a.threads}, torch {torch.__version__}, {os.cpu_count()} cores "
          f"(load average {os.getloadavg()[0]:.1f}; timings are noisy on a shared machine)")
    for title, (request, paths) in populations.items():
        P = torch.from_numpy(request.dense())
        results = {name: (timed(lambda s: f(P), a.repeats), np.asarray(f(P))) for name, f in paths.items()}
        ref, ref_note = reference(a, ours, P, seed)
        if ref:
            results["reference: polystep NNCostEvaluator (vmap)"] = ref
        anchor = results["ours: dense (numba kernel)"][1]
        print(f"\n{title}")
        print(f"{'path':48s} {'cand/s':>9s} {'s/call':>8s} {'vs ref':>7s} {'max|loss diff|':>15s}")
        for name, (sec, losses) in results.items():
            ratio = f"{ref[0] / sec:6.1f}x" if ref else "   n/a"
            print(f"{name:48s} {a.pop / sec:9.0f} {sec:8.4f} {ratio:>7s} {np.abs(losses - anchor).max():15.2e}")
        if ref_note:
            print(ref_note)


def reference(a, ours, P, seed):
    """(seconds per call, losses) of the reference evaluator on population P, or (None, why not)."""
    import torch
    if not Path(a.ref_python).exists():
        return None, f"reference venv not found at {a.ref_python}: only our paths timed"
    x, y = ours.batch(seed)
    with tempfile.TemporaryDirectory() as d:
        np.save(f"{d}/x.npy", x.numpy())
        np.save(f"{d}/y.npy", y.numpy())
        np.save(f"{d}/population.npy", P.to(torch.float32).numpy())
        json.dump({"hidden": a.hidden, "classes": ours.classes, "steps": a.steps, "beta": ours.config.beta,
                   "threshold": ours.config.threshold}, open(f"{d}/meta.json", "w"))
        script = Path(__file__).with_name("_polystep_reference.py")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        out = subprocess.run([a.ref_python, str(script), d, str(a.threads), str(a.repeats)],
                             capture_output=True, text=True, env=env)
    if out.returncode:
        return None, f"reference failed: {out.stderr.strip().splitlines()[-1] if out.stderr else out.returncode}"
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return (r["seconds_per_call"], np.array(r["losses"])), ""


if __name__ == "__main__":
    sys.exit(main())
