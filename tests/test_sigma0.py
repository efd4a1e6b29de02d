"""sigma0: one initial-step option for random, es, snes and polystep, taken from the domain's range
when the domain is bounded; the old names still work (with a warning); Domain.check_point."""
import warnings

import numpy as np
import pytest

import blackbox
from blackbox.domain import Binary, Integer, Real
from blackbox.registry import solver_class
from blackbox.solver import Spec, build_config

OLD_DEFAULT = {"random": 0.1, "es": 0.1, "snes": 0.5, "polystep": 1.0}
FRACTION = {"random": 0.01, "es": 0.01, "snes": 0.05, "polystep": 0.1}  # of the range of a bounded domain
OLD_NAMES = {"random": ["sigma"], "es": ["sigma_start"], "snes": ["sigma_start"],
             "polystep": ["probe_radius_start", "step_radius_start"]}


def make(name, domain, dim=6, **overrides):
    cls = solver_class(name)
    return cls(Spec(dim, domain), build_config(cls.Config, overrides, name))


@pytest.mark.parametrize("name", sorted(OLD_DEFAULT))
def test_sigma0_from_bounds_else_old_default(name):
    s = make(name, Real(-5, 5))
    assert s.config.sigma0 == pytest.approx(FRACTION[name] * 10) and "range" in s.sigma0_source
    assert make(name, Real()).config.sigma0 == OLD_DEFAULT[name]
    assert make(name, Real(0, None)).config.sigma0 == OLD_DEFAULT[name]  # half-open: no range
    assert make(name, Real(-5, 5), sigma0=0.7).config.sigma0 == 0.7


@pytest.mark.parametrize("name", sorted(OLD_DEFAULT))
def test_sigma0_stated_in_the_result(name):
    r = blackbox.solve("rastrigin", name, problem_config={"dim": 4}, evals=200, seed=0)
    assert r.solver_config["sigma0"] == pytest.approx(FRACTION[name] * 2 * 5.12)
    r = blackbox.solve("sphere", name, problem_config={"dim": 4}, evals=200, seed=0)  # open domain
    assert r.solver_config["sigma0"] == OLD_DEFAULT[name]


@pytest.mark.parametrize("name", sorted(OLD_DEFAULT))
def test_old_names_warn_and_give_the_same_run(name):
    new = blackbox.solve("rastrigin", name, {"sigma0": 0.3}, problem_config={"dim": 4}, evals=300, seed=1)
    with pytest.warns(FutureWarning, match="is deprecated, use sigma0") as rec:
        old = blackbox.solve("rastrigin", name, {k: 0.3 for k in OLD_NAMES[name]},
                             problem_config={"dim": 4}, evals=300, seed=1)
    assert len(rec) >= len(OLD_NAMES[name])
    assert (old.best_loss, old.evals) == (new.best_loss, new.evals)
    assert np.array_equal(old.best_x, new.best_x)


def test_old_and_new_name_must_agree():
    with pytest.raises(ValueError, match="sigma=0.2 and sigma0=0.3 disagree"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            blackbox.solve("sphere", "random", {"sigma": 0.2, "sigma0": 0.3}, evals=10)
    with pytest.raises(ValueError, match="sigma0 must be > 0"):
        blackbox.solve("sphere", "es", {"sigma0": -1}, evals=10)


def test_polystep_old_radii_may_differ():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = make("polystep", Real(), probe_radius_start=0.1, step_radius_start=0.2)
    assert (s.config.radius_start("probe"), s.config.radius_start("step")) == (0.1, 0.2)
    assert s.config.sigma0 == 1.0


def test_binary_and_integer_domains():
    assert make("es", Binary()).config.sigma0 == 0.1  # binary: logits, not the 0-1 range
    assert make("polystep", Binary()).config.sigma0 == 1.0
    assert make("random", Integer(0, 100)).config.sigma0 == pytest.approx(FRACTION["random"] * 100)


def test_es_sigma_end_follows_sigma0():
    s = make("es", Real(-5, 5))
    assert s.config.sigma_end == s.config.sigma0
    assert make("es", Real(-5, 5), sigma_end=0.01, sigma_schedule="geometric").config.sigma_end == 0.01


def test_check_point_names_the_coordinate():
    Real(-1, 1).check_point(np.array([0.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match=r"coordinate 2 is 3, outside the real domain \[-1, 1\] \(and 1 more\)"):
        Real(-1, 1).check_point(np.array([0.0, 0.5, 3.0, -4.0]))
    with pytest.raises(ValueError, match="coordinate 0 is nan"):
        Real().check_point(np.array([np.nan]))
    with pytest.raises(ValueError, match="x0: coordinate 1 is 0.5"):
        Binary().check_point([1, 0.5], what="x0")
    with pytest.raises(ValueError, match=r"coordinate 0 is 11, outside the integer domain \[0, 10\]"):
        Integer(0, 10).check_point([11])
    Real().check_point(np.array([1e300, -1e300]))


# tests/test_pinned_results.py before issue 16 (seed 3, rastrigin dim 10 -- a bounded domain --, 2000 evals)
OLD_PINS = {"random": (32.63793802727412, 2000, -7.93138905471208),  # evaluations exact since 16.4
            "polystep": (3.9798362284459188, 2000, 8.813559471132493e-08),
            "es": (28.31700493853596, 2000, -6.00639059447464),
            "snes": (8.804940560364813, 2000, 0.1581585679848394)}


@pytest.mark.parametrize("name", sorted(OLD_PINS))
def test_old_default_as_sigma0_reproduces_the_old_pins(name):
    r = blackbox.solve("rastrigin", name, {"sigma0": OLD_DEFAULT[name]}, problem_config={"dim": 10},
                       evals=2000, seed=3)
    assert (r.best_loss, r.evals, float(np.sum(r.best_x))) == OLD_PINS[name]
