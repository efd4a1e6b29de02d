"""Candidates per second on every hard neural adapter: our dense, low-rank and incremental
(sparse deltas) paths against the reference implementation's evaluator (polystep 1.1.0's
NNCostEvaluator: vmap over functional_call), same model, same minibatch, same population, same
machine, in one run.

Two populations per adapter, as the solvers send them: low-rank probes (rank ``--rank`` on
every weight matrix; adapters with the ``lowrank`` capability) and sparse probes of
``--coords`` neighbouring coordinates each (a PolyStep particle; CGE and the GA point mutations
change one). The reference scores the dense rows of the same population.

The reference runs in a subprocess of a separate venv that has the PyPI package polystep (it is
NOT a dependency of this project):
    python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install polystep==1.1.0 torch==2.13.0 numpy
Point --ref-python elsewhere if it lives elsewhere; without it only our paths are timed.

    PYTHONPATH=$PWD python benchmarks/neural_speed.py [--adapters snn,int8-mlp,...] [--pop 97,1537]
        [--threads 1] [--coords 2] [--rank 1] [--json out.json]

The per-call base forward (one forward of the base point on the minibatch) is a fixed cost of
the incremental path, so its rate per candidate grows with the population.
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

ADAPTERS = ("snn", "int8-mlp", "binary-mlp", "staircase-mlp", "argmax-attn", "hard-moe")
# config fields the reference needs to rebuild each net (besides the layout)
META = {"snn": ("steps", "beta", "threshold", "logit_scale"), "int8-mlp": ("w_step", "a_step"),
        "binary-mlp": ("binary_activations", "logit_scale", "hidden"), "staircase-mlp": ("levels",),
        "argmax-attn": ("patch",), "hard-moe": ("experts", "hidden")}


def timed(f, repeats):
    f(0)  # warm-up (numba compile, caches)
    t0 = time.perf_counter()
    for s in range(repeats):
        f(s + 1)
    return (time.perf_counter() - t0) / repeats


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapters", default=",".join(ADAPTERS), help="comma-separated problem names")
    ap.add_argument("--pop", default="97,1537", help="candidates per call, comma-separated (PolyStep generations: "
                    "1 + 3 x 32 particles by default, 1 + 3 x 512 in the long-budget runs)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=0, help="hidden units (0 = each adapter's default)")
    ap.add_argument("--coords", type=int, default=2, help="neighbouring coordinates changed per sparse probe")
    ap.add_argument("--rank", type=int, default=1, help="rank of the low-rank probes")
    ap.add_argument("--threads", type=int, default=1, help="torch (and numba) threads, both sides")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-subset", type=int, default=0, help="training images loaded (0 = all; small = quick check)")
    ap.add_argument("--json", default="", help="also write the rows here")
    ap.add_argument("--ref-python", default=os.environ.get("POLYSTEP_PYTHON", "/tmp/refvenv/bin/python"))
    a = ap.parse_args()
    bad = [n for n in a.adapters.split(",") if n not in ADAPTERS]
    if bad:
        ap.error(f"--adapters: unknown {', '.join(bad)} (choose from {', '.join(ADAPTERS)})")
    try:
        a.pops = [int(v) for v in a.pop.split(",")]
    except ValueError:
        ap.error(f"--pop: comma-separated integers expected, got {a.pop!r}")
    if min(*a.pops, a.batch, a.coords, a.rank, a.threads, a.repeats) < 1:
        ap.error("--pop, --batch, --coords, --rank, --threads and --repeats must be >= 1")
    return a


def build(name, a, **extra):
    from blackbox.problems.neural import models as M
    cls = {c.name: c for c in (M.SpikingMLP, M.Int8MLP, M.BinaryMLP, M.StaircaseMLP, M.ArgmaxAttention, M.HardMoE)}[name]
    cfg = dict(batch_size=a.batch, threads=a.threads, train_subset=a.train_subset, **extra)
    if a.hidden:
        cfg["hidden"] = a.hidden
    if a.train_subset:
        cfg["val_size"] = min(1000, a.train_subset // 4)
    return cls(cls.Config(**cfg))


def populations(p, a, pop, rng):
    """{title: request} of the two probe kinds (``pop`` candidates) around a random start point."""
    from blackbox.population import Block, Deltas, LowRank
    x0 = p.initial(rng)
    out = {}
    if "lowrank" in p.capabilities:
        blocks = [Block(s, sh[0], sh[1], 0.05 * rng.standard_normal((pop, sh[0], a.rank)),
                        0.05 * rng.standard_normal((pop, sh[1], a.rank))) for _, s, sh in p.layout if len(sh) == 2]
        out[f"low-rank probes (rank {a.rank})"] = LowRank(x0, blocks, None)
    starts = rng.integers(0, p.dim - a.coords + 1, pop)
    idx = (starts[:, None] + np.arange(a.coords)[None, :]).reshape(-1).astype(np.int64)
    offsets = np.arange(0, a.coords * pop + 1, a.coords, dtype=np.int64)
    out[f"{a.coords}-coordinate probes (PolyStep particles)"] = Deltas(x0, offsets, idx,
                                                                        x0[idx] + 0.1 * rng.standard_normal(idx.size))
    return out


def paths(p, a, request):
    """{row name: f(dense population) -> losses} of our paths that fit ``request``."""
    from blackbox.population import Deltas
    seed = 7  # one generation: every path sees the same minibatch
    rows = {"ours: dense": lambda P: p.evaluate(P, seed=seed)}
    if p.name == "snn":
        torch_kernel = build("snn", a, kernel="torch")
        rows["ours: dense (torch recurrence)"] = lambda P: torch_kernel.evaluate(P, seed=seed)
    if isinstance(request, Deltas):
        from blackbox.problems.neural import incremental

        def deltas(P):
            incremental.clear_cache()  # every call pays its base forward, as one generation does
            return p.evaluate_deltas(request, seed=seed)
        rows["ours: incremental deltas"] = deltas
    else:
        rows["ours: low-rank"] = lambda P: p.evaluate_lowrank(request, seed=seed)
    return rows


def main():
    a = parse()
    import torch
    print(f"minibatch {a.batch}, populations {a.pop}, threads {a.threads}, torch {torch.__version__}, "
          f"{os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f}; timings are noisy on a shared machine)")
    table = []
    for name in a.adapters.split(","):
        p = build(name, a)
        for pop in a.pops:
            for title, request in populations(p, a, pop, np.random.default_rng(a.seed)).items():
                table += compare(p, a, pop, title, request)
    if a.json:
        Path(a.json).write_text(json.dumps(dict(args=vars(a), load=os.getloadavg()[0], rows=table), indent=1))


def compare(p, a, pop, title, request):
    """Time every path and the reference on one population; print the table, return its rows."""
    import torch
    P = torch.from_numpy(request.dense())
    results = {k: (timed(lambda s: f(P), a.repeats), np.asarray(f(P))) for k, f in paths(p, a, request).items()}
    ref, ref_note = reference(a, p, P, 7)
    if ref:
        results["reference: polystep NNCostEvaluator (vmap)"] = ref
    anchor = results["ours: dense"][1]
    print(f"\n{p.describe()}: {title}, population {pop}")
    print(f"{'path':48s} {'cand/s':>9s} {'s/call':>8s} {'vs ref':>7s} {'max|loss diff|':>15s}")
    rows = []
    for k, (sec, losses) in results.items():
        ratio = ref[0] / sec if ref else None
        print(f"{k:48s} {pop / sec:9.0f} {sec:8.4f} {f'{ratio:6.1f}x' if ratio else '   n/a':>7s} "
              f"{np.abs(losses - anchor).max():15.2e}")
        rows.append(dict(adapter=p.name, probes=title, pop=pop, path=k, cand_per_s=pop / sec, vs_ref=ratio))
    if ref_note:
        print(ref_note)
    return rows


def reference(a, p, P, seed):
    """(seconds per call, losses) of the reference evaluator on population P, or (None, why not)."""
    import torch
    if not Path(a.ref_python).exists():
        return None, f"reference venv not found at {a.ref_python}: only our paths timed"
    x, y = p.batch(seed)
    meta = {"model": p.name, "layout": [[n, s, list(sh)] for n, s, sh in p.layout],
            **{k: getattr(p.config, k) for k in META[p.name]}}
    with tempfile.TemporaryDirectory() as d:
        np.save(f"{d}/x.npy", x.numpy())
        np.save(f"{d}/y.npy", y.numpy())
        np.save(f"{d}/population.npy", P.to(torch.float32).numpy())
        json.dump(meta, open(f"{d}/meta.json", "w"))
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
