"""Reference side of benchmarks/neural_speed.py: run inside a separate venv that has the PyPI
package ``polystep`` (never a dependency of this project). Reads the minibatch, population and
model description that neural_speed.py wrote, builds the same hard net as an nn.Module whose
parameters carry our layout's names and shapes, scores the population with polystep's
``NNCostEvaluator`` (vmap over functional_call) and prints a JSON line with the losses and the
timing. Usage: python _polystep_reference.py DIR THREADS REPEATS. ``SNN`` imports without polystep
(benchmarks/module_speed.py runs it through problem_from_module).
"""
import json
import math
import sys
import time

import numpy as np
import torch
from torch import nn



def lif(currents, beta, threshold):
    """Hard-threshold leaky integrate-and-fire, reset to zero (snntorch Leaky semantics):
    currents (T, B, n) -> spikes (T, B, n)."""
    m = torch.zeros_like(currents[0])
    out = []
    for t in range(currents.shape[0]):
        m = torch.where(m > threshold, 0.0, beta * m) + currents[t]
        out.append((m > threshold).to(currents.dtype))
    return torch.stack(out)


def fake_quant(x, step, lo, hi):
    return torch.clamp(torch.round(x / step), lo, hi) * step


def sign(x):
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


class Net(nn.Module):
    """The nets of blackbox.problems.neural.models, written plainly (one candidate) with
    parameters named and shaped as our flat layout, so the population maps onto them by slicing."""

    def __init__(self, meta):
        super().__init__()
        self.meta = meta
        self.p = nn.ParameterDict({name: nn.Parameter(torch.zeros(shape)) for name, _, shape in meta["layout"]})

    def forward(self, x):
        return getattr(self, "_" + self.meta["model"].replace("-", "_"))(x, self.p, self.meta)

    @staticmethod
    def _snn(x, p, m):
        cur = (x @ p["w1"] + p["b1"]).unsqueeze(0).expand(m["steps"], -1, -1)  # constant input current
        s1 = lif(cur, m["beta"], m["threshold"])
        return lif(s1 @ p["w2"] + p["b2"], m["beta"], m["threshold"]).sum(0) * m["logit_scale"]

    @staticmethod
    def _int8_mlp(x, p, m):
        wq = lambda w: fake_quant(w, m["w_step"], -127, 127)  # noqa: E731
        h = fake_quant(torch.relu(x @ wq(p["w1"]) + p["b1"]), m["a_step"], 0, 255)
        return h @ wq(p["w2"]) + p["b2"]

    @staticmethod
    def _binary_mlp(x, p, m):
        z = x @ sign(p["w1"]) + p["b1"]
        h = sign(z) if m["binary_activations"] else torch.relu(z)
        return (h * (m["logit_scale"] / m["hidden"] ** 0.5)) @ sign(p["w2"]) + p["b2"]

    @staticmethod
    def _staircase_mlp(x, p, m):
        h = torch.floor(m["levels"] * torch.sigmoid(x @ p["w1"] + p["b1"])) / m["levels"]
        return h @ p["w2"] + p["b2"]

    @staticmethod
    def _argmax_attn(x, p, m):
        P, g = m["patch"], 28 // m["patch"]
        tokens = x.reshape(-1, g, P, g, P).permute(0, 1, 3, 2, 4).reshape(-1, g * g, P * P)
        E = tokens @ p["we"] + p["pos"]  # (B, n, d)
        idx = (E @ p["wk"]).argmax(dim=1)  # (B, heads)
        picked = torch.gather(E, 1, idx.unsqueeze(-1).expand(*idx.shape, E.shape[-1]))
        return torch.relu(picked).reshape(x.shape[0], -1) @ p["wo"] + p["bo"]

    @staticmethod
    def _hard_moe(x, p, m):
        e, h = m["experts"], m["hidden"]
        route = (x @ p["wr"] + p["br"]).argmax(dim=-1)  # (B,)
        hid = torch.relu(x @ p["w1"] + p["b1"]).reshape(x.shape[0], e, h)
        out = torch.einsum("beh,ehc->bec", hid, p["w2"]) + p["b2"]
        return torch.gather(out, 1, route[:, None, None].expand(-1, 1, out.shape[-1])).squeeze(1)


class SNN(nn.Module):
    """The built-in SNN as an ordinary module (nn.Linear layers, LIF in between): what
    benchmarks/module_speed.py trains through ``blackbox.problem_from_module``."""

    def __init__(self, n_in, hidden, n_out, steps, beta, threshold):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(n_in, hidden), nn.Linear(hidden, n_out)
        self.steps, self.beta, self.threshold = steps, beta, threshold

    def forward(self, x):
        cur = self.fc1(x).unsqueeze(0).expand(self.steps, -1, -1)  # constant input current
        s1 = lif(cur, self.beta, self.threshold)
        return lif(self.fc2(s1), self.beta, self.threshold).sum(0)  # spike counts as logits


def main():
    from polystep import NNCostEvaluator  # only here: module_speed.py imports SNN without polystep
    folder, threads, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    meta = json.load(open(f"{folder}/meta.json"))
    x = torch.from_numpy(np.load(f"{folder}/x.npy"))
    y = torch.from_numpy(np.load(f"{folder}/y.npy"))
    P = torch.from_numpy(np.load(f"{folder}/population.npy"))
    model = Net(meta)
    pop = P.shape[0]
    stacked = {f"p.{name}": P[:, s:s + math.prod(shape)].reshape(pop, *shape).contiguous()
               for name, s, shape in meta["layout"]}
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
