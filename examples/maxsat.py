"""MAX-SAT from Python: a generated 1,000,000-variable random 3-SAT instance and a weighted WCNF file.

  1. Random 3-SAT with 1M variables at clause ratio 4.2 (4.2M clauses), generated from a seed, solved
     by the native local search `sls` (probSAT) under a wall-clock budget.
  2. A weighted MaxSAT file (old WCNF format, from the shared data folder) with a known optimum,
     solved by `sls` with the optimum as target and, for contrast, by the generic PolyStep (which
     sees only losses; it scores its bit-flip candidates through the problem's `deltas` capability).
Then it reads the result: cost, satisfied fraction, flips per second, and writes the assignment as
a MaxSAT Evaluation `v` line to OUT/model.txt.

    python examples/maxsat.py            # full budget
    python examples/maxsat.py --small    # what CI runs (BLACKBOX_EXAMPLE_SMALL=1)

The same from the command line: `blackbox solve maxsat --vars 1e6 --time 60` and
`blackbox solve maxsat FILE.wcnf`.

Expected (full run, measured on the 2-core development machine while shared with other jobs: 127 s
in all, of which 60 s sls on the 1M instance and 60 s PolyStep on the file; a quiet machine flips
faster):
    random-3sat-n1000000-r4.2-s0: 8,060,058 flips in 60 s, 11,031 of 4,200,000 clauses
    unsatisfied (99.7374 % satisfied)
    frb20-11-1 (optimum 200): sls cost 200 in 0.4 s (stopped by target); polystep cost 206 after
    1.8 M evaluations (60 s)
The small run (20,000 variables, 2 M flips; frb10-6-1, optimum 50, 100,000 evaluations) takes
about 5 s once the numba kernels are compiled (the first run in a fresh checkout compiles them:
about a minute more) and prints 86 to 96 of 84,000 clauses unsatisfied (the walkers run in
parallel threads, so the figure depends on the thread count), sls cost 50 (optimum reached),
polystep 52.
"""
from _example import data_dir, example_args

import blackbox
from blackbox.problems.maxsat import MaxSAT, MaxSATConfig
from blackbox.problems.maxsat.report import summary, write_model

args = example_args(__doc__)

# -- 1. a generated instance ---------------------------------------------------------------------
config = MaxSATConfig(vars=20_000 if args.small else 1_000_000, ratio=4.2, k=3, instance_seed=0)
problem = MaxSAT(config)  # generated here, from instance_seed (seconds for 1M variables)
# budget: 60 s in the full run; the small run counts flips instead (the same output on any machine,
# and numba's first compile in a fresh checkout cannot eat the budget)
budget = {"evals": 2_000_000} if args.small else {"seconds": 60}
result = blackbox.solve(problem, "sls", seed=0, **budget)
print("\n".join(summary(problem, result)))  # instance, solver, stop reason and speed, cost, satisfied
m = result.metrics  # the same figures as a dict
print(f"-> {m['unsatisfied']:,} of {problem.nclauses:,} clauses unsatisfied "
      f"({m['satisfied_fraction']:.4%} satisfied), {result.evals:,} flips in {result.wall_time:.1f} s\n")

# -- 2. a weighted file with a known optimum -----------------------------------------------------
name = "frb10-6-1" if args.small else "frb20-11-1"
path = data_dir() / "maxsat" / "weighted_maxsat_frb" / f"{name}.wcnf"
problem = MaxSAT(MaxSATConfig(file=str(path)))
# this format's first line is "c opt <best satisfied weight>"; the optimum cost is the rest
opt_satisfied = int(open(path).readline().split()[2])
optimum = int(problem.instance.weights.sum()) - opt_satisfied
print(f"{name}: {problem.dim} variables, {problem.nclauses} weighted clauses, known optimum cost {optimum}")

for solver, config in (("sls", {}), ("polystep", {"particle_size": 1, "horizon": 200})):
    budget = {"evals": 100_000} if args.small else {"evals": 2_000_000, "seconds": 60}
    result = blackbox.solve(problem, solver, config, target=optimum, seed=0, **budget)
    cost = result.metrics["cost"]  # exact integer cost (the loss is the same number as a float)
    print(f"  {solver:8s} cost {cost} (optimum {optimum}) feasible={result.metrics['feasible']} "
          f"after {result.evals:,} evaluations in {result.wall_time:.2f} s, stopped by {result.stopped}")
    if solver == "sls":
        write_model(args.out / "model.txt", result.best_x)
print(f"assignment written to {args.out / 'model.txt'}")
