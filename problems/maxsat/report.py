"""Command-line pieces of the MAX-SAT problem (``MaxSATCLI``, its ``cli_ext.CLIExtension``).

``blackbox solve maxsat [FILE] --flips N --model FILE --format text|maxsat-eval``:
  * text (default): a final summary (instance, solver, flips, wall time, cost, satisfied fraction);
  * maxsat-eval: the MaxSAT Evaluation output convention: an ``o COST`` line on every improvement,
    one ``s`` line (OPTIMUM FOUND / SATISFIABLE / UNSATISFIABLE / UNKNOWN), a ``v`` bitstring line,
    and exit code 30 / 10 / 20 / 0. SIGTERM or Ctrl-C stops the run at the end of the current
    solver slice (well under a second) and still prints the best assignment.
``--model FILE`` writes the best assignment as an MSE ``v`` line (one 0/1 character per variable).
"""
from __future__ import annotations

import sys

import numpy as np

from blackbox.cli_ext import CLIExtension

EXIT = {"OPTIMUM FOUND": 30, "SATISFIABLE": 10, "UNSATISFIABLE": 20, "UNKNOWN": 0}


def cli_params():
    import click

    from blackbox.cli_ext import INT
    return [
        click.Option(["--flips"], type=INT, default=None, help="Budget: variable flips (= evaluations; 1e9 notation ok)."),
        click.Option(["--model"], type=click.Path(dir_okay=False), default=None,
                     help="Write the best assignment here as an MSE 'v' line (one 0/1 per variable)."),
        click.Option(["--format", "output_format"], type=click.Choice(["text", "maxsat-eval"]), default="text",
                     show_default=True, help="Output: a summary, or the MaxSAT Evaluation o/s/v lines and exit codes."),
    ]


def cli_budget(problem, extra, budget):
    budget = dict(budget)
    if extra.get("flips") is not None:
        if budget.get("evals") is not None:
            raise ValueError("give --flips or --evals, not both (a flip is one evaluation)")
        budget["evals"] = extra["flips"]
    if all(budget.get(k) is None for k in ("evals", "seconds", "target")):
        budget["seconds"] = problem.default_budget["seconds"]
    return budget


def exact_best(problem, state, loss: float):
    """(cost, hard violated) of the best so far: exact from an ``sls`` state, else from the loss."""
    if isinstance(state, dict) and "ucost" in state and state.get("ready"):
        w = int(state["best_walker"])
        return int(state["ucost"][w, 1]) + problem.empty_soft_weight, int(state["ctr"][w, 2]) + problem.empty_hard
    hv = int(loss // problem.hard_penalty) if np.isfinite(loss) else 1
    return int(round(loss - hv * problem.hard_penalty)), hv


class OLines:
    """Driver callback printing ``o COST`` whenever the best feasible cost improves."""

    def __init__(self, problem, out=None):
        self.problem, self.out = problem, out or sys.stdout
        self.last = None

    def __call__(self, tick):
        cost, hv = exact_best(self.problem, tick.state, tick.best_loss)
        if hv == 0 and (self.last is None or cost < self.last):
            self.last = cost
            print(f"o {cost}", file=self.out, flush=True)
        return False


def cli_callbacks(problem, extra):
    if extra.get("output_format") == "maxsat-eval":
        cb = OLines(problem)
        problem._olines = cb
        return [cb]
    return []


def bitstring(x) -> str:
    return (np.asarray(x, dtype=np.uint8) + 48).tobytes().decode()


def status(problem, cost: int, hv: int) -> str:
    if problem.empty_hard:
        return "UNSATISFIABLE"  # an empty hard clause can never be satisfied
    if hv:
        return "UNKNOWN"
    if cost == problem.empty_soft_weight:  # every non-empty soft clause satisfied: a lower bound met
        return "OPTIMUM FOUND"
    return "SATISFIABLE"


def maxsat_eval_output(problem, x, echo=print) -> int:
    """Print the final o/s/v lines of the MaxSAT Evaluation convention; return the exit code."""
    cost, hv = problem.cost(x)
    st = status(problem, cost, hv)
    last = getattr(getattr(problem, "_olines", None), "last", None)
    if hv == 0 and last != cost:
        echo(f"o {cost}")
    echo(f"s {st}")
    if st != "UNSATISFIABLE":
        echo(f"v {bitstring(x)}")
    return EXIT[st]


def summary(problem, result) -> list[str]:
    m = result.metrics
    inst = problem.instance
    rate = result.evals / result.wall_time if result.wall_time > 0 else 0.0
    unit = "flips" if result.solver == "sls" else "evaluations"  # one sls evaluation is one flip
    lines = [
        f"instance  {inst.describe()}",
        f"solver    {result.solver}  seed {result.seed}",
        f"stopped   {result.stopped} after {result.evals:,} {unit} in {result.wall_time:.2f} s ({rate / 1e6:.3g} M {unit}/s)",
        f"cost      {m['cost']}" + ("" if m["feasible"] else f"  INFEASIBLE: {m['hard_violated']} hard clauses violated"),
        f"satisfied {m['satisfied_fraction'] * 100:.4f}% of {inst.nclauses:,} clauses ({m['unsatisfied']:,} unsatisfied)",
    ]
    return lines


def write_model(path: str, x) -> None:
    with open(path, "w") as f:
        f.write(f"v {bitstring(x)}\n")


def cli_finish(problem, result, extra, echo):
    x = result.best_x
    if extra.get("model"):
        write_model(extra["model"], x)
    if extra.get("output_format") == "maxsat-eval":
        return maxsat_eval_output(problem, x, echo)
    lines = summary(problem, result)
    if extra.get("model"):
        lines.append(f"model     {extra['model']}")
    if result.checkpoint:
        lines.append(f"checkpoint {result.checkpoint}")
    echo("\n".join(lines))
    return None


def live_metrics(problem, best_loss: float) -> dict:
    """Progress-line fields: satisfied fraction and unsatisfied count (unit weights) or cost."""
    w0 = float(problem.w[0]) if problem.w.size else 1.0
    if problem.unit_weights and problem.nclauses and w0 > 0:
        unsat = int(round((best_loss - float(problem.empty_soft_weight)) / w0)) + problem.n_empty
        return {"sat": f"{100 * (1 - unsat / problem.nclauses):.4f}%", "unsat": f"{unsat:,}"}
    cost, hv = (best_loss, 0) if best_loss < problem.hard_penalty else (None, int(best_loss // problem.hard_penalty))
    return {"cost": f"{cost:.10g}"} if cost is not None else {"hard_violated": hv}


class MaxSATCLI(CLIExtension):
    """``--flips``, ``--model`` and ``--format`` for ``blackbox solve maxsat``."""

    def params(self):
        return cli_params()

    def budget(self, problem, extra, budget):
        return cli_budget(problem, extra, budget)

    def callbacks(self, problem, extra):
        return cli_callbacks(problem, extra)

    def checkpoint_on_interrupt(self, extra):
        """Under the MaxSAT Evaluation harness a SIGTERM means 'answer now', not 'save 100 MB'."""
        return extra.get("output_format") != "maxsat-eval"

    def finish(self, problem, result, extra, echo, out):
        return cli_finish(problem, result, extra, echo)
