"""The Pipelines screen's tabs under the editor: a step's log and output, versions and their
diff, the run history (open a run, compare runs) and the YAML (download, import).

A part of :class:`~workbench.ui.pipelines.view.PipelineEditor` (a mixin, like
:mod:`.graph`: it builds the tabs on the view and redraws them from the shared
:class:`~workbench.ui.pipelines.model.PipelineEditorModel`).
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn

from workbench.ui.pipelines.model import PipelineEditorModel


class _ResultTabs:
    """The editor's tabs: step log & output, versions & diff, run history, YAML."""

    model: PipelineEditorModel
    on_open: Callable[[str], None] | None
    on_compare: Callable[[list[str]], None] | None

    def _build_tabs(self) -> pn.Tabs:
        m = self.model
        self._detail = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-pl-detail"])
        self._open_step = pn.widgets.Button(label="Open the step's run", width=180,
                                            css_classes=["wb-pl-open-step"], visible=False)
        self._open_step.on_click(lambda e: self._open(m.detail.get("run_id")))
        self._log = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-pl-log"])
        self._va = pn.widgets.Select(label="Version A", options=[], width=120,
                                     css_classes=["wb-pl-va"])
        self._vb = pn.widgets.Select(label="Version B", options=[], width=120,
                                     css_classes=["wb-pl-vb"])
        self._show_diff = pn.widgets.Button(label="Show diff", width=110, align="end",
                                            css_classes=["wb-pl-diff"])
        self._show_diff.on_click(lambda e: m.show_diff(self._va.value, self._vb.value)
                                 if self._va.value and self._vb.value else None)
        self._load_version = pn.widgets.Button(label="Edit version A", width=130, align="end",
                                               css_classes=["wb-pl-load-version"])
        self._load_version.on_click(lambda e: m.load(m.pipeline_name, self._va.value)
                                    if self._va.value else None)
        self._versions = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False,
                                              sizing_mode="stretch_width", layout="fit_data_table",
                                              max_height=260, css_classes=["wb-pl-versions"])
        self._diff = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-pl-diff-out"])
        self._history = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False,
                                             selectable="checkbox", hidden_columns=["run_id"],
                                             sizing_mode="stretch_width", layout="fit_data_table",
                                             max_height=320, css_classes=["wb-pl-history"])
        self._open_run = pn.widgets.Button(label="Open run", width=110,
                                           css_classes=["wb-pl-open-run"])
        self._open_run.on_click(self._on_open_run)
        self._compare = pn.widgets.Button(label="Compare selected", width=150,
                                          css_classes=["wb-pl-compare"])
        self._compare.on_click(self._on_compare)
        self._yaml = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-pl-yaml"])
        self._yaml_download = pn.widgets.FileDownload(
            callback=lambda: io.StringIO(m.to_yaml()), filename="pipeline.yaml",
            label="Download YAML", width=160, css_classes=["wb-pl-yaml-download"])
        self._yaml_upload = pn.widgets.FileInput(accept=".yaml,.yml", width=260,
                                                 css_classes=["wb-pl-yaml-upload"])
        self._yaml_upload.param.watch(self._on_upload, "value")
        self._tabs = pn.Tabs(
            ("Step log & output", pn.Column(self._detail, self._open_step, self._log,
                                            sizing_mode="stretch_width")),
            ("Versions & diff", pn.Column(
                pn.Row(self._va, self._vb, self._show_diff, self._load_version),
                self._diff, self._versions, sizing_mode="stretch_width")),
            ("Run history", pn.Column(
                pn.pane.Markdown("Durations per step in seconds; tick runs to compare them.",
                                 margin=(0, 10)),
                pn.Row(self._open_run, self._compare), self._history,
                sizing_mode="stretch_width")),
            ("YAML", pn.Column(pn.Row(self._yaml_download, self._yaml_upload), self._yaml,
                               sizing_mode="stretch_width")),
            dynamic=False, sizing_mode="stretch_width", css_classes=["wb-pl-tabs"],
        )
        return self._tabs

    # -- events ------------------------------------------------------------------------------
    def _on_upload(self, event: Any) -> None:
        if not event.new:
            return
        data = event.new if isinstance(event.new, bytes) else str(event.new).encode()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.model.error = "Not imported: the file is not UTF-8 text"
            return
        self.model.import_yaml(text)

    def _open(self, run_id: str | None) -> None:
        if not run_id:
            return
        if self.on_open is not None:
            self.on_open(run_id)
        else:
            self.model.message = f"Run id: {run_id}"

    def _selected_history(self) -> list[str]:
        h = self.model.history
        if h is None or h.empty:
            return []
        return [str(h.iloc[i]["run_id"]) for i in self._history.selection if i < len(h)]

    def _on_open_run(self, event: Any) -> None:
        ids = self._selected_history()
        if not ids and self.model.history is not None and len(self.model.history):
            ids = [str(self.model.history.iloc[0]["run_id"])]
        if ids:
            self._open(ids[0])

    def _on_compare(self, event: Any) -> None:
        ids = self._selected_history()
        if len(ids) < 2:
            self.model.error = "Tick two or more runs in the history to compare them."
            return
        self.model.error = ""
        if self.on_compare is not None:
            self.on_compare(ids)

    def _sync_detail(self, *events: Any) -> None:
        d = self.model.detail
        if not d:
            self._detail.object = "<p style='color:#6c757d'>Select a step to see its log and output.</p>"
            self._log.object = ""
            self._open_step.visible = False
            return
        rows = [("step", d.get("step")), ("callable", d.get("callable")),
                ("status", d.get("status") or "not run"), ("attempts", d.get("attempts")),
                ("duration (s)", None if d.get("duration_s") is None else f"{d['duration_s']:.3f}"),
                ("output hash", (d.get("output_sha") or "")[:16]), ("error", d.get("error"))]
        table = "".join(f"<tr><th style='padding-right:12px;text-align:left'>{html.escape(k)}</th>"
                        f"<td>{html.escape(str(v))}</td></tr>" for k, v in rows if v not in (None, ""))
        self._detail.object = f"<table class='wb-pl-detail-table'>{table}</table>"
        self._open_step.visible = bool(d.get("run_id"))
        parts = []
        if d.get("output"):
            parts.append("<h6>Output</h6><pre class='wb-pl-output' style='max-height:260px;"
                         f"overflow:auto;background:#f8f9fa;padding:6px'>{html.escape(d['output'])}</pre>")
        parts.append("<h6>Log</h6><pre class='wb-pl-log-text' style='max-height:320px;overflow:auto;"
                     f"background:#f8f9fa;padding:6px'>{html.escape(d.get('log') or '(empty)')}</pre>")
        self._log.object = "".join(parts)

    def _sync_versions(self, *events: Any) -> None:
        m = self.model
        df = m.versions
        if df is None or df.empty:
            self._versions.value = pd.DataFrame(columns=["version", "message", "steps", "created_at"])
            self._va.options = self._vb.options = []
        else:
            view = df[["version", "message", "steps", "created_by", "created_at"]].copy()
            view["created_at"] = view["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
            self._versions.value = view
            options = [int(v) for v in df["version"]]
            self._va.options = self._vb.options = options
            if self._vb.value not in options:
                self._vb.value = options[-1]
            if self._va.value not in options:
                self._va.value = options[-2] if len(options) > 1 else options[-1]
        self._sync_title()

    def _sync_diff(self, *events: Any) -> None:
        d = self.model.diff
        if d is None:
            self._diff.object = ""
            return
        a, b = self.model.diff_pair
        self._diff.object = (f"<h6>From version {a} to version {b}</h6>"
                             f"<pre class='wb-pl-diff-text'>{html.escape(str(d))}</pre>")

    def _sync_history(self, *events: Any) -> None:
        h = self.model.history
        self._history.value = h if h is not None else pd.DataFrame(columns=["run"])
