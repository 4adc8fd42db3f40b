"""The Run detail screen's view: everything recorded about one run (the state is in :mod:`.detail_model`).

``RunDetailModel`` loads a run's params, metrics (with downsampled histories), tags
(editable), datasets, artifacts (with previews), child runs, environment and parent, and
deletes/restores the run after a confirmation. ``RunDetail`` is its view::

    wb.ui.RunDetail(store, run_id="0f3c...")
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn

from workbench.store.store import Store
from workbench.ui.components.format import format_value, frame_of_dict, status_badge
from workbench.ui.components.notebook import NotebookScreen
from workbench.ui.components.widgets import ErrorBanner
from workbench.ui.runs.detail_model import MAX_POINTS, RunDetailModel, preview_artifact


def history_plot(key: str, df: pd.DataFrame):
    """A HoloViews curve (with points, so short histories show) of one metric history."""
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401 - registers the backend the options are for

    if len(df) == 0:
        return hv.Text(0, 0, f"{key}: no points").opts(title=key)
    curve = hv.Curve(df, "step", "value", label=key).opts(
        tools=["hover"], color="#0d6efd", line_width=2
    )
    points = hv.Scatter(df, "step", "value").opts(color="#0d6efd", size=4 if len(df) < 60 else 0)
    return (curve * points).opts(title=key, responsive=True, height=240, show_legend=False)


class RunDetail(NotebookScreen):
    """The run detail view. ``on_open(run_id)`` opens another run (parent/child); without it the
    view shows that run itself."""

    def __init__(
        self,
        store: Store | None = None,
        run_id: str = "",
        *,
        model: RunDetailModel | None = None,
        on_open: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        if model is None:
            if store is None:
                raise TypeError("RunDetail needs a store (or a model)")
            model = RunDetailModel(store, run_id=run_id)
        self.model = model
        self.on_open = on_open
        self._build()

    def _build(self) -> None:
        m = self.model
        self._errors = ErrorBanner(message=m.error)
        m.param.watch(lambda e: setattr(self._errors, "message", e.new), "error")
        self._header = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-run-header"])
        self._parent_button = pn.widgets.Button(label="Parent", visible=False, width=260,
                                                css_classes=["wb-parent"])
        self._parent_button.on_click(lambda e: self._open(m.parent.get("run_id", "")))
        self._delete = pn.widgets.Button(label="Delete run…", color="danger", width=120,
                                         css_classes=["wb-delete"])
        self._delete.on_click(lambda e: m.request("delete"))
        self._restore = pn.widgets.Button(label="Restore run…", color="success", width=120,
                                          css_classes=["wb-restore"])
        self._restore.on_click(lambda e: m.request("restore"))
        self._confirm_text = pn.pane.Markdown("", margin=(8, 10))
        self._confirm_yes = pn.widgets.Button(label="Confirm", color="danger", width=100,
                                              css_classes=["wb-confirm"])
        self._confirm_yes.on_click(lambda e: m.confirm())
        self._confirm_no = pn.widgets.Button(label="Cancel", width=90, css_classes=["wb-cancel"])
        self._confirm_no.on_click(lambda e: m.cancel())
        self._confirm_bar = pn.Row(self._confirm_text, self._confirm_yes, self._confirm_no,
                                   visible=False, styles={"background": "#fff3cd",
                                                          "border-radius": "6px"},
                                   css_classes=["wb-confirm-bar"], sizing_mode="stretch_width")
        self._message = pn.pane.Alert("", alert_type="success", visible=False,
                                      sizing_mode="stretch_width", css_classes=["wb-message"])

        table_opts = dict(disabled=True, show_index=False, sizing_mode="stretch_width",
                          layout="fit_data_table", max_height=420)
        self._info = pn.widgets.Tabulator(pd.DataFrame(), **table_opts)
        self._params = pn.widgets.Tabulator(pd.DataFrame(), **table_opts)
        self._children = pn.widgets.Tabulator(pd.DataFrame(), hidden_columns=["run_id"],
                                              formatters={"status": {"type": "html"}}, **table_opts)
        self._children.on_click(self._on_child_click)
        self._metrics = pn.widgets.Tabulator(pd.DataFrame(), css_classes=["wb-history-metrics"],
                                             **table_opts)
        # metrics logged once (final accuracy, AUC...): values in a table, not dots on a step axis
        self._single_title = pn.pane.Markdown("#### Logged once", visible=False)
        self._single = pn.widgets.Tabulator(pd.DataFrame(), visible=False,
                                            css_classes=["wb-single-values"], **table_opts)
        self._history_title = pn.pane.Markdown("#### Histories", visible=False)
        self._plot_keys = pn.widgets.MultiChoice(label="Plot metrics", options=[], value=[],
                                                 sizing_mode="stretch_width")
        self._plot_keys.param.watch(lambda e: setattr(m, "plot_keys", list(e.new)), "value")
        self._plots = pn.GridBox(ncols=2, sizing_mode="stretch_width", css_classes=["wb-plots"])

        self._tags = pn.widgets.Tabulator(pd.DataFrame(columns=["key", "value"]), show_index=False,
                                          editors={"key": None}, sizing_mode="stretch_width",
                                          layout="fit_data_table", css_classes=["wb-tags"])
        self._tags.on_edit(self._on_tag_edit)
        self._tag_key = pn.widgets.TextInput(label="Tag key", width=200, css_classes=["wb-tag-key"])
        self._tag_value = pn.widgets.TextInput(label="Value", width=260, css_classes=["wb-tag-value"])
        self._tag_set = pn.widgets.Button(label="Set tag", color="primary", width=100,
                                          align="end", css_classes=["wb-tag-set"])
        self._tag_set.on_click(lambda e: m.set_tag(self._tag_key.value, self._tag_value.value))
        self._tag_delete = pn.widgets.Button(label="Delete tag", width=100, align="end",
                                             css_classes=["wb-tag-delete"])
        self._tag_delete.on_click(lambda e: m.delete_tag(self._tag_key.value.strip()))

        self._datasets = pn.widgets.Tabulator(pd.DataFrame(), **table_opts)
        self._artifacts = pn.widgets.Tabulator(pd.DataFrame(), selectable=1, disabled=True,
                                               show_index=False, width=380, max_height=420,
                                               layout="fit_data_table", css_classes=["wb-artifacts"])
        self._artifacts.on_click(self._on_artifact_click)
        self._preview = pn.Column(sizing_mode="stretch_width", css_classes=["wb-preview"])
        self._env = pn.widgets.Tabulator(pd.DataFrame(), **table_opts)
        self._packages = pn.widgets.Tabulator(pd.DataFrame(), **table_opts)

        self._tabs = pn.Tabs(
            ("Overview", pn.Column(pn.pane.Markdown("#### Run"), self._info,
                                   pn.pane.Markdown("#### Params"), self._params,
                                   pn.pane.Markdown("#### Child runs"), self._children,
                                   sizing_mode="stretch_width")),
            ("Metrics", pn.Column(self._single_title, self._single, self._history_title,
                                  self._metrics, self._plot_keys, self._plots,
                                  sizing_mode="stretch_width")),
            ("Tags", pn.Column(self._tags, pn.Row(self._tag_key, self._tag_value, self._tag_set,
                                                  self._tag_delete),
                               pn.pane.Markdown("Edit a value in the table, or set/delete a tag by "
                                                "key.", styles={"color": "#6c757d"}),
                               sizing_mode="stretch_width")),
            ("Datasets", self._datasets),
            ("Artifacts", pn.Row(self._artifacts, self._preview,
                                 sizing_mode="stretch_width")),
            ("Environment", pn.Column(self._env, pn.pane.Markdown("#### Packages"),
                                      self._packages, sizing_mode="stretch_width")),
            dynamic=False, sizing_mode="stretch_width", css_classes=["wb-run-tabs"],
        )
        m.param.watch(self._sync_all, ["run"])
        m.param.watch(self._sync_histories, ["histories"])
        m.param.watch(self._sync_plot_keys, ["plot_keys"])
        m.param.watch(self._sync_tags, ["tags"])
        m.param.watch(self._sync_preview, ["preview"])
        m.param.watch(self._sync_actions, ["pending", "message", "run"])
        self._sync_all()
        self._layout = pn.Column(
            self._errors, pn.Row(self._header, self._parent_button, sizing_mode="stretch_width"),
            pn.Row(self._delete, self._restore), self._confirm_bar, self._message, self._tabs,
            sizing_mode="stretch_width", css_classes=["wb-run-detail"],
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # -- sync ---------------------------------------------------------------------
    def _sync_all(self, *events: Any) -> None:
        m = self.model
        run = m.run
        with pn.io.hold():
            if not run:
                self._header.object = (
                    "<p style='color:#6c757d'>No run selected: pick one in the Runs table.</p>"
                    if not m.run_id else ""
                )
                self._tabs.visible = False
                self._parent_button.visible = False
                self._sync_actions()
                return
            self._tabs.visible = True
            self._header.object = (
                f"<h3 style='margin:0'>{html.escape(str(run['run_name']))} "
                f"{status_badge(run['status'])}"
                + (" <span class='wb-deleted' style='color:#b02a37'>(deleted)</span>" if m.deleted else "")
                + f"</h3><div style='color:#6c757d'>experiment <b>{html.escape(str(run['experiment']))}</b>"
                f" · run id <code>{html.escape(run['run_id'])}</code></div>"
            )
            info = {k: run.get(k) for k in ("run_id", "run_name", "experiment", "status", "start_time",
                                            "end_time", "user", "source", "git_commit", "git_dirty",
                                            "parent_run_id", "description", "deleted_at")}
            self._info.value = frame_of_dict(info, "field", "value")
            self._params.value = frame_of_dict(run["params"], "param", "value")
            children = m.children if m.children is not None else pd.DataFrame()
            if len(children):
                children = children.assign(status=children["status"].map(status_badge))
                for col in ("start_time", "end_time"):
                    children[col] = children[col].dt.strftime("%Y-%m-%d %H:%M:%S")
            self._children.value = children
            single, histories = m.single_values(), m.history_keys
            self._single.value = single.assign(value=single["value"].map(format_value))
            self._single.visible = self._single_title.visible = len(single) > 0
            self._metrics.value = m.history_summary()
            self._metrics.visible = self._plot_keys.visible = bool(histories)
            self._history_title.visible = bool(histories) and len(single) > 0
            self._plot_keys.options = histories
            self._plot_keys.value = [k for k in m.plot_keys if k in histories]
            ds = m.datasets if m.datasets is not None else pd.DataFrame()
            if len(ds) and "schema" in ds:
                ds = ds.assign(schema=ds["schema"].map(lambda s: json.dumps(s)[:120] if s else ""))
            self._datasets.value = ds
            arts = m.artifacts if m.artifacts is not None else pd.DataFrame()
            if len(arts):
                arts = arts.assign(sha256=arts["sha256"].str[:12],
                                   created_at=arts["created_at"].dt.strftime("%Y-%m-%d %H:%M"))
            self._artifacts.value = arts
            env = dict(m.environment)
            packages = env.pop("packages", {}) or {}
            self._env.value = frame_of_dict(env, "field", "value")
            self._packages.value = frame_of_dict(dict(sorted(packages.items())), "package", "version")
            parent = m.parent
            self._parent_button.visible = bool(parent)
            if parent:
                self._parent_button.label = f"↑ Parent run: {parent['run_name']}"
            self._sync_histories()
            self._sync_tags()
            self._sync_actions()

    def _sync_histories(self, *events: Any) -> None:
        panes = [
            pn.pane.HoloViews(history_plot(key, df), sizing_mode="stretch_width", height=260)
            for key, df in self.model.histories.items()
        ]
        if not panes:
            m = self.model
            if self._plot_keys.options:
                text = "Pick metrics to plot."
            elif m.single_value_keys:
                text = ("This run logged no metric histories: each of its metrics has one "
                        "value, in the table above.")
            else:
                text = "This run has no metrics."
            panes = [pn.pane.Markdown(text, css_classes=["wb-plots-note"])]
        self._plots.objects = panes

    def _sync_plot_keys(self, *events: Any) -> None:
        """The picker shows the model's plotted metrics (a new run sets its own defaults)."""
        options = list(self._plot_keys.options)
        self._plot_keys.value = [k for k in self.model.plot_keys if k in options]

    def _sync_tags(self, *events: Any) -> None:
        tags = self.model.tags
        self._tags.value = tags if tags is not None else pd.DataFrame(columns=["key", "value"])

    def _sync_preview(self, *events: Any) -> None:
        m = self.model
        preview = m.preview
        title = pn.pane.Markdown(f"**{html.escape(m.artifact)}**" if m.artifact else "")
        kind = preview.get("kind")
        if kind == "image":
            content = preview["content"]
            if preview.get("suffix") == ".svg":
                body = pn.pane.SVG(content.decode("utf-8", errors="replace"), max_width=700)
            else:
                body = pn.pane.Image(io.BytesIO(content), max_width=700, sizing_mode="scale_width")
        elif kind == "table":
            rows = preview.get("rows")
            note = f"first {len(preview['content'])} rows" + (f" of {rows:,}" if rows else "")
            body = pn.Column(pn.pane.Markdown(note),
                             pn.widgets.Tabulator(preview["content"], disabled=True, max_height=500,
                                                  sizing_mode="stretch_width"),
                             sizing_mode="stretch_width")
        elif kind == "text":
            text = preview["content"] + ("\n… (truncated)" if preview.get("truncated") else "")
            body = pn.pane.HTML(f"<pre style='max-height:500px;overflow:auto'>{html.escape(text)}</pre>",
                                sizing_mode="stretch_width")
        elif kind in ("binary", "error"):
            body = pn.pane.Alert(preview["content"],
                                 alert_type="secondary" if kind == "binary" else "danger")
        else:
            body = pn.pane.Markdown("This run has no artifacts." if self._artifacts.value.empty
                                    else "Click an artifact to preview it.")
        self._preview.objects = [title, body]

    def _sync_actions(self, *events: Any) -> None:
        m = self.model
        has_run = bool(m.run)
        self._delete.visible = has_run and not m.deleted
        self._restore.visible = has_run and m.deleted
        self._confirm_bar.visible = bool(m.pending)
        self._confirm_text.object = (
            "Delete this run (and its child runs)? It can be restored afterwards."
            if m.pending == "delete" else "Restore this run (and its child runs)?"
        )
        self._confirm_yes.label = "Delete" if m.pending == "delete" else "Restore"
        self._confirm_yes.color = "danger" if m.pending == "delete" else "success"
        self._message.object = m.message
        self._message.visible = bool(m.message)

    # -- events --------------------------------------------------------------------
    def _open(self, run_id: str) -> None:
        if not run_id:
            return
        if self.on_open is not None:
            self.on_open(run_id)
        else:
            self.model.run_id = run_id

    def _on_child_click(self, event: Any) -> None:
        children = self._children.value
        if event.row is not None and event.row < len(children):
            self._open(children.iloc[event.row]["run_id"])

    def _on_artifact_click(self, event: Any) -> None:
        arts = self._artifacts.value
        if event.row is not None and event.row < len(arts):
            self.model.select_artifact(arts.iloc[event.row]["path"])

    def _on_tag_edit(self, event: Any) -> None:
        tags = self._tags.value
        if event.column == "value" and event.row is not None and event.row < len(tags):
            self.model.set_tag(tags.iloc[event.row]["key"], str(event.value))


__all__ = ["MAX_POINTS", "RunDetail", "RunDetailModel", "format_value", "history_plot", "preview_artifact"]
