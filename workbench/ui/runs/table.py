"""The Runs screen: experiments in a sidebar, one page of runs in a table.

``RunTableModel`` holds the state (experiment, filter, sort, page, chosen columns, group,
nested or flat child runs, expanded rows, selection) and the actions (refresh, expand and
collapse, delete/restore with confirmation, compare); it asks the store for exactly one page
of rows with only the chosen columns, so 10,000 runs or 1,000 metric keys never reach the
browser at once. Child runs sit under their parent, collapsed: the "▸ 3" cell before a
run's name shows its three children right under it, indented. ``RunTable`` is its view, for
``panel serve`` and JupyterLab alike::

    import panel as pn, workbench as wb
    pn.extension("tabulator")
    wb.ui.RunTable(wb.Store("demo.duckdb"))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn

from workbench.store.store import Store
from workbench.ui.components.format import (
    STATUS_COLOURS,
    column_widths,
    error_message,
    status_badge,
)
from workbench.ui.components.notebook import NotebookScreen
from workbench.ui.components.widgets import ErrorBanner, wrapping_row
from workbench.ui.runs.table_model import (
    BASE_COLUMNS,
    COMPARE_MAX,
    COMPARE_MIN,
    NEST_COLUMNS,
    PAGE_SIZES,
    RunTableModel,
    _quote_key,
    sort_key,
)

#: Pixels of indentation per nesting level in the run_name cell.
INDENT_PX = 18
_CONTEXT_TIP = "does not match the filter: shown as the parent of the runs under it that do"


def _display_frame(rows: pd.DataFrame) -> pd.DataFrame:
    df = rows.copy()
    if "status" in df:
        df["status"] = df["status"].map(status_badge)
    if "start_time" in df and len(df):
        df["start_time"] = pd.to_datetime(df["start_time"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    if "deleted_at" in df and len(df):
        df["deleted_at"] = pd.to_datetime(df["deleted_at"]).dt.strftime("%Y-%m-%d %H:%M")
    if "duration_s" in df:
        df["duration_s"] = df["duration_s"].round(2)
    return df


class RunTable(NotebookScreen):
    """The run table view. ``on_open(run_id)`` and ``on_compare(run_ids)`` are called when the
    user opens a run or compares runs; without them (e.g. in JupyterLab) the run detail or the
    comparison opens below the table."""

    def __init__(
        self,
        store: Store | None = None,
        *,
        model: RunTableModel | None = None,
        on_open: Callable[[str], None] | None = None,
        on_compare: Callable[[list[str]], None] | None = None,
        **model_params: Any,
    ) -> None:
        super().__init__()
        if model is None:
            if store is None:
                raise TypeError("RunTable needs a store (or a model)")
            model = RunTableModel(store, **model_params)
        self.model = model
        self.on_open = on_open
        self.on_compare = on_compare
        self._build()

    # -- layout ------------------------------------------------------------------
    def _build(self) -> None:
        m = self.model
        self._experiment_picker = pn.widgets.RadioBoxGroup(
            label="Experiment", options=self._experiment_options(), value=m.experiment or "",
            sizing_mode="stretch_width", css_classes=["wb-experiments"],
        )
        self._experiment_picker.param.watch(lambda e: setattr(m, "experiment", e.new), "value")
        self._filter_box = pn.widgets.TextInput(
            label="Filter", value=m.filter, sizing_mode="stretch_width",
            placeholder="e.g. metrics.auc > 0.85 and params.model = 'rf'  (press Enter)",
            css_classes=["wb-filter"],
        )
        self._filter_box.param.watch(lambda e: setattr(m, "filter", e.new), "value")
        self._filter_error = pn.pane.Alert(
            "", alert_type="warning", visible=False, sizing_mode="stretch_width",
            css_classes=["wb-filter-error"], margin=(0, 10),
        )
        self._columns = pn.widgets.MultiChoice(
            label="Columns", options=m.available_columns, value=list(m.columns),
            sizing_mode="stretch_width", css_classes=["wb-columns"], max_items=200,
        )
        self._columns.param.watch(self._on_columns_chosen, "value")
        self._group = pn.widgets.Select(
            label="Group by", options=["", *m.group_options], value=m.group_by, width=180,
        )
        self._group.param.watch(lambda e: setattr(m, "group_by", e.new or ""), "value")
        self._view = pn.widgets.Select(
            label="Show", options={"active runs": "active", "deleted runs": "deleted", "all runs": "all"},
            value=m.run_view, width=130,
        )
        self._view.param.watch(lambda e: setattr(m, "run_view", e.new), "value")
        self._page_size = pn.widgets.Select(
            label="Rows per page", options=PAGE_SIZES, value=m.page_size, width=110
        )
        self._page_size.param.watch(lambda e: setattr(m, "page_size", int(e.new)), "value")
        self._child_runs = pn.widgets.Select(
            label="Show child runs", options={"nested under parent": "nested", "flat list": "flat"},
            value=m.child_runs, width=170, css_classes=["wb-child-runs"],
        )
        self._child_runs.param.watch(lambda e: setattr(m, "child_runs", e.new), "value")
        self._collapse = pn.widgets.Button(label="Collapse all", width=110,
                                           css_classes=["wb-collapse-all"], visible=False)
        self._collapse.on_click(lambda e: m.collapse_all())

        self.table = pn.widgets.Tabulator(
            _display_frame(m.rows) if m.rows is not None else pd.DataFrame(),
            selectable="checkbox", disabled=True, show_index=False, pagination=None,
            hidden_columns=self._hidden_columns(), titles={"children": ""},
            formatters={"status": {"type": "html"}, "run_name": {"type": "html"},
                        "children": {"type": "html"}},
            sortable={"children": False},
            sizing_mode="stretch_width", height=560, layout="fit_data_table",
            css_classes=["wb-run-table"], groupby=[m.group_by] if m.group_by else [],
            text_align={"status": "center"},
            # the store sorts (all pages; children stay under their parent): Tabulator shows
            # the rows in the order they come and reports header clicks as ``sorters``
            configuration={"sortMode": "remote"},
        )
        self.table.param.watch(self._on_selection, "selection")
        self.table.param.watch(self._on_sorters, "sorters")
        self.table.on_click(self._on_click)

        self._first = pn.widgets.Button(label="« First", width=80)
        self._prev = pn.widgets.Button(label="‹ Prev", width=80)
        self._next = pn.widgets.Button(label="Next ›", width=80)
        self._last = pn.widgets.Button(label="Last »", width=80)
        self._first.on_click(lambda e: setattr(m, "page", 1))
        self._prev.on_click(lambda e: m.previous_page())
        self._next.on_click(lambda e: m.next_page())
        self._last.on_click(lambda e: setattr(m, "page", m.pages))
        self._page_info = pn.pane.Markdown("", css_classes=["wb-page-info"], margin=(8, 10))
        self._empty = pn.pane.Alert("", alert_type="info", visible=False,
                                    sizing_mode="stretch_width", css_classes=["wb-empty"])

        self._compare = pn.widgets.Button(label="Compare", color="primary", disabled=True,
                                          css_classes=["wb-compare"], width=110)
        self._compare.on_click(self._on_compare_click)
        self._open = pn.widgets.Button(label="Open", disabled=True, width=80, css_classes=["wb-open"])
        self._open.on_click(lambda e: self._open_run(m.selected[0]) if m.selected else None)
        self._delete = pn.widgets.Button(label="Delete…", color="danger", disabled=True,
                                         css_classes=["wb-delete"], width=100)
        self._delete.on_click(lambda e: m.request("delete"))
        self._restore = pn.widgets.Button(label="Restore…", color="success", disabled=True,
                                          css_classes=["wb-restore"], width=100)
        self._restore.on_click(lambda e: m.request("restore"))
        self._selection_info = pn.pane.Markdown("", margin=(8, 10))

        self._confirm_text = pn.pane.Markdown("", margin=(8, 10))
        self._confirm_yes = pn.widgets.Button(label="Confirm", color="danger",
                                              css_classes=["wb-confirm"], width=100)
        self._confirm_no = pn.widgets.Button(label="Cancel", width=90, css_classes=["wb-cancel"])
        self._confirm_yes.on_click(lambda e: self._run(m.confirm))
        self._confirm_no.on_click(lambda e: m.cancel())
        self._confirm_bar = pn.Row(
            self._confirm_text, self._confirm_yes, self._confirm_no, visible=False,
            css_classes=["wb-confirm-bar"], styles={"background": STATUS_COLOURS["KILLED"],
                                                    "border-radius": "6px"},
            sizing_mode="stretch_width",
        )
        self._message = pn.pane.Alert("", alert_type="success", visible=False,
                                      sizing_mode="stretch_width", css_classes=["wb-message"])
        self._errors = ErrorBanner()
        self._errors.message = m.error
        m.param.watch(lambda e: setattr(self._errors, "message", e.new), "error")
        self._below = pn.Column(sizing_mode="stretch_width")

        m.param.watch(self._sync_rows, ["rows", "total", "page", "page_size"])
        m.param.watch(self._sync_keys, ["param_keys", "metric_keys", "tag_keys", "columns"])
        m.param.watch(self._sync_experiments, ["experiments", "experiment"])
        m.param.watch(self._sync_filter_error, ["filter_error", "filter"])
        m.param.watch(self._sync_selection_widgets, ["selected", "run_view", "pending", "message"])
        m.param.watch(self._sync_child_runs, ["child_runs"])
        self._sync_rows()
        self._sync_filter_error()
        self._sync_selection_widgets()

        sidebar = pn.Column(
            pn.pane.Markdown("#### Experiments", margin=(0, 10)),
            self._experiment_picker,
            width=230, css_classes=["wb-experiment-sidebar"],
            styles={"border-right": "1px solid #dee2e6"},
        )
        self._columns_card = pn.Card(
            self._columns, title=self._columns_title(), collapsed=True,
            sizing_mode="stretch_width", css_classes=["wb-columns-card"], margin=(5, 10),
        )
        # rows that wrap: at 1024 px a plain Row pushed the controls past the window's edge
        controls = wrapping_row(self._group, self._view, self._child_runs, self._page_size,
                                self._collapse)
        actions = wrapping_row(self._compare, self._open, self._delete, self._restore,
                               self._selection_info, align_items="center")
        pager = wrapping_row(self._first, self._prev, self._page_info, self._next, self._last,
                             align_items="center")
        main = pn.Column(
            self._errors, self._filter_box, self._filter_error, controls, self._columns_card,
            actions,
            self._confirm_bar, self._message, self._empty, self.table, pager, self._below,
            sizing_mode="stretch_width",
        )
        self._layout = pn.Row(sidebar, main, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # -- model -> widgets ---------------------------------------------------------
    def _experiment_options(self) -> dict[str, str]:
        df = self.model.experiments
        options = {"All experiments": ""}
        if df is not None:
            for row in df.itertuples():
                options[f"{row.name} ({row.runs})"] = row.name
        return options

    def _sync_experiments(self, *events: Any) -> None:
        self._experiment_picker.options = self._experiment_options()
        self._experiment_picker.value = self.model.experiment or ""

    def _columns_title(self) -> str:
        m = self.model
        return (f"Columns: {len(m.columns)} of {len(m.available_columns)} params, metrics and "
                "tags shown (click to choose)")

    def _sync_keys(self, *events: Any) -> None:
        m = self.model
        if hasattr(self, "_columns_card"):
            self._columns_card.title = self._columns_title()
        # options and value together, and no echo to the model: set one after the other, a
        # rendered MultiChoice trims its value to the new options first, which the model would
        # take for the user's choice (the columns of the old experiment, cut to nothing)
        self._syncing_keys = True
        try:
            self._columns.param.update(options=m.available_columns, value=list(m.columns))
            group = m.group_by if m.group_by in m.group_options else ""
            self._group.param.update(options=["", *m.group_options], value=group)
        finally:
            self._syncing_keys = False

    def _sync_rows(self, *events: Any) -> None:
        m = self.model
        rows = m.rows if m.rows is not None else pd.DataFrame(columns=BASE_COLUMNS)
        df = _display_frame(rows)
        hidden = self._hidden_columns()
        # before the run names become links
        widths = column_widths(df.drop(columns=[c for c in hidden if c in df]))
        nested = m.child_runs == "nested" and "depth" in df and len(df) > 0
        if nested:
            deepest = int(df["depth"].max())
            context = not bool(df["matched"].all())
            widths["run_name"] = min(widths.get("run_name", 120) + INDENT_PX * deepest
                                     + (16 if deepest else 0) + (70 if context else 0), 520)
        widths["children"] = 64
        if "run_name" in df:
            df["run_name"] = [
                _name_cell(rid, name, int(depth) if nested else 0, bool(match) or not nested)
                for rid, name, depth, match in zip(
                    df["run_id"], df["run_name"], df.get("depth", [0] * len(df)),
                    df.get("matched", [True] * len(df)))
            ]
        if "children" in df:
            df["children"] = [
                _toggle_cell(int(n), m.is_open(rid, bool(match))) if nested else ""
                for rid, n, match in zip(df["run_id"], df["children"], df["matched"])
            ]
        groupby = [m.group_by] if m.group_by else []
        if m.group_by and nested and (df["depth"] > 0).any():
            # children stay in their top-level run's group, right under it
            column = f"{m.group_by} (top-level run)"
            df[column] = m.group_values()
            hidden = [*hidden, column]
            groupby = [column]
        self._rows_ids = list(rows["run_id"]) if "run_id" in rows else []
        wanted = set(m.selected)
        selection = [i for i, rid in enumerate(self._rows_ids) if rid in wanted]
        self._syncing = True
        try:
            with pn.io.hold():
                if widths != self.table.widths:
                    self.table.widths = widths
                if hidden != self.table.hidden_columns:
                    self.table.hidden_columns = hidden
                if groupby != self.table.groupby:
                    self.table.groupby = groupby
                self.table.value = df
                self.table.selection = selection
        finally:
            self._syncing = False
        if m.total == 0:
            if m.filter.strip():
                empty = "No runs match this filter."
            elif m.run_view == "deleted":
                empty = "No deleted runs here."
            elif m.experiments is None or m.experiments.empty:
                empty = ("This store has no runs yet: log some with `wb.start_run(...)`, or build "
                         "the demo store with `workbench demo`.")
            else:
                empty = "No runs in this experiment."
            self._empty.object = empty
        self._empty.visible = m.total == 0
        first = (m.page - 1) * m.page_size + 1 if m.total else 0
        last = min(m.total, m.page * m.page_size)
        if m.child_runs == "nested":
            info = f"Top-level runs {first:,}–{last:,} of **{m.total:,}** · page {m.page} of {m.pages}"
            if m.total_runs != m.total or m.filter.strip():
                matching = "matching the filter" if m.filter.strip() else "in all, child runs included"
                info += f" · {m.total_runs:,} run{'s' if m.total_runs != 1 else ''} {matching}"
        else:
            info = f"Runs {first:,}–{last:,} of **{m.total:,}** · page {m.page} of {m.pages}"
        if m.notice:
            info += f"  \n_{_esc(m.notice)}_"
        self._page_info.object = info
        self._collapse.visible = (m.child_runs == "nested" and rows is not None and "depth" in rows
                                  and bool((rows["depth"] > 0).any()))
        self._first.disabled = self._prev.disabled = m.page <= 1
        self._next.disabled = self._last.disabled = m.page >= m.pages

    def _hidden_columns(self) -> list[str]:
        """``run_id`` and the nesting columns; the toggle column too in the flat list, or when
        no run of the page has children (a table without child runs gets no empty column)."""
        m = self.model
        hidden = ["run_id", *NEST_COLUMNS]
        rows = m.rows
        has_children = (rows is not None and "children" in rows and len(rows) > 0
                        and bool((rows["children"] > 0).any()))
        if m.child_runs == "flat" or not has_children:
            hidden.append("children")
        return hidden

    def _sync_child_runs(self, *events: Any) -> None:
        if self._child_runs.value != self.model.child_runs:
            self._child_runs.value = self.model.child_runs

    def _sync_filter_error(self, *events: Any) -> None:
        m = self.model
        if self._filter_box.value != m.filter:
            self._filter_box.value = m.filter
        text = m.filter_error
        self._filter_error.object = (
            f"<pre style='margin:0;white-space:pre-wrap'>{_esc(text)}</pre>" if text else ""
        )
        self._filter_error.visible = bool(text)

    def _sync_selection_widgets(self, *events: Any) -> None:
        m = self.model
        n = len(m.selected)
        self._compare.disabled = not COMPARE_MIN <= n <= COMPARE_MAX
        self._open.disabled = n != 1
        self._delete.disabled = n == 0 or m.run_view == "deleted"
        self._restore.disabled = n == 0 or m.run_view == "active"
        self._selection_info.object = f"{n} selected" if n else "Select runs to compare, open, delete or restore"
        self._confirm_text.object = m.confirmation_text
        self._confirm_yes.label = "Delete" if m.pending == "delete" else "Restore"
        self._confirm_yes.color = "danger" if m.pending == "delete" else "success"
        self._confirm_bar.visible = bool(m.pending)
        self._message.object = m.message
        self._message.visible = bool(m.message)

    # -- widgets -> model ----------------------------------------------------------
    def _on_selection(self, event: Any) -> None:
        if getattr(self, "_syncing", False):
            return
        m = self.model
        page_ids = set(self._rows_ids)
        chosen = [self._rows_ids[i] for i in event.new if i < len(self._rows_ids)]
        kept = [r for r in m.selected if r not in page_ids]  # selections on other pages stay
        m.select(kept + chosen)
        m.message = ""

    def _on_columns_chosen(self, event: Any) -> None:
        if getattr(self, "_syncing_keys", False) or list(event.new) == list(self.model.columns):
            return
        self.model.choose_columns(list(event.new))

    def _on_sorters(self, event: Any) -> None:
        # Tabulator sorts nothing itself (sortMode "remote") and empties its rows on a header
        # click until new ones come: the store's order, or the same rows again
        sorters = event.new or []
        key = sort_key(sorters[0].get("field", "")) if sorters else None
        wanted = None
        if key is not None:
            wanted = [f"{_quote_key(key)} {'DESC' if sorters[0].get('dir') == 'desc' else 'ASC'}"]
        if wanted is not None and wanted != self.model.order_by:
            self.model.order_by = wanted
        else:
            self.table.param.trigger("value")

    def _on_click(self, event: Any) -> None:
        if event.row is None or event.row >= len(self._rows_ids):
            return
        if event.column == "run_name":
            self._open_run(self._rows_ids[event.row])
        elif event.column == "children" and self.model.child_runs == "nested":
            self._run(lambda: self.model.toggle(self._rows_ids[event.row]))

    def _run(self, action: Callable[[], Any]) -> None:
        with self.table.param.update(loading=True):
            action()

    def _open_run(self, run_id: str) -> None:
        if self.on_open is not None:
            self.on_open(run_id)
            return
        from workbench.ui.runs.detail import RunDetail

        self._below[:] = [pn.pane.Markdown("### Run"), RunDetail(self.model.store, run_id=run_id)]

    def _on_compare_click(self, event: Any) -> None:
        m = self.model
        try:
            ids = m.compare_ids()
        except ValueError as exc:
            m.error = str(exc)
            return
        if self.on_compare is not None:
            self.on_compare(ids)
            return
        try:
            from workbench.ui.compare.view import RunComparison

            self._below[:] = [pn.pane.Markdown("### Compare"), RunComparison(m.store, run_ids=ids)]
        except Exception as exc:
            m.error = f"cannot open Compare: {error_message(exc)}"


def _name_cell(run_id: str, name: Any, depth: int, matched: bool) -> str:
    """The run_name cell: a link that opens the run, indented under its parent; a parent that
    is only there for its matching children is greyed and marked "context"."""
    colour = "#0d6efd" if matched else "#6c757d"
    link = (f'<span class="wb-run-link" title="open run {run_id}" style="color:{colour};'
            f'cursor:pointer;text-decoration:underline">{_esc(name)}</span>')
    if depth:
        link = (f'<span class="wb-child-indent" style="display:inline-block;'
                f'width:{INDENT_PX * depth}px;text-align:right;color:#adb5bd">↳&nbsp;</span>'
                + link)
    if not matched:
        link += (f' <span class="wb-context" title="{_CONTEXT_TIP}" style="font-size:0.75em;'
                 'color:#6c757d;border:1px solid #ced4da;border-radius:4px;padding:0 4px">'
                 'context</span>')
    return f'<span class="wb-depth-{depth}">{link}</span>'


def _toggle_cell(children: int, is_open: bool) -> str:
    """The expand control of a run with ``children`` child runs: "▸ 3" (closed), "▾ 3" (open)."""
    if children <= 0:
        return ""
    arrow, verb = ("▾", "hide") if is_open else ("▸", "show")
    state = "open" if is_open else "closed"
    return (f'<span class="wb-toggle wb-toggle-{state}" title="{verb} the {children} child '
            f'run{"s" if children != 1 else ""}" style="cursor:pointer;color:#0d6efd;'
            f'white-space:nowrap">{arrow}&nbsp;{children}</span>')


def _esc(text: Any) -> str:
    import html

    return html.escape("" if text is None else str(text))
