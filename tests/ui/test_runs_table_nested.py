"""Child runs nested under their parent in the run table (issue 13): the store's tree queries,
the view-model (expand, collapse, flat, filter, paging, selection) and the view's cells."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import workbench as wb
from workbench.errors import InvalidInputError
from workbench.ui.runs.table import RunTable
from workbench.ui.runs.table_model import RunTableModel


@pytest.fixture
def cv_store(tmp_path) -> wb.Store:
    """Experiment "cv": a parent with 3 folds (fold-2 has a child of its own), 4 lone runs;
    experiment "other": a run whose parent is in "cv"."""
    store = wb.Store(tmp_path / "s.duckdb")
    with wb.start_run(experiment="cv", run_name="cv-parent", store=store) as parent:
        wb.log_param("model", "rf")
        wb.log_metric("auc", 0.9)
        for k in range(3):
            with wb.start_run(run_name=f"fold-{k}", nested=True):
                wb.log_param("fold", k)
                wb.log_metric("auc", 0.8 + 0.01 * k)
                if k == 2:
                    with wb.start_run(run_name="fold-2/seed-1", nested=True):
                        wb.log_param("fold", 2)
                        wb.log_param("seed", 1)
    for i in range(4):
        with wb.start_run(experiment="cv", run_name=f"solo-{i}", store=store):
            wb.log_param("model", "gbm")
            wb.log_metric("auc", 0.7 + 0.01 * i)
    with wb.start_run(experiment="other", run_name="elsewhere", store=store,
                      parent_run_id=parent.id):
        wb.log_param("model", "svm")
    store.sync()
    return store


def _names(df) -> list[str]:
    return df["run_name"].tolist()


def _id(store: wb.Store, name: str) -> str:
    return store.search_runs(filter=f"attributes.run_name = '{name}'")["run_id"].iloc[0]


# -- the store's queries ---------------------------------------------------------------------
def test_top_level_runs_carry_their_children_count(cv_store):
    assert cv_store.count_runs("cv") == 9 and cv_store.count_top_level_runs("cv") == 5
    top = cv_store.search_top_level_runs("cv", order_by="attributes.run_name")
    assert _names(top) == ["cv-parent", "solo-0", "solo-1", "solo-2", "solo-3"]
    assert top["children"].tolist() == [3, 0, 0, 0, 0] and top["matched"].all()
    assert {"params.model", "metrics.auc"} <= set(top.columns)  # the columns of search_runs
    # paging counts top-level runs
    page = cv_store.search_top_level_runs("cv", order_by="attributes.run_name", max_results=2,
                                          offset=2)
    assert _names(page) == ["solo-1", "solo-2"]
    # a child whose parent is in another experiment is top-level in its own
    other = cv_store.search_top_level_runs("other")
    assert _names(other) == ["elsewhere"] and other["parent_run_id"].iloc[0] == _id(cv_store, "cv-parent")


def test_child_runs_of_a_set_of_parents(cv_store):
    parent, fold2 = _id(cv_store, "cv-parent"), _id(cv_store, "fold-2")
    kids = cv_store.search_child_runs([fold2, parent], "cv", order_by="attributes.run_name DESC")
    # grouped by parent in the order asked, each group in order_by order
    assert _names(kids) == ["fold-2/seed-1", "fold-2", "fold-1", "fold-0"]
    assert kids["children"].tolist() == [0, 1, 0, 0]
    assert kids["parent_run_id"].tolist() == [fold2, parent, parent, parent]
    assert kids["params.fold"].tolist() == ["2", "2", "1", "0"]
    two = cv_store.search_child_runs([parent], "cv", order_by="attributes.run_name",
                                     max_per_parent=2)
    assert _names(two) == ["fold-0", "fold-1"]
    assert cv_store.search_child_runs([], "cv").empty
    with pytest.raises(InvalidInputError, match="max_per_parent"):
        cv_store.search_child_runs([parent], max_per_parent=-1)


def test_a_filter_keeps_the_parents_of_matching_runs_as_context(cv_store):
    # only the grandchild matches: its parent and grandparent are shown, marked not matching
    text = "params.seed = 1"
    assert cv_store.count_runs("cv", text) == 1 and cv_store.count_top_level_runs("cv", text) == 1
    top = cv_store.search_top_level_runs("cv", text)
    assert _names(top) == ["cv-parent"] and top["matched"].tolist() == [False]
    assert top["children"].tolist() == [1]  # children in the filtered view, not all 3
    level1 = cv_store.search_child_runs(top["run_id"].tolist(), "cv", text)
    assert _names(level1) == ["fold-2"] and level1["matched"].tolist() == [False]
    level2 = cv_store.search_child_runs(level1["run_id"].tolist(), "cv", text)
    assert _names(level2) == ["fold-2/seed-1"] and level2["matched"].tolist() == [True]
    # a parent that matches is no context; its non-matching children are left out
    top = cv_store.search_top_level_runs("cv", "params.model = 'rf' or params.fold = 0")
    assert _names(top) == ["cv-parent"] and top["matched"].tolist() == [True]
    assert top["children"].tolist() == [1]


def test_deleted_view_nests_by_the_same_rule(cv_store):
    fold1 = _id(cv_store, "fold-1")
    cv_store.delete_run(fold1)  # its parent stays active: in the deleted view it is top-level
    assert cv_store.count_top_level_runs("cv") == 5
    assert cv_store.search_top_level_runs("cv")["children"].max() == 2
    deleted = cv_store.search_top_level_runs("cv", run_view="deleted")
    assert _names(deleted) == ["fold-1"] and deleted["children"].tolist() == [0]
    assert cv_store.count_top_level_runs("cv", run_view="all") == 5


def test_user_text_is_bound_not_spliced(cv_store):
    hostile = "x' OR 1=1 --"
    assert cv_store.search_child_runs([hostile], "cv").empty
    assert cv_store.count_top_level_runs("cv", f"attributes.run_name = \"{hostile}\"") == 0


# -- the view-model --------------------------------------------------------------------------
def test_nested_by_default_collapsed_and_expand_shows_children_under_the_parent(cv_store):
    m = RunTableModel(cv_store, experiment="cv")
    assert m.child_runs == "nested" and m.total == 5 and m.total_runs == 9
    m.sort("run_name")
    assert _names(m.rows) == ["cv-parent", "solo-0", "solo-1", "solo-2", "solo-3"]
    assert m.rows["children"].tolist() == [3, 0, 0, 0, 0]
    parent = m.rows["run_id"].iloc[0]
    m.toggle(parent)
    assert _names(m.rows)[:5] == ["cv-parent", "fold-0", "fold-1", "fold-2", "solo-0"]
    assert m.rows["depth"].tolist()[:5] == [0, 1, 1, 1, 0]
    assert len(m.rows) == 8 and m.total == 5  # paging still counts top-level runs
    fold2 = m.rows["run_id"].iloc[3]
    m.toggle(fold2)  # a child with a child of its own
    assert _names(m.rows)[3:6] == ["fold-2", "fold-2/seed-1", "solo-0"]
    assert m.rows["depth"].tolist()[3:5] == [1, 2]
    m.toggle(parent)  # collapsed again (fold-2 stays expanded for when it is shown again)
    assert _names(m.rows) == ["cv-parent", "solo-0", "solo-1", "solo-2", "solo-3"]
    m.toggle(parent)
    assert len(m.rows) == 9
    m.collapse_all()
    assert len(m.rows) == 5 and m.expanded == []
    m.toggle(m.rows["run_id"].iloc[1])  # a run without children: nothing to expand
    assert len(m.rows) == 5


def test_children_follow_the_sort_and_paging_keeps_expanded_runs(cv_store):
    m = RunTableModel(cv_store, experiment="cv", page_size=2)
    m.sort("metrics.auc", descending=True)
    assert _names(m.rows) == ["cv-parent", "solo-3"]
    m.toggle(m.rows["run_id"].iloc[0])
    # fold-2/seed-1 has no auc: missing values sort last
    assert _names(m.rows) == ["cv-parent", "fold-2", "fold-1", "fold-0", "solo-3"]
    m.next_page()
    assert _names(m.rows) == ["solo-2", "solo-1"] and m.pages == 3
    m.previous_page()
    assert len(m.rows) == 5
    m.sort("metrics.auc")
    assert _names(m.rows) == ["solo-0", "solo-1"]
    m.experiment = "other"  # another experiment starts collapsed
    assert m.expanded == [] and m.page == 1


def test_flat_shows_every_run(cv_store):
    m = RunTableModel(cv_store, experiment="cv", child_runs="flat")
    assert m.total == 9 == len(m.rows) and (m.rows["depth"] == 0).all()
    m.child_runs = "nested"
    assert m.total == 5 and len(m.rows) == 5
    m.child_runs = "flat"
    assert m.total == 9 and m.page == 1


def test_filtered_children_are_shown_under_their_parent_which_opens_by_itself(cv_store):
    m = RunTableModel(cv_store, experiment="cv")
    m.filter = "params.seed = 1"
    assert m.total == 1 and m.total_runs == 1
    assert _names(m.rows) == ["cv-parent", "fold-2", "fold-2/seed-1"]
    assert m.rows["matched"].tolist() == [False, False, True]
    m.toggle(m.rows["run_id"].iloc[0])  # the user may still collapse the context parent
    assert _names(m.rows) == ["cv-parent"]
    m.toggle(m.rows["run_id"].iloc[0])
    assert len(m.rows) == 3
    m.child_runs = "flat"  # flat: only the matching run
    assert _names(m.rows) == ["fold-2/seed-1"]


def test_selection_compare_and_delete_work_on_children(cv_store):
    m = RunTableModel(cv_store, experiment="cv")
    m.sort("run_name")
    m.toggle(m.rows["run_id"].iloc[0])
    folds = m.rows.loc[m.rows["run_name"].str.startswith("fold-"), "run_id"].tolist()
    m.select(folds[:2])
    assert m.compare_ids() == folds[:2]
    m.select(folds[:1])
    m.request("delete")
    m.confirm()
    assert m.message == "Deleted 1 run." and m.total_runs == 8
    assert m.rows["children"].iloc[0] == 2 and folds[0] not in set(m.rows["run_id"])


def test_group_by_keeps_children_in_their_parents_group(cv_store):
    m = RunTableModel(cv_store, experiment="cv", order_by=["attributes.run_name ASC"])
    m.group_by = "params.model"
    m.toggle(m.rows.loc[m.rows["run_name"] == "cv-parent", "run_id"].iloc[0])
    shown = dict(zip(_names(m.rows), m.group_values()))
    assert shown["fold-0"] == shown["cv-parent"] == "rf" and shown["solo-0"] == "gbm"
    assert m.rows.loc[m.rows["run_name"] == "fold-0", "params.model"].isna().all()


# -- the view --------------------------------------------------------------------------------
def test_view_toggle_cell_indent_and_flat_switch(cv_store):
    view = RunTable(cv_store, experiment="cv", order_by=["attributes.run_name ASC"])
    view.__panel__().get_root()
    m = view.model
    cells = view.table.value["children"].tolist()
    assert "▸&nbsp;3" in cells[0] and "wb-toggle-closed" in cells[0] and cells[1] == ""
    assert "Top-level runs 1–5 of **5**" in view._page_info.object
    assert "9 runs in all" in view._page_info.object and not view._collapse.visible
    parent, narrow = m.rows["run_id"].iloc[0], view.table.widths["run_name"]
    view._on_click(SimpleNamespace(row=0, column="children"))
    value = view.table.value
    assert "▾&nbsp;3" in value["children"].iloc[0] and len(value) == 8
    assert "wb-depth-1" in value["run_name"].iloc[1] and "↳" in value["run_name"].iloc[1]
    assert "width:18px" in value["run_name"].iloc[1] and view._collapse.visible
    assert view.table.widths["run_name"] >= narrow + 18  # room for the indent
    # selecting a child row selects that run
    view.table.selection = [1, 2]
    assert m.selected == [m.rows["run_id"].iloc[1], m.rows["run_id"].iloc[2]]
    assert view._compare.disabled is False
    opened = []
    view.on_open = opened.append
    view._on_click(SimpleNamespace(row=2, column="run_name"))
    assert opened == [m.rows["run_id"].iloc[2]]
    # flat: every run, no toggle column
    view._child_runs.value = "flat"
    assert m.child_runs == "flat" and len(view.table.value) == 9
    assert "children" in view.table.hidden_columns
    assert view._page_info.object.startswith("Runs 1–9 of **9**")
    view._on_click(SimpleNamespace(row=0, column="children"))  # no toggling in the flat list
    assert len(view.table.value) == 9 and m.expanded == [parent]
    m.child_runs = "nested"
    assert view._child_runs.value == "nested" and "children" not in view.table.hidden_columns
    m.experiment = "other"  # no run with children: no empty toggle column
    assert len(m.rows) == 1 and "children" in view.table.hidden_columns


def test_view_marks_context_parents_and_groups_children_with_them(cv_store):
    view = RunTable(cv_store, experiment="cv", filter="params.seed = 1")
    value = view.table.value
    assert len(value) == 3 and "wb-context" in value["run_name"].iloc[0]
    assert "wb-context" not in value["run_name"].iloc[2]
    assert "1 run matching the filter" in view._page_info.object
    view.model.group_by = "params.model"
    assert view.table.groupby == ["params.model (top-level run)"]
    assert "params.model (top-level run)" in view.table.hidden_columns
    assert view.table.value["params.model (top-level run)"].tolist() == ["rf", "rf", "rf"]
    view.model.collapse_all()
    assert view.table.groupby == ["params.model"]


def test_header_click_sorts_in_the_store_and_an_unsortable_one_resends_the_rows(cv_store):
    view = RunTable(cv_store, experiment="cv")
    m = view.model
    view.table.sorters = [{"field": "run_name", "dir": "asc"}]
    assert m.order_by == ["attributes.run_name ASC"] and _names(m.rows)[0] == "cv-parent"
    sent = []
    view.table.param.watch(lambda e: sent.append(e.name), "value")
    view.table.sorters = [{"field": "children", "dir": "asc"}]
    assert m.order_by == ["attributes.run_name ASC"] and sent == ["value"]
