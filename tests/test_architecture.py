"""The structure the architecture step (issue 13) set up, checked so that it stays.

* one top-level import package, ``blackbox`` (problems/ and baselines/ install under it);
* every hook the driver, CLI, evaluator or compare harness calls on a Problem or a Solver is
  declared on the base class (no hook discovered with getattr/hasattr);
* adapters never import the CLI or the driver;
* functions stay short (<= 60 lines) and narrow (<= 8 parameters, except numba kernels and entry
  points whose options are keyword-only);
* a name is registered once.
"""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from blackbox.problem import Problem
from blackbox.registry import register_problem, register_solver
from blackbox.solver import Solver

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("blackbox", "problems", "baselines")
# files of the run machinery: what they call on problems and solvers must be declared hooks
CALLERS = ["blackbox/driver.py", "blackbox/observers.py", "blackbox/run_record.py", "blackbox/evaluator.py",
           "blackbox/cli.py", "blackbox/cli_ext.py", "blackbox/pool.py", "blackbox/ray_evaluator.py",
           *[f"blackbox/compare/{n}" for n in os.listdir(ROOT / "blackbox" / "compare") if n.endswith(".py")]]


def python_files(*folders):
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def attribute_uses(path: Path, owner: str) -> set[str]:
    """Attributes read off a variable named ``owner`` (``problem.x``, ``loop.problem.x``, ...)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            base = node.value
            if (isinstance(base, ast.Name) and base.id == owner) or \
                    (isinstance(base, ast.Attribute) and base.attr == owner):
                names.add(node.attr)
    return names


@pytest.mark.parametrize("owner,base", [("problem", Problem), ("solver", Solver)])
def test_the_run_machinery_calls_only_declared_hooks(owner, base):
    undeclared = {}
    for rel in CALLERS:
        missing = attribute_uses(ROOT / rel, owner) - set(dir(base)) - set(base.__annotations__)
        if missing:
            undeclared[rel] = sorted(missing)
    assert not undeclared, f"declare these on {base.__name__} (with a default and a docstring): {undeclared}"


def test_no_hook_is_discovered_with_getattr_or_hasattr():
    pattern = re.compile(r"(getattr|hasattr)\((loop\.|self\.)?(problem|solver)\b")
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in python_files("blackbox")
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, hits


def test_adapters_import_neither_the_cli_nor_the_driver():
    pattern = re.compile(r"^\s*(from|import)\s+blackbox\.(cli|driver)\b|^\s*from\s+\.+(cli|driver)\s+import", re.M)
    hits = [str(p.relative_to(ROOT)) for p in python_files("problems", "baselines") if pattern.search(p.read_text())]
    assert not hits, hits


def _is_kernel(fn) -> bool:
    return any("jit" in ast.unparse(d) for d in fn.decorator_list)


def test_functions_are_short_and_narrow():
    long, wide = [], []
    for path in python_files(*PACKAGES):
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or _is_kernel(fn):
                continue
            where = f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name}"
            if fn.end_lineno - fn.lineno + 1 > 60:
                long.append(where)
            a = fn.args
            positional = [x.arg for x in a.posonlyargs + a.args if x.arg not in ("self", "cls")]
            cli_command = any("click" in ast.unparse(d) or "command" in ast.unparse(d) for d in fn.decorator_list)
            if len(positional) > 8 and not cli_command:
                wide.append(where)
            elif len(positional) + len(a.kwonlyargs) > 8 and not (a.kwonlyargs or cli_command):
                wide.append(where)
    assert not long, f"over 60 lines: {long}"
    assert not wide, f"over 8 parameters (make options keyword-only): {wide}"


def test_registering_a_taken_name_raises_naming_both():
    with pytest.raises(ValueError, match=r"'polystep' is already registered \(blackbox\.solvers\.polystep:PolyStep\).*mine:X"):
        register_solver("polystep", "mine:X")
    with pytest.raises(ValueError, match=r"'sphere' is already registered .*mine:Y"):
        register_problem("sphere", "mine:Y")


def test_a_built_wheel_installs_one_top_level_package_that_works(tmp_path):
    """`pip install .` must add `blackbox` only (PyPI's `baselines` is OpenAI Baselines), and the
    installed package (not the checkout) must list, solve and compare."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    (wheel,) = wheels.glob("blackbox-*.whl")
    tops = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist() if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"blackbox"}, tops
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python3*/site-packages"))
    deps = next(p for p in map(Path, sys.path) if p.name == "site-packages" and (p / "numpy").is_dir())
    (site / "deps.pth").write_text(str(deps) + "\n")  # this environment's dependencies, not its blackbox
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(wheel)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = lambda *args: subprocess.run([str(venv / "bin" / "blackbox"), *args], cwd=tmp_path, env=env,  # noqa: E731
                                       capture_output=True, text=True, timeout=300)
    listed = run("list")
    assert listed.returncode == 0 and "maxsat" in listed.stdout and "openai-es" in listed.stdout, listed.stderr
    solved = run("solve", "maxsat", "--vars", "200", "--flips", "2e4")
    assert solved.returncode == 0 and "satisfied" in solved.stdout, solved.stdout + solved.stderr
    compared = run("compare", "--problem", "sphere:dim=3", "--solver", "random", "--solver", "openai-es",
                   "--seeds", "1", "--evals", "64", "--workers", "0", "--out", str(tmp_path / "cmp"))
    assert compared.returncode == 0, compared.stdout + compared.stderr
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import blackbox.problems as p; print(p.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60).stdout
    assert str(site) in where, where
    for example in ("custom_simulator.py", "maxsat.py", "compare_openai_es.py"):  # the examples run from the install
        ran = subprocess.run([str(venv / "bin" / "python"), str(ROOT / "examples" / example), "--small",
                              "--out", str(tmp_path / example)], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=300)
        assert ran.returncode == 0, example + ": " + ran.stdout[-500:] + ran.stderr[-2000:]
