"""The run detail's view-model against a real store, no browser."""

from __future__ import annotations

import pandas as pd
import panel as pn

from workbench.ui.runs.detail import MAX_POINTS, RunDetail, RunDetailModel, history_plot


def _run_id(store, name):
    df = store.search_runs(filter=f"attributes.run_name = '{name}'")
    return df["run_id"].iloc[0]


def test_loads_everything_about_a_run(ui_store):
    rid = _run_id(ui_store, "run-000")
    m = RunDetailModel(ui_store, run_id=rid)
    assert m.error == ""
    assert m.run["params"] == {"depth": "0", "lr": "0.01", "model": "rf"}
    assert set(m.metrics["key"]) == {"auc", "loss"}
    assert set(m.histories) == {"auc", "loss"} and len(m.histories["auc"]) == 5
    assert m.tags.set_index("key")["value"]["team"] == "blue"
    assert m.datasets["name"].tolist() == ["train-set"] and len(m.datasets["digest"].iloc[0]) > 8
    assert len(m.artifacts) == 6
    assert m.environment["python_version"]
    assert m.parent == {} and m.children.empty


def test_artifact_previews(ui_store):
    m = RunDetailModel(ui_store, run_id=_run_id(ui_store, "run-000"))
    kinds = {}
    for path in m.artifacts["path"]:
        m.select_artifact(path)
        kinds[path] = m.preview["kind"]
    assert kinds == {
        "config.json": "text", "data/predictions.csv": "table",
        "data/predictions.parquet": "table", "model.bin": "binary",
        "notes.txt": "text", "plots/confusion.png": "image",
    }
    m.select_artifact("data/predictions.parquet")
    assert len(m.preview["content"]) == 20 and m.preview["rows"] == 50
    m.select_artifact("missing.txt")
    assert m.preview["kind"] == "error" and "missing.txt" in m.preview["content"]


def test_parent_and_children(ui_store):
    parent_id = _run_id(ui_store, "cv-parent")
    m = RunDetailModel(ui_store, run_id=parent_id)
    assert m.children["run_name"].tolist() == ["cv-parent/fold-0", "cv-parent/fold-1"]
    child = RunDetailModel(ui_store, run_id=m.children["run_id"].iloc[0])
    assert child.parent == {"run_id": parent_id, "run_name": "cv-parent"}


def test_tags_are_editable(ui_store):
    m = RunDetailModel(ui_store, run_id=_run_id(ui_store, "run-001"))
    m.set_tag("stage", "review")
    assert ui_store.get_run(m.run_id)["tags"]["stage"] == "review"
    assert "stage" in set(m.tags["key"])
    m.delete_tag("stage")
    assert "stage" not in ui_store.get_run(m.run_id)["tags"]
    m.delete_tag("stage")
    assert "no tag 'stage'" in m.error
    m.set_tag("", "x")
    assert "needs a key" in m.error


def test_delete_and_restore_with_confirmation(ui_store):
    rid = _run_id(ui_store, "run-002")
    m = RunDetailModel(ui_store, run_id=rid)
    m.request("delete")
    assert not m.deleted and m.pending == "delete"
    m.confirm()
    assert m.deleted and ui_store.count_runs("alpha") == 32
    m.request("restore")
    m.confirm()
    assert not m.deleted and ui_store.count_runs("alpha") == 33


def test_unknown_run_is_a_message(ui_store):
    m = RunDetailModel(ui_store, run_id="nope")
    assert m.run == {} and "no run with id 'nope'" in m.error


def test_long_histories_are_downsampled(tmp_path):
    import numpy as np

    import workbench as wb
    from workbench.tracking.run import Run

    store = wb.Store(tmp_path / "long.duckdb")
    run = Run.create(store, "long")
    run.log_metric_history("loss", np.sin(np.arange(20_000) / 100.0))
    run.end()
    store.sync()
    m = RunDetailModel(store, run_id=run.id)
    assert len(m.histories["loss"]) <= MAX_POINTS


def test_view_builds_and_follows_the_model(ui_store):
    view = RunDetail(ui_store, run_id=_run_id(ui_store, "cv-parent/fold-1"))
    assert view._parent_button.visible and "cv-parent" in view._parent_button.label
    assert len(view._plots.objects) == 1
    view.model.run_id = _run_id(ui_store, "run-000")
    assert not view._parent_button.visible and len(view._plots.objects) == 2
    assert len(view._artifacts.value) == 6
    assert history_plot("x", pd.DataFrame({"step": [], "value": []})) is not None


def test_values_logged_once_are_a_table_not_plots(tmp_path):
    import numpy as np

    import workbench as wb

    store = wb.Store(tmp_path / "once.duckdb")
    with wb.start_run(experiment="once", run_name="mixed", store=store) as run:
        run.log_metric("test_auc", 0.9312)
        run.log_metric("accuracy", 0.875, step=3)
        run.log_metric_history("loss", np.exp(-np.arange(30) / 10))
    mixed = run.id
    with wb.start_run(experiment="once", run_name="finals", store=store) as run:
        run.log_metrics({"f1": 0.8, "auc": 0.9})
    finals = run.id
    with wb.start_run(experiment="once", run_name="empty", store=store) as run:
        pass
    empty = run.id
    store.sync()

    m = RunDetailModel(store, run_id=mixed)
    # the plots default to the metrics with histories; values logged once are a table
    assert m.history_keys == ["loss"] and m.plot_keys == ["loss"] and set(m.histories) == {"loss"}
    assert m.single_value_keys == ["accuracy", "test_auc"]
    single = m.single_values()
    assert single.to_dict("list") == {"metric": ["accuracy", "test_auc"], "value": [0.875, 0.9312],
                                      "step": [3, 0]}
    summary = m.history_summary()
    assert summary["metric"].tolist() == ["loss"] and summary["points"].tolist() == [30]
    np.testing.assert_allclose(summary[["latest", "min", "max"]].iloc[0],
                               [np.exp(-2.9), np.exp(-2.9), 1.0])

    view = RunDetail(store, run_id=mixed)
    assert view._single.visible and view._single.value["value"].tolist() == ["0.875", "0.9312"]
    assert view._plot_keys.options == ["loss"] and view._plot_keys.value == ["loss"]
    assert view._metrics.visible and view._metrics.value["metric"].tolist() == ["loss"]
    assert len(view._plots.objects) == 1 and isinstance(view._plots.objects[0], pn.pane.HoloViews)

    view.model.run_id = finals  # no history: no plot, no empty step axis, the values in a table
    assert view.model.plot_keys == [] and view.model.histories == {}
    assert view._single.visible and view._single.value["metric"].tolist() == ["auc", "f1"]
    assert not view._plot_keys.visible and not view._metrics.visible
    assert "one value, in the table above" in view._plots.objects[0].object

    view.model.run_id = mixed  # back to a run with a history: the picker follows the model
    assert view._plot_keys.options == ["loss"] and view._plot_keys.value == ["loss"]
    assert isinstance(view._plots.objects[0], pn.pane.HoloViews)

    view.model.run_id = empty
    assert not view._single.visible and view._plots.objects[0].object == "This run has no metrics."
