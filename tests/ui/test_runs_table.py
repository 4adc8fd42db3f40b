"""The run table's view-model (and its view's wiring), against a real store, no browser."""

from __future__ import annotations

import pandas as pd
import pytest

import workbench as wb
from workbench.ui.components.format import column_widths
from workbench.ui.runs.table import RunTable
from workbench.ui.runs.table_model import (
    DEFAULT_METRIC_COLUMNS,
    DEFAULT_PARAM_COLUMNS,
    RunTableModel,
    sort_key,
)


def test_first_experiment_one_page_and_count(ui_store):
    m = RunTableModel(ui_store, page_size=10)
    assert m.experiment == "alpha"
    # 30 runs + a parent with 2 children: the page counts top-level runs (children nested)
    assert m.total == 31 and m.total_runs == 33
    assert len(m.rows) == 10 and m.pages == 4
    assert {"run_id", "run_name", "status", "params.model", "metrics.auc"} <= set(m.rows.columns)
    for _ in range(3):
        m.next_page()
    assert m.page == 4 and len(m.rows) == 1
    m.next_page()
    assert m.page == 4


def test_filter_and_bad_filter_message(ui_store):
    m = RunTableModel(ui_store)
    m.filter = "params.model = 'rf' and metrics.auc > 0.7"
    assert m.filter_error == ""
    assert m.total > 0 and set(m.rows["params.model"]) == {"rf"}
    assert (m.rows["metrics.auc"] > 0.7).all()
    good = m.rows
    m.filter = "metrics.auc >"
    assert "expected a value" in m.filter_error and "^" in m.filter_error
    assert m.rows is good  # the table keeps the last good result
    m.filter = ""
    assert m.filter_error == "" and m.total == 31


def test_sort_is_done_by_the_store_across_pages(ui_store):
    m = RunTableModel(ui_store, page_size=5)
    m.sort("metrics.auc", descending=True)
    assert m.order_by == ["metrics.auc DESC"]
    top = ui_store.search_top_level_runs("alpha", order_by="metrics.auc DESC", max_results=5)
    assert list(m.rows["run_id"]) == list(top["run_id"])
    m.sort("run_name")
    assert m.rows["run_name"].iloc[0] == "cv-parent"
    assert sort_key("duration_s") == "attributes.duration" and sort_key("deleted_at") is None


def test_group_by_orders_by_the_group_first(ui_store):
    m = RunTableModel(ui_store, page_size=50)
    m.group_by = "tags.team"
    teams = list(m.rows["tags.team"].fillna(""))
    assert teams == sorted(teams, key=lambda t: (t == "", t))  # contiguous groups


def test_columns_default_subset_and_chooser(ui_store):
    m = RunTableModel(ui_store)
    assert m.columns == m.default_columns()
    m.choose_columns(["metrics.loss", "tags.team"])
    assert [c for c in m.rows.columns if "." in c] == ["metrics.loss", "tags.team"]
    m.experiment = "beta"
    assert m.columns == ["params.model", "metrics.acc"] and m.total == 3


def test_many_metric_keys_ship_only_chosen_columns(tmp_path):
    store = wb.Store(tmp_path / "wide.duckdb")
    for i in range(3):
        run = wb.tracking.run.Run.create(store, "wide", run_name=f"w{i}")
        run.log_params({f"p{k:03d}": k for k in range(20)})
        run.log_metrics({f"m{k:04d}": float(k) for k in range(1000)})
        run.end()
    store.sync()
    m = RunTableModel(store)
    assert len(m.metric_keys) == 1000
    assert len(m.columns) == DEFAULT_PARAM_COLUMNS + DEFAULT_METRIC_COLUMNS
    assert m.rows.shape[1] < 30
    m.choose_columns([*m.columns, "metrics.m0999"])
    assert m.rows["metrics.m0999"].tolist() == [999.0] * 3


def test_selection_compare_bounds(ui_store):
    m = RunTableModel(ui_store)
    ids = list(m.rows["run_id"])
    m.select(ids[:1])
    with pytest.raises(ValueError, match="between 2 and 50"):
        m.compare_ids()
    m.select(ids[:3])
    assert m.compare_ids() == ids[:3]


def test_delete_and_restore_need_confirmation(ui_store):
    m = RunTableModel(ui_store)
    # a run without children ("cv-parent" would take its folds along); the runs share a start
    # time, so the first row is not always the same run
    victim = m.rows.loc[m.rows["run_name"].str.startswith("run-"), "run_id"].iloc[0]
    m.select([victim])
    m.request("delete")
    assert m.pending == "delete" and "Delete 1 selected run" in m.confirmation_text
    assert m.total == 31  # nothing happens before confirming
    m.cancel()
    assert m.pending == "" and m.total == 31
    m.request("delete")
    m.confirm()
    assert m.total == 30 and victim not in set(m.rows["run_id"]) and m.message == "Deleted 1 run."
    m.run_view = "deleted"
    assert list(m.rows["run_id"]) == [victim] and "deleted_at" in m.rows
    m.select([victim])
    m.request("restore")
    m.confirm()
    assert m.total == 0
    m.run_view = "active"
    assert m.total == 31


def test_request_without_selection_is_an_error_message(ui_store):
    m = RunTableModel(ui_store)
    m.request("delete")
    assert m.pending == "" and "select the runs" in m.error


def test_unknown_experiment_shows_message(ui_store):
    m = RunTableModel(ui_store, experiment="nope")
    assert "no experiment named 'nope'" in m.error and m.total == 34 and m.total_runs == 36


def test_view_wires_widgets_to_model(ui_store):
    view = RunTable(ui_store, page_size=10)
    m = view.model
    assert len(view.table.value) == 10 and "run_id" in view.table.hidden_columns
    assert "FINISHED" in view.table.value["status"].iloc[0] or "FAILED" in view.table.value["status"].iloc[0]
    view._filter_box.value = "params.model = 'gbm'"
    assert m.total == 10 and view._filter_error.visible is False
    view._filter_box.value = "params.model = "
    assert view._filter_error.visible and "expected" in view._filter_error.object
    view._filter_box.value = ""
    view.table.selection = [0, 1]
    assert m.selected == list(view.table.value["run_id"].iloc[:2])
    assert view._compare.disabled is False
    m.next_page()  # selection survives paging
    assert len(m.selected) == 2
    opened, compared = [], []
    view.on_open, view.on_compare = opened.append, compared.append
    view._on_compare_click(None)
    assert compared == [m.selected]
    view.table.sorters = [{"field": "metrics.auc", "dir": "desc"}]
    assert m.order_by == ["metrics.auc DESC"]
    assert isinstance(view.__panel__(), object)
    pd.testing.assert_index_equal(view.table.value.columns, pd.Index(m.rows.columns))


def test_empty_store_says_so(tmp_path):
    view = RunTable(wb.Store(tmp_path / "empty.duckdb"))
    assert view.model.total == 0 and view.model.experiment == ""
    assert view._empty.visible and "no runs yet" in view._empty.object


def test_column_widths_fit_header_or_cells_whichever_is_wider():
    shown = pd.DataFrame({
        "run_id": ["x" * 32], "run_name": ["a-rather-long-run-name-for-a-run"],
        "status": ["<span class='badge'>FINISHED</span>" * 3], "params.lr": ["0.1"],
    })
    widths = column_widths(shown)
    assert "run_id" not in widths  # hidden
    assert widths["status"] == 120  # a badge, not its HTML's length
    # the long name sets run_name's width; the short value leaves the header's
    assert widths["run_name"] > widths["params.lr"] >= 12 * len("params.lr")
    assert column_widths(shown.assign(run_name=["r"]))["run_name"] < widths["run_name"]
    assert max(column_widths(shown.assign(run_name=["z" * 500])).values()) == 360  # capped


def test_default_columns_follow_the_experiment_in_a_rendered_view(ui_store):
    """Switching experiments shows the new experiment's default columns (issue 13): a rendered
    MultiChoice trims its value when its options change, which must not count as a choice."""
    view = RunTable(ui_store)
    view.__panel__().get_root()  # rendered, as in the served app
    m = view.model
    alpha = m.default_columns()
    assert m.columns == alpha and len(alpha) == 6
    view._experiment_picker.value = "beta"
    assert m.experiment == "beta"
    assert m.columns == ["params.model", "metrics.acc"] == view._columns.value
    assert view._columns_card.title.startswith("Columns: 2 of 2 ")
    assert [c for c in view.table.value.columns if "." in c] == ["params.model", "metrics.acc"]
    view._experiment_picker.value = "alpha"
    assert m.columns == alpha == view._columns.value
    assert view._columns_card.title.startswith("Columns: 6 of 7 ")
    # a choice the user makes in the chooser still sticks, and unknown keys are left out
    view._columns.value = ["metrics.loss"]
    assert m.columns == ["metrics.loss"]
    assert [c for c in m.rows.columns if "." in c][-1] == "metrics.loss"
    m.choose_columns(["metrics.loss", "params.nope"])
    assert m.columns == ["metrics.loss"]
