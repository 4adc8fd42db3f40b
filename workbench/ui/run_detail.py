"""The Run detail screen: everything recorded about one run.

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
from pathlib import PurePosixPath
from typing import Any

import pandas as pd
import panel as pn
import param

from workbench.store.store import Store
from workbench.ui.widgets import (
    ErrorBanner,
    error_message,
    format_value,
    frame_of_dict,
    guarded,
    status_badge,
)

#: Points per metric history plot (the store downsamples, keeping spikes).
MAX_POINTS = 1000
#: Metric histories plotted before the user picks others.
DEFAULT_PLOTS = 4
#: Rows and characters shown in artifact previews.
PREVIEW_ROWS = 20
PREVIEW_CHARS = 20_000

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}
TABLE_SUFFIXES = {".csv", ".tsv", ".parquet", ".pq"}
TEXT_SUFFIXES = {".txt", ".md", ".json", ".yaml", ".yml", ".log", ".py", ".toml", ".cfg", ".ini",
                 ".html", ".xml", ".sql", ".sh"}


class RunDetailModel(param.Parameterized):
    """State and actions of the run detail; drive it directly in tests."""

    store = param.ClassSelector(class_=Store, allow_refs=False)
    run_id = param.String(default="")
    run = param.Dict(default={}, doc="get_run() of the run")
    metrics = param.DataFrame(default=None, doc="latest/min/max/count of each metric")
    plot_keys = param.List(default=[], item_type=str, doc="metrics whose histories are plotted")
    histories = param.Dict(default={}, doc="metric key -> history DataFrame (downsampled)")
    tags = param.DataFrame(default=None)
    datasets = param.DataFrame(default=None)
    artifacts = param.DataFrame(default=None)
    children = param.DataFrame(default=None)
    environment = param.Dict(default={})
    parent = param.Dict(default={}, doc="run_id, run_name of the parent run, if any")
    artifact = param.String(default="", doc="path of the artifact previewed")
    preview = param.Dict(default={}, doc="kind ('image'|'table'|'text'|'binary') and content")
    pending = param.String(default="", doc="'delete' or 'restore' awaiting confirmation")
    message = param.String(default="")
    error = param.String(default="")

    def __init__(self, store: Store, **params: Any) -> None:
        super().__init__(store=store, **params)
        if self.run_id:
            self.load()

    @param.depends("run_id", watch=True)
    def load(self) -> None:
        """Load everything about ``run_id`` from the store."""
        self.error = self.message = self.pending = ""
        self.artifact, self.preview = "", {}
        if not self.run_id:
            self.run = {}
            return
        s, rid = self.store, self.run_id
        try:
            run = s.get_run(rid)
            self.metrics = s.latest_metrics([rid])
            self.tags = frame_of_dict(run["tags"])
            self.datasets = s.run_datasets(rid)
            self.artifacts = s.list_artifacts(rid)
            self.children = s.child_runs(rid)
            self.environment = s.environment(rid)
            parent = {}
            if run.get("parent_run_id"):
                try:
                    p = s.get_run(run["parent_run_id"])
                    parent = {"run_id": p["run_id"], "run_name": p["run_name"]}
                except Exception:
                    parent = {"run_id": run["parent_run_id"], "run_name": "(missing)"}
            self.parent = parent
            self.run = run
        except Exception as exc:
            self.run = {}
            self.error = error_message(exc)
            return
        keys = list(self.metrics["key"]) if self.metrics is not None else []
        self.plot_keys = keys[:DEFAULT_PLOTS]
        self._load_histories()
        if self.artifacts is not None and len(self.artifacts):
            self.select_artifact(self.artifacts.iloc[0]["path"])

    @param.depends("plot_keys", watch=True)
    def _load_histories(self) -> None:
        histories = {}
        for key in self.plot_keys:
            df = guarded(self, self.store.metric_history, self.run_id, key, max_points=MAX_POINTS)
            if df is not None:
                histories[key] = df
        self.histories = histories

    # -- tags ------------------------------------------------------------------
    def set_tag(self, key: str, value: str) -> None:
        key = (key or "").strip()
        if not key:
            self.error = "a tag needs a key"
            return
        if guarded(self, self.store.set_tag, self.run_id, key, value) is None and self.error:
            return
        self.error = ""
        self.message = f"Tag {key!r} set."
        self._reload_tags()

    def delete_tag(self, key: str) -> None:
        if guarded(self, self.store.delete_tag, self.run_id, key) is None and self.error:
            return
        self.error = ""
        self.message = f"Tag {key!r} deleted."
        self._reload_tags()

    def _reload_tags(self) -> None:
        run = guarded(self, self.store.get_run, self.run_id)
        if run is not None:
            self.tags = frame_of_dict(run["tags"])
            self.run = run

    # -- delete / restore ----------------------------------------------------------
    @property
    def deleted(self) -> bool:
        value = self.run.get("deleted_at")
        return value is not None and not (isinstance(value, float) and pd.isna(value))

    def request(self, action: str) -> None:
        if action not in ("delete", "restore"):
            raise ValueError(f"unknown action {action!r}")
        self.pending = action

    def cancel(self) -> None:
        self.pending = ""

    def confirm(self) -> None:
        action, self.pending = self.pending, ""
        if not action:
            return
        method = self.store.delete_run if action == "delete" else self.store.restore_run
        if guarded(self, method, self.run_id) is None and self.error:
            return
        run = guarded(self, self.store.get_run, self.run_id)
        if run is not None:
            self.run = run
        self.message = "Run deleted (restore it here or from the deleted runs view)." if action == "delete" else "Run restored."

    # -- artifacts -------------------------------------------------------------------
    def select_artifact(self, path: str) -> None:
        """Preview one artifact: image, table head (CSV/Parquet), text, or its size."""
        self.artifact = path
        try:
            self.preview = preview_artifact(self.store, self.run_id, path)
        except Exception as exc:
            self.preview = {"kind": "error", "content": error_message(exc)}


def preview_artifact(store: Store, run_id: str, path: str) -> dict[str, Any]:
    """A preview of an artifact: ``{"kind": ..., "content": ...}``."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return {"kind": "image", "content": store.read_artifact(run_id, path), "suffix": suffix}
    if suffix in TABLE_SUFFIXES:
        file = store.artifact_file(run_id, path)
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(file)
            batch = next(pf.iter_batches(batch_size=PREVIEW_ROWS), None)
            head = batch.to_pandas() if batch is not None else pd.DataFrame()
            total = pf.metadata.num_rows
        else:
            sep = "\t" if suffix == ".tsv" else ","
            head = pd.read_csv(file, nrows=PREVIEW_ROWS, sep=sep)
            total = None
        return {"kind": "table", "content": head, "rows": total}
    data = store.read_artifact(run_id, path)
    if suffix in TEXT_SUFFIXES or _looks_like_text(data):
        text = data[:PREVIEW_CHARS].decode("utf-8", errors="replace")
        if suffix == ".json" and len(data) <= PREVIEW_CHARS:
            try:
                text = json.dumps(json.loads(text), indent=2)
            except ValueError:
                pass
        return {"kind": "text", "content": text, "truncated": len(data) > PREVIEW_CHARS}
    return {"kind": "binary", "content": f"{len(data):,} bytes (no preview for this file type)"}


def _looks_like_text(data: bytes) -> bool:
    sample = data[:2048]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def history_plot(key: str, df: pd.DataFrame):
    """A HoloViews curve (with points, so single values show) of one metric history."""
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401 - registers the backend the options are for

    if len(df) == 0:
        return hv.Text(0, 0, f"{key}: no points").opts(title=key)
    curve = hv.Curve(df, "step", "value", label=key).opts(
        tools=["hover"], color="#0d6efd", line_width=2
    )
    points = hv.Scatter(df, "step", "value").opts(color="#0d6efd", size=4 if len(df) < 60 else 0)
    return (curve * points).opts(title=key, responsive=True, height=240, show_legend=False)


class RunDetail(pn.viewable.Viewer):
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
        self._metrics = pn.widgets.Tabulator(pd.DataFrame(), **table_opts)
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
            ("Metrics", pn.Column(self._metrics, self._plot_keys, self._plots,
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
            metrics = m.metrics if m.metrics is not None else pd.DataFrame()
            self._metrics.value = metrics.drop(columns=["run_id"], errors="ignore")
            self._plot_keys.options = list(metrics["key"]) if len(metrics) else []
            self._plot_keys.value = list(m.plot_keys)
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
            panes = [pn.pane.Markdown("This run has no metrics." if not self._plot_keys.options
                                      else "Pick metrics to plot.")]
        self._plots.objects = panes

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


__all__ = ["RunDetail", "RunDetailModel", "format_value", "history_plot", "preview_artifact"]
