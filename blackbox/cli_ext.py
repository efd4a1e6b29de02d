"""Command-line extensions: what a problem adds to ``blackbox solve PROBLEM`` beyond its Config.

Most problems need none: their options are generated from their ``Config`` dataclass. A problem
that wants extra options or its own presentation (MAX-SAT's ``--flips``, ``--model`` and the MaxSAT
Evaluation output) names a ``CLIExtension`` subclass in ``Problem.cli`` ("module:Class"); the CLI
loads it only when that problem's subcommand is built, so the adapter itself never imports the CLI.
Every hook is declared here with the default the CLI uses for problems without an extension.
"""
from __future__ import annotations

import importlib

import click


class Number(click.ParamType):
    """An int or float option that also takes 1e6-style notation."""

    def __init__(self, integer: bool):
        self.integer = integer
        self.name = "integer" if integer else "number"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value) if self.integer else float(value)
        try:
            v = float(str(value).replace("_", ""))
        except ValueError:
            self.fail(f"{value!r} is not a number", param, ctx)
        if self.integer:
            if v != int(v):
                self.fail(f"{value!r} is not a whole number", param, ctx)
            return int(v)
        return v


INT, FLOAT = Number(True), Number(False)


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

    def finish(self, problem, result, extra: dict, echo) -> int | None:
        """Present the result; return an exit code, or None for the generic summary."""
        return None


def extension_of(problem_cls) -> CLIExtension:
    """The problem class's CLI extension (the default one when it names none)."""
    if not problem_cls.cli:
        return CLIExtension()
    module, _, attr = problem_cls.cli.partition(":")
    return getattr(importlib.import_module(module), attr)()
