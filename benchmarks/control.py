"""Control benchmark: gymnasium policies with float, int8 and binary weights.

    PYTHONPATH=. python benchmarks/control.py                # all tasks, polystep and openai-es, seed 0
    PYTHONPATH=. python benchmarks/control.py --task cartpole-binary --solver openai-es --seeds 0 1 2

Each run: ask/tell until the recommended policy's mean return on the task's *validation* episodes
(30 or 100, fixed seeds 2**30 + i, never used for training) clears the task's target by two
standard errors of that mean (a margin against stopping on a lucky validation draw), or the time
budget runs out; the policy with the best validation mean is kept. Tasks in ``FINALISTS`` keep
the best few instead and re-rank them at the end on further validation episodes (the seeds after
the first validation set), so the pick is not simply the luckiest of a thousand noisy means. The
reported return is then measured once on 100 *test* episodes (fixed seeds 2**30 + 2**29 + i),
also never seen in training. Printed per run: training episodes (= evaluations
x episodes per candidate), generations, wall time (this machine: 2 shared cores, timings noisy and
pessimistic), seed, validation and test return.

Solvers: any registered solver name, plus ``openai-es``: the registered ``es`` solver with the
settings of Salimans et al. 2017 (antithetic pairs, centred ranks, Adam lr 0.01, weight decay
0.005, sigma 0.02; ``openai_es_config``) and 64 candidates per generation.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from blackbox.evaluator import InProcessEvaluator
from blackbox.registry import solver_class
from blackbox.solver import Spec, build_config
from blackbox.problems.control import GymConfig, GymPolicy

# name: (problem config, target validation return, seconds, {solver: option overrides})
TASKS = {
    "cartpole-binary": (dict(env="CartPole-v1", policy="binary", episodes=3), 500.0, 60, {}),
    "cartpole-int8": (dict(env="CartPole-v1", policy="int8", episodes=3), 500.0, 60, {}),
    # normalize: binary weights all have the same magnitude, so without fixed observation statistics the
    # angular velocities (up to 4 pi and 9 pi) swamp the cos/sin inputs; with them 3/3 seeds reach -80
    "acrobot-binary": (dict(env="Acrobot-v1", policy="binary", arch="mlp", hidden=16, episodes=10,
                            eval_episodes=100, normalize=True), -80.0, 600, {"polystep": {"subspace_rank": 8}}),
    "lunar-float": (dict(env="LunarLander-v3", policy="float", arch="mlp", hidden=16, episodes=5,
                         eval_episodes=30), 200.0, 1800, {"polystep": {"subspace_rank": 8}}),
    "lunar-binary": (dict(env="LunarLander-v3", policy="binary", arch="mlp", hidden=16, episodes=5,
                          eval_episodes=30), 200.0, 1800, {"polystep": {"subspace_rank": 8}}),
}
CHECK_EVERY = {"lunar-float": 2, "lunar-binary": 2}  # validation every this many generations (default 1)
# task: (finalists, episodes): at the end the best `finalists` policies by validation mean are re-ranked on
# `episodes` further validation episodes (seeds after the first validation set); default: no re-ranking
FINALISTS = {"acrobot-binary": (5, 400)}

OPENAI_POPSIZE = 64  # the paper's other settings come from blackbox.solvers.es.openai_es_config


def make_solver(name: str, problem, overrides: dict):
    """(solver, label). ``openai-es`` = the registered es with the paper's settings."""
    spec = Spec.of(problem)
    if name == "openai-es":
        from blackbox.solvers.es import ES, openai_es_config
        base = openai_es_config(popsize=OPENAI_POPSIZE)
        opts = {**{f: getattr(base, f) for f in base.__dataclass_fields__}, **overrides}
        return ES(spec, build_config(ES.Config, opts, "es")), "OpenAI-ES (es, paper settings)"
    cls = solver_class(name)
    return cls(spec, build_config(cls.Config, overrides, name)), name


def run(task: str, solver_name: str, seed: int, seconds: float | None = None, max_episodes: int | None = None,
        overrides: dict | None = None, problem_overrides: dict | None = None, verbose=False):
    cfg, target, budget, per_solver = TASKS[task]
    check_every = CHECK_EVERY.get(task, 1)
    problem = GymPolicy(build_config(GymConfig, {**cfg, **(problem_overrides or {})}, "gym"))
    solver, label = make_solver(solver_name, problem, {**per_solver.get(solver_name, {}), **(overrides or {})})
    seconds = budget if seconds is None else seconds
    evaluator = InProcessEvaluator()
    t0 = time.perf_counter()
    state = solver.init(problem.initial(np.random.default_rng(seed)), seed)
    episodes, val_episodes, gen, best_val, best_x, reached = 0, 0, 0, -np.inf, None, None
    finalists, final_episodes = FINALISTS.get(task, (0, 0))
    top = []  # the best ``finalists`` (validation mean, policy) seen
    while time.perf_counter() - t0 < seconds and (max_episodes is None or episodes < max_episodes):
        request, state = solver.ask(state)
        data_seed = seed * 1_000_003 + gen
        ev = evaluator.evaluate(problem, request, data_seed)
        state = solver.tell(state, request, ev.losses)
        episodes += len(request) * problem.config.episodes
        gen += 1
        if gen % check_every == 0:
            x = solver.recommend(state)
            m = problem.metrics(x)  # validation episodes: fixed seeds, disjoint from training and test
            val_episodes += m["episodes"]
            val, se = m["return"], m["return_std"] / np.sqrt(m["episodes"])
            if val > best_val:
                best_val, best_x = val, np.array(x, copy=True)
            if finalists and (len(top) < finalists or val > top[-1][0]):
                top = sorted(top + [(val, np.array(x, copy=True))], key=lambda t: -t[0])[:finalists]
            if verbose:
                print(f"  gen {gen:4d} episodes {episodes:8d} {time.perf_counter() - t0:7.1f}s "
                      f"train {-ev.losses.min():8.1f} val {val:8.1f} +- {se:5.1f}", flush=True)
            if val - 2 * se >= target:  # clear of the target by two standard errors of the validation mean
                reached = time.perf_counter() - t0
                break
    first_val = best_val
    if finalists and top:  # re-rank the best few on a second, disjoint validation draw
        r = problem.extra_validation_returns(np.stack([x for _, x in top]), final_episodes).mean(axis=1)
        val_episodes += len(top) * final_episodes
        k = int(np.argmax(r))
        best_val, best_x = float(r[k]), top[k][1]
    wall = time.perf_counter() - t0
    test = problem.test_metrics(best_x)
    return dict(task=task, solver=label, seed=seed, dim=problem.dim, generations=gen, episodes=episodes,
                val_episodes=val_episodes, first_val=first_val,
                wall=wall, reached=reached, val=best_val, test=test["test_return"], test_std=test["test_return_std"],
                test_n=test["test_episodes"], target=target, x=best_x, problem=problem)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", nargs="*", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--solver", nargs="*", default=["polystep", "openai-es"])
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--seconds", type=float, default=None, help="override the task's time budget")
    ap.add_argument("--set", nargs="*", default=[], help="solver options key=value")
    ap.add_argument("--problem", nargs="*", default=[], help="problem options key=value")
    ap.add_argument("--gif", default=None, help="save a GIF of each best policy with this prefix")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    overrides = dict(kv.split("=", 1) for kv in args.set)  # strings: build_config converts them
    pov = dict(kv.split("=", 1) for kv in args.problem)
    print("episodes = training episodes; val = validation episodes (fixed seeds 2**30+i) spent on the stop checks;")
    print("val1 = best mean on the first validation set; val ret = the selected policy's validation mean (after"
          " re-ranking finalists on further validation episodes where the task does);")
    print("test = 100 fresh episodes (seeds 2**29+2**30+i) of the best-validated policy, never used in training.")
    print(f"{'task':16s} {'solver':31s} {'seed':>4s} {'dim':>5s} {'gens':>5s} {'episodes':>9s} {'val':>6s} "
          f"{'wall s':>7s} {'hit s':>7s} {'val1':>6s} {'val ret':>8s} {'test ret':>18s}  target")
    for task in args.task:
        for solver in args.solver:
            for seed in args.seeds:
                r = run(task, solver, seed, args.seconds, overrides=dict(overrides), problem_overrides=pov, verbose=args.verbose)
                hit = f"{r['reached']:7.1f}" if r["reached"] is not None else "    -  "
                print(f"{task:16s} {r['solver']:31s} {seed:4d} {r['dim']:5d} {r['generations']:5d} {r['episodes']:9d} "
                      f"{r['val_episodes']:6d} {r['wall']:7.1f} {hit} {r['first_val']:6.1f} {r['val']:8.1f} {r['test']:8.1f} +- {r['test_std']:5.1f}"
                      f"  {r['target']:g}", flush=True)
                if args.gif:
                    r["problem"].animate(r["x"], f"{args.gif}{task}-{solver}-{seed}.gif")


if __name__ == "__main__":
    main()
