"""A CartPole policy with binary weights, trained and saved as an animated GIF.

The policy is a small MLP (4 -> 8 -> 2) whose weights are +-1 (times a fixed per-layer scale 1/sqrt(fan_in)):
the solution is one bit per weight (`encoding="bits"`, a binary domain), so no gradient exists and
the search is over 58 bits. The loss of a candidate is minus its mean return over 3 training
episodes; every candidate of a generation plays the same episodes. The reported policy is the one
with the best return on separate validation episodes; its test return is measured once, on fresh
test episodes. The solver is the GA (bit-flip children of elite parents); try `--solver es` (ES on
logits) or `--solver polystep` as well.

    python examples/gym_policy.py            # full budget
    python examples/gym_policy.py --small    # what CI runs (BLACKBOX_EXAMPLE_SMALL=1)

Command-line equivalent: `blackbox solve gym --policy binary --arch mlp --hidden 8 --encoding bits
--solver ga --evals 1000 --out run.json --artifacts run` (the result JSON and run.gif; in Python the
animation is `problem.animate(x, path)`, as below).

Expected (full run, 1000 evaluations; measured on the 2-core development machine while shared with
other jobs: 26 s in all, 6 s of it training, the rest the 100 test episodes and the GIF):
    a random initial policy returns 100.4 on the validation episodes
    ga: 1000 evaluations in 5.7 s, best training return 500.0
    validation return 500.0 over 5 episodes (selected by validation loss)
    test return 500.0 +- 0.0 over 100 fresh episodes
500 is the CartPole-v1 maximum. The small run (150 evaluations; 3 s quiet, about 15 s shared; mostly the GIF) prints
validation return 333.4 and test return 311.9 over 10 episodes.
"""
import numpy as np

from _example import example_args

import blackbox
from blackbox.problems.control import GymConfig, GymPolicy

args = example_args(__doc__, lambda ap: ap.add_argument("--solver", default="ga"))

problem = GymPolicy(GymConfig(env="CartPole-v1", policy="binary", encoding="bits", arch="mlp", hidden=8,
                              episodes=3, eval_episodes=5, test_episodes=10 if args.small else 100))
print(problem.describe())
before = problem.metrics(problem.initial(np.random.default_rng(0)))["return"]
print(f"a random initial policy returns {before:.1f} on the validation episodes")
result = blackbox.solve(problem, args.solver, evals=150 if args.small else 1000, seed=0)
print(f"{result.solver}: {result.evals} evaluations in {result.wall_time:.1f} s, best training return "
      f"{-result.best_loss:.1f}")
print(f"validation return {result.metrics['return']:.1f} over {result.metrics['episodes']} episodes "
      f"(selected by {result.selected_by})")
print(f"test return {result.test_metrics['test_return']:.1f} +- {result.test_metrics['test_return_std']:.1f} "
      f"over {result.test_metrics['test_episodes']} fresh episodes")
gif = problem.animate(result.best_x, args.out / "cartpole_binary.gif", max_frames=60 if args.small else 300)
print(f"animation written to {gif}")
