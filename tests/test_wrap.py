"""The three ways to wrap a user's simulator."""
import stat
import sys

import numpy as np
import pytest

import blackbox
from blackbox import problem_from_command, problem_from_function, problem_from_vectorized


def test_function_of_one_solution():
    p = problem_from_function(lambda x: float(np.sum((x - 1) ** 2)), dim=4)
    r = blackbox.solve(p, "random", evals=4000, seed=0)
    assert r.best_loss < 0.5 and r.problem == "<lambda>"


def test_vectorized_function_and_x0():
    p = problem_from_vectorized(lambda X: np.abs(X).sum(axis=1), dim=3, x0=[1, 2, 3], name="l1")
    assert list(p.initial(np.random.default_rng(0))) == [1, 2, 3]
    r = blackbox.solve(p, "random", evals=3000, seed=0)
    assert r.best_loss < 1.0 and r.problem == "l1"
    with pytest.raises(ValueError, match="x0 has 2 values; expected dim=3"):
        problem_from_vectorized(lambda X: X.sum(1), dim=3, x0=[1, 2])
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        problem_from_function(lambda x: 0.0, dim=0)


def test_non_number_return_is_a_counted_failure():
    p = problem_from_function(lambda x: "bad" if x[0] > 0 else float(x[0] ** 2), dim=1)
    r = blackbox.solve(p, "random", evals=320, seed=0)
    assert r.failures > 0 and "expected a number" in r.first_error


@pytest.fixture
def simulator(tmp_path):
    script = tmp_path / "sim.py"
    script.write_text(
        "import sys\n"
        "xs = [float(v) for v in open(sys.argv[1]).read().split()]\n"
        "if xs[0] > 2.5: sys.exit(3)\n"
        "print('loss:', sum((v - 0.5) ** 2 for v in xs))\n")
    return script


def test_external_command(simulator):
    p = problem_from_command([sys.executable, str(simulator), "{file}"], dim=2, x0=[0.0, 0.0], workers=2)
    losses = p.evaluate(np.array([[0.5, 0.5], [1.5, 0.5], [3.0, 0.0]]))
    assert losses[0] == pytest.approx(0.0) and losses[1] == pytest.approx(1.0) and np.isnan(losses[2])
    assert "exited with 3" in p.last_error
    r = blackbox.solve(p, "random", {"popsize": 4, "sigma0": 0.3}, evals=40, seed=0)
    assert r.best_loss < 0.5


def test_external_command_on_stdin(tmp_path):
    script = tmp_path / "stdin_sim.sh"
    script.write_text("#!/bin/sh\nawk '{s += $1 * $1} END {print s}'\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    p = problem_from_command(str(script), dim=3)
    np.testing.assert_allclose(p.evaluate(np.array([[1.0, 2.0, 2.0]])), [9.0])
    missing = problem_from_command(str(tmp_path / "nope"), dim=1)
    assert np.isnan(missing.evaluate(np.zeros((1, 1)))[0]) and "could not run" in missing.last_error
