"""Reference side of benchmarks/neural_speed.py: run inside a separate venv that has the PyPI
package ``polystep`` (never a dependency of this project). Reads the minibatch and population that
neural_speed.py wrote, builds the same hard-LIF SNN as an nn.Module, scores the population with
polystep's ``NNCostEvaluator`` (vmap over functional_call) and prints a JSON line with the losses
and the timing. Usage: python _polystep_reference.py DIR THREADS REPEATS. The SNN module itself
imports without polystep (benchmarks/module_speed.py runs it through problem_from_module).
"""
import json
import sys
import time

import numpy as np
import torch
from torch import nn


class LIF(nn.Module):
    """Hard-threshold leaky integrate-and-fire, reset to zero (snntorch Leaky semantics)."""

    def __init__(self, beta, threshold):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, currents):  # (T, B, n) -> spikes (T, B, n)
        m = torch.zeros_like(currents[0])
        out = []
        for t in range(currents.shape[0]):
            m = torch.where(m > self.threshold, 0.0, self.beta * m) + currents[t]
            out.append((m > self.threshold).to(currents.dtype))
        return torch.stack(out)


class SNN(nn.Module):
    def __init__(self, n_in, hidden, n_out, steps, beta, threshold):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(n_in, hidden), nn.Linear(hidden, n_out)
        self.lif1, self.lif2 = LIF(beta, threshold), LIF(beta, threshold)
        self.steps = steps

    def forward(self, x):
        cur = self.fc1(x).unsqueeze(0).expand(self.steps, -1, -1)  # constant input current
        s1 = self.lif1(cur)
        s2 = self.lif2(self.fc2(s1))
        return s2.sum(0)  # spike counts as logits


def main():
    from polystep import NNCostEvaluator  # only here: benchmarks/module_speed.py imports the SNN class without it
    folder, threads, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    meta = json.load(open(f"{folder}/meta.json"))
    x = torch.from_numpy(np.load(f"{folder}/x.npy"))
    y = torch.from_numpy(np.load(f"{folder}/y.npy"))
    P = torch.from_numpy(np.load(f"{folder}/population.npy"))
    H, C, n_in = meta["hidden"], meta["classes"], x.shape[1]
    model = SNN(n_in, H, C, meta["steps"], meta["beta"], meta["threshold"])
    pop = P.shape[0]
    # our flat layout: w1 (in, H) row-major, b1, w2 (H, C), b2; nn.Linear stores weight as (out, in)
    o = 0
    w1 = P[:, o:o + n_in * H].reshape(pop, n_in, H); o += n_in * H
    b1 = P[:, o:o + H]; o += H
    w2 = P[:, o:o + H * C].reshape(pop, H, C); o += H * C
    b2 = P[:, o:o + C]
    stacked = {"fc1.weight": w1.transpose(1, 2).contiguous(), "fc1.bias": b1.contiguous(),
               "fc2.weight": w2.transpose(1, 2).contiguous(), "fc2.bias": b2.contiguous()}
    ev = NNCostEvaluator(model, nn.CrossEntropyLoss())
    losses = ev.evaluate(stacked, x, y)  # warm-up (and the losses to compare)
    t0 = time.perf_counter()
    for _ in range(repeats):
        ev.evaluate(stacked, x, y)
    wall = (time.perf_counter() - t0) / repeats
    print(json.dumps({"losses": losses.tolist(), "seconds_per_call": wall, "pop": pop,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
