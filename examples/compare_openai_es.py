"""Head to head: our solvers against the OpenAI-ES baseline on one problem, with the table and plots.

The problem is `staircase` in 20 dimensions: sum(floor(|x_i| / 0.5)^2), constant on cells of
width 0.5, so its gradient is zero almost everywhere and a small perturbation sees no change at
all. Every solver gets the same evaluation budget and the same seeds; each (solver, seed) cell is
one `blackbox.solve` in its own single-threaded process (`workers` at a time). The harness writes
  OUT/runs/*.json      one JSON per run (configs, seed, budget, history, metrics, versions)
  OUT/summary.md       the table: mean +- std over seeds of the final loss, evaluations, wall time
  OUT/plots/*.png      loss against evaluations and against seconds (median over seeds, min..max band)
Running it again with the same --out skips the finished cells (resume after an interruption).

    python examples/compare_openai_es.py            # full budget: 3 seeds x 10,000 evaluations
    python examples/compare_openai_es.py --small    # what CI runs (BLACKBOX_EXAMPLE_SMALL=1)

Command-line equivalent: `blackbox compare --problem staircase --problem-opt dim=20 --solver polystep
--solver es --solver snes --solver cge --solver ga --solver openai-es --seeds 3 --evals 1e4 --out DIR`.

Expected: PolyStep, SNES and the GA reach loss 0 within 1,500 evaluations; OpenAI-ES (sigma 0.02,
fixed) does not, its perturbations mostly too small to leave a stair; CGE's finite differences
(h = 1e-3) read zero, so it stays at its starting loss. The small run (1 seed, 1,500 evaluations, cells in this process)
took 2 s on the quiet 2-core development machine (14 s while shared) and printed best losses polystep 0, es 7,
snes 0, cge 218, ga 0, openai-es 176. The full run (3 seeds x 10,000 evaluations, 2 workers) took
12 s there and gave mean best losses polystep 0, es 0, snes 0, cge 172 +- 42, ga 0,
openai-es 15.7 +- 2.1.
"""
from _example import example_args

from blackbox.compare import Grid, run


def main():
    args = example_args(__doc__)
    grid = Grid.parse(problems=["staircase:dim=20"],
                      solvers=["polystep", "es", "snes", "cge", "ga", "openai-es"],
                      seeds=1 if args.small else 3, evals=1_500 if args.small else 10_000)
    run(grid, str(args.out), workers=0 if args.small else 2)  # workers=0: the cells run in this process

    print()
    print((args.out / "summary.md").read_text())
    for png in sorted((args.out / "plots").glob("*.png")):
        print(f"plot written to {png}")


if __name__ == "__main__":  # needed: the worker processes are spawned and re-import this file
    main()
