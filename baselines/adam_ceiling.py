"""Adam on a problem's smooth surrogate twin: a gradient CEILING, NOT a gradient-free method.

The neural problems (hard-LIF spikes, int8 rounding, sign, argmax attention, staircase, hard MoE)
each have a differentiable twin (sigmoid for the threshold, identity for rounding, tanh for sign,
softmax for argmax); this baseline trains that twin with autograd and Adam and reports the HARD
model's losses and metrics. It answers "what would a surrogate-gradient method reach here?", the
number a forward-only solver is measured against; it uses gradients of a model that is not the
problem, so it does not belong in the gradient-free rankings.

Problem hooks (declared on ``blackbox.Problem``; a problem that keeps the default
``surrogate_loss_torch`` is refused):

    problem.surrogate_loss_torch(params: torch.Tensor (dim,), batch) -> scalar torch.Tensor
    problem.batch(seed) -> batch            default: the data seed itself

The minibatch of step k is ``batch(data_seed(run seed, k))``, the driver's per-generation
convention. Accounting: one Adam step (one forward + backward of ONE parameter vector on one
minibatch) counts as one evaluation, and each ``advance`` call ends by scoring the current point
with the hard loss ``problem.evaluate`` on the last minibatch (one more evaluation), which is what
``best`` reports. The driver selects the reported model of stochastic problems by validation
loss as for every solver. Budget-match by wall time (``--time``) for a cost-fair comparison.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from blackbox.solver import Solver
from blackbox.solvers.common import OptimizerConfig, check, check_optimizer, optimizer_state, optimizer_step


@dataclass
class AdamCeilingConfig(OptimizerConfig):
    """Adam on the smooth surrogate (a gradient ceiling, not gradient-free)."""

    lr: float = 1e-3  # Adam learning rate (at step 0)
    lr_end: float = 1e-3  # learning rate at the horizon
    horizon: int = 10000  # steps over which the lr schedule runs
    steps_per_call: int = 5  # Adam steps per driver generation, each followed by one hard-loss evaluation
    threads: int = 1  # torch threads (at most 2 on this machine)


class AdamCeiling(Solver):
    name = "adam-ceiling"
    Config = AdamCeilingConfig
    domains = frozenset({"real"})
    native = True

    @classmethod
    def refuses(cls, problem_cls):
        from blackbox.problem import Problem, overrides
        if not overrides(problem_cls, "surrogate_loss_torch", Problem):
            return (f"solver 'adam-ceiling' needs a problem with a smooth twin (surrogate_loss_torch); "
                    f"{problem_cls.name} has none")
        return None

    def check_config(self):
        c = self.config
        check_optimizer(self.name, c)
        check(self.name, c.horizon >= 1, "horizon", c.horizon, ">= 1")
        check(self.name, c.steps_per_call >= 1, "steps_per_call", c.steps_per_call, ">= 1")
        check(self.name, 1 <= c.threads <= 64, "threads", c.threads, "in [1, 64]")

    def init(self, x0, seed):
        state = self.base_state(np.asarray(x0, np.float64), seed)
        state.update(optimizer_state(self.spec.dim))
        state["best_x"] = np.array(state["x"], copy=True)
        state["best_loss"] = math.inf
        state["steps"] = 0
        return state

    def _grad(self, problem, x, seed):
        import torch
        torch.set_num_threads(int(self.config.threads))
        batch = problem.batch(seed)
        p = torch.tensor(x, dtype=torch.float32, requires_grad=True)
        loss = problem.surrogate_loss_torch(p, batch)
        (g,) = torch.autograd.grad(loss, p)
        return float(loss.detach()), g.numpy().astype(np.float32)

    def _advance(self, state, problem, evals_left, seconds_left):
        from blackbox.seeding import data_seed
        c = self.config
        steps = c.steps_per_call if evals_left is None else max(1, min(c.steps_per_call, int(evals_left) - 1))
        new = dict(state)
        x, used = state["x"], 0
        for _ in range(steps):
            k = int(new["steps"])
            seed = data_seed(int(state["seed"]), k)
            _, g = self._grad(problem, x, seed)
            x, opt = optimizer_step(c, {**new, "generation": k}, x, g, c.horizon)
            new.update(opt)
            new["steps"] = k + 1
            used += 1
        x = np.asarray(x, np.float64)
        hard = float(np.asarray(problem.evaluate(x[None, :], seed=seed))[0])
        used += 1
        new["x"] = x
        if hard < state["best_loss"]:
            new["best_x"], new["best_loss"] = x.copy(), hard
        return new, used

    def best(self, state):
        return state["best_x"], state["best_loss"]

    def recommend(self, state):
        return state["x"]
