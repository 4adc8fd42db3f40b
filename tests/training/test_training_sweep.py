"""Sweeps end to end against a real store: records, failures, strategies, progress, rerun."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.errors import InvalidInputError, SearchSpaceError, SweepError
from workbench.tracking.models import load_logged_model
from workbench.training.examples import flaky, quadratic, sleepy
from workbench.training.space import check_space, sample_params

X = np.random.default_rng(0).normal(size=(60, 3))
Y = (X[:, 0] + X[:, 1] > 0).astype(int)


def train_logreg(params, trial):
    """Module level, so that workers and wb.rerun can import it."""
    from sklearn.linear_model import LogisticRegression

    if params["C"] > 50:
        raise RuntimeError(f"C={params['C']} is too large")
    model = LogisticRegression(C=params["C"], random_state=trial.seed).fit(X, Y)
    trial.log_metric("acc", float(model.score(X, Y)))
    trial.log_model(model, input_example=X[:2])
    trial.log_dataset(X, name="X", role="train")
    return {"acc": float(model.score(X, Y)), "C_used": params["C"]}


def test_a_sweep_is_a_parent_run_with_one_nested_run_per_trial(store):
    data = pd.DataFrame(X, columns=["a", "b", "c"])
    sweep = wb.sweep(
        train_logreg,
        {"C": wb.float_range(0.01, 10, log=True)},
        strategy="random",
        n_trials=4,
        metric="acc",
        mode="max",
        experiment="churn",
        store=store,
        seed=0,
        datasets={"train": data},
    )
    assert sweep.status == "FINISHED" and sweep.progress["finished"] == 4
    parent = store.get_run(sweep.run_id)
    assert parent["status"] == "FINISHED" and parent["experiment"] == "churn"
    assert parent["tags"]["workbench.kind"] == "sweep"
    assert parent["params"]["strategy"] == "random" and parent["params"]["seed"] == "0"
    assert parent["metrics"]["best_acc"] == pytest.approx(sweep.best_value)
    children = store.child_runs(sweep.run_id)
    assert len(children) == 4 and set(children["status"]) == {"FINISHED"}
    space = check_space({"C": wb.float_range(0.01, 10, log=True)})
    for _, row in sweep.results.iterrows():
        run = store.get_run(row["run_id"])
        assert run["parent_run_id"] == sweep.run_id
        assert float(run["params"]["C"]) == pytest.approx(
            sample_params(space, 0, row["trial"])["C"]
        )
        assert run["params"]["trial_seed"] == str(row["seed"])
        assert run["tags"]["sweep.train"] == f"{__name__}:train_logreg"
        assert json.loads(run["tags"]["sweep.params"]) == {"C": row["params.C"]}
        assert run["metrics"]["acc"] == pytest.approx(row["metrics.acc"])
        assert run["metrics"]["C_used"] == pytest.approx(row["params.C"])
        names = set(store.run_datasets(row["run_id"])["name"])
        assert names == {"train", "X"}  # the sweep's dataset hash and the one the trial logged
        assert type(load_logged_model(store, row["run_id"])).__name__ == "LogisticRegression"
    assert store.get_run(sweep.best_run_id)["metrics"]["acc"] == sweep.results["value"].max()
    assert sweep.best_run["run_id"] == sweep.best_run_id
    assert list(sweep.results["trial"]) == [0, 1, 2, 3]


def test_a_failing_trial_is_recorded_failed_with_its_traceback_and_the_sweep_goes_on(store):
    sweep = wb.sweep(
        flaky,
        {"x": wb.choice([-1.0, 0.25, -2.0, 0.5])},
        strategy="grid",
        metric="score",
        store=store,
        seed=0,
    )
    res = sweep.results.set_index("trial")
    assert list(res["status"]) == ["FAILED", "FINISHED", "FAILED", "FINISHED"]
    assert sweep.progress["failed"] == 2 and sweep.progress["finished"] == 2
    assert sweep.best_params == {"x": 0.5}
    failed = store.get_run(res.loc[0, "run_id"])
    assert failed["status"] == "FAILED"
    assert "ValueError: x=-1.0 is negative" in failed["tags"]["error"]
    assert "Traceback" in failed["tags"]["error"]
    assert store.get_run(sweep.run_id)["status"] == "FINISHED"


def test_same_seed_same_params_and_rerun_reproduces_a_trial(store):
    space = {"C": wb.float_range(0.01, 100, log=True)}
    a = wb.sweep(train_logreg, space, n_trials=5, metric="acc", store=store, seed=3)
    b = wb.sweep(train_logreg, space, n_trials=5, metric="acc", store=store, seed=3)
    assert list(a.results["params.C"]) == list(b.results["params.C"])
    assert list(a.results["seed"]) == list(b.results["seed"])
    ok = a.results[a.results["status"] == "FINISHED"].iloc[0]
    again = wb.rerun(ok["run_id"], store=store)  # imports tests' train_logreg by its path
    assert again.status == "FINISHED" and again.params == {"C": ok["params.C"]}
    assert again.value == pytest.approx(ok["value"]) and again.seed == ok["seed"]
    rec = store.get_run(again.run_id)
    assert rec["tags"]["rerun_of"] == ok["run_id"] and rec["parent_run_id"] is None
    explicit = wb.rerun(ok["run_id"], train_logreg, store=store)
    assert explicit.value == pytest.approx(ok["value"])
    with pytest.raises(SweepError, match="not a sweep trial"):
        wb.rerun(a.run_id, store=store)


def test_grid_halving_and_tpe_strategies_run_end_to_end(store):
    grid = wb.sweep(
        quadratic,
        {"x": wb.float_range(0, 1, num=5), "y": wb.choice([0, 1])},
        strategy="grid",
        metric="score",
        store=store,
    )
    assert len(grid.results) == 10 and grid.best_params == {"x": 0.5, "y": 0}
    with pytest.raises(SearchSpaceError, match="no finite grid"):
        wb.sweep(quadratic, {"x": wb.float_range(0, 1)}, strategy="grid", store=store)

    halving = wb.sweep(
        quadratic,
        {"x": wb.float_range(-1, 2)},
        strategy="halving",
        n_trials=9,
        budget=("n_estimators", 10, 90),
        eta=3,
        metric="score",
        store=store,
        seed=1,
    )
    res = halving.results
    assert list(res.groupby("rung").size()) == [9, 3, 1]
    assert sorted(set(res["params.n_estimators"])) == [10, 30, 90]
    rung0 = res[res["rung"] == 0].sort_values("value", ascending=False)
    assert set(res[res["rung"] == 1]["params.x"]) == set(rung0["params.x"][:3])
    assert halving.best_trial.rung == 2 and halving.best_params["x"] == rung0["params.x"].iloc[0]
    trial_run = store.get_run(res["run_id"].iloc[-1])
    assert trial_run["tags"]["sweep.budget"] == "90" and trial_run["params"]["n_estimators"] == "90"

    tpe = wb.sweep(
        quadratic,
        {"x": wb.float_range(-3, 3)},
        strategy="tpe",
        n_trials=16,
        strategy_options={"n_startup_trials": 5},
        metric="score",
        store=store,
        seed=0,
    )
    again = wb.sweep(
        quadratic,
        {"x": wb.float_range(-3, 3)},
        strategy="tpe",
        n_trials=16,
        strategy_options={"n_startup_trials": 5},
        metric="score",
        store=store,
        seed=0,
    )
    assert list(tpe.results["params.x"]) == list(again.results["params.x"])
    assert tpe.best_value > -0.2  # TPE finds the neighbourhood of x = 0.5
    with pytest.raises(InvalidInputError, match="needs metric"):
        wb.sweep(quadratic, {"x": wb.float_range(-3, 3)}, strategy="tpe", n_trials=3, store=store)


def test_progress_is_live_while_a_background_sweep_runs(store):
    seen = []
    sweep = wb.sweep(
        sleepy,
        {"x": wb.float_range(0, 1), "sleep": wb.choice([0.15])},
        n_trials=5,
        metric="score",
        store=store,
        seed=0,
        wait=False,
        callback=lambda result, s: seen.append(result.index),
    )
    snapshots = []
    while not sweep.done:
        snapshots.append(sweep.progress)
        time.sleep(0.03)
    sweep.wait()
    assert any(p["running"] == 1 and 0 < p["finished"] < 5 for p in snapshots)
    assert any(p["pending"] > 0 for p in snapshots)
    final = sweep.progress
    assert (final["finished"], final["running"], final["pending"], final["status"]) == (
        5,
        0,
        0,
        "FINISHED",
    )
    assert seen == [0, 1, 2, 3, 4]


def test_cancelling_a_sequential_sweep_stops_the_running_trial_and_kills_pending_ones(store):
    sweep = wb.sweep(
        sleepy,
        {"x": wb.float_range(0, 1), "sleep": wb.choice([0.6])},
        n_trials=6,
        metric="score",
        store=store,
        seed=0,
        wait=False,
    )
    while sweep.progress["finished"] < 1:
        time.sleep(0.02)
    time.sleep(0.1)
    t0 = time.monotonic()
    sweep.cancel()
    assert time.monotonic() - t0 < 5 and sweep.done and sweep.status == "KILLED"
    res = sweep.results
    assert len(res) == 6 and (res["status"] == "FINISHED").sum() >= 1
    assert set(res["status"]) <= {"FINISHED", "KILLED"} and (res["status"] == "KILLED").sum() >= 4
    time.sleep(0.7)  # let the abandoned thread's trial notice the cancel
    store.sync()
    children = store.child_runs(sweep.run_id)
    assert len(children) == 6 and "RUNNING" not in set(children["status"])
    assert store.get_run(sweep.run_id)["status"] == "KILLED"
    never = [r for r in res.itertuples() if r.error == "never started"]
    assert never and store.get_run(never[0].run_id)["tags"]["sweep.never_started"] == "true"

    # ... and resuming it runs only the missing trials
    resumed = wb.resume_sweep(sweep.run_id, store=store)
    assert resumed.run_id == sweep.run_id and resumed.status == "FINISHED"
    fin = resumed.results[resumed.results["status"] == "FINISHED"]
    assert sorted(fin["trial"]) == [0, 1, 2, 3, 4, 5]
    store.sync()
    children = store.child_runs(sweep.run_id)
    assert len(children) == 6 + (6 - (res["status"] == "FINISHED").sum())
    assert store.get_run(sweep.run_id)["status"] == "FINISHED"


def test_bad_arguments_are_refused_before_anything_is_recorded(store):
    with pytest.raises(InvalidInputError, match="mode"):
        wb.sweep(quadratic, {"x": wb.float_range(0, 1)}, n_trials=2, mode="up", store=store)
    with pytest.raises(InvalidInputError, match="n_jobs"):
        wb.sweep(quadratic, {"x": wb.float_range(0, 1)}, n_trials=2, n_jobs=0, store=store)
    with pytest.raises(InvalidInputError, match="backend"):
        wb.sweep(quadratic, {"x": wb.float_range(0, 1)}, n_trials=2, backend="spark", store=store)
    with pytest.raises(SearchSpaceError, match="budget"):
        wb.sweep(
            quadratic,
            {"x": wb.float_range(0, 1)},
            strategy="halving",
            n_trials=2,
            metric="score",
            store=store,
        )
    with pytest.raises(SearchSpaceError, match="strategy must be one of"):
        wb.sweep(quadratic, {"x": wb.float_range(0, 1)}, strategy="bayes", n_trials=2, store=store)
    assert store.count_runs() == 0


def _cancel_after(k):
    def callback(result, sweep):
        if sweep.progress["done"] == k:
            sweep.cancel(wait=False)

    return callback


@pytest.mark.parametrize(
    "strategy, options",
    [
        ("halving", {"budget": ("n_estimators", 10, 90), "eta": 3}),
        ("tpe", {"strategy_options": {"n_startup_trials": 3}}),
        ("grid", {}),
    ],
)
def test_a_cancelled_sweep_resumes_to_the_same_result_as_an_uninterrupted_one(
    store, strategy, options
):
    space = (
        {"x": wb.float_range(-1, 2, num=9)} if strategy == "grid" else {"x": wb.float_range(-1, 2)}
    )
    kw = dict(strategy=strategy, n_trials=9, metric="score", store=store, seed=4, **options)
    full = wb.sweep(quadratic, space, **kw)
    cut = wb.sweep(quadratic, space, callback=_cancel_after(5), **kw)
    assert cut.status == "KILLED" and cut.progress["done"] == 5
    resumed = wb.resume_sweep(cut.run_id, store=store)
    assert resumed.status == "FINISHED"
    done = resumed.results[resumed.results["status"] == "FINISHED"]
    assert len(done) == len(full.results) and sorted(done["trial"]) == list(full.results["trial"])
    if strategy != "tpe":  # TPE re-tells finished trials; new asks may differ after a cut
        assert done.sort_values("trial")["params.x"].tolist() == full.results["params.x"].tolist()
        assert resumed.best_params == full.best_params
    store.sync()
    assert (store.child_runs(cut.run_id)["status"] == "FINISHED").sum() == len(full.results)
