"""The Training screen's view-model, driven without a browser."""

from __future__ import annotations

import time

import pandas as pd
import pytest

import workbench as wb
from workbench.registry import Registry
from workbench.samples import sample_data_dir
from workbench.training.examples import quadratic
from workbench.ui.training.chart import sweep_chart
from workbench.ui.training.model import (
    TrainingModel,
    dataset_options,
    format_values,
    parse_values,
)
from workbench.ui.training.view import TrainingView

WINE = str((sample_data_dir() / "wine.parquet").resolve())
CANCER = str((sample_data_dir() / "breast_cancer.parquet").resolve())


def test_launch_follows_progress_and_shows_results(store):
    m = TrainingModel(
        store,
        experiment="ui",
        train="workbench.training.examples:sleepy",
        space_spec={
            "x": {"type": "float_range", "low": 0, "high": 1, "log": False},
            "sleep": {"type": "choice", "values": [0.1]},
        },
        n_trials=5,
        n_jobs=1,
        metric="score",
    )
    assert m.status == "IDLE"
    assert m.launch() and m.sweep_run_id
    seen_running = False
    while m.is_running:
        m.refresh()
        seen_running |= m.running == 1 and m.pending > 0
        time.sleep(0.02)
    m.wait(30)
    assert seen_running
    assert (m.status, m.finished, m.running, m.pending, m.fraction_done) == (
        "FINISHED",
        5,
        0,
        0,
        1.0,
    )
    assert len(m.results) == 5 and m.best_run_id in set(m.results["run_id"])
    assert "error" not in m.results_table.columns
    assert store.get_run(m.sweep_run_id)["experiment"] == "ui"


def test_cancel_and_bad_settings_show_in_the_model(store):
    m = TrainingModel(
        store,
        train="workbench.training.examples:sleepy",
        space_spec={
            "x": {"type": "float_range", "low": 0, "high": 1, "log": False},
            "sleep": {"type": "choice", "values": [0.5]},
        },
        n_trials=6,
        n_jobs=1,
        metric="score",
    )
    assert m.launch()
    assert not m.launch() and "already running" in m.error
    m.cancel()
    m.wait(30)
    assert m.status == "KILLED" and m.killed >= 5 and not m.is_running

    bad = TrainingModel(store, train="no.such.module:train")
    assert not bad.launch() and "cannot import" in bad.error
    grid = TrainingModel(
        store,
        strategy="grid",
        train="workbench.training.examples:quadratic",
        space_spec={"x": {"type": "float_range", "low": 0, "high": 1, "log": False}},
        metric="score",
    )
    assert not grid.launch() and "no finite grid" in grid.error


# -- the dataset / target / family settings of the screen -------------------------------


def test_the_settings_follow_the_dataset_target_family_and_metric(store):
    m = TrainingModel(store, dataset=WINE)
    assert m.target == "target" and m.task == "classification"
    assert m.target_options[-1] == "target" and "alcohol" in m.target_options
    assert m.metric == "roc_auc" and m.mode == "max"
    assert set(m.metric_options) == {"accuracy", "roc_auc", "f1", "log_loss"}
    assert m.experiment == "training-wine" and m.model_name == "wine-random-forest"
    assert set(m.space_spec) == {"n_estimators", "max_depth", "min_samples_leaf", "max_features"}
    assert (m.budget_name, m.budget_min, m.budget_max) == ("n_estimators", 20, 200)

    m.target = "alcohol"  # a numeric column: regression
    assert m.task == "regression" and m.metric == "r2" and m.mode == "max"
    m.metric = "rmse"
    assert m.mode == "min"
    m.family = "logistic_regression"
    assert set(m.space_spec) == {"C", "max_iter"} and m.budget_name == "data_fraction"
    assert m.model_name == "wine-logistic-regression"
    m.experiment = "mine"
    m.dataset = CANCER
    assert m.target == "target" and m.task == "classification" and m.metric == "roc_auc"
    assert m.experiment == "mine"  # typed by the user: kept

    m.set_dimension("C", low=0.1, high=10.0)
    assert (m.space_spec["C"]["low"], m.space_spec["C"]["high"]) == (0.1, 10.0)
    m.set_dimension("max_iter", values="200, 400")
    assert m.space_spec["max_iter"]["values"] == [200, 400]
    with pytest.raises(wb.errors.InvalidInputError, match="no dimension"):
        m.set_dimension("gamma", low=1)


def test_choice_values_are_parsed_from_text():
    assert parse_values("4, 8, None, sqrt, 0.5, true") == [4, 8, None, "sqrt", 0.5, True]
    assert format_values([4, None, "sqrt"]) == "4, None, sqrt"
    with pytest.raises(wb.errors.InvalidInputError, match="at least one value"):
        parse_values(" , ")


def test_dataset_options_are_the_samples_and_store_files_that_still_exist(store, tmp_path):
    csv = tmp_path / "mine.csv"
    pd.DataFrame({"a": [1, 2, 3, 4], "y": [0, 1, 0, 1]}).to_csv(csv, index=False)
    gone = tmp_path / "gone.csv"
    pd.DataFrame({"a": [1]}).to_csv(gone, index=False)
    with wb.start_run(experiment="data", store=store) as run:
        run.log_dataset(csv, name="mine")
        run.log_dataset(gone, name="gone")
        run.log_dataset(pd.DataFrame({"b": [1]}), name="in-memory")
    gone.unlink()
    options = dataset_options(store)
    labels = list(options)
    assert labels[:4] == ["churn (sample)", "breast_cancer (sample)", "wine (sample)",
                          "diabetes (sample)"]
    assert options["mine (store: mine.csv)"] == str(csv.resolve())
    assert not any("gone" in label or "in-memory" in label for label in labels)
    m = TrainingModel(store, dataset=str(csv))
    assert m.target_options == ["a", "y"] and m.target == "y"


def test_a_dataset_sweep_shows_best_trials_compares_them_and_registers_the_best(store):
    m = TrainingModel(store, dataset=CANCER, family="logistic_regression", n_trials=3, n_jobs=1)
    assert m.launch(), m.error
    m.wait(120)
    assert (m.status, m.finished, m.failed) == ("FINISHED", 3, 0)
    sweep_run = store.get_run(m.sweep_run_id)
    assert sweep_run["experiment"] == "training-breast_cancer"
    assert sweep_run["run_name"] == "sweep-logistic_regression"
    best = m.best_table()
    assert [c for c in best.columns if c != "run_id"][:3] == ["trial", "roc_auc", "trial_seconds"]
    # the two times are named apart: the whole trial's wall time includes the fit
    assert "seconds" not in best and (best["trial_seconds"] >= best["fit_seconds"]).all()
    assert "dataset" not in best and "family" not in best and "C" in best and "accuracy" in best
    assert list(best["roc_auc"]) == sorted(best["roc_auc"], reverse=True)
    assert best["run_id"].iloc[0] == m.best_run_id
    assert m.compare_ids() == list(best["run_id"])
    frame = m.chart_frame()
    assert list(frame["best"]) == list(frame["value"].cummax())
    import holoviews as hv

    assert isinstance(sweep_chart(m), hv.Overlay)

    version = m.register_best()
    assert version.version == 1 and version.run_id == m.best_run_id
    assert m.message.startswith("Registered breast-cancer-logistic-regression version 1")
    assert Registry(store).get_version("breast-cancer-logistic-regression", 1).run_id == (
        m.best_run_id
    )
    m.model_name = "not a/name"
    assert m.register_best() is None and "could not register the best model" in m.error


def test_halving_from_the_screen_leaves_the_budget_to_the_strategy(store):
    m = TrainingModel(store, dataset=CANCER, family="logistic_regression", strategy="halving",
                      n_trials=3, n_jobs=1, budget_min=0.3, budget_max=0.9)
    train, spec, datasets = m.build_space()
    assert train.endswith("tabular:train_tabular") and "data_fraction" not in spec
    assert spec["family"]["values"] == ["logistic_regression"] and datasets == {
        "breast_cancer": CANCER
    }
    assert m.launch(), m.error
    m.wait(120)
    assert m.status == "FINISHED" and sorted(m.results["budget"].unique()) == [0.3, 0.9]
    assert m.best_table()["rung"].iloc[0] == 1  # the best is from the last rung


def test_a_reopened_screen_follows_the_running_sweep_and_can_cancel_it(store):
    first = TrainingModel(
        store,
        train="workbench.training.examples:sleepy",
        space_spec={"x": {"type": "float_range", "low": 0, "high": 1, "log": False},
                    "sleep": {"type": "choice", "values": [0.3]}},
        n_trials=30, n_jobs=1, metric="score", strategy="random", experiment="bg",
    )
    assert first.launch()
    handle = first.sweep
    del first  # the tab is closed: the sweep goes on
    again = TrainingModel(store)
    assert again.attach_running()
    assert again.sweep is handle and again.is_running and again.sweep_run_id == handle.run_id
    assert (again.metric, again.experiment, again.n_trials) == ("score", "bg", 30)
    again.cancel()
    again.wait(30)
    assert again.status == "KILLED" and again.killed >= 25 and not again.is_running
    assert not TrainingModel(store).attach_running()  # nothing runs any more


def test_a_finished_sweep_is_shown_from_the_store_with_its_settings(store):
    m = TrainingModel(store, dataset=WINE, family="gradient_boosting", n_trials=2, n_jobs=1)
    assert m.launch(), m.error
    m.wait(120)
    other = TrainingModel(store)
    assert other.attach(m.sweep_run_id)
    assert type(other.sweep).__name__ == "SweepRecord"  # not running here any more
    assert (other.dataset, other.target, other.family) == (WINE, "target", "gradient_boosting")
    assert set(other.space_spec) == set(m.space_spec)
    assert (other.status, other.finished, other.best_run_id) == ("FINISHED", 2, m.best_run_id)
    assert not other.attach("no-such-run") and "no sweep run" in other.error


def test_a_sweep_from_python_shows_its_own_metric(store):
    done = wb.sweep(quadratic, space={"x": wb.float_range(-1, 1)}, n_trials=2, n_jobs=1,
                    metric="score", mode="min", experiment="py", store=store, seed=0)
    m = TrainingModel(store)
    assert m.attach(done.run_id), m.error
    assert (m.metric, m.mode) == ("score", "min")
    assert "score" in m.metric_options  # the form can show it, not a default in its place


def test_the_view_launches_polls_and_opens_and_compares_runs(store):
    opened, compared = [], []
    view = TrainingView(store, on_open=opened.append, on_compare=compared.append)
    m = view.model
    assert m.dataset.endswith("churn.parquet") and view._intro.visible
    view._dataset.value = CANCER
    assert m.dataset == CANCER and view._target.value == "target"
    view._family.value = "logistic_regression"
    assert [row.css_classes[-1] for row in view._space.objects] == ["wb-dim-C", "wb-dim-max_iter"]
    view._n_trials.value, view._n_jobs.value = 3, 1
    view._on_launch()
    assert m.is_running and view._cancel.disabled is False and view._launch.disabled
    m.wait(120)
    view._tick()
    assert m.status == "FINISHED" and view._callback is None  # polling stopped
    # the screen trains in worker processes, never in the server's own
    assert store.get_run(m.sweep_run_id)["params"]["backend"] == "loky"
    assert not view._intro.visible and view._chart_box.visible and view._actions.visible
    assert "FINISHED" in view._status.object and view._progress.value == 100
    assert len(view._best.value) == 3

    class Click:
        row = 0

    view._on_best_click(Click())
    assert opened == [m.best_run_id]
    view._on_compare()
    assert compared == [m.compare_ids()]
    recent = list(view._recent.options.items())
    assert len(recent) == 2 and recent[1][1] == m.sweep_run_id and "FINISHED" in recent[1][0]

    # a new screen (a reopened tab) shows nothing until a recent sweep is chosen
    other = TrainingView(store)
    assert other.model.sweep is None and other._intro.visible and other._recent_row.visible
    other._recent.value = m.sweep_run_id
    assert other.model.status == "FINISHED" and other.model.dataset == CANCER
    assert len(other._best.value) == 3 and other._chart_box.visible and not other._intro.visible


@pytest.mark.parametrize("strategy", ["grid", "tpe"])
def test_grid_and_tpe_sweeps_run_from_the_screen_settings(store, strategy):
    m = TrainingModel(store, dataset=CANCER, family="logistic_regression", strategy=strategy,
                      n_trials=3, n_jobs=1)
    assert m.launch(), m.error
    m.wait(120)
    assert (m.status, m.finished) == ("FINISHED", 3)
    assert store.get_run(m.sweep_run_id)["params"]["strategy"] == strategy
    c_values = m.results["params.C"]
    if strategy == "grid":  # the family's grid: C at 6 log-spaced points, the first 3 run
        assert list(c_values) == pytest.approx([0.001, 0.01, 0.1])
    assert c_values.nunique() == 3


def test_the_view_says_so_when_no_trial_finished(store):
    view = TrainingView(
        store,
        train="workbench.training.examples:sleepy",
        dataset="",
        space_spec={"x": {"type": "float_range", "low": 0, "high": 1, "log": False},
                    "sleep": {"type": "choice", "values": [1.0]}},
        n_trials=3, n_jobs=1, metric="score",
    )
    view._on_launch()
    view._on_cancel()
    view.model.wait(30)
    view._tick()
    assert view.model.status == "KILLED" and view.model.finished == 0
    assert "No trial finished with a value for score" in view._best_title.object
    assert view._best_title.visible and not view._best.visible and not view._actions.visible
    assert not view._chart_box.visible  # no empty chart


class _Starting:
    """Stands for a sweep whose loky workers are still starting."""

    n_jobs = 2
    done = False


def test_the_view_says_workers_are_starting_instead_of_zero_done(store):
    view = TrainingView(store)
    m = view.model
    m.sweep, m.sweep_run_id = _Starting(), "0" * 32
    m.param.update(status="RUNNING", is_running=True, total=6, pending=6, running=0)
    view._sync_progress()
    assert m.starting_workers == 2
    assert "starting <b>2</b> workers" in view._status.object
    assert "0</b> of 6 done" not in view._status.object
    assert view._progress.value == -1  # indeterminate, not an empty bar
    m.param.update(running=2, pending=4)  # the first trials started: counts again
    view._sync_progress()
    assert m.starting_workers == 0 and "starting" not in view._status.object
    assert "<b>0</b> of 6 done" in view._status.object and view._progress.value == 0
    m.param.update(total=1, running=0, pending=1)
    assert m.starting_workers == 1  # never more workers than trials


def test_best_trials_show_missing_values_blank_and_name_both_times(store):
    view = TrainingView(store, experiment="ui", metric="roc_auc", mode="max")
    m = view.model
    m.results = pd.DataFrame({
        "trial": [0, 1], "run_id": ["a" * 32, "b" * 32], "status": ["FINISHED"] * 2,
        "value": [0.91234567, 0.8], "seconds": [2.5, 3.0], "error": [None, None],
        "params.max_depth": [None, 4.0], "params.criterion": ["gini", None],
        "metrics.roc_auc": [0.91234567, 0.8], "metrics.fit_seconds": [1.25, 1.5],
    })
    shown = m.best_table_for_display()
    assert list(shown["trial"]) == [0, 1]
    assert list(shown["max_depth"]) == ["", 4.0] and list(shown["criterion"]) == ["gini", ""]
    assert list(shown["roc_auc"]) == [0.9123, 0.8]
    assert list(shown["trial_seconds"]) == [2.5, 3.0] and list(shown["fit_seconds"]) == [1.25, 1.5]
    assert not shown.map(lambda v: isinstance(v, float) and v != v).any().any()  # no NaN
    view._sync_results()
    assert list(view._best.value["max_depth"]) == ["", 4.0]
    assert "fit_seconds" in view._best.header_tooltips
    assert "trial_seconds" in view._best_title.object and "fit alone" in view._best_title.object
