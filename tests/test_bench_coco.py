"""blackbox bench coco: COCO's output folder, the summary table, the mixed-integer encoding."""
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

cocoex = pytest.importorskip("cocoex")

from blackbox.bench import TARGETS, CocoProblem, final_precisions, run_coco, summarize  # noqa: E402
from blackbox.cli import cli  # noqa: E402


def test_tiny_run_writes_coco_data_and_summary(tmp_path):
    out = tmp_path / "run"
    s = run_coco("random", {"popsize": 8}, dims="2", functions="1,8", instances="1", budget_mult=50,
                 out=str(out), echo=lambda *_: None)
    folder = out / "exdata" / "random_popsize=8"
    assert (folder / "bbobexp_f1.info").exists() and (folder / "bbobexp_f8.info").exists()
    assert (folder / "data_f1" / "bbobexp_f1_DIM2.tdat").exists()
    # COCO's own record: one run per problem, never more evaluations than the budget (50 x 2)
    info = (folder / "bbobexp_f1.info").read_text()
    evals = int(info.split("1:")[1].split("|")[0])
    assert evals == 100
    prec = final_precisions(str(folder))
    assert set(prec) == {(1, 2), (8, 2)} and all(len(v) == 1 and v[0] > 0 for v in prec.values())
    assert s["dims"] == [2] and 0 <= s["table"]["all"][2] <= 1
    assert s["table"]["high conditioning"] == {}
    text = (out / "summary.md").read_text()
    assert "| separable |" in text and "| all |" in text and "d=2" in text
    _cocopp_reads(folder)


def _cocopp_reads(folder):
    """COCO's post-processing loads the folder: one data set per function, one run, the budget."""
    pytest.importorskip("matplotlib").use("Agg")
    cocopp = pytest.importorskip("cocopp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "not consistent": fewer instances than a full experiment
        dsl = cocopp.pproc.DataSetList(str(folder))
    assert sorted((d.funcId, d.dim, d.nbRuns()) for d in dsl) == [(1, 2, 1), (8, 2, 1)]
    assert all(max(d.maxevals) == 100 for d in dsl)


def test_cli_and_existing_output_refused(tmp_path):
    args = ["bench", "coco", "--solver", "random", "--dims", "2", "--functions", "1", "--instances", "1",
            "--budget-mult", "20", "--seeds", "0-1", "--out", str(tmp_path)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "| all |" in r.output
    prec = final_precisions(str(tmp_path / "exdata" / "random"))
    assert len(prec[(1, 2)]) == 2  # two seeds: two COCO runs of the same instance
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2 and "exists already" in r.output


def test_long_settings_get_a_short_algorithm_name():
    from blackbox.bench import algorithm_name
    assert algorithm_name("es", {"sigma0": 1}) == "es_sigma0=1"
    long = algorithm_name("es", {f"option_{i}": "x" * 10 for i in range(8)})
    assert long.startswith("es_") and len(long) <= 40


def test_bad_ranges_and_suite(tmp_path):
    r = CliRunner().invoke(cli, ["bench", "coco", "--solver", "random", "--dims", "two", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--dims" in r.output
    r = CliRunner().invoke(cli, ["bench", "coco", "--solver", "random", "--suite", "nope", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--suite" in r.output


def test_summary_fraction_counts_targets(tmp_path):
    d = tmp_path / "data_f1"
    d.mkdir()
    head = "% f evaluations | g evaluations | best noise-free fitness - Fopt (1e+00) | ...\n"
    # run 1 reaches 1e-8 (all 51 targets), run 2 stops at 1.0 (targets 1e2..1e0: 11 of 51)
    (d / "bbobexp_f1_DIM5.tdat").write_text(head + "1 0 +5e+00 0 0\n5000 0 +1e-09 0 0\n" + head + "5000 0 +1e+00 0 0\n")
    s = summarize(str(tmp_path), "bbob")
    assert s["table"]["separable"][5] == pytest.approx((1 + 11 / 51) / 2)
    assert np.sum(1.0 <= TARGETS) == 11


def test_mixint_encoding_round_trips():
    suite = cocoex.Suite("bbob-mixint", "", "dimensions: 5 function_indices: 1 instance_indices: 1")
    p = next(iter(suite))
    w = CocoProblem(p, budget=10)
    lo, hi = np.asarray(p.lower_bounds), np.asarray(p.upper_bounds)
    X = np.random.default_rng(0).uniform(-5, 5, (200, 5))
    Z = w.decode(X)
    ints = w.integer
    assert ints.sum() == p.number_of_integer_variables
    assert np.all(Z[:, ints] == np.rint(Z[:, ints])) and np.all(Z >= lo) and np.all(Z <= hi)
    assert np.array_equal(Z[:, ~ints], X[:, ~ints])  # the real part is [-5, 5] already: untouched
    for col in np.flatnonzero(ints):  # every integer value is reachable
        assert set(np.unique(Z[:, col])) == set(range(int(lo[col]), int(hi[col]) + 1))
    x0 = np.asarray(p.initial_solution)
    assert np.array_equal(w.decode(w.initial(None)[None])[0], x0)
    losses = w.evaluate(X[:12])
    assert np.isfinite(losses[:10]).all() and np.isinf(losses[10:]).all()  # past the budget: not sent to COCO
    assert p.evaluations == 10
    p.free()


def test_run_ends_at_cocos_final_target(tmp_path):
    """final_target_hit (cocoex 2.8 has no final_target_fvalue1) stops a run that reached 1e-8."""
    pytest.importorskip("cma")
    s = run_coco("cma-es", {"sigma0": 2.0}, dims="2", functions="1", instances="1", budget_mult=1000,
                 out=str(tmp_path), echo=lambda *_: None)
    (prec,) = final_precisions(s["folder"])[(1, 2)]
    assert prec < 1e-8 and s["table"]["all"][2] == 1.0
    info = next((tmp_path / "exdata").glob("*/bbobexp_f1.info")).read_text()
    assert int(info.split("1:")[1].split("|")[0]) < 2000  # stopped well before the budget
