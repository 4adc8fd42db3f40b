"""The Runs screen's view-model: one page of runs from the store, filter, sort, selection.

Child runs (folds of a cross-validation, trials of a sweep, steps of a pipeline) are shown
nested under their parent by default (``child_runs="nested"``): a page holds top-level runs,
each with its number of children, and the runs the user expanded (:meth:`toggle`) are
followed by their children (``depth`` 1, 2, ...). ``child_runs="flat"`` lists every run.

No Panel here: the view (``workbench.ui.runs.table``) lays it out; tests drive it directly.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import param

from workbench.errors import FilterSyntaxError
from workbench.store.store import Store
from workbench.ui.components.format import error_message, guarded

#: Columns every run row has, in display order (``run_id`` is kept but hidden in the view).
BASE_COLUMNS = ["run_id", "run_name", "status", "start_time", "duration_s", "user"]
#: How many param / metric keys are shown before the user picks more in the chooser.
DEFAULT_PARAM_COLUMNS = 8
DEFAULT_METRIC_COLUMNS = 8
#: Bounds on how many runs Compare takes.
COMPARE_MIN, COMPARE_MAX = 2, 50
PAGE_SIZES = [25, 50, 100, 200]
#: Columns of the nested view, after the others: the row's level (0 = top-level), whether it
#: matches the filter (``False``: shown as the parent of runs that do) and its parent.
NEST_COLUMNS = ["depth", "matched", "parent_run_id"]
#: The children shown under one expanded run (the parent's count says how many there are).
CHILDREN_PER_PARENT = 200
#: Levels of nesting followed under an expanded run (sweep > trial > fold > ...).
MAX_DEPTH = 8

# display column -> order_by key of the store's search language
_ATTRIBUTE_SORT = {
    "run_id": "attributes.run_id",
    "run_name": "attributes.run_name",
    "status": "attributes.status",
    "start_time": "attributes.start_time",
    "duration_s": "attributes.duration",
    "user": "attributes.user",
}


def sort_key(column: str) -> str | None:
    """The store's ``order_by`` key for a table column, or ``None`` if it cannot be sorted."""
    if column in _ATTRIBUTE_SORT:
        return _ATTRIBUTE_SORT[column]
    if column.startswith(("params.", "metrics.", "tags.")):
        return column
    return None


def _quote_key(entity_key: str) -> str:
    """``params.my key`` -> ``params.`my key``` when the key needs quoting in order_by."""
    entity, _, key = entity_key.partition(".")
    if key.replace("_", "").replace("-", "").replace(".", "").isalnum():
        return entity_key
    return f"{entity}.`{key}`"


def _page_count(total: int, page_size: int) -> int:
    """Pages needed for ``total`` rows (at least one, for the empty table)."""
    return max(1, -(-total // page_size))


def _default_columns(param_keys: list[str], metric_keys: list[str]) -> list[str]:
    return [f"params.{k}" for k in param_keys[:DEFAULT_PARAM_COLUMNS]] + [
        f"metrics.{k}" for k in metric_keys[:DEFAULT_METRIC_COLUMNS]
    ]


def _columns_of(param_keys: list[str], metric_keys: list[str], tag_keys: list[str]) -> list[str]:
    return (
        [f"params.{k}" for k in param_keys]
        + [f"metrics.{k}" for k in metric_keys]
        + [f"tags.{k}" for k in tag_keys]
    )


class RunTableModel(param.Parameterized):
    """State and actions of the run table; drive it directly in tests.

    >>> model = RunTableModel(store=store)  # doctest: +SKIP
    >>> model.filter = "metrics.auc > 0.8"; model.total  # doctest: +SKIP
    """

    store = param.ClassSelector(class_=Store, allow_refs=False, doc="the store to show")
    experiments = param.DataFrame(default=None, doc="list_experiments() of the store")
    experiment = param.String(default="", doc="name of the experiment shown ('' = all)")
    filter = param.String(default="", doc="MLflow-style filter text")
    filter_error = param.String(default="", doc="the parser's message for a bad filter")
    order_by = param.List(default=["attributes.start_time DESC"], item_type=str)
    run_view = param.Selector(default="active", objects=["active", "deleted", "all"])
    page = param.Integer(default=1, bounds=(1, None))
    page_size = param.Integer(default=50, bounds=(1, 1000))
    param_keys = param.List(default=[], doc="param keys of the experiment")
    metric_keys = param.List(default=[], doc="metric keys of the experiment")
    tag_keys = param.List(default=[], doc="tag keys of the experiment")
    columns = param.List(default=[], item_type=str, doc="chosen params./metrics./tags. columns")
    group_by = param.String(default="", doc="a params./tags. column to group rows by ('' = none)")
    child_runs = param.Selector(
        default="nested", objects=["nested", "flat"],
        doc="'nested': child runs under their parent (collapsed until expanded); 'flat': all runs",
    )
    expanded = param.List(default=[], item_type=str, doc="runs the user expanded (nested view)")
    collapsed = param.List(
        default=[], item_type=str,
        doc="context parents the user collapsed (they open by themselves: see toggle)",
    )
    rows = param.DataFrame(default=None, doc="the current page of runs")
    total = param.Integer(
        default=0, doc="rows paged over: matching runs (flat) or top-level runs (nested)"
    )
    total_runs = param.Integer(default=0, doc="runs matching the filter, children included")
    notice = param.String(default="", doc="what the nested view leaves out, if anything")
    selected = param.List(default=[], item_type=str, doc="selected run ids (across pages)")
    pending = param.String(default="", doc="action awaiting confirmation: 'delete' or 'restore'")
    message = param.String(default="", doc="what the last action did")
    error = param.String(default="", doc="readable message of the last failure")

    def __init__(self, store: Store, **params: Any) -> None:
        self._ready = False  # no queries from watchers until the first refresh
        super().__init__(store=store, **params)
        self._columns_chosen_by_user = bool(params.get("columns"))
        self.load_experiments()
        if self.experiment and self.experiments is not None and self.experiment not in set(
            self.experiments["name"]
        ):
            self.error = f"no experiment named {self.experiment!r}; showing all runs"
            self.experiment = ""
        elif not self.experiment and self.experiments is not None and len(self.experiments):
            with param.parameterized.discard_events(self):
                self.experiment = str(self.experiments.iloc[0]["name"])
        self._load_keys()
        self._ready = True
        self.refresh()

    # -- loading -------------------------------------------------------------
    def load_experiments(self) -> None:
        df = guarded(self, self.store.list_experiments)
        self.experiments = df if df is not None else pd.DataFrame(columns=["name", "runs"])

    def _experiment_arg(self) -> str | None:
        return self.experiment or None

    def _load_keys(self) -> None:
        """The experiment's keys and the columns shown, set in one update so that the view
        never sees the new keys with the old experiment's columns (or the reverse)."""
        exp = self._experiment_arg()
        try:
            keys = {
                "param_keys": self.store.param_keys(experiment=exp),
                "metric_keys": self.store.metric_keys(experiment=exp),
                "tag_keys": self.store.tag_keys(experiment=exp),
            }
        except Exception as exc:
            self.error = error_message(exc)
            return
        available = set(_columns_of(keys["param_keys"], keys["metric_keys"], keys["tag_keys"]))
        if self._columns_chosen_by_user:
            columns = [c for c in self.columns if c in available]
        else:
            columns = _default_columns(keys["param_keys"], keys["metric_keys"])
        group_by = self.group_by if self.group_by in available else ""
        self.param.update(**keys, columns=columns, group_by=group_by)

    def default_columns(self) -> list[str]:
        """The first few param and metric keys of the experiment (the chooser adds more)."""
        return _default_columns(self.param_keys, self.metric_keys)

    @property
    def available_columns(self) -> list[str]:
        return _columns_of(self.param_keys, self.metric_keys, self.tag_keys)

    @property
    def group_options(self) -> list[str]:
        return [f"params.{k}" for k in self.param_keys] + [f"tags.{k}" for k in self.tag_keys]

    @property
    def pages(self) -> int:
        return _page_count(self.total, self.page_size)

    def _query_keys(self) -> tuple[list[str], list[str], list[str]]:
        chosen = list(dict.fromkeys([*self.columns, *([self.group_by] if self.group_by else [])]))
        keys: dict[str, list[str]] = {"params": [], "metrics": [], "tags": []}
        for col in chosen:
            entity, _, key = col.partition(".")
            if entity in keys:
                keys[entity].append(key)
        return keys["params"], keys["metrics"], keys["tags"]

    def _effective_order(self) -> list[str]:
        order = list(self.order_by)
        if self.group_by:
            order = [_quote_key(self.group_by)] + [
                o for o in order if not o.startswith(_quote_key(self.group_by) + " ")
            ]
        return order

    def refresh(self) -> None:
        """Query the current page (and the count) from the store."""
        exp = self._experiment_arg()
        text = self.filter.strip() or None
        nested = self.child_runs == "nested"
        try:
            total_runs = self.store.count_runs(experiment=exp, filter=text, run_view=self.run_view)
            total = (
                self.store.count_top_level_runs(experiment=exp, filter=text, run_view=self.run_view)
                if nested else total_runs
            )
        except FilterSyntaxError as exc:
            self.filter_error = str(exc)
            return
        except Exception as exc:
            self.error = error_message(exc)
            return
        self.filter_error = ""
        pages = _page_count(total, self.page_size)
        if self.page > pages:
            with param.parameterized.discard_events(self):
                self.page = pages
        params_, metrics_, tags_ = self._query_keys()
        query = dict(experiment=exp, filter=text, order_by=self._effective_order(),
                     run_view=self.run_view, params=params_, metrics=metrics_, tags=tags_)
        notice = ""
        try:
            if nested:
                top = self.store.search_top_level_runs(
                    max_results=self.page_size, offset=(self.page - 1) * self.page_size, **query
                )
                df, notice = self._with_children(top, query)
            else:
                df = self.store.search_runs(
                    max_results=self.page_size, offset=(self.page - 1) * self.page_size, **query
                )
                df = df.assign(children=0, depth=0, matched=True)
        except FilterSyntaxError as exc:  # e.g. an order_by key the parser refuses
            self.error = str(exc)
            return
        except Exception as exc:
            self.error = error_message(exc)
            return
        cols = [*BASE_COLUMNS, *dict.fromkeys([*self.columns, *([self.group_by] if self.group_by else [])])]
        cols.insert(1, "children")
        if self.run_view != "active":
            cols.append("deleted_at")
        cols.extend(NEST_COLUMNS)
        for col in cols:
            if col not in df.columns:
                df[col] = pd.Series([None] * len(df), dtype=object)
        # one update: the view redraws the table once, with the new rows and count together
        self.param.update(total=total, total_runs=total_runs, notice=notice,
                          rows=df[cols].reset_index(drop=True))

    def is_open(self, run_id: str, matched: bool = True) -> bool:
        """Whether a row's children are shown: the user expanded it, or it is a parent shown
        only as context for matching children (those open until the user collapses them)."""
        if run_id in self.expanded:
            return True
        return not matched and run_id not in self.collapsed

    def _with_children(self, top: pd.DataFrame, query: dict[str, Any]) -> tuple[pd.DataFrame, str]:
        """The page's top-level rows, each open one followed by its children (depth-first)."""
        top = top.assign(depth=0)
        children_of: dict[str, pd.DataFrame] = {}
        level, depth = top, 0
        while depth < MAX_DEPTH:
            open_ids = [
                rid for rid, n, matched in zip(level["run_id"], level["children"], level["matched"])
                if n > 0 and self.is_open(rid, bool(matched))
            ]
            if not open_ids:
                break
            depth += 1
            level = self.store.search_child_runs(
                open_ids, max_per_parent=CHILDREN_PER_PARENT, **query
            ).assign(depth=depth)
            for parent, part in level.groupby("parent_run_id", sort=False):
                children_of[str(parent)] = part
        if not children_of:
            return top, ""
        frames = [top, *children_of.values()]
        every = pd.concat(frames, ignore_index=True)
        position = {rid: i for i, rid in enumerate(every["run_id"])}
        order: list[int] = []

        def visit(run_ids: list[str]) -> None:
            for rid in run_ids:
                order.append(position[rid])
                if rid in children_of:
                    visit(list(children_of[rid]["run_id"]))

        visit(list(top["run_id"]))
        cut = [
            (rid, int(n)) for rid, n in zip(every["run_id"], every["children"])
            if rid in children_of and n > CHILDREN_PER_PARENT
        ]
        notice = ""
        if cut:
            names = dict(zip(every["run_id"], every["run_name"]))
            rid, n = cut[0]
            notice = (
                f"{names.get(rid)!s} has {n:,} child runs; the first {CHILDREN_PER_PARENT} are shown. "
                f"Show child runs 'flat' with the filter attributes.parent_run_id = '{rid}' to "
                "page through all of them."
            )
            if len(cut) > 1:
                notice += f" ({len(cut) - 1} more expanded run(s) are cut the same way.)"
        return every.iloc[order].reset_index(drop=True), notice

    def group_values(self) -> list[Any]:
        """For each row, the value of ``group_by`` of its top-level run (the nested view keeps
        children in their parent's group, right under it); ``[]`` without ``group_by``."""
        if not self.group_by or self.rows is None or self.group_by not in self.rows:
            return []
        out, current = [], None
        for depth, value in zip(self.rows["depth"], self.rows[self.group_by]):
            if depth == 0 or self.child_runs == "flat":
                current = value
            out.append(current)
        return out

    # -- reactions to state changes ---------------------------------------------
    @param.depends("experiment", watch=True)
    def _on_experiment(self) -> None:
        if not self._ready:
            return
        self.selected = []
        self.page = 1
        self.param.update(expanded=[], collapsed=[])
        self._columns_chosen_by_user = False
        self._load_keys()
        self.refresh()

    @param.depends("filter", "run_view", "page_size", "child_runs", watch=True)
    def _on_query(self) -> None:
        if not self._ready:
            return
        self.page = 1
        self.refresh()

    @param.depends("page", "order_by", "columns", "group_by", "expanded", "collapsed", watch=True)
    def _on_view(self) -> None:
        if self._ready:
            self.refresh()

    # -- actions ---------------------------------------------------------------
    def choose_columns(self, columns: list[str]) -> None:
        """Show exactly ``columns`` (keys this experiment does not have are left out)."""
        available = set(self.available_columns)
        self._columns_chosen_by_user = True
        self.columns = [c for c in dict.fromkeys(columns) if c in available]

    def sort(self, column: str, descending: bool = False) -> None:
        """Sort by one table column (in the store, across all pages)."""
        key = sort_key(column)
        if key is None:
            return
        self.order_by = [f"{_quote_key(key)} {'DESC' if descending else 'ASC'}"]

    def toggle(self, run_id: str) -> None:
        """Expand a row of the nested view (show its children under it) or collapse it.

        >>> model.toggle(parent_id); model.rows["run_name"].tolist()[:3]  # doctest: +SKIP
        ['cv-parent', 'cv-parent/fold-1', 'cv-parent/fold-0']
        """
        rows = self.rows
        hit = rows.loc[rows["run_id"] == run_id] if rows is not None else pd.DataFrame()
        if hit.empty or int(hit["children"].iloc[0]) == 0:
            return
        expanded = [r for r in self.expanded if r != run_id]
        collapsed = [r for r in self.collapsed if r != run_id]
        matched = bool(hit["matched"].iloc[0])
        if self.is_open(run_id, matched):
            if not matched:
                collapsed.append(run_id)
        else:
            expanded.append(run_id)
        self.param.update(expanded=expanded, collapsed=collapsed)

    def collapse_all(self) -> None:
        """Show top-level runs only (context parents too are closed)."""
        shown = [] if self.rows is None else list(self.rows.loc[self.rows["children"] > 0, "run_id"])
        self.param.update(expanded=[], collapsed=list(dict.fromkeys([*self.collapsed, *shown])))

    def next_page(self) -> None:
        if self.page < self.pages:
            self.page += 1

    def previous_page(self) -> None:
        if self.page > 1:
            self.page -= 1

    def select(self, run_ids: list[str]) -> None:
        self.selected = list(dict.fromkeys(run_ids))

    def compare_ids(self) -> list[str]:
        """The selected runs if Compare can take them; else raise a readable error."""
        n = len(self.selected)
        if not COMPARE_MIN <= n <= COMPARE_MAX:
            raise ValueError(
                f"select between {COMPARE_MIN} and {COMPARE_MAX} runs to compare ({n} selected)"
            )
        return list(self.selected)

    def request(self, action: str) -> None:
        """Ask for confirmation of ``'delete'`` or ``'restore'`` of the selected runs."""
        if action not in ("delete", "restore"):
            raise ValueError(f"unknown action {action!r}")
        if not self.selected:
            self.error = f"select the runs to {action} first"
            return
        self.error = ""
        self.pending = action

    def cancel(self) -> None:
        self.pending = ""

    def confirm(self) -> None:
        """Carry out the pending delete/restore on the selected runs."""
        action, ids = self.pending, list(self.selected)
        self.pending = ""
        if not action or not ids:
            return
        method = self.store.delete_run if action == "delete" else self.store.restore_run
        done = 0
        for run_id in ids:
            if guarded(self, method, run_id) is None and self.error:
                break
            done += 1
        verb = "Deleted" if action == "delete" else "Restored"
        self.message = f"{verb} {done} run{'s' if done != 1 else ''}."
        self.selected = []
        self.load_experiments()
        self.refresh()

    @property
    def confirmation_text(self) -> str:
        n = len(self.selected)
        runs = f"{n} selected run{'s' if n != 1 else ''}"
        if self.pending == "delete":
            return f"Delete {runs} (and their child runs)? They can be restored from the 'deleted' view."
        if self.pending == "restore":
            return f"Restore {runs} (and their child runs)?"
        return ""


