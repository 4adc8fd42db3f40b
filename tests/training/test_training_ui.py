"""The Training screen's view-model, driven without a browser."""

from __future__ import annotations

import time

from workbench.ui.training import TrainingModel


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
