"""All neural adapters at CPU scale: PolyStep vs OpenAI-ES at equal evaluations, with the Adam
ceiling on each problem's smooth surrogate twin alongside.

    PYTHONPATH=$PWD python benchmarks/neural_table.py [--evals 20000] [--adam-steps 300] [--seed 0]
        [--problems snn,int8-mlp,...] [--solvers polystep,es]

Every run starts from the problem's ``initial`` point (same seed), sees the same minibatch stream
and reports the model selected on validation (the driver's choice); test accuracy is computed
once on it. The Adam column trains the smooth twin (``surrogate_loss_torch``) for --adam-steps
minibatches and reports the *hard* network's accuracy at the trained parameters (and the smooth
twin's own validation accuracy in brackets): a ceiling for what gradients could do if the
network were smooth, not a forward-only result.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

# solver options used for the table: PolyStep searches per layer in a random subspace and asks
# low-rank probes where the problem can take them (radii from three 75-second SNN trials:
# 0.1 beat 0.3 and 1.0); ES uses the OpenAI-ES paper setting (antithetic, centred ranks, Adam
# lr 0.01, weight decay 0.005, sigma 0.02, noise table)
SOLVER_OPTIONS = {
    "polystep": {"subspace_rank": 32, "sigma0": 0.1,
                 "probe_radius_schedule": "constant", "step_radius_schedule": "constant"},
    "es": {"optimizer": "adam", "lr": 0.01, "lr_end": 0.01, "lr_schedule": "constant", "weight_decay": 0.005,
           "sigma0": 0.02, "sigma_end": 0.02, "sigma_schedule": "constant"},
}


def adam_ceiling(problem, steps, seed, lr=3e-3):
    import torch

    from blackbox.problems.neural.base import DenseParams

    x = torch.from_numpy(problem.initial(np.random.default_rng(seed))).float().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    t0 = time.time()
    for s in range(steps):
        loss = problem.surrogate_loss_torch(x, problem.batch(seed * 1_000_003 + s))
        opt.zero_grad()
        loss.backward()
        opt.step()
    wall = time.time() - t0
    xv = x.detach().double().numpy()
    with torch.no_grad():  # the smooth twin's own validation accuracy
        logits = problem.forward(DenseParams(x.detach().reshape(1, -1), problem._layout), problem._x_val, smooth=True)
        smooth_acc = float((logits[0].argmax(-1) == problem._y_val).float().mean())
    return problem.metrics(xv)["val_accuracy"], problem.test_metrics(xv)["test_accuracy"], smooth_acc, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--evals", type=int, default=20000)
    ap.add_argument("--adam-steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--problems", default="snn,int8-mlp,binary-mlp,argmax-attn,staircase-mlp,hard-moe")
    ap.add_argument("--solvers", default="polystep,es")
    a = ap.parse_args()

    import blackbox
    from blackbox.registry import problem_class, solver_names

    rows = []
    for pname in a.problems.split(","):
        problem = problem_class(pname)()
        row = [pname, str(problem.dim)]
        for sname in a.solvers.split(","):
            if sname not in solver_names():
                row.append("(not registered)")
                continue
            res = blackbox.solve(problem, sname, SOLVER_OPTIONS.get(sname, {}), evals=a.evals, seed=a.seed)
            row.append(f"{res.metrics.get('val_accuracy', float('nan')):.3f} / {res.test_metrics.get('test_accuracy', float('nan')):.3f} "
                       f"({res.evals} ev, {res.wall_time:.0f}s)")
            print(pname, sname, row[-1], flush=True)
        if a.adam_steps:
            v, t, sv, w = adam_ceiling(problem, a.adam_steps, a.seed)
            row.append(f"{v:.3f} / {t:.3f} [smooth {sv:.3f}] ({a.adam_steps} steps, {w:.0f}s)")
            print(pname, "adam", row[-1], flush=True)
        rows.append(row)
    head = ["problem", "dim"] + [f"{s} val/test acc" for s in a.solvers.split(",")]
    head += ["Adam on smooth twin: hard val/test"] if a.adam_steps else []
    print(f"\nseed {a.seed}, {a.evals} evaluations per solver run, minibatch = each problem's batch_size")
    print(" | ".join(head))
    for r in rows:
        print(" | ".join(r))


if __name__ == "__main__":
    main()
