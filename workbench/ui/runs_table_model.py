"""The Runs screen's view-model: one page of runs from the store, filter, sort, selection.

No Panel here: the view (``workbench.ui.runs_table``) lays it out; tests drive it directly.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import param

from workbench.errors import FilterSyntaxError
from workbench.store.store import Store
from workbench.ui.widgets import error_message, guarded

#: Columns every run row has, in display order (``run_id`` is kept but hidden in the view).
BASE_COLUMNS = ["run_id", "run_name", "status", "start_time", "duration_s", "user"]
#: How many param / metric keys are shown before the user picks more in the chooser.
DEFAULT_PARAM_COLUMNS = 8
DEFAULT_METRIC_COLUMNS = 8
#: Bounds on how many runs Compare takes.
COMPARE_MIN, COMPARE_MAX = 2, 50
PAGE_SIZES = [25, 50, 100, 200]

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
    rows = param.DataFrame(default=None, doc="the current page of runs")
    total = param.Integer(default=0, doc="runs matching the filter (all pages)")
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
        exp = self._experiment_arg()
        try:
            self.param_keys = self.store.param_keys(experiment=exp)
            self.metric_keys = self.store.metric_keys(experiment=exp)
            self.tag_keys = self.store.tag_keys(experiment=exp)
        except Exception as exc:
            self.error = error_message(exc)
            return
        available = set(self.available_columns)
        if self._columns_chosen_by_user:
            self.columns = [c for c in self.columns if c in available]
        else:
            self.columns = self.default_columns()
        if self.group_by and self.group_by not in available:
            self.group_by = ""

    def default_columns(self) -> list[str]:
        """The first few param and metric keys (the chooser adds more)."""
        return [f"params.{k}" for k in self.param_keys[:DEFAULT_PARAM_COLUMNS]] + [
            f"metrics.{k}" for k in self.metric_keys[:DEFAULT_METRIC_COLUMNS]
        ]

    @property
    def available_columns(self) -> list[str]:
        return (
            [f"params.{k}" for k in self.param_keys]
            + [f"metrics.{k}" for k in self.metric_keys]
            + [f"tags.{k}" for k in self.tag_keys]
        )

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
        try:
            total = self.store.count_runs(experiment=exp, filter=text, run_view=self.run_view)
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
        try:
            df = self.store.search_runs(
                experiment=exp,
                filter=text,
                order_by=self._effective_order(),
                max_results=self.page_size,
                offset=(self.page - 1) * self.page_size,
                run_view=self.run_view,
                params=params_,
                metrics=metrics_,
                tags=tags_,
            )
        except FilterSyntaxError as exc:  # e.g. an order_by key the parser refuses
            self.error = str(exc)
            return
        except Exception as exc:
            self.error = error_message(exc)
            return
        cols = [*BASE_COLUMNS, *dict.fromkeys([*self.columns, *([self.group_by] if self.group_by else [])])]
        if self.run_view != "active":
            cols.append("deleted_at")
        for col in cols:
            if col not in df.columns:
                df[col] = pd.Series([None] * len(df), dtype=object)
        # one update: the view redraws the table once, with the new rows and count together
        self.param.update(total=total, rows=df[cols].reset_index(drop=True))

    # -- reactions to state changes ---------------------------------------------
    @param.depends("experiment", watch=True)
    def _on_experiment(self) -> None:
        if not self._ready:
            return
        self.selected = []
        self.page = 1
        self._columns_chosen_by_user = False
        self._load_keys()
        self.refresh()

    @param.depends("filter", "run_view", "page_size", watch=True)
    def _on_query(self) -> None:
        if not self._ready:
            return
        self.page = 1
        self.refresh()

    @param.depends("page", "order_by", "columns", "group_by", watch=True)
    def _on_view(self) -> None:
        if self._ready:
            self.refresh()

    # -- actions ---------------------------------------------------------------
    def choose_columns(self, columns: list[str]) -> None:
        self._columns_chosen_by_user = True
        self.columns = list(columns)

    def sort(self, column: str, descending: bool = False) -> None:
        """Sort by one table column (in the store, across all pages)."""
        key = sort_key(column)
        if key is None:
            return
        self.order_by = [f"{_quote_key(key)} {'DESC' if descending else 'ASC'}"]

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


