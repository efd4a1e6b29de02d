"""Name -> class registries for solvers and problems, resolved lazily.

Entries are "module:Class" strings with a one-line summary, so ``blackbox list`` and ``--help``
never import numba or torch. Third-party packages add entries through the entry-point groups
``blackbox.solvers`` and ``blackbox.problems`` (value "module:Class"), or at run time with
``register_solver`` / ``register_problem``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "package.module:Class"
    summary: str

    def load(self):
        module, _, attr = self.target.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise LookupError(f"{self.name!r} could not be loaded from {self.target}: {e}") from e
        return obj


SOLVERS: dict[str, Entry] = {}
PROBLEMS: dict[str, Entry] = {}
_plugins_loaded = False


def register_solver(name: str, target: str, summary: str = "") -> None:
    """Make ``blackbox.solve(..., name)`` and ``--solver name`` load ``target`` ("module:Class")."""
    _register(SOLVERS, "solver", name, target, summary)


def register_problem(name: str, target: str, summary: str = "") -> None:
    """Make ``blackbox solve name`` and ``solve("name")`` load ``target`` ("module:Class")."""
    _register(PROBLEMS, "problem", name, target, summary)


def _register(table: dict, kind: str, name: str, target: str, summary: str) -> None:
    """A name is registered once: a second registration raises, naming both targets."""
    if name in table:
        raise ValueError(f"{kind} {name!r} is already registered ({table[name].target}); "
                         f"cannot register it again for {target}")
    table[name] = Entry(name, target, summary)


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points
    for group, table in (("blackbox.solvers", SOLVERS), ("blackbox.problems", PROBLEMS)):
        for ep in entry_points(group=group):
            _register(table, group.split(".")[1][:-1], ep.name, ep.value, "(plugin)")


def _lookup(table: dict, name: str, kind: str) -> Entry:
    _load_plugins()
    if name not in table:
        raise LookupError(f"unknown {kind} {name!r}; known: {', '.join(sorted(table))}")
    return table[name]


def solver_class(name: str):
    return _lookup(SOLVERS, name, "solver").load()


def problem_class(name: str):
    return _lookup(PROBLEMS, name, "problem").load()


def solver_names() -> list[str]:
    _load_plugins()
    return sorted(SOLVERS)


def problem_names() -> list[str]:
    _load_plugins()
    return sorted(PROBLEMS)


# -- built-ins ------------------------------------------------------------------------------------
for _n, _t, _s in [
    ("random", "blackbox.solvers.random_search:RandomSearch", "baseline: random search around the best point"),
    ("polystep", "blackbox.solvers.polystep:PolyStep", "polytope probes + entropic transport step (PolyStep paper)"),
    ("es", "blackbox.solvers.es:ES", "OpenAI-style evolution strategy: antithetic, centred ranks, Adam"),
    ("snes", "blackbox.solvers.es:SNES", "separable natural evolution strategy (per-coordinate sigma)"),
    ("cge", "blackbox.solvers.cge:CGE", "coordinate-wise finite-difference gradient estimate + Adam/SGD (DeepZero)"),
    ("ga", "blackbox.solvers.ga:GA", "elitist GA of small deltas, bandit-chosen operators (Private-GSD style)"),
    ("cmaes", "blackbox.solvers.cmaes:CMAES", "CMA-ES on explicit state: full/sep covariance, BIPOP/IPOP restarts, mirrored bounds"),
    ("auto", "blackbox.solvers.auto:Auto", "chooses a solver by domain, dimension, budget and noise (docs/choosing.md)"),
    ("sls", "blackbox.problems.maxsat.sls:SLS", "MAX-SAT local search: probSAT / SATLike-style clause weighting (native, binary)"),
    # reference baselines (baselines/): what the solvers above are compared against
    ("openai-es", "blackbox.baselines.openai_es:OpenAIES", "baseline: OpenAI-ES as published (Salimans et al. 2017 settings)"),
    ("spsa", "blackbox.baselines.two_point:SPSA", "baseline: SPSA two-point estimate, Rademacher directions, Spall gains"),
    ("mezo", "blackbox.baselines.two_point:MeZO", "baseline: MeZO-style seeded two-point estimate + SGD"),
    ("cma-es", "blackbox.baselines.cma_es:CMAES", "baseline: CMA-ES via pycma (diagonal above 1000 dims)"),
    ("adam-ceiling", "blackbox.baselines.adam_ceiling:AdamCeiling", "baseline, NOT gradient-free: Adam on the smooth surrogate twin (gradient ceiling)"),
]:
    register_solver(_n, _t, _s)

for _n, _t, _s in [
    ("sphere", "blackbox.problems.benchmarks:Sphere", "sum of squares (real)"),
    ("rastrigin", "blackbox.problems.benchmarks:Rastrigin", "multimodal Rastrigin function (real)"),
    ("ackley", "blackbox.problems.benchmarks:Ackley", "multimodal Ackley function (real)"),
    ("rosenbrock", "blackbox.problems.benchmarks:Rosenbrock", "curved valley Rosenbrock function (real)"),
    ("staircase", "blackbox.problems.benchmarks:Staircase", "piecewise-constant floor-of-sphere: zero gradient almost everywhere (real)"),
    ("onemax", "blackbox.problems.benchmarks:OneMax", "count of zero bits (binary)"),
    ("trap", "blackbox.problems.benchmarks:Trap", "concatenated deceptive k-bit traps (binary)"),
    ("maxsat", "blackbox.problems.maxsat:MaxSAT", "MAX-SAT from a DIMACS/WCNF file or random k-SAT, up to millions of variables (binary)"),
    ("snn", "blackbox.problems.neural.models:SpikingMLP", "hard-LIF spiking MLP on MNIST (threshold + reset, no surrogate gradient); torch"),
    ("int8-mlp", "blackbox.problems.neural.models:Int8MLP", "MLP with int8 weights and uint8 activations (round + clamp) on MNIST; torch"),
    ("binary-mlp", "blackbox.problems.neural.models:BinaryMLP", "MLP with sign weights and sign activations on MNIST; torch"),
    ("argmax-attn", "blackbox.problems.neural.models:ArgmaxAttention", "patch tokens with hard (argmax) attention heads on MNIST; torch"),
    ("staircase-mlp", "blackbox.problems.neural.models:StaircaseMLP", "MLP with floor(k*sigmoid) staircase activations on MNIST; torch"),
    ("hard-moe", "blackbox.problems.neural.models:HardMoE", "hard top-1 (argmax-routed) mixture of experts on MNIST+Fashion, 20 classes; torch"),
    ("module", "blackbox.module_problem:ModuleProblem", "your own torch nn.Module from --module file.py:build (snntorch included); torch"),
    ("gym", "blackbox.problems.control:GymPolicy", "float/int8/binary linear or MLP control policy on a gymnasium env (loss = -mean return)"),
]:
    register_problem(_n, _t, _s)
