"""Any torch ``nn.Module`` as a Problem: bring your own network (snntorch included).

    problem = blackbox.problem_from_module(model, loss, train=(X, y), val=(Xv, yv), test=(Xt, yt))
    result = blackbox.solve(problem)

The solution is the flat vector of the searched parameters (every trainable one, or those named by
``params``) in ``named_parameters`` order, each flattened row-major in its torch shape, starting
from the module's current values. ``layout`` names the blocks, so a solver can work per layer: an
``nn.Linear`` weight is a (out x in) block, a ``Conv2d`` weight a (out x in*kh*kw) block.

How a population is scored (``evaluate``): the generation's minibatch is a pure function of
(``split_seed``, seed), the same for every candidate; the candidates go through the model in chunks
with ``torch.func.functional_call`` under ``torch.func.vmap``, one batched forward per chunk and no
Python loop per candidate. The problem holds its own copy of the model on ``device``; the user's
module is never changed (``load(x, model)`` writes a solution into one).

* Buffers: the model's mode is respected. In ``eval()`` mode BatchNorm uses its running statistics,
  shared by all candidates (deterministic: the usual choice). In ``train()`` mode each candidate
  normalizes with its own minibatch statistics and the running statistics are never updated (every
  chunk gets throw-away copies). Dropout in train mode draws the same masks for every candidate of
  a generation (seeded by the generation, like the minibatch).
* snntorch: its surrogate spike functions are ``autograd.Function``s that ``vmap`` refuses; their
  forward is the Heaviside step ``(x > 0)``, so in the problem's copy they are swapped for that
  plain step (same forward, no gradient needed). Membrane state (``init_hidden=True`` layers, and
  the ``mem`` a layer keeps between calls) is reset at the start of every forward.
* ``LowRank`` and ``Deltas`` requests: exact through materialized rows; and when the first layer
  that uses searched parameters is an ``nn.Linear`` or ``nn.Conv2d`` (groups 1) fed a parameter-free
  function of the input (checked once, on a probe), its base product is computed once per request
  and each candidate adds only its low-rank correction ``(h V) U^T`` (as the built-in nets do).
* A forward that raises or gives NaN for a candidate is a counted failure (the driver gives it the
  worst loss). A model that ``vmap`` cannot run at all is scored candidate by candidate, with a
  warning that says why.
"""
from __future__ import annotations

import copy
import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from .domain import Real
from .population import Deltas, LowRank
from .problem import Problem

MEMORY_BUDGET = 128 << 20  # bytes a chunk may use on the CPU, where small chunks stay in cache (CUDA: half the free memory)
MAX_CHUNK = 1024  # candidates per batched forward at most
EVAL_BATCH = 1000  # examples per forward when scoring one solution on validation or test data


@dataclass
class ModuleConfig:
    module: str = ""  # path/to/file.py:build, where build() returns (model, loss, train, val, test)
    batch_size: int = 256  # training minibatch drawn per generation, the same for every candidate (0 = all)
    device: str = "cpu"  # torch device: cpu, cuda, cuda:1, mps
    chunk: int = 0  # candidates per batched forward at most (0 = sized from a memory budget)
    split_seed: int = 0  # seed of the minibatch stream


# -- checking what the user gave -----------------------------------------------------------------
def resolve_device(device) -> torch.device:
    """A torch.device that exists here, or ValueError naming ``device``."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device={device!r} is not a torch device ({e})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r}: torch {torch.__version__} sees no CUDA GPU here; use device='cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(f"device={device!r}: MPS is not available in this torch build; use device='cpu'")
    elif dev.type != "cpu":
        raise ValueError(f"device={device!r}: expected cpu, cuda, cuda:N or mps")
    return dev


def select_params(model, params) -> list[tuple[str, torch.Tensor]]:
    """The searched (name, parameter) pairs: every floating parameter with requires_grad (params
    None), those named in a list, or those a predicate on (name, tensor) accepts."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    named = list(model.named_parameters())
    if params is None:
        chosen = [(n, p) for n, p in named if p.requires_grad and p.is_floating_point()]
        if not chosen:
            raise ValueError("model has no trainable parameters (floating point, requires_grad); "
                             "name some with params=[...]")
        return chosen
    if callable(params):
        chosen = [(n, p) for n, p in named if params(n, p)]
    elif isinstance(params, (list, tuple, set)) and all(isinstance(n, str) for n in params):
        known = dict(named)
        unknown = [n for n in params if n not in known]
        if unknown:
            raise ValueError(f"params names unknown parameter(s) {unknown[:3]}; the model has "
                             f"{[n for n, _ in named][:6]}{' ...' if len(named) > 6 else ''}")
        chosen = [(n, p) for n, p in named if n in set(params)]
    else:
        raise ValueError(f"params must be a list of parameter names or a predicate on (name, tensor), "
                         f"got {type(params).__name__}")
    if not chosen:
        raise ValueError("params selects no parameter of the model")
    for n, p in chosen:
        if not p.is_floating_point():
            raise ValueError(f"params: {n!r} is an integer tensor ({p.dtype}); only floating-point "
                             f"parameters can be searched")
    return chosen


def as_data(arg: str, pair, dtype, device) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(inputs, targets) on ``device``: floating inputs in ``dtype``, integer ones (token ids) as
    they are; integer targets as int64 (class labels), floating ones in ``dtype``."""
    if pair is None:
        return None
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(f"{arg} must be a pair (inputs, targets), got {type(pair).__name__}")
    out = []
    for what, a in zip(("inputs", "targets"), pair):
        try:
            if not isinstance(a, torch.Tensor):
                a = np.asarray(a)
                a = a if a.flags.writeable else a.copy()  # torch wants writable memory (e.g. read-only IDX data)
            t = torch.as_tensor(a)
        except (TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"{arg}: {what} are not an array ({e})") from None
        if t.dim() == 0:
            raise ValueError(f"{arg}: {what} must have a first (example) dimension, got a scalar")
        if t.dtype == torch.bool:
            t = t.to(torch.int64)
        t = t.to(dtype) if t.is_floating_point() else t.to(torch.int64 if what == "targets" else t.dtype)
        out.append(t.to(device))
    if out[0].shape[0] != out[1].shape[0]:
        raise ValueError(f"{arg}: {out[0].shape[0]} inputs but {out[1].shape[0]} targets (first dimensions differ)")
    if out[0].shape[0] == 0:
        raise ValueError(f"{arg}: no examples")
    return out[0], out[1]


def load_build(spec: str):
    """``path/to/file.py:build`` -> build() of that file, called: (model, loss, train, val, test)."""
    if not spec:
        raise ValueError("--module is required: path/to/file.py:build, where build() returns "
                         "(model, loss, train, val, test)")
    path, sep, name = spec.rpartition(":")
    if not sep or not path.endswith(".py"):
        path, name = spec, "build"
    if not os.path.isfile(path):
        raise ValueError(f"--module: no file {path!r}")
    mod_spec = importlib.util.spec_from_file_location(f"_blackbox_user_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except Exception as e:
        raise ValueError(f"--module: importing {path} raised {type(e).__name__}: {_first_line(e)}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ValueError(f"--module: {path} defines no function {name!r}")
    try:
        parts = fn()
    except Exception as e:
        raise ValueError(f"--module: {name}() in {path} raised {type(e).__name__}: {_first_line(e)}") from None
    if not isinstance(parts, (tuple, list)) or len(parts) != 5:
        raise ValueError(f"--module: {name}() must return (model, loss, train, val, test), got "
                         f"{type(parts).__name__}{f' of {len(parts)}' if isinstance(parts, (tuple, list)) else ''}")
    return parts


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# -- snntorch ------------------------------------------------------------------------------------
def _heaviside(mem_shift: torch.Tensor) -> torch.Tensor:
    """The forward of every snntorch surrogate spike function: a spike where mem > threshold."""
    return (mem_shift > 0).to(mem_shift.dtype)


def prepare_snntorch(model: nn.Module) -> set[str]:
    """Swap snntorch's surrogate spike functions (``vmap`` refuses their autograd.Function) for the
    equal plain Heaviside forward, in place on the problem's copy; return the names of the
    neurons' state buffers (membranes, synaptic currents), which every forward starts without."""
    try:
        from snntorch import SpikingNeuron
    except ImportError:
        return set()
    state = set()
    for prefix, m in model.named_modules():
        if not isinstance(m, SpikingNeuron):
            continue
        fn = m.spike_grad
        if getattr(fn, "__module__", "") == "snntorch.surrogate" or getattr(fn, "__name__", "") == "_surrogate_bypass":
            m.spike_grad = _heaviside
        persistent = set(m.state_dict(keep_vars=True))
        state |= {f"{prefix}.{n}" if prefix else n for n, _ in m.named_buffers(recurse=False) if n not in persistent}
    return state


# -- the problem ---------------------------------------------------------------------------------
class ModuleProblem(Problem):
    """A torch nn.Module of your own, from --module path/to/file.py:build (see docs/neural.md).

    build() returns (model, loss, train, val, test): loss(output, targets) gives a scalar or one
    number per example, and train/val/test are (inputs, targets) pairs (val and test may be None)."""

    name = "module"
    Config = ModuleConfig
    stochastic = True
    capabilities = frozenset({"lowrank", "deltas"})
    # as the built-in nets: 32 probed particles per generation, radius schedule over the budget
    solver_defaults = {"polystep": {"particles_per_step": 32, "horizon": 0}}

    def __init__(self, config=None, *, parts=None, params=None, dtype=torch.float32):
        self.config = config or self.Config()
        c = self.config
        for field in ("batch_size", "chunk"):
            if getattr(c, field) < 0:
                raise ValueError(f"{field} must be >= 0, got {getattr(c, field)}")
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ValueError(f"dtype must be a floating torch dtype such as torch.float32, got {dtype!r}")
        self.device, self.dtype = resolve_device(c.device), dtype
        model, loss, train, val, test = parts if parts is not None else load_build(c.module)
        chosen = select_params(model, params)
        if not callable(loss):
            raise ValueError(f"loss must be callable as loss(output, targets), got {type(loss).__name__}")
        self.loss = loss
        self._setup_model(model, chosen)
        self._train, self._val, self._test = (as_data(a, d, dtype, self.device) for a, d in
                                              (("train", train), ("val", val), ("test", test)))
        if self._train is None:
            raise ValueError("train must be a pair (inputs, targets)")
        n = len(self._train[1])
        if c.batch_size > n:
            raise ValueError(f"batch_size={c.batch_size} is larger than the {n} training examples")
        self.batch_size = c.batch_size or n
        self.failures, self.last_error = 0, ""
        self._batch_cache = (None, None)
        self._probe()

    @classmethod
    def small_config(cls):
        """The bundled demo (a Heaviside MLP on synthetic data): for the contract tests."""
        return cls.Config(module=f"{Path(__file__).with_name('_module_demo.py')}:build", batch_size=64)

    def _setup_model(self, model: nn.Module, chosen) -> None:
        """The problem's own copy on the device, the layout of the searched parameters, and the
        buffers every forward gets (state buffers emptied, BatchNorm ones copied per candidate)."""
        names = [n for n, _ in chosen]
        self._x0 = torch.cat([p.detach().reshape(-1).to(torch.float64).cpu() for _, p in chosen]).numpy()
        self.model = copy.deepcopy(model).to(device=self.device, dtype=self.dtype)
        self.model.requires_grad_(False)
        self._state = prepare_snntorch(self.model)
        self.layout, start = [], 0
        for n, p in chosen:
            self.layout.append((n, start, tuple(p.shape)))
            start += p.numel()
        self.dim, self.domain, self.param_names = start, Real(), names
        self._buffers = {n: (b.new_zeros(0) if n in self._state else b) for n, b in self.model.named_buffers()}
        self._batched_buffers = [f"{pre}.{n}" if pre else n for pre, m in self.model.named_modules()
                                 if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training
                                 and m.track_running_stats for n, _ in m.named_buffers(recurse=False)]
        self._random = any(isinstance(m, nn.modules.dropout._DropoutNd) and m.training and m.p > 0
                           for m in self.model.modules())
        self._first = None  # the first layer's shared-product path, set by _probe when it applies
        self._holder = [None]  # the first layer's per-candidate output inside a forward (see _one)

    # -- the Problem contract -------------------------------------------------------------------
    def initial(self, rng):
        return self._x0.copy()

    def batch(self, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Generation ``seed``'s minibatch: a pure function of (split_seed, seed)."""
        if self._batch_cache[0] == seed:
            return self._batch_cache[1]
        X, y = self._train
        if self.batch_size >= len(y):
            out = (X, y)
        else:
            from .problems.data import minibatch_indices
            idx = torch.from_numpy(minibatch_indices(len(y), self.batch_size, self.config.split_seed, seed))
            idx = idx.to(self.device)
            out = (X[idx], y[idx])
        self._batch_cache = (seed, out)
        return out

    @torch.no_grad()
    def evaluate(self, population, seed: int = 0):
        """Mean loss of every candidate on generation ``seed``'s minibatch, as a numpy array."""
        P = population.detach().cpu().numpy() if isinstance(population, torch.Tensor) else np.asarray(population)
        if P.ndim != 2 or P.shape[1] != self.dim:
            raise ValueError(f"{self.name}: population must be (pop, {self.dim}), got {P.shape}")
        x, y = self.batch(seed)
        c = self._chunk
        return np.concatenate([self._losses(self._rows(P[i:i + c]), x, y, seed) for i in range(0, len(P), c)]
                              or [np.zeros(0)])

    @torch.no_grad()
    def evaluate_lowrank(self, req: LowRank, seed: int = 0):
        """Same losses as ``evaluate(req.dense())``; with the first-layer path the shared input's
        base product is computed once and each candidate adds its factored correction."""
        x, y = self.batch(seed)
        c, out = self._chunk, []
        for i in range(0, len(req), c):
            part = req.take(i, min(i + c, len(req)))
            first = self._first_output(part, x) if self._first is not None else None
            rows = self._rows(part.dense()) if first is None else self._lowrank_rows(part)
            out.append(self._losses(rows, x, y, seed, first))
        return np.concatenate(out) if out else np.zeros(0)

    @torch.no_grad()
    def evaluate_deltas(self, d: Deltas, seed: int = 0):
        """Same losses as ``evaluate(d.dense())``, chunk by chunk; with the first-layer path each
        chunk's changes to that layer become exact low-rank terms (a changed entry (i, j) is
        delta e_i e_j^T), so the layer keeps its shared product."""
        x, y = self.batch(seed)
        c, out = self._chunk, []
        for i in range(0, len(d), c):
            part = d.take(i, min(i + c, len(d)))
            first = None
            if self._first is not None:
                from .problems.neural.base import _deltas_as_lowrank
                first = self._first_output(_deltas_as_lowrank(part, self.layout), x)
            out.append(self._losses(self._rows(part.dense()), x, y, seed, first))
        return np.concatenate(out) if out else np.zeros(0)

    def validation_loss(self, x):
        return self.metrics(x).get("val_loss")

    def metrics(self, x):
        """Validation loss, and accuracy when the targets are class labels and the output (N, C)."""
        return {} if self._val is None else self._scores(x, self._val, "val")

    def test_metrics(self, x):
        """Test loss and accuracy; the driver calls this once, on the selected solution."""
        return {} if self._test is None else self._scores(x, self._test, "test")

    @property
    def first_layer(self) -> str | None:
        """The weight whose product on the shared input is computed once per request, if any."""
        return None if self._first is None else self._first["weight"]

    def describe(self):
        return (f"{self.name} ({type(self.model).__name__}, dim={self.dim}, {len(self.layout)} tensors, "
                f"batch {self.batch_size}, {self.device})")

    def load(self, x, model: nn.Module) -> nn.Module:
        """Write solution ``x`` into ``model``'s searched parameters (a module of the same
        architecture, e.g. the one given to ``problem_from_module``) and return it."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if x.size != self.dim:
            raise ValueError(f"x has {x.size} values; this problem's solutions have {self.dim}")
        params = dict(model.named_parameters())
        with torch.no_grad():
            for n, s, shape in self.layout:
                p = params[n]
                p.copy_(torch.from_numpy(x[s:s + math.prod(shape)].reshape(shape)).to(p.dtype))
        return model

    # -- scoring ------------------------------------------------------------------------------
    def buffers_once(self) -> dict:
        """The buffers of one plain (unbatched) forward: BatchNorm's in train mode as throw-away copies."""
        return {**self._buffers, **{n: self._buffers[n].clone() for n in self._batched_buffers}}

    def _rows(self, P) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(P)).to(device=self.device, dtype=self.dtype)

    def _params(self, P: torch.Tensor, skip: tuple = ()) -> dict:
        """Per-candidate views of a (c, dim) chunk, one per searched tensor; ``skip``ped tensors
        (the first layer's, when its output is supplied) are NaN so that any other use shows."""
        c, out = P.shape[0], {}
        for n, s, shape in self.layout:
            if n in skip:
                out[n] = torch.full(shape, math.nan, dtype=self.dtype, device=self.device).expand(c, *shape)
            else:
                out[n] = P[:, s:s + math.prod(shape)].reshape(c, *shape)
        return out

    def _one(self, p: dict, b: dict, first, x, y, outputs: bool):
        """One candidate's mean loss (and output): the body that vmap batches."""
        self._holder[0] = first
        out = functional_call(self.model, ({**self._buffers, **b}, p), (x,))
        loss = self.loss(out, y)
        loss = loss.mean() if isinstance(loss, torch.Tensor) and loss.dim() else loss
        return (loss, out) if outputs else loss

    def _forward(self, P: torch.Tensor, x, y, seed: int, first=None, outputs=False):
        """Losses (c,) (and outputs) of the candidates in chunk ``P``: one vmapped forward."""
        c = P.shape[0]
        p = self._params(P, self._first["names"] if first is not None else ())
        b = {n: self._buffers[n].unsqueeze(0).repeat(c, *([1] * self._buffers[n].dim())) for n in self._batched_buffers}
        fn = lambda p_, b_, f_: self._one(p_, b_, f_, x, y, outputs)  # noqa: E731
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else [],
                                   enabled=self._random), self._patched(first):
            if self._random:  # dropout in train mode: the same masks for every candidate
                torch.manual_seed(int(seed) & 0xFFFFFFFF)
            if self._vmap:
                return vmap(fn, in_dims=(0, 0, None if first is None else 0), randomness="same")(p, b, first)
            res = [fn({k: v[i] for k, v in p.items()}, {k: v[i] for k, v in b.items()},
                      None if first is None else first[i]) for i in range(c)]  # fallback: vmap refused the model
            return (torch.stack([r[0] for r in res]), torch.stack([r[1] for r in res])) if outputs else torch.stack(res)

    def _losses(self, P: torch.Tensor, x, y, seed: int, first=None) -> np.ndarray:
        """Losses as float64 numpy; a chunk whose batched forward raises is retried candidate by
        candidate, so that one failing candidate costs only its own (NaN) loss."""
        try:
            return self._forward(P, x, y, seed, first).detach().to("cpu", torch.float64).numpy()
        except Exception as e:
            if len(P) == 1:
                self.failures += 1
                self.last_error = self.last_error or f"forward raised {type(e).__name__}: {_first_line(e)}"
                return np.full(1, np.nan)
        return np.concatenate([self._losses(P[i:i + 1], x, y, seed, None if first is None else first[i:i + 1])
                               for i in range(len(P))])

    def _scores(self, x_vec, data, prefix: str) -> dict:
        """Mean loss (and accuracy) of one solution over a data set, in batches of EVAL_BATCH."""
        X, Y = data
        P = self._rows(np.asarray(x_vec, dtype=np.float64).reshape(1, -1))
        total, correct, classes = 0.0, 0, Y.dim() == 1 and not Y.is_floating_point()
        with torch.no_grad():
            for i in range(0, len(Y), EVAL_BATCH):
                xb, yb = X[i:i + EVAL_BATCH], Y[i:i + EVAL_BATCH]
                loss, out = self._forward(P, xb, yb, 0, outputs=True)
                total += float(loss[0]) * len(yb)
                out = out[0]
                classes = classes and out.dim() == 2 and out.shape[0] == len(yb) and out.shape[1] > 1
                if classes:
                    correct += int((out.argmax(-1) == yb).sum())
        res = {f"{prefix}_loss": total / len(Y)}
        if classes:
            res[f"{prefix}_accuracy"] = correct / len(Y)
        return res

    # -- the first layer's shared product -----------------------------------------------------
    def _patched(self, first):
        """While a forward runs with ``first`` supplied, the first layer returns the candidate's
        precomputed output instead of computing it."""
        return _ForwardOverride(self._first["module"] if first is not None else None, self._holder)

    def _lowrank_rows(self, req: LowRank) -> torch.Tensor:
        """Materialized rows of a LowRank chunk except the first layer's weight block."""
        skip = self.layout_start(self._first["weight"])
        P = self._rows(np.broadcast_to(req.base, (len(req), self.dim)))
        for s, rows, cols, u, v in req.blocks:
            if s == skip:
                continue
            uv = torch.bmm(self._rows_any(u), self._rows_any(v).transpose(1, 2)).reshape(len(req), rows * cols)
            P[:, s:s + rows * cols] += uv
        if req.rest is not None:
            P += self._rows(req.rest)
        return P

    def _rows_any(self, a) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device=self.device, dtype=self.dtype)

    def layout_start(self, name: str) -> int:
        return next(s for n, s, _ in self.layout if n == name)

    def _first_output(self, req: LowRank, x) -> torch.Tensor | None:
        """(c, *out) outputs of the first layer for a LowRank chunk: the base product once, plus
        each candidate's (h V) U^T and bias; None when the request does not fit that form."""
        f = self._first
        s, shape = self.layout_start(f["weight"]), f["shape"]
        blocks = [b for b in req.blocks if b.start <= s < b.start + b.rows * b.cols or
                  s <= b.start < s + math.prod(shape)]
        if blocks and (len(blocks) > 1 or blocks[0].start != s or blocks[0].rows != shape[0]
                       or blocks[0].rows * blocks[0].cols != math.prod(shape)):
            return None
        if req.rest is not None and np.any(req.rest[:, s:s + math.prod(shape)]):
            return None
        h = self._first_input(x)
        base = torch.from_numpy(np.ascontiguousarray(req.base)).to(device=self.device, dtype=self.dtype)
        W0 = base[s:s + math.prod(shape)].reshape(shape)
        shared = f["apply"](h, W0, None).unsqueeze(0)  # (1, B, ...): one product for every candidate
        if not blocks:
            return shared + self._first_bias(req, base, shared.dim())
        out = f["correct"](h, self._rows_any(blocks[0].u), self._rows_any(blocks[0].v))
        return out.add_(shared).add_(self._first_bias(req, base, out.dim()))  # in place: (c, B, ...) is large

    def _first_bias(self, req: LowRank, base: torch.Tensor, ndim: int) -> torch.Tensor:
        """The first layer's bias per candidate (c, 1, out, 1...) in the output's layout."""
        f, c = self._first, len(req)
        if f["bias"] is None:
            b = f["module"].bias
            b = torch.zeros(1, device=self.device, dtype=self.dtype) if b is None else b.unsqueeze(0)
        else:
            s, n = self.layout_start(f["bias"]), f["shape"][0]
            b = base[s:s + n].unsqueeze(0).expand(c, n)
            for bs, rows, cols, u, v in req.blocks:
                if bs == s and rows * cols == n:
                    b = b + torch.bmm(self._rows_any(u), self._rows_any(v).transpose(1, 2)).reshape(c, n)
            if req.rest is not None:
                b = b + self._rows_any(req.rest[:, s:s + n])
        trailing = ndim - 3 if f["kind"] == "conv" else 0  # conv: (c, B, O, H, W); linear: (c, B..., O)
        return b.reshape(b.shape[0], 1, -1, *([1] * trailing)) if f["kind"] == "conv" else \
            b.reshape(b.shape[0], *([1] * (ndim - 2)), -1)

    def _first_input(self, x) -> torch.Tensor:
        """The first layer's input for minibatch ``x`` (parameter-free: one base forward captures it)."""
        if self._first.get("input_x") is not x:  # batch() returns the same tensor for the same seed
            seen = []
            hook = self._first["module"].register_forward_pre_hook(lambda m, a: seen.append(a[0]))
            try:
                with torch.no_grad():
                    functional_call(self.model, self.buffers_once(), (x,))
            finally:
                hook.remove()
            self._first["input"], self._first["input_x"] = seen[0], x
        return self._first["input"]

    # -- set-up probe --------------------------------------------------------------------------
    def _probe(self) -> None:
        """Check the model and loss on the first training minibatch, choose vmap or the per-candidate
        fallback, size the chunks, and enable the first-layer path where it is exact."""
        from . import _module_probe
        _module_probe.probe(self)


class _ForwardOverride:
    """Context: ``module`` returns ``holder[0]`` when called (its own forward is not run)."""

    def __init__(self, module, holder):
        self.module, self.holder = module, holder

    def __enter__(self):
        if self.module is not None:
            self.module.forward = lambda *a, **k: self.holder[0]
        return self

    def __exit__(self, *exc):
        if self.module is not None:
            del self.module.forward
        self.holder[0] = None


def problem_from_module(model, loss, train, val=None, test=None, *, batch_size: int = 256, params=None,
                        device="cpu", dtype=torch.float32, chunk: int | None = None, split_seed: int = 0):
    """A Problem whose solution is ``model``'s searched parameters (all trainable ones, or those
    named by ``params``: a list of names or a predicate on (name, tensor)); see the module doc."""
    cfg = ModuleConfig(module="", batch_size=int(batch_size or 0), device=str(device), chunk=int(chunk or 0),
                       split_seed=int(split_seed))
    return ModuleProblem(cfg, parts=(model, loss, train, val, test), params=params, dtype=dtype)
