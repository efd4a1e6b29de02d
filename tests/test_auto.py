"""auto: the rule table of docs/choosing.md, the recorded choice, the budget switch, the defaults."""
import numpy as np
import pytest

import blackbox
from blackbox.domain import Binary, Integer, Real
from blackbox.solver import Spec
from blackbox.solvers.auto import RULES, Auto, AutoConfig, choose


@pytest.mark.parametrize("dim,domain,noisy,budget,key", [
    (10, Real(), False, None, "cmaes-full"),
    (10, Real(-5, 5), False, 10_000, "cmaes-full"),
    (100, Real(), False, 100_000, "cmaes-full"),
    (101, Real(), False, None, "cmaes-sep"),
    (50, Real(), False, 1_000, "cmaes-sep"),  # budget below 10 dim^2: the covariance could not be learned
    (10, Real(), True, None, "cmaes-noisy"),
    (10, Integer(-5, 5), False, None, "cmaes-lattice"),
    (100, Binary(), False, None, "ga"),
    (100, Binary(), True, None, "ga"),
])
def test_rules(dim, domain, noisy, budget, key):
    assert choose(Spec(dim, domain), noisy, budget) == key


def test_every_rule_builds_its_delegate():
    for key, (name, _, _) in RULES.items():
        domain = Binary() if name == "ga" else Real()
        solver = Auto(Spec(6, domain), AutoConfig(solver=key))
        state = solver.init(np.zeros(6), 0)
        assert state["auto_choice"] == key and solver.delegate(state).name == name


def test_the_choice_is_in_the_state_and_the_plan_may_switch_it():
    solver = Auto(Spec(50, Real()), AutoConfig())
    state = solver.init(np.zeros(50), 0)
    assert state["auto_choice"] == "cmaes-full"
    planned = solver.plan(state, 1000)
    assert planned["auto_choice"] == "cmaes-sep" and planned["budget"] == 1000
    request, asked = solver.ask(planned)
    told = solver.tell(asked, request, np.sum(request.dense() ** 2, axis=1))
    assert told["auto_choice"] == "cmaes-sep" and told["generation"] == 1


def test_solve_runs_and_delegates():
    r = blackbox.solve("sphere", "auto", problem_config={"dim": 5}, evals=2000, seed=0)
    assert r.solver == "auto" and r.best_loss < 1e-8
    r = blackbox.solve("onemax", "auto", problem_config={"dim": 50}, evals=3000, seed=0)
    assert r.best_loss == 0


def test_bad_config_is_one_line():
    with pytest.raises(ValueError, match="auto: solver must be auto or one of"):
        Auto(Spec(3, Real()), AutoConfig(solver="nope"))


def test_auto_is_the_default_for_wrapped_problems_and_test_functions():
    from blackbox.problems import benchmarks
    from blackbox.problems.maxsat import MaxSAT
    p = blackbox.problem_from_function(lambda x: float(np.sum(x * x)), dim=3)
    assert p.default_solver == "auto"
    for cls in (benchmarks.Sphere, benchmarks.Rastrigin, benchmarks.Staircase, benchmarks.OneMax, benchmarks.Trap):
        assert cls.default_solver == "auto"
    assert MaxSAT.default_solver == "sls"
    r = blackbox.solve(p, evals=600, seed=0)
    assert r.solver == "auto" and r.best_loss < 1e-6


def test_auto_reads_noise_from_the_spec_and_says_what_it_chose():
    """A stochastic problem is noisy to auto without the option; the result names the delegate."""
    import blackbox
    from blackbox.registry import solver_class
    from blackbox.solver import Spec
    from blackbox.domain import Real
    noisy = Spec(5, Real(-5, 5), stochastic=True)
    cls = solver_class("auto")
    assert cls(noisy).init(np.zeros(5), 0)["auto_choice"] == "cmaes-noisy"
    r = blackbox.solve("sphere", problem_config={"dim": 4}, evals=200)
    assert r.solver == "auto" and r.solver_choice.startswith("auto (cmaes")
