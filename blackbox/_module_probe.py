"""The one-time probe of ``module_problem.ModuleProblem``: check the user's model and loss on a
slice of the first minibatch, choose the batched (vmap) or per-candidate path, size the chunks from
a memory budget, and find the first layer whose product can be shared by all candidates.

The first-layer path is enabled only where it is exact: the first module that uses searched
parameters is an ``nn.Linear`` or ``nn.Conv2d`` (groups 1) whose weight is not tied elsewhere,
every call of it in one forward gets the same input, that input does not change when every
searched parameter does (so it is a parameter-free function of the data), and a random low-rank
population scores the same through both paths (the first layer's own tensors are NaN on the
shared path, so a forward that uses them other than by calling the layer shows at once).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .module_problem import MAX_CHUNK, MEMORY_BUDGET
from .population import Block, LowRank

PROBE_EXAMPLES = 64  # examples of the first minibatch used by the probe


def probe(problem) -> None:
    x, y = problem.batch(0)
    x, y = x[:PROBE_EXAMPLES], y[:PROBE_EXAMPLES]
    act_bytes = _check_forward(problem, x, y)
    problem._vmap = True
    P = problem._rows(np.stack([problem._x0, problem._x0 + 1e-3 * _scale(problem)]))
    try:
        problem._forward(P, x, y, 0)
    except Exception as e:
        problem._vmap = False
        warnings.warn(f"{problem.name}: torch.func.vmap cannot run this model ({type(e).__name__}: "
                      f"{_line(e)}); candidates are scored one by one (slower)", stacklevel=4)
    per = act_bytes * max(1.0, problem.batch_size / len(y)) * 2 + problem.dim * 4 * 3
    c = problem.config.chunk
    problem._chunk = int(c) if c else int(max(1, min(MAX_CHUNK, _budget(problem.device) // max(per, 1))))
    problem._first = _first_layer(problem, x, y)


def _line(e) -> str:
    t = str(e).strip()
    return t.splitlines()[0] if t else type(e).__name__


def _scale(problem) -> np.ndarray:
    """Per-coordinate perturbation scale: the spread of each searched tensor (1 where it is 0)."""
    s = np.empty(problem.dim)
    for _, start, shape in problem.layout:
        seg = problem._x0[start:start + math.prod(shape)]
        s[start:start + seg.size] = seg.std() or 1.0
    return s


def _budget(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0] // 2)
    return MEMORY_BUDGET


def _check_forward(problem, x, y) -> int:
    """Run the model once on the probe slice (checking the loss's shape); return the bytes its
    leaf modules' outputs took (the activation memory of one candidate)."""
    from torch.func import functional_call
    total = [0]

    def count(m, a, out):
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                total[0] += t.numel() * t.element_size()
    hooks = [m.register_forward_hook(count) for m in problem.model.modules() if not list(m.children())]
    p = {n: v[0] for n, v in problem._params(problem._rows(problem._x0[None])).items()}
    try:
        with torch.no_grad():
            out = functional_call(problem.model, (problem.buffers_once(), p), (x,))
    except Exception as e:
        raise ValueError(f"model: forward on the training inputs raised {type(e).__name__}: {_line(e)}") from None
    finally:
        for h in hooks:
            h.remove()
    try:
        loss = problem.loss(out, y)
    except Exception as e:
        raise ValueError(f"loss(output, targets) raised {type(e).__name__}: {_line(e)}") from None
    if not isinstance(loss, torch.Tensor):
        raise ValueError(f"loss returned {type(loss).__name__}; expected a torch tensor (a scalar or one per example)")
    if loss.dim() and tuple(loss.shape) != (len(y),):
        raise ValueError(f"loss returned shape {tuple(loss.shape)}; expected a scalar or one number per "
                         f"example ({len(y)},) (use reduction='none' or 'mean')")
    return total[0] + (out.numel() * out.element_size() if isinstance(out, torch.Tensor) else 0)


def _calls(problem, x, P_row) -> list:
    """(module, input) of every call of a module that owns searched parameters, in order."""
    from torch.func import functional_call
    searched = set(problem.param_names)
    owners = [m for pre, m in problem.model.named_modules()
              if any((f"{pre}.{n}" if pre else n) in searched for n, _ in m.named_parameters(recurse=False))]
    seen = []
    hooks = [m.register_forward_pre_hook(lambda m, a: seen.append((m, a[0] if a else None))) for m in owners]
    try:
        with torch.no_grad():
            p = {n: v[0] for n, v in problem._params(P_row[None]).items()}
            functional_call(problem.model, (problem.buffers_once(), p), (x,))
    finally:
        for h in hooks:
            h.remove()
    return seen


def _first_layer(problem, x, y) -> dict | None:
    """The first layer's shared-product description, or None where it would not be exact."""
    try:
        f = _candidate(problem, x)
        if f is None or not _exact(problem, f, x, y):
            return None
    except Exception:  # any surprise in a model's structure: keep the exact dense path
        return None
    return f


def _candidate(problem, x) -> dict | None:
    calls = _calls(problem, x, problem._rows(problem._x0[None])[0])
    if not calls:
        return None
    m, h = calls[0]
    if not isinstance(m, (nn.Linear, nn.Conv2d)) or not isinstance(h, torch.Tensor):
        return None
    if isinstance(m, nn.Conv2d) and (m.groups != 1 or h.dim() != 4):
        return None
    if any(c is m and not torch.equal(i, h) for c, i in calls if isinstance(i, torch.Tensor)):
        return None
    prefix = next(pre for pre, mod in problem.model.named_modules() if mod is m)
    name = lambda n: f"{prefix}.{n}" if prefix else n  # noqa: E731
    if name("weight") not in problem.param_names or _tied(problem.model, m.weight):
        return None
    rng = np.random.default_rng(1)
    moved = problem._rows((problem._x0 + _scale(problem) * rng.standard_normal(problem.dim))[None])[0]
    h2 = next((i for c, i in _calls(problem, x, moved) if c is m), None)
    if h2 is None or not torch.equal(h2, h):
        return None  # the input depends on the parameters
    bias = name("bias") if name("bias") in problem.param_names else None
    kind = "conv" if isinstance(m, nn.Conv2d) else "linear"
    return dict(module=m, weight=name("weight"), bias=bias, names=(name("weight"),) + ((bias,) if bias else ()),
                shape=tuple(m.weight.shape), kind=kind, apply=_apply(m, kind), correct=_correct(m, kind))


def _tied(model, w) -> bool:
    return sum(p is w for _, p in model.named_parameters(remove_duplicate=False)) > 1


def _apply(m, kind):
    if kind == "linear":
        return lambda h, W, b: F.linear(h, W, b)
    return lambda h, W, b: m._conv_forward(h, W, b)


def _correct(m, kind):
    """(h, u (c, out, r), v (c, in, r)) -> each candidate's h (u v^T)^T term, (c, B..., out) for a
    linear layer and (c, B, out, H, W) for a convolution, at the cost of c*r thin products."""
    if kind == "linear":
        def linear(h, u, v):
            c, n_in, r = v.shape
            lead = h.shape[:-1]
            hv = (h.reshape(-1, n_in) @ v.permute(1, 0, 2).reshape(n_in, c * r)).reshape(-1, c, r)
            return torch.einsum("ncr,cor->cno", hv, u).reshape(c, *lead, u.shape[1])
        return linear

    def conv(h, u, v):
        c, _, r = v.shape
        V = v.permute(0, 2, 1).reshape(c * r, *m.weight.shape[1:])
        hv = m._conv_forward(h, V, None)  # (B, c*r, H', W')
        hv = hv.reshape(hv.shape[0], c, r, *hv.shape[2:])
        return torch.einsum("bcrhw,cor->cbohw", hv, u)
    return conv


def _exact(problem, f, x, y) -> bool:
    """A random low-rank population scores the same through the shared and the dense paths."""
    rng = np.random.default_rng(2)
    pop, r, blocks = 3, 2, []
    for _, start, shape in problem.layout:
        n = math.prod(shape)
        rows = shape[0] if len(shape) > 1 else 1
        s = float(np.std(problem._x0[start:start + n]) or 1.0) * 0.1
        blocks.append(Block(start, rows, n // rows, s * rng.standard_normal((pop, rows, r)).astype(np.float32),
                            rng.standard_normal((pop, n // rows, r)).astype(np.float32) / r))
    req = LowRank(problem._x0, blocks)
    problem._first = f
    try:
        first = problem._first_output(req, x)
        if first is None:
            return False
        shared = problem._forward(problem._lowrank_rows(req), x, y, 0, first).double()
        dense = problem._forward(problem._rows(req.dense()), x, y, 0).double()
    finally:
        problem._first = None
        f.pop("input", None)
        f.pop("input_x", None)
    return bool(torch.isfinite(dense).all() and torch.allclose(shared, dense, rtol=1e-4, atol=1e-5))
