"""MAX-SAT problem kernels and the ``sls`` solver against known optima of real instances."""
from __future__ import annotations

import csv
import glob
import os
from pathlib import Path

import numpy as np
import pytest

import blackbox
from blackbox.population import Deltas
from blackbox.solver import Spec
from blackbox.problems.maxsat.sls import SLS, SLSConfig
from blackbox.problems.maxsat import MaxSAT, MaxSATConfig, from_clauses, generate, read_instance
from blackbox.problems.maxsat.report import exact_best

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BLACKBOX_DATA", ROOT.parent / "shared" / "data")) / "maxsat"
needs_data = pytest.mark.usefixtures("shared_data")  # fails, never skips, when the data is missing

FAST = SLSConfig(chunk_seconds=0.02)  # check targets often: small instances stop right at the optimum


def run_sls(problem, flips, seed=0, config=None, target=None):
    """The ``sls`` search through ``blackbox.solve``; returns the final solver state."""
    last = {}

    def keep(tick):
        last["state"] = tick.state

    blackbox.solve(problem, "sls", config or SLSConfig(), evals=flips, target=target, seed=seed, callbacks=[keep])
    return last["state"]

MSE_OPT = {  # MaxSAT Evaluation 2016 optima (data README)
    "s2v120c1200-1": 161, "s2v120c1200-3": 160, "s2v120c1300-1": 180, "s2v120c1500-1": 211,
    "s2v120c2000-1": 307, "s2v120c2600-1": 439, "s2v140c1200-1": 144, "s2v160c1300-2": 139,
    "s2v200c1800-1": 206, "s3v70c700-1": 21,
}


def reference_cost(inst, x):
    """Plain-Python cost and violated hard clauses of assignment x (0/1 per variable)."""
    cost = hv = 0
    for c in range(inst.nclauses):
        sat = any((lit > 0) == bool(x[abs(lit) - 1]) for lit in inst.clause(c))
        if not sat:
            if inst.hard[c]:
                hv += 1
            else:
                cost += int(inst.weights[c])
    return cost, hv


def tricky_instance():
    """Hard, soft, weighted, empty, tautological and repeated-literal clauses together."""
    clauses = [[1, -2, 3], [2, 2, -4], [1, -1, 5], [], [-3, -5], [4], [-6, 2, 6], [5, -4, 1], [-1], [6, 3]]
    weights = [3, 1, 4, 2, 5, 9, 1, 6, 2, 7]
    hard = [False, True, False, False, False, False, False, True, False, False]
    return from_clauses(6, clauses, weights, hard, name="tricky")


def test_population_eval_matches_reference():
    inst = tricky_instance()
    p = MaxSAT.from_instance(inst)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, (40, 6), dtype=np.int8)
    losses = p.evaluate(X)
    for x, loss in zip(X, losses):
        cost, hv = reference_cost(inst, x)
        assert p.cost(x) == (cost, hv)
        assert loss == pytest.approx(cost + p.hard_penalty * hv)
        m = p.metrics(x)
        assert m["cost"] == cost and m["hard_violated"] == hv and m["feasible"] == (hv == 0)
        unsat = sum(not any((l > 0) == bool(x[abs(l) - 1]) for l in inst.clause(c)) for c in range(inst.nclauses))
        assert m["unsatisfied"] == unsat and m["satisfied_fraction"] == pytest.approx(1 - unsat / 10)


def test_float_population_and_penalty():
    p = MaxSAT.from_instance(tricky_instance())
    assert p.hard_penalty == 3 + 4 + 2 + 5 + 9 + 1 + 2 + 7 + 1
    x = np.ones(6)
    assert p.evaluate(x[None, :])[0] == p.evaluate(x[None, :].astype(np.int8))[0]


@pytest.mark.parametrize("make", [tricky_instance, lambda: generate(300, ratio=4.27, seed=2, weighted=True)])
def test_deltas_match_full_evaluation(make):
    p = MaxSAT.from_instance(make())
    rng = np.random.default_rng(1)
    for trial in range(3):
        base = rng.integers(0, 2, p.dim, dtype=np.int8)
        counts = rng.integers(0, min(p.dim, 12) + 1, size=25)
        idx = np.concatenate([rng.choice(p.dim, k, replace=False) for k in counts]).astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        d = Deltas.flips(base, offsets, idx)
        assert np.array_equal(p.evaluate_deltas(d), p.evaluate(d.dense()))
    # values equal to the base change nothing
    d = Deltas(base, np.array([0, 2], np.int64), np.array([0, 1], np.int64), base[[0, 1]].copy())
    assert p.evaluate_deltas(d)[0] == p.evaluate(base[None, :])[0]


def test_config_accepts_float_notation():
    assert MaxSATConfig(vars=1e3).vars == 1000 and MaxSATConfig(vars="2e3").vars == 2000
    with pytest.raises(ValueError):
        MaxSATConfig(vars=10.5)
    p = MaxSAT(MaxSATConfig(vars=200, ratio=3.0, instance_seed=4))
    assert p.dim == 200 and p.nclauses == 600 and p.default_solver == "sls"


def test_generated_problem_solved():
    p = MaxSAT(MaxSATConfig(vars=300, ratio=3.5, instance_seed=1))
    st = run_sls(p, flips=1_000_000, seed=0)
    x, loss = SLS(Spec.of(p)).best(st)
    assert loss == 0 and p.metrics(x)["satisfied_fraction"] == 1.0


def test_state_checkpoint_continues_identically():
    p = MaxSAT(MaxSATConfig(vars=400, ratio=4.27, instance_seed=3))
    s = SLS(Spec.of(p), SLSConfig(walkers=1))
    st = s.init(np.zeros(p.dim, np.int8), 7)
    st, _ = s.advance(st, p, 3000, 10)
    saved = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in st.items()}
    a, na = s.advance(st, p, 5000, 10)
    for k, v in saved.items():  # advance did not mutate its input
        assert np.array_equal(v, st[k]) if isinstance(v, np.ndarray) else v == st[k]
    b, nb = s.advance(saved, p, 5000, 10)
    assert na == nb == 5000
    assert np.array_equal(a["x"], b["x"]) and np.array_equal(a["best_x"], b["best_x"])


@needs_data
@pytest.mark.parametrize("name", ["uf50-01", "uf100-01", "uf250-01", "uf20-03"])
def test_satlib_uf_cost_zero(name):
    p = MaxSAT(MaxSATConfig(file=str(DATA / "satlib_uf" / f"{name}.cnf")))
    st = run_sls(p, flips=2_000_000, seed=1)
    assert st["best_loss"] == 0 and st["method"] == "probsat"


@needs_data
@pytest.mark.parametrize("i", [1, 3, 5])
def test_satlib_uuf_cost_one(i):
    p = MaxSAT(MaxSATConfig(file=str(DATA / "satlib_uuf" / f"uuf50-0{i}.cnf")))
    st = run_sls(p, flips=2_000_000, seed=1, target=1, config=FAST)
    x, loss = SLS(Spec.of(p)).best(st)
    assert loss == 1 and p.metrics(x)["cost"] == 1


@needs_data
@pytest.mark.parametrize("name", sorted(MSE_OPT)[::2])
def test_random_maxsat_mse_optima(name):
    sub = "maxsat_random_unweighted_s3v" if name.startswith("s3v") else "maxsat_random_unweighted_s2v"
    p = MaxSAT(MaxSATConfig(file=str(DATA / sub / f"{name}.cnf")))
    st = run_sls(p, flips=4_000_000, seed=1, target=MSE_OPT[name], config=FAST)
    assert st["best_loss"] == MSE_OPT[name]


@needs_data
@pytest.mark.parametrize("name", ["frb10-6-1", "frb10-6-2", "frb10-6-4", "frb15-9-1"])
def test_frb_weighted_optimum(name):
    path = DATA / "weighted_maxsat_frb" / f"{name}.wcnf"
    p = MaxSAT(MaxSATConfig(file=str(path)))
    opt = p.total_soft - int(open(path).readline().split()[2])
    st = run_sls(p, flips=4_000_000, seed=1, target=opt, config=FAST)
    x, loss = SLS(Spec.of(p)).best(st)
    assert loss == opt and p.metrics(x)["cost"] == opt


def mse_rows():
    rows = []
    for csv_name in ("baseWCNFs.csv", "MSE22+23Unique.csv"):
        path = DATA / "mse_regression_suite" / csv_name
        if not path.is_file():
            continue
        lines = [l for l in open(path) if not l.startswith("c ")]
        for r in csv.DictReader(lines, skipinitialspace=True):
            rows.append(r)
    return rows


@needs_data
def test_mse_regression_suite_optima_and_unsat():
    """Every CSV row: the certified model's cost is reproduced exactly by the evaluator, and the
    solver reaches the optimum (or reports infeasible on UNSAT hard clauses)."""
    rows = mse_rows()
    assert len(rows) > 250
    misses = []
    for r in rows:
        # allow_empty: the suite's empty.wcnf (0 bytes) is a valid empty instance there
        p = MaxSAT(MaxSATConfig(file=str(DATA / "mse_regression_suite" / r["WCNFFile"]), allow_empty=True))
        unsat = r["Satisfiable"].upper() == "UNSATISFIABLE"
        best = None if unsat else int(r["BestOValue"])
        model = r["Model"].strip()
        if not unsat and model != "None" and len(model) == p.dim:
            x = np.frombuffer(model.encode(), np.uint8) - 48
            assert p.cost(x) == (best, 0), r["WCNFFile"]
        st = run_sls(p, flips=20_000 if unsat else 300_000, seed=0, config=FAST,
                     target=None if unsat else float(best))
        x, _ = SLS(Spec.of(p)).best(st)
        cost, hv = p.cost(x)
        assert exact_best(p, st, st["best_loss"]) == (cost, hv), r["WCNFFile"]  # uint64 tracking is exact
        if unsat:
            assert hv > 0, r["WCNFFile"]
        elif (cost, hv) != (best, 0):
            misses.append((r["WCNFFile"], cost, hv, best))
        assert not unsat or not p.metrics(x)["feasible"]
    assert not misses, misses


@needs_data
def test_rc2_exact_agrees_with_csv_and_solver():
    from blackbox.problems.maxsat.exact import exact_optimum, gap

    rows = [r for r in mse_rows() if r["WCNFFile"].startswith("baseWCNFs")][:25] + mse_rows()[25:60]
    for r in rows:
        # allow_empty: the suite's empty.wcnf (0 bytes) is a valid empty instance there
        p = MaxSAT(MaxSATConfig(file=str(DATA / "mse_regression_suite" / r["WCNFFile"]), allow_empty=True))
        ex = exact_optimum(p)
        if r["Satisfiable"].upper() == "UNSATISFIABLE":
            assert ex.cost is None, r["WCNFFile"]
        else:
            assert ex.cost == int(r["BestOValue"]), r["WCNFFile"]
    p = MaxSAT(MaxSATConfig(file=str(DATA / "satlib_uuf" / "uuf50-02.cnf")))
    ex = exact_optimum(p)
    assert ex.cost == 1
    st = run_sls(p, flips=2_000_000, seed=3, target=1, config=FAST)
    assert gap(p, SLS(Spec.of(p)).best(st)[0], ex)["gap"] == 0


def test_weighted_probsat_tracks_exact_cost():
    p = MaxSAT(MaxSATConfig(vars=3000, ratio=4.2, instance_seed=2, weighted=True, max_weight=1000))
    st = run_sls(p, flips=300_000, seed=1)
    assert st["method"] == "probsat"
    x, loss = SLS(Spec.of(p)).best(st)
    cost, hv = p.cost(x)
    assert hv == 0 and exact_best(p, st, loss) == (cost, 0) and loss == cost
    assert cost < 0.01 * p.total_soft  # far below a random assignment (~12.5%)


def test_generic_solver_through_deltas():
    """A general solver works on MAX-SAT through the deltas capability."""
    import blackbox

    p = MaxSAT(MaxSATConfig(vars=500, ratio=4.0, instance_seed=0))
    r = blackbox.solve(p, "random", evals=3000, seed=0)
    start = p.evaluate(p.initial(np.random.default_rng(0))[None, :])[0]
    assert r.best_loss <= start and r.metrics["cost"] == r.best_loss


def walker_invariants(p, st):
    """Every walker's cached counts, breaks/scores, falsified lists and best cost match a
    recomputation from its assignments."""
    from blackbox.problems.maxsat import kernels as PK

    W = st["x"].shape[0]
    for w in range(W):
        x = st["x"][w]
        nt = PK.true_counts(x, p.lits, p.offs)
        crit = np.zeros_like(nt)
        for c in np.flatnonzero(nt == 1):
            lits = p.lits[p.offs[c]:p.offs[c + 1]]
            crit[c] = [l >> 1 for l in lits if x[l >> 1] != (l & 1)][0]
        if st["method"] == "probsat":
            assert np.array_equal(st["ntc"][w] & 255, nt) and np.array_equal(st["ntc"][w][nt == 1] >> 8, crit[nt == 1])
            one = nt == 1
            wb = SLS(Spec.of(p))._break_weights(p) if not p.unit_weights else np.ones(p.hard.size, np.int64)
            assert np.array_equal(st["brk"][w], np.bincount(crit[one], weights=wb[one], minlength=p.dim).astype(np.int64))
        else:
            assert np.array_equal(st["nt"][w], nt)
        falsified = set(np.flatnonzero(nt == 0).tolist())
        listed = set(st["unsat"][w][:st["ctr"][w, 0]].tolist()) | set(st["unsat_h"][w][:st["ctr"][w, 1]].tolist())
        assert listed == falsified
        cost, hv = p.cost(st["best_x"][w])
        assert (cost - p.empty_soft_weight, hv - p.empty_hard) == (int(st["ucost"][w, 1]), int(st["ctr"][w, 2]))
        assert p.cost(x)[0] - p.empty_soft_weight == int(st["ucost"][w, 0])


@pytest.mark.parametrize("kind", ["unit", "weighted", "partial"])
def test_walker_state_stays_consistent_with_sharing(kind):
    if kind == "partial":
        p = MaxSAT.from_instance(tricky_instance())
    else:
        p = MaxSAT(MaxSATConfig(vars=400, ratio=4.4, instance_seed=5, weighted=kind == "weighted"))
    s = SLS(Spec.of(p), SLSConfig(walkers=2, chunk_seconds=0.01))
    st = s.init(np.zeros(p.dim, np.int8), 1)
    for _ in range(6):
        st, _ = s.advance(st, p, 7000, 1.0)
        walker_invariants(p, st)
    assert st["method"] == ("weighting" if kind == "partial" else "probsat")


def _sls_run(p, flips, chunk_seconds, **kw):
    cfg = SLSConfig(walkers=1, chunk_seconds=chunk_seconds)
    return blackbox.solve(p, "sls", cfg, evals=flips, seed=4, **kw)


def test_sls_path_is_a_function_of_seed_and_flips_only(tmp_path):
    """Issue 17.1: kernel slices are sized by flips, never by measured time, so how the slices
    fall into driver generations (chunk_seconds, machine load) changes nothing; a run stopped and
    resumed from its checkpoint ends where the uninterrupted one does."""
    p = MaxSAT(MaxSATConfig(vars=20_000, ratio=4.27, instance_seed=0))
    a = _sls_run(p, 400_000, 1e-6)  # a generation per slice
    b = _sls_run(p, 400_000, 100.0)  # the whole budget in one generation
    assert a.evals == b.evals == 400_000
    assert a.best_loss == b.best_loss and np.array_equal(a.best_x, b.best_x)
    ck = str(tmp_path / "s.ckpt.npz")
    _sls_run(p, 150_000, 1e-6, checkpoint=ck)
    c = _sls_run(p, 400_000, 1e-6, resume=ck)
    assert c.best_loss == a.best_loss and np.array_equal(c.best_x, a.best_x)
