"""A tiny build() for ``blackbox solve module`` (``ModuleProblem.small_config``): a Heaviside MLP on
a synthetic two-class problem, so the contract tests and a first try need no file of your own.

    blackbox solve module --module "$(python -c 'import blackbox._module_demo as m; print(m.__file__)')":build
"""
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class Step(nn.Module):
    """A hard threshold: zero gradient almost everywhere."""

    def forward(self, h):
        return (h > 0).to(h.dtype)


def build():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 8)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)  # the XOR of two signs: not linearly separable
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), Step(), nn.Linear(16, 2))
    return model, F.cross_entropy, (X[:400], y[:400]), (X[400:500], y[400:500]), (X[500:], y[500:])
