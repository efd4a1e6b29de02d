"""MAX-SAT scaling benchmark: random 3-SAT at the threshold, satisfied fraction vs wall time.

Times run from before instance generation (generation, occurrence index and search setup included)
to the end of the search. Prints one line per run and writes a PNG curve of satisfied fraction vs
time. Usage:
    PYTHONPATH=. python benchmarks/maxsat_scaling.py [--sizes 1e5:20,1e6:60] [--seed 0] [--png out.png]
"""
from __future__ import annotations

import argparse
import os
import time


def run(n: int, seconds: float, seed: int, walkers: int, cb: float, ratio: float):
    t0 = time.perf_counter()
    c0 = time.process_time()
    import blackbox
    from blackbox.problems.maxsat import MaxSAT, MaxSATConfig
    from blackbox.problems.maxsat.sls import SLSConfig

    problem = MaxSAT(MaxSATConfig(vars=n, ratio=ratio, instance_seed=seed))
    t_gen = time.perf_counter() - t0
    m = problem.nclauses
    curve, last = [], {}

    def record(tick):
        state = last["state"] = tick.state
        unsat = int(state["ucost"][int(state["best_walker"]), 1])
        curve.append((time.perf_counter() - t0, 1 - unsat / m, int(state["flips"])))

    blackbox.solve(problem, "sls", SLSConfig(walkers=walkers, cb=cb), seconds=seconds, seed=seed,
                   started=t0, callbacks=[record])
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    state = last["state"]
    x = state["best_x"][int(state["best_walker"])]
    met = problem.metrics(x)
    return dict(n=n, m=m, seed=seed, budget=seconds, wall=wall, cpu=cpu, gen=t_gen, flips=int(state["flips"]),
                walkers=int(state["x"].shape[0]), sat=met["satisfied_fraction"], unsat=met["unsatisfied"],
                curve=curve)


def parse_figure(n: int, seed: int):
    """Write a random 3-SAT instance of n variables as DIMACS and time reading it back."""
    import tempfile

    from blackbox.problems.maxsat.instance import generate, read_instance, write_instance

    inst = generate(n, seed=seed)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "r.cnf")
        t = time.perf_counter()
        write_instance(inst, path)
        tw = time.perf_counter() - t
        read_instance(path)  # compile / load the cached reader first
        t, c = time.perf_counter(), time.process_time()
        back = read_instance(path)
        tr, cr = time.perf_counter() - t, time.process_time() - c
        size = os.path.getsize(path)
    assert back.nclauses == inst.nclauses
    print(f"parse n={n}: {size / 1e6:.0f} MB DIMACS read in {tr:.2f} s wall ({cr:.2f} s cpu); written in {tw:.2f} s")


def deltas_figure(n: int, seed: int):
    """What general solvers (PolyStep, ES, GA) pay per candidate at this size: 64 candidates of 16
    flips each through the deltas capability, against one dense population evaluation."""
    import numpy as np

    from blackbox.population import Deltas
    from blackbox.problems.maxsat import MaxSAT, MaxSATConfig

    p = MaxSAT(MaxSATConfig(vars=n, instance_seed=seed))
    rng = np.random.default_rng(seed)
    base = p.initial(rng)
    offsets = np.arange(0, 64 * 16 + 1, 16, dtype=np.int64)
    idx = rng.integers(0, n, 64 * 16).astype(np.int64)
    p.evaluate_deltas(Deltas.flips(base, offsets[:2], idx[:16]))  # compile + base counts cached
    t = time.perf_counter()
    for _ in range(10):
        idx = rng.integers(0, n, 64 * 16).astype(np.int64)
        p.evaluate_deltas(Deltas.flips(base, offsets, idx))
    dt = (time.perf_counter() - t) / 10
    t = time.perf_counter()
    p.evaluate(np.repeat(base[None, :], 4, axis=0))
    dense = (time.perf_counter() - t) / 4
    print(f"deltas n={n}: 64 candidates x 16 flips in {dt * 1e3:.1f} ms ({dt / 64 * 1e6:.0f} us per candidate, "
          f"base cached); dense evaluation {dense * 1e3:.0f} ms per candidate")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e5:20,1e6:60", help="comma list of VARS:SECONDS")
    ap.add_argument("--ratio", type=float, default=4.27)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--walkers", type=int, default=0, help="0 = solver default")
    ap.add_argument("--cb", type=float, default=0.0, help="probSAT cb (0 = solver default)")
    ap.add_argument("--png", default="benchmarks/maxsat_scaling.png")
    ap.add_argument("--deltas", default="1e6", help="also time evaluate_deltas at this many variables ('' = skip)")
    ap.add_argument("--parse", default="1e6", help="also time writing and reading a DIMACS file of this size ('' = skip)")
    a = ap.parse_args()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"# cpu count {os.cpu_count()}, load average at start {load:.2f}")
    results = []
    for item in a.sizes.split(","):
        n, s = item.split(":")
        r = run(int(float(n)), float(s), a.seed, a.walkers, a.cb, a.ratio)
        results.append(r)
        print(f"n={r['n']} m={r['m']} ratio={a.ratio} seed={r['seed']} budget={r['budget']:.0f}s "
              f"wall={r['wall']:.1f}s cpu={r['cpu']:.1f}s (generation+index {r['gen']:.1f}s wall) walkers={r['walkers']} "
              f"flips={r['flips']} ({r['flips'] / max(1e-9, r['wall'] - r['gen']) / 1e6:.2f} M/s wall) "
              f"satisfied={r['sat'] * 100:.3f}% unsat={r['unsat']}", flush=True)
        marks, want = [], [2, 5, 10, 20, 30, 45, 60]
        for t, f, _ in r["curve"]:
            if want and t >= want[0]:
                marks.append(f"{t:.1f}s {f * 100:.3f}%")
                while want and t >= want[0]:
                    want.pop(0)
        print("   curve: " + ", ".join(marks), flush=True)
    print(f"# load average at end {os.getloadavg()[0]:.2f}")
    if a.deltas:
        deltas_figure(int(float(a.deltas)), a.seed)
    if a.parse:
        parse_figure(int(float(a.parse)), a.seed)
    if a.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for r in results:
            t, f, _ = zip(*r["curve"])
            walkers = f"{r['walkers']} walker" + ("s" if r["walkers"] > 1 else "")
            ax.plot(t, [100 * v for v in f], label=f"n={r['n']:,} ({walkers}, {r['flips'] / 1e6:.1f}M flips)")
        ax.set_xlabel("wall time from start, generation included (s)")
        ax.set_ylabel("clauses satisfied (%)")
        ax.set_title(f"sls (probSAT) on random 3-SAT, ratio {a.ratio}, seed {a.seed} (2 shared cores, load {load:.0f})")
        ax.set_ylim(99.0, 100.0)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(a.png, dpi=110)
        print(f"# curve written to {a.png}")


if __name__ == "__main__":
    main()
