"""Command-line extensions: what a problem adds to ``blackbox solve PROBLEM`` beyond its Config.

Most problems need none: their options are generated from their ``Config`` dataclass. A problem
that wants extra options or its own presentation (MAX-SAT's ``--flips``, ``--model`` and the MaxSAT
Evaluation output) names a ``CLIExtension`` subclass in ``Problem.cli`` ("module:Class"); the CLI
loads it only when that problem's subcommand is built, so the adapter itself never imports the CLI.
Every hook is declared here with the default the CLI uses for problems without an extension.
"""
from __future__ import annotations

import importlib
import math

import click


class Number(click.ParamType):
    """An int or float option that also takes 1e6-style notation. NaN is never a meaningful budget,
    size or seed, so it is refused (an integer must also be finite); ``minimum`` (inclusive, or
    exclusive with ``above``) refuses out-of-range values with the option's name in the message."""

    def __init__(self, integer: bool, minimum: float | None = None, above: bool = False):
        self.integer, self.minimum, self.above = integer, minimum, above
        self.name = "integer" if integer else "number"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            v = value
        else:
            try:
                v = float(str(value).replace("_", ""))
            except ValueError:
                self.fail(f"{value!r} is not a number", param, ctx)
        if math.isnan(v) or (self.integer and math.isinf(v)):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.integer:
            if v != int(v):
                self.fail(f"{value!r} is not a whole number", param, ctx)
            v = int(v)
        else:
            v = float(v)
        if self.minimum is not None and (v <= self.minimum if self.above else v < self.minimum):
            self.fail(f"{value!r} must be {'>' if self.above else '>='} {self.minimum:g}", param, ctx)
        return v


INT, FLOAT = Number(True), Number(False)


def echo_summary(result, out=None, echo=click.echo) -> None:
    """The generic end-of-run summary: stop reason, best loss, metrics, failures, files."""
    r = result
    step = r.solver_config.get("sigma0")  # the initial step used (taken from the domain when not set)
    lines = [f"problem   {r.problem}  (dim {r.best_x.size})",
             f"solver    {r.solver_choice or r.solver}  seed {r.seed}"
             + (f"  sigma0 {step:g}" if isinstance(step, (int, float)) and not isinstance(step, bool) else ""),
             f"stopped   {r.stopped} after {r.evals:,} evaluations, {r.generations:,} generations, {r.wall_time:.2f} s",
             f"best loss {r.best_loss:.10g}  (reported solution selected by {r.selected_by})"]
    for title, d in (("metrics", r.metrics), ("test", r.test_metrics)):
        if d:
            lines.append(f"{title:9s} " + "  ".join(f"{k}={_fmt(v)}" for k, v in d.items()))
    if r.failures:
        lines.append(f"failures  {r.failures} evaluations failed (worst loss given); first: {r.first_error}")
    if r.checkpoint:
        lines.append(f"checkpoint {r.checkpoint}")
    if out:
        lines.append(f"result    {out}")
    echo("\n".join(lines))


def _fmt(v):
    return f"{v:.6g}" if isinstance(v, float) else str(v)


class CLIExtension:
    """The default: no extra options, the generic summary, checkpoints on interrupt."""

    def params(self) -> list:
        """Extra click options of the problem's subcommand; their values arrive as ``extra``."""
        return []

    def budget(self, problem, extra: dict, budget: dict) -> dict:
        """The run's budget ({"evals", "seconds", "target"}) given the extra options (--flips)."""
        return budget

    def callbacks(self, problem, extra: dict) -> list:
        """Driver callbacks for the run (MaxSAT Evaluation ``o`` lines, say)."""
        return []

    def checkpoint_on_interrupt(self, extra: dict) -> bool:
        """False: an interrupted run writes no checkpoint (under a harness that means 'answer now')."""
        return True

    def finish(self, problem, result, extra: dict, echo, out: str | None) -> int | None:
        """Present the result (``out``: where its JSON was written); return an exit code that
        stands whatever stopped the run (MaxSAT Evaluation statuses), or None: exit 0, or 130
        when the run was interrupted. The default prints the generic summary."""
        echo_summary(result, out, echo)
        return None


def extension_of(problem_cls) -> CLIExtension:
    """The problem class's CLI extension (the default one when it names none)."""
    if not problem_cls.cli:
        return CLIExtension()
    module, _, attr = problem_cls.cli.partition(":")
    return getattr(importlib.import_module(module), attr)()
