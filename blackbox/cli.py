"""The ``blackbox`` command line.

    blackbox list
    blackbox solve PROBLEM [problem options] --solver NAME --set key=value --evals N --time S ...

Each problem's options are generated from the fields of its ``Config`` dataclass (the trailing
``# comment`` of a field is its help), so a new problem needs no CLI code. A problem that wants
extra options or its own presentation names a ``cli_ext.CLIExtension`` in ``Problem.cli``.

Nothing heavy is imported until a problem subcommand actually runs; bad input exits with code 2
and one line naming the option or file.
"""
from __future__ import annotations

import dataclasses
import inspect
import os
import re
import sys
import time

import click

from . import __version__
from .cli_ext import FLOAT, INT, Number, extension_of
from .bench import bench_group
from .registry import PROBLEMS, SOLVERS, problem_class, problem_names, solver_names

USER_ERRORS = (ValueError, LookupError, FileNotFoundError, PermissionError, IsADirectoryError)
INTERRUPTED = 130  # exit code of a run stopped by Ctrl-C or SIGTERM (its checkpoint is written)




def field_docs(cls) -> dict:
    """Field -> trailing comment of its line in the Config source (inherited fields included)."""
    docs = {}
    for klass in reversed(cls.__mro__):
        try:
            src = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for m in re.finditer(r"^\s+(\w+)\s*:[^#\n]*#\s*(.+)$", src, re.M):
            docs[m.group(1)] = m.group(2).strip()
    return docs


def _param_for(f, doc: str) -> click.Parameter:
    from .solver import field_default
    default = field_default(f)
    typ = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    flag = "--" + f.name.replace("_", "-")
    if f.name == "file":
        return click.Argument(["file"], required=False, default=default, type=click.Path(dir_okay=False))
    if isinstance(default, bool) or typ.startswith("bool"):
        return click.Option([f"{flag}/--no-{f.name.replace('_', '-')}", f.name], default=default,
                            show_default=True, help=doc)
    if isinstance(default, int) or typ.startswith("int"):
        ptype = INT
    elif isinstance(default, float) or typ.startswith("float"):
        ptype = FLOAT
    else:
        ptype = click.STRING
    return click.Option([flag, f.name], type=ptype, default=default, show_default=default is not None, help=doc)


COMMON = [
    click.Option(["--solver"], default=None, help="Solver name (see `blackbox list`); default: the problem's own."),
    click.Option(["--set", "settings"], multiple=True, metavar="KEY=VALUE",
                 help="Solver option, repeatable (fields of the solver's Config)."),
    click.Option(["--evals"], type=Number(True, 1), default=None, help="Budget: evaluations (1e6 notation ok)."),
    click.Option(["--time", "seconds"], type=Number(False, 0, above=True), default=None, help="Budget: wall-clock seconds."),
    click.Option(["--target"], type=FLOAT, default=None, help="Stop once the best loss is <= this."),
    click.Option(["--seed"], type=Number(True, 0), default=0, show_default=True, help="Run seed (solver randomness, data order)."),
    click.Option(["--out"], type=click.Path(dir_okay=False), default=None, help="Write the result JSON here."),
    click.Option(["--checkpoint"], type=click.Path(dir_okay=False), default=None,
                 help="Checkpoint path (written periodically, at the end and on Ctrl-C)."),
    click.Option(["--checkpoint-every"], type=Number(False, 0, above=True), default=60.0, show_default=True, help="Seconds between checkpoints."),
    click.Option(["--resume"], type=click.Path(dir_okay=False), default=None,
                 help="Continue the run saved in this checkpoint (its problem and solver configs are used)."),
    click.Option(["--artifacts"], type=click.Path(dir_okay=False), default=None, metavar="PREFIX",
                 help="Write what the problem can show of the reported solution (gym: PREFIX.gif, an animation)."),
    click.Option(["--workers"], type=Number(True, 1), default=None, help="Evaluate in a local pool of this many processes."),
    click.Option(["--ray", "use_ray"], is_flag=True, help="Evaluate on Ray (a local instance unless --ray-address)."),
    click.Option(["--ray-address"], default=None, help="Join this Ray cluster (e.g. 'auto' or 'HOST:6379')."),
    click.Option(["--strict"], is_flag=True, help="Raise on a failed evaluation instead of counting it as the worst loss."),
    click.Option(["--progress/--no-progress"], default=None, help="Live progress line (default: on when stderr is a terminal, off in CI)."),
]


def _parse_settings(settings) -> dict:
    out = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--set")
        out[key.strip()] = value.strip()
    return out


class ProblemCommand(click.Command):
    def __init__(self, name: str):
        self.problem_name = name
        cls = problem_class(name)
        self.problem_cls = cls
        docs = field_docs(cls.Config)
        fields = [f for f in dataclasses.fields(cls.Config) if f.init]
        own = [_param_for(f, docs.get(f.name, "")) for f in fields]
        self.extension = extension_of(cls)
        extra = list(self.extension.params())
        taken = {p.name for p in COMMON}
        for p in own + extra:
            if p.name in taken:
                raise RuntimeError(f"problem {name}: option {p.name!r} clashes with a common solve option")
        self.config_names = [f.name for f in fields]
        self.extra_names = [p.name for p in extra]
        own_doc = cls.__dict__.get("__doc__")
        help_text = inspect.cleandoc(own_doc).split("\n\n")[0] if own_doc else PROBLEMS[name].summary
        super().__init__(name, params=own + extra + COMMON, callback=self.run, help=help_text,
                         short_help=PROBLEMS[name].summary)

    def run(self, **kw):
        started = time.perf_counter()  # the time budget counts from here: instance building included
        ctx = click.get_current_context()
        cls = self.problem_cls
        extra = {k: kw.pop(k) for k in self.extra_names}
        given = {k: kw.pop(k) for k in self.config_names}
        explicit = {k: v for k, v in given.items()
                    if ctx.get_parameter_source(k) != click.core.ParameterSource.DEFAULT}
        settings = _parse_settings(kw["settings"])
        from .problem import Problem, overrides
        if kw["artifacts"] and not overrides(cls, "save_artifacts", Problem):
            raise click.BadParameter(f"problem {self.problem_name} has no artifacts to write", param_hint="--artifacts")
        from . import checkpoint as ckpt
        from .driver import solve
        from .solver import build_config
        solver = kw["solver"]
        if kw["resume"]:
            _, _, meta = ckpt.load(kw["resume"])
            if meta.get("problem") != self.problem_name:
                raise ValueError(f"{kw['resume']}: checkpoint is of problem {meta.get('problem')!r}, not {self.problem_name!r}")
            for k, v in explicit.items():
                if meta["problem_config"].get(k) != v:
                    raise ValueError(f"--{k.replace('_', '-')}={v!r} differs from the checkpoint's {meta['problem_config'].get(k)!r}")
            given = meta["problem_config"]
            if solver and solver != meta["solver"]:
                raise ValueError(f"--solver {solver} differs from the checkpoint's {meta['solver']}")
            solver = meta["solver"]
            settings = {**meta["solver_config"], **settings}
        problem = _build_problem(cls, build_config(cls.Config, given, f"problem {self.problem_name}"), kw["strict"])
        budget = {"evals": kw["evals"], "seconds": kw["seconds"], "target": kw["target"]}
        ext = self.extension
        budget = ext.budget(problem, extra, budget)
        callbacks = ext.callbacks(problem, extra)
        progress = kw["progress"]
        if progress is None:
            progress = sys.stderr.isatty() and not os.environ.get("CI") and not callbacks
        # Without --checkpoint a run with --out still checkpoints beside it; that file is removed
        # again when the run ends normally, and kept (and named) when it was interrupted.
        checkpoint = kw["checkpoint"] or (os.path.splitext(kw["out"])[0] + ".ckpt.npz" if kw["out"] else None)
        wants_ckpt = ext.checkpoint_on_interrupt(extra)
        result = solve(problem, solver, settings, **budget, seed=kw["seed"], callbacks=callbacks,
                       started=started, checkpoint_on_interrupt=wants_ckpt,
                       checkpoint=checkpoint, checkpoint_every=kw["checkpoint_every"], resume=kw["resume"],
                       progress=progress, strict=kw["strict"], workers=kw["workers"], ray=kw["use_ray"],
                       ray_address=kw["ray_address"])
        if not kw["checkpoint"] and result.stopped != "interrupted" and checkpoint:
            if os.path.exists(checkpoint):
                os.unlink(checkpoint)
            result.checkpoint = None
        if kw["out"]:
            result.save(kw["out"])
        if kw["artifacts"]:
            for path in problem.save_artifacts(result.best_x, kw["artifacts"]):
                click.echo(f"artifact  {path}")
        code = _finish(ext, problem, result, extra, kw["out"])
        if code:
            ctx.exit(code)


def _finish(ext, problem, result, extra, out) -> int:
    """Print the outcome; the exit code. A problem's own code (MaxSAT Evaluation statuses) stands
    as it is; otherwise an interrupted run (Ctrl-C / SIGTERM, checkpoint written) exits 130, so
    that `solve ... && next` does not go on as if it had finished."""
    code = ext.finish(problem, result, extra, click.echo, out)
    if code is not None:
        return code
    return INTERRUPTED if result.stopped == "interrupted" else 0


def _build_problem(cls, config, strict: bool):
    """Build the problem; suspicious input (``InputWarning``, e.g. a DIMACS header whose clause
    count disagrees with the body) is one ``warning`` line on stderr, or the error under --strict."""
    import warnings

    from .inputs import InputWarning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error" if strict else "always", InputWarning)
        problem = cls(config)
    for w in caught:
        if issubclass(w.category, InputWarning):
            click.echo(f"blackbox: warning: {w.message}", err=True)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return problem


class SolveGroup(click.Group):
    """Subcommands are the registered problems, built on first use."""

    def list_commands(self, ctx):
        return problem_names()

    def get_command(self, ctx, name):
        if name not in problem_names():
            return None
        return ProblemCommand(name)

    def format_commands(self, ctx, formatter):
        rows = [(n, PROBLEMS[n].summary) for n in problem_names()]
        with formatter.section("Problems"):
            formatter.write_dl(rows)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="blackbox")
def cli():
    """blackbox: forward-only optimization for problems gradients cannot reach."""


@cli.command("list")
def list_cmd():
    """List the registered problems and solvers, one line each."""
    click.echo("problems:")
    for n in problem_names():
        click.echo(f"  {n:14s} {PROBLEMS[n].summary}")
    click.echo("solvers:")
    for n in solver_names():
        click.echo(f"  {n:14s} {SOLVERS[n].summary}")


@cli.command("compare")
@click.option("--grid", "grid_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Grid file (.toml or .json; see blackbox/compare/__init__.py). Flags given as well override its budget/seeds.")
@click.option("--problem", "problems", multiple=True, metavar="NAME[:K=V,...]", help="Problem (repeatable).")
@click.option("--problem-opt", "problem_opts", multiple=True, metavar="KEY=VALUE",
              help="Option for every problem that has it (repeatable).")
@click.option("--solver", "solvers", multiple=True, metavar="NAME[:K=V,...]", help="Solver (repeatable).")
@click.option("--set", "solver_opts", multiple=True, metavar="KEY=VALUE",
              help="Option for every solver that has it (repeatable).")
@click.option("--seeds", type=Number(True, 1), default=None, help="Seeds 0..N-1 per cell  [default: 3]")
@click.option("--evals", type=Number(True, 1), default=None, help="Evaluation budget of every cell (1e4 notation ok).")
@click.option("--time", "seconds", type=Number(False, 0, above=True), default=None, help="Wall-time budget of every cell, seconds.")
@click.option("--target", type=FLOAT, default=None, help="Stop a cell once its best loss is <= this.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output directory (reused: finished cells are skipped).")
@click.option("--workers", type=Number(True, 0), default=2, show_default=True, help="Cells run at once, one single-threaded process each (0 = in this process; with --ray: the local Ray's CPUs).")
@click.option("--ray", "use_ray", is_flag=True, help="Run the cells as one-CPU Ray tasks (a local Ray unless --ray-address).")
@click.option("--ray-address", default=None, help="Run the cells on this Ray cluster (e.g. 'auto' or 'HOST:6379').")
@click.option("--pivot", "pivots", multiple=True, metavar="METRIC",
              help="Also write out/pivot.md: problems x solvers of this metric (best_loss, wall_time, or a metric name).")
@click.option("--pin-cores", is_flag=True,
              help="Pin each worker process to a core of its own (equal CPU for cells side by side, like taskset).")
def compare_cmd(grid_file, problems, problem_opts, solvers, solver_opts, seeds, evals, seconds, target, out, workers,
                use_ray, ray_address, pivots, pin_cores):
    """Compare solvers head to head: problems x solvers x seeds, budget-matched.

    Writes out/runs/*.json (one per run), out/summary.md and out/plots/*.png; rerun the same
    command to resume after an interruption."""
    from .compare import Grid, run
    if grid_file:
        if problems or solvers or problem_opts or solver_opts:
            raise click.UsageError("give either --grid or --problem/--solver, not both")
        grid = Grid.load(grid_file)
        for name, v in (("seeds", None if seeds is None else list(range(seeds))), ("evals", evals),
                        ("seconds", seconds), ("target", target)):
            if v is not None:
                setattr(grid, name, v)
    else:
        if not problems or not solvers:
            raise click.UsageError("need at least one --problem and one --solver (or --grid FILE)")
        grid = Grid.parse(problems, solvers, seeds=3 if seeds is None else seeds, evals=evals, seconds=seconds,
                          target=target, problem_opts=list(problem_opts), solver_opts=list(solver_opts))
    report = run(grid, out, workers=workers, echo=click.echo, pivots=list(pivots) or None, ray=use_ray,
                 ray_address=ray_address, pin_cores=pin_cores)
    click.echo(f"summary   {os.path.join(out, 'summary.md')} ({len(report.runs)} runs)")
    if report.interrupted:
        click.get_current_context().exit(130)


cli.add_command(SolveGroup("solve", help="Solve a problem: blackbox solve PROBLEM [options]. "
                           "`blackbox solve PROBLEM --help` lists the problem's own options."))
cli.add_command(bench_group)


def main(argv=None) -> None:
    try:
        rc = cli.main(args=argv, prog_name="blackbox", standalone_mode=False)
        if isinstance(rc, int) and rc:  # ctx.exit(code) returns the code when not standalone
            sys.exit(rc)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("blackbox: aborted", err=True)
        sys.exit(INTERRUPTED)
    except click.UsageError as e:  # one line, exit 2
        where = e.ctx.command_path if e.ctx else "blackbox"
        click.echo(f"{where}: error: {e.format_message()}", err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"blackbox: error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except USER_ERRORS as e:
        click.echo(f"blackbox: error: {e}", err=True)
        sys.exit(2)
    except MemoryError as e:  # the size checks missed a case: still one line, not a traceback
        click.echo(f"blackbox: error: out of memory ({e or 'MemoryError'}); use a smaller size or budget", err=True)
        sys.exit(2)
