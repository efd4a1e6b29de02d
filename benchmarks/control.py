"""Control benchmark: gymnasium policies with float, int8 and binary weights.

    PYTHONPATH=. python benchmarks/control.py                         # all tasks, all solvers, seed 0
    PYTHONPATH=. python benchmarks/control.py --task cartpole-binary --solver openai-es --seeds 0 1 2

Each run: ask/tell until the recommended policy's mean return on the 10 *validation* episodes
(fixed seeds 2**30 + i, never used for training) reaches the task's target, or the time/episode
budget runs out. The reported return is then measured once on 100 *test* episodes (fixed seeds
2**30 + 2**29 + i), also never seen in training. Printed per run: training episodes (= evaluations
x episodes per candidate), generations, wall time (this machine: 2 shared cores, timings noisy and
pessimistic), seed, validation and test return.

Solvers: any registered solver name, plus ``openai-es``: the registered ``es`` solver with the
settings of Salimans et al. 2017 (antithetic pairs, centred ranks, Adam lr 0.01, weight decay
0.005, sigma 0.02), or a local copy of that algorithm when no ``es`` is registered yet.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from blackbox.evaluator import InProcessEvaluator
from blackbox.population import Dense
from blackbox.registry import solver_names, solver_class
from blackbox.solver import Solver, Spec, build_config
from problems.control import GymConfig, GymPolicy

# name: (problem config, target validation return, seconds, {solver: option overrides})
TASKS = {
    "cartpole-binary": (dict(env="CartPole-v1", policy="binary", episodes=3), 500.0, 60, {}),
    "cartpole-int8": (dict(env="CartPole-v1", policy="int8", episodes=3), 500.0, 60, {}),
    "acrobot-binary": (dict(env="Acrobot-v1", policy="binary", arch="mlp", hidden=16, episodes=10,
                            eval_episodes=100), -80.0, 600, {"polystep": {"subspace_rank": 8}}),
    "lunar-float": (dict(env="LunarLander-v3", policy="float", arch="mlp", hidden=16, episodes=5,
                         eval_episodes=30), 200.0, 1800, {"polystep": {"subspace_rank": 8}}),
    "lunar-binary": (dict(env="LunarLander-v3", policy="binary", arch="mlp", hidden=16, episodes=5,
                          eval_episodes=30), 200.0, 1800, {"polystep": {"subspace_rank": 8}}),
}
CHECK_EVERY = {"lunar-float": 2, "lunar-binary": 2}  # validation every this many generations (default 1)

OPENAI_ES = dict(popsize=64, sigma=0.02, lr=0.01, weight_decay=0.005)


@dataclass
class LocalESConfig:
    popsize: int = 64  # candidates per generation (antithetic pairs: popsize / 2 directions)
    sigma: float = 0.02  # perturbation std
    lr: float = 0.01  # Adam step size
    weight_decay: float = 0.005  # L2 coefficient added to the gradient estimate
    beta1: float = 0.9  # Adam first-moment decay
    beta2: float = 0.999  # Adam second-moment decay


class LocalOpenAIES(Solver):
    """OpenAI-ES (Salimans et al. 2017) for this benchmark only, used while no ``es`` is registered."""

    name = "openai-es-local"
    Config = LocalESConfig
    domains = frozenset({"real"})

    def init(self, x0, seed):
        s = self.base_state(np.asarray(x0, dtype=np.float64), seed)
        s["m"] = np.zeros(self.spec.dim)
        s["v"] = np.zeros(self.spec.dim)
        return s

    def ask(self, state):
        half = self.config.popsize // 2
        eps = self.rng(state).standard_normal((half, self.spec.dim))
        x = state["x"]
        return Dense(np.concatenate([x + self.config.sigma * eps, x - self.config.sigma * eps])), state

    def tell(self, state, request, losses):
        c, half = self.config, self.config.popsize // 2
        eps = (request.x[:half] - state["x"]) / c.sigma
        ranks = np.empty(len(losses))
        ranks[np.argsort(-losses)] = np.arange(len(losses))  # highest loss gets rank 0
        w = ranks / (len(losses) - 1) - 0.5  # centred ranks in [-0.5, 0.5]; higher = better
        ascent = (w[:half] - w[half:]) @ eps / (len(losses) * c.sigma)
        g = -ascent + c.weight_decay * state["x"]  # descent direction fed to Adam
        t = int(state["generation"]) + 1
        m = c.beta1 * state["m"] + (1 - c.beta1) * g
        v = c.beta2 * state["v"] + (1 - c.beta2) * g * g
        step = c.lr * np.sqrt(1 - c.beta2 ** t) / (1 - c.beta1 ** t)
        new = dict(state, m=m, v=v, generation=t)
        new["x"] = state["x"] - step * m / (np.sqrt(v) + 1e-8)
        return new


def make_solver(name: str, problem, overrides: dict):
    """(solver, label). ``openai-es`` = the registered es with the paper's settings."""
    spec = Spec.of(problem)
    if name == "openai-es":
        if "es" in solver_names():
            from blackbox.solvers.es import ES, openai_es_config
            base = openai_es_config(popsize=OPENAI_ES["popsize"])
            opts = {**{f: getattr(base, f) for f in base.__dataclass_fields__}, **overrides}
            return ES(spec, build_config(ES.Config, opts, "es")), "OpenAI-ES (es, paper settings)"
        opts = {k: (int(v) if k == "popsize" else float(v)) for k, v in overrides.items()}
        return LocalOpenAIES(spec, LocalESConfig(**{**OPENAI_ES, **opts})), "local OpenAI-ES"
    cls = solver_class(name)
    return cls(spec, build_config(cls.Config, overrides, name)), name


def run(task: str, solver_name: str, seed: int, seconds: float | None = None, max_episodes: int | None = None,
        overrides: dict | None = None, problem_overrides: dict | None = None, verbose=False):
    cfg, target, budget, per_solver = TASKS[task]
    check_every = CHECK_EVERY.get(task, 1)
    problem = GymPolicy(GymConfig(**{**cfg, **(problem_overrides or {})}))
    solver, label = make_solver(solver_name, problem, {**per_solver.get(solver_name, {}), **(overrides or {})})
    seconds = budget if seconds is None else seconds
    evaluator = InProcessEvaluator()
    t0 = time.perf_counter()
    state = solver.init(problem.initial(np.random.default_rng(seed)), seed)
    episodes, gen, best_val, best_x, reached = 0, 0, -np.inf, None, None
    while time.perf_counter() - t0 < seconds and (max_episodes is None or episodes < max_episodes):
        request, state = solver.ask(state)
        data_seed = seed * 1_000_003 + gen
        ev = evaluator.evaluate(problem, request, data_seed)
        state = solver.tell(state, request, ev.losses)
        episodes += len(request) * problem.config.episodes
        gen += 1
        if gen % check_every == 0:
            x = solver.recommend(state)
            val = -problem.validation_loss(x)
            if val > best_val:
                best_val, best_x = val, np.array(x, copy=True)
            if verbose:
                print(f"  gen {gen:4d} episodes {episodes:8d} {time.perf_counter() - t0:7.1f}s "
                      f"train {-ev.losses.min():8.1f} val {val:8.1f}", flush=True)
            if val >= target:
                reached = time.perf_counter() - t0
                break
    wall = time.perf_counter() - t0
    test = problem.test_metrics(best_x)
    return dict(task=task, solver=label, seed=seed, dim=problem.dim, generations=gen, episodes=episodes,
                wall=wall, reached=reached, val=best_val, test=test["test_return"], test_std=test["test_return_std"],
                test_n=test["test_episodes"], target=target, x=best_x, problem=problem)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", nargs="*", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--solver", nargs="*", default=["openai-es"])
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--seconds", type=float, default=None, help="override the task's time budget")
    ap.add_argument("--set", nargs="*", default=[], help="solver options key=value")
    ap.add_argument("--problem", nargs="*", default=[], help="problem options key=value")
    ap.add_argument("--gif", default=None, help="save a GIF of each best policy with this prefix")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    overrides = dict(kv.split("=", 1) for kv in args.set)
    from blackbox.solver import coerce  # noqa: F401  (string options are converted by build_config)
    pov = {}
    for kv in args.problem:
        k, v = kv.split("=", 1)
        f = GymConfig.__dataclass_fields__[k]
        pov[k] = coerce(v, f, "gym")
    print(f"{'task':16s} {'solver':28s} {'seed':>4s} {'dim':>5s} {'gens':>5s} {'episodes':>9s} {'wall s':>7s} "
          f"{'hit s':>7s} {'val ret':>8s} {'test ret (100 fresh)':>21s} target")
    for task in args.task:
        for solver in args.solver:
            for seed in args.seeds:
                r = run(task, solver, seed, args.seconds, overrides=dict(overrides), problem_overrides=pov, verbose=args.verbose)
                hit = f"{r['reached']:7.1f}" if r["reached"] is not None else "    -  "
                print(f"{task:16s} {r['solver']:28s} {seed:4d} {r['dim']:5d} {r['generations']:5d} {r['episodes']:9d} "
                      f"{r['wall']:7.1f} {hit} {r['val']:8.1f} {r['test']:9.1f} +- {r['test_std']:6.1f}     "
                      f"{r['target']:g}", flush=True)
                if args.gif:
                    r["problem"].animate(r["x"], f"{args.gif}{task}-{solver}-{seed}.gif")


if __name__ == "__main__":
    main()
