"""Your own nn.Module through ``problem_from_module`` against the built-in ``snn`` problem and the
reference evaluator: candidates per second and peak memory, same net, minibatch and population.

The net is the built-in SNN architecture (784-hidden-10 hard-LIF, T steps, reset to zero, logits =
output spike counts) written as a plain ``nn.Module`` (``benchmarks/_polystep_reference.py``'s
``SNN``). Paths, each in its own process so that its peak memory is its own:

  adapter: dense rows            problem_from_module(...).evaluate(P): vmap over functional_call
  adapter: low-rank              .evaluate_lowrank(LowRank): the first layer's product shared
  built-in snn: dense            SpikingMLP.evaluate(P) (numba kernel), the hand-written path
  reference: polystep            polystep 1.1.0's NNCostEvaluator (vmap), in a separate venv:
                                     python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install polystep==1.1.0 torch==2.13.0 numpy
                                 (or `pip install --no-deps --target DIR polystep==1.1.0` and a --ref-python
                                 script that runs this venv's python with PYTHONPATH=DIR: polystep needs only torch)

The population is the dense form of random low-rank probes (rank --rank) of one base point, so
every path scores the same candidates. What the issue asks: the adapter at least as fast as the
reference per candidate, and within 2x of the built-in dense path; the table says whether each
holds. Peak memory is the process's maximum resident set (CPU) or torch's peak allocation (CUDA),
with the set-up's own figure beside it.

    PYTHONPATH=$PWD python benchmarks/module_speed.py --pop 1024 --threads 1
    PYTHONPATH=$PWD python benchmarks/module_speed.py --pop 1024 --device cuda     # adapter on the GPU
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

HERE = Path(__file__).resolve().parent
PATHS = ("adapter: dense rows", "adapter: low-rank", "built-in snn: dense")


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pop", type=int, default=1024, help="candidates per call (the memory figure is for this)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rank", type=int, default=1, help="rank of the low-rank probes")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="the adapter's device (cpu, cuda, ...); the others run on the CPU")
    ap.add_argument("--train-subset", type=int, default=10_000, help="training images loaded (0 = all)")
    ap.add_argument("--ref-python", default=os.environ.get("POLYSTEP_PYTHON", "/tmp/refvenv/bin/python"))
    ap.add_argument("--only", default=None, help=argparse.SUPPRESS)  # internal: run one path, print JSON
    return ap.parse_args()


def setup(a):
    """The built-in problem, its population (built-in layout), the same in the module's layout,
    the LowRank request in the module's layout, and the minibatch of the timed generation."""
    from blackbox.population import Block, LowRank
    from blackbox.problems.neural.models import SNNConfig, SpikingMLP
    ours = SpikingMLP(SNNConfig(hidden=a.hidden, steps=a.steps, batch_size=a.batch, threads=a.threads,
                                train_subset=a.train_subset, val_size=1000))
    rng = np.random.default_rng(0)
    x0 = ours.initial(rng)
    blocks = [Block(s, sh[0], sh[1], 0.05 * rng.standard_normal((a.pop, sh[0], a.rank)).astype(np.float32),
                    0.05 * rng.standard_normal((a.pop, sh[1], a.rank)).astype(np.float32))
              for _, s, sh in ours.layout if len(sh) == 2]
    P = LowRank(x0, blocks).dense()
    starts = module_starts(a.hidden, ours.classes)
    # a built-in (in x out) block u v^T is the module's (out x in) block v u^T
    mblocks = [Block(starts[i], b.cols, b.rows, b.v, b.u) for i, b in zip((0, 2), blocks)]
    return ours, P, LowRank(to_module(x0, a.hidden, ours.classes), mblocks), 7


def module_starts(H, C, n_in=784):
    return [0, n_in * H, n_in * H + H, n_in * H + H + H * C]


def to_module(x, H, C, n_in=784):
    """Built-in layout (w1 (in, H), b1, w2 (H, C), b2) -> nn.Linear's (weight (out, in), bias) order."""
    x = np.asarray(x)
    lead = x.shape[:-1]
    o = [0, n_in * H, n_in * H + H, n_in * H + H + H * C, n_in * H + H + H * C + C]
    w1 = x[..., o[0]:o[1]].reshape(*lead, n_in, H).swapaxes(-1, -2).reshape(*lead, -1)
    w2 = x[..., o[2]:o[3]].reshape(*lead, H, C).swapaxes(-1, -2).reshape(*lead, -1)
    return np.concatenate([w1, x[..., o[1]:o[2]], w2, x[..., o[3]:o[4]]], axis=-1)


def run_one(a) -> dict:
    """Time one path in this process; return seconds per call, losses and memory."""
    import resource

    import torch
    torch.set_num_threads(a.threads)
    ours, P, lr, seed = setup(a)
    if a.only == "built-in snn: dense":
        call = lambda: ours.evaluate(P, seed=seed)  # noqa: E731
    else:
        sys.path.insert(0, str(HERE))
        from _polystep_reference import SNN
        from torch.nn import functional as F

        import blackbox
        x, y = ours.batch(seed)
        model = SNN(784, a.hidden, ours.classes, a.steps, ours.config.beta, ours.config.threshold)
        prob = blackbox.problem_from_module(model, F.cross_entropy, train=(x, y), batch_size=0, device=a.device)
        Pm = to_module(P, a.hidden, ours.classes)
        call = (lambda: prob.evaluate(Pm, seed=0)) if a.only == "adapter: dense rows" else \
            (lambda: prob.evaluate_lowrank(lr, seed=0))
    cuda = a.device.startswith("cuda") and a.only != "built-in snn: dense"
    setup_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    losses = np.asarray(call(), dtype=np.float64)  # warm-up (numba compile, caches) and the losses
    t0 = time.perf_counter()
    for _ in range(a.repeats):
        call()
    if cuda:
        torch.cuda.synchronize()
    sec = (time.perf_counter() - t0) / a.repeats
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds_per_call": sec, "losses": losses.tolist(), "peak_mb": peak, "setup_mb": setup_mb,
            "memory": "CUDA peak allocated" if cuda else "max RSS"}


def child(cmd, env) -> tuple[dict | None, str]:
    """Run a path's process; (its JSON line, '') or (None, why not)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        text, errors = out.read(), err.read()
    if proc.returncode:
        return None, (errors.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    r = json.loads(text.strip().splitlines()[-1])
    r.setdefault("peak_mb", usage.ru_maxrss / 1024)
    r.setdefault("memory", "max RSS")
    return r, ""


def reference(a, ours, P, seed):
    """polystep's NNCostEvaluator on the same data, in its own venv (benchmarks/_polystep_reference.py)."""
    if not Path(a.ref_python).exists():
        return None, f"reference venv not found at {a.ref_python}: reference not timed"
    x, y = ours.batch(seed)
    with tempfile.TemporaryDirectory() as d:
        np.save(f"{d}/x.npy", x.numpy())
        np.save(f"{d}/y.npy", y.numpy())
        np.save(f"{d}/population.npy", P.astype(np.float32))
        json.dump({"model": "snn", "layout": [[n, s, list(shape)] for n, s, shape in ours.layout],
                   "steps": a.steps, "beta": ours.config.beta, "threshold": ours.config.threshold,
                   "logit_scale": ours.config.logit_scale}, open(f"{d}/meta.json", "w"))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        return child([a.ref_python, str(HERE / "_polystep_reference.py"), d, str(a.threads), str(a.repeats)], env)


def report(a, results: dict, notes: list) -> None:
    import torch
    print(f"hard-LIF SNN 784-{a.hidden}-10 as an nn.Module, T={a.steps}, minibatch {a.batch}, population {a.pop}, "
          f"rank {a.rank}, threads {a.threads}, adapter on {a.device}, torch {torch.__version__}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    anchor = results.get("built-in snn: dense")
    print(f"{'path':34s} {'cand/s':>9s} {'s/call':>8s} {'peak MB':>9s} {'set-up MB':>9s} {'max|loss diff|':>15s}")
    for name, r in results.items():
        diff = np.abs(np.array(r["losses"]) - np.array(anchor["losses"])).max() if anchor else float("nan")
        print(f"{name:34s} {a.pop / r['seconds_per_call']:9.0f} {r['seconds_per_call']:8.3f} {r['peak_mb']:9.0f} "
              f"{r.get('setup_mb', float('nan')):9.0f} {diff:15.2e}  ({r['memory']})")
    ref = results.get("reference: polystep NNCostEvaluator")
    for name in ("adapter: dense rows", "adapter: low-rank"):
        if name not in results:
            continue
        s = results[name]["seconds_per_call"]
        if ref:
            print(f"{name}: {ref['seconds_per_call'] / s:.2f}x the reference per candidate "
                  f"({'met' if s <= ref['seconds_per_call'] else 'NOT met'}: >= 1x)")
        if anchor:
            print(f"{name}: {s / anchor['seconds_per_call']:.2f}x the built-in dense path's time "
                  f"({'met' if s <= 2 * anchor['seconds_per_call'] else 'NOT met'}: <= 2x)")
    for n in notes:
        print(n)


def main():
    a = parse()
    if a.only:
        print(json.dumps(run_one(a)))
        return 0
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), NUMBA_NUM_THREADS=str(a.threads))
    argv = sys.argv[1:]
    results, notes = {}, []
    for name in PATHS:
        r, why = child([sys.executable, __file__, *argv, "--only", name], env)
        if r:
            results[name] = r
        else:
            notes.append(f"{name} failed: {why}")
    ours, P, _, seed = setup(a)
    r, why = reference(a, ours, P, seed)
    if r:
        results["reference: polystep NNCostEvaluator"] = r
    else:
        notes.append(why)
    report(a, results, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
