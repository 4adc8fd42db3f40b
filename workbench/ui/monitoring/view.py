"""The Monitoring screen: run drift reports, browse the saved ones, drill into a column.

``MonitoringView(store)`` is the page of the app (``?page=monitoring&report=<id>``);
``DriftReportView(report)`` shows one report on its own, the same panels, in JupyterLab::

    import workbench as wb
    wb.ui.extension()
    rep = wb.drift_report(ref_df, cur_df)
    wb.ui.DriftReportView(rep)          # or just `rep` once wb.ui is imported

The tabs: Columns (summary, the per-column table sorted by score / threshold with a
small reference-vs-current histogram per row, and the opened column's overlaid
histogram, ECDF, quality figures and score over time), Over time (heatmap of
windows x columns and a column's score line with threshold and change points),
Data quality, Multivariate (domain classifier).
"""

from __future__ import annotations

import html
import io
from typing import Any

import pandas as pd
import panel as pn
import param

from workbench.ui.components.echart import EChart
from workbench.ui.components.notebook import NotebookScreen
from workbench.ui.components.widgets import ErrorBanner
from workbench.ui.monitoring import charts
from workbench.ui.monitoring.alerts_model import AlertRulesModel
from workbench.ui.monitoring.alerts_view import AlertsPanel
from workbench.ui.monitoring.model import CURRENT_KINDS, REFERENCE_KINDS, MonitoringModel

_FMT = {"score": {"type": "money", "precision": 4}, "threshold": {"type": "money", "precision": 3},
        "score / threshold": {"type": "money", "precision": 2},
        "missing (cur)": {"type": "money", "precision": 3}, "distribution": {"type": "html"},
        "drifted": {"type": "tickCross"}}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return ", ".join(map(str, v)) or "none"
    return str(v)


class _ReportPanels:
    """The report's tabs, built on ``self.model`` (shared by both views)."""

    model: MonitoringModel

    def _build_report(self) -> pn.Tabs:
        m = self.model
        self._summary = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-drift-summary"])
        self._drifted_only = pn.widgets.Checkbox(label="only drifted columns", value=m.drifted_only,
                                                 css_classes=["wb-drift-only"])
        self._drifted_only.link(m, value="drifted_only")
        self._table = pn.widgets.Tabulator(
            pd.DataFrame(), disabled=True, show_index=False, formatters=_FMT, selectable=1,
            hidden_columns=["status"],
            layout="fit_data_fill", height=330, sizing_mode="stretch_width",
            widths={"distribution": 170}, titles={"score / threshold": "score/thr."},
            header_align="left", css_classes=["wb-drift-columns"])
        self._table.on_click(self._on_row)
        self._detail_head = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-drift-column"])
        self._quality_figs = pn.pane.HTML("", sizing_mode="stretch_width")
        self._hist = EChart(height=300, sizing_mode="stretch_width", css_classes=["wb-drift-hist"])
        self._ecdf = EChart(height=300, sizing_mode="stretch_width", css_classes=["wb-drift-ecdf"])
        self._col_time = EChart(height=280, sizing_mode="stretch_width", css_classes=["wb-drift-col-time"])
        self._no_time = pn.pane.Markdown("", visible=False)
        self._quality_figs.param.update(sizing_mode="fixed", width=260)
        detail = pn.Column(self._detail_head,
                           pn.Row(self._quality_figs, self._hist, self._ecdf, sizing_mode="stretch_width"),
                           self._no_time, self._col_time, sizing_mode="stretch_width")
        columns_tab = pn.Column(self._summary, self._drifted_only, self._table, detail,
                                sizing_mode="stretch_width")

        self._ot_select = pn.widgets.Select(label="drift over time", options={}, width=420)
        self._ot_select.param.watch(lambda e: e.new and m.open_over_time(e.new), "value")
        self._heat = EChart(height=420, sizing_mode="stretch_width", css_classes=["wb-drift-heatmap"])
        self._ot_column = pn.widgets.Select(label="column", options=[], width=250)
        self._ot_column.param.watch(lambda e: self._draw_line(), "value")
        self._ot_line = EChart(height=300, sizing_mode="stretch_width", css_classes=["wb-drift-score-line"])
        self._since = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False, width=300,
                                           height=300)
        self._ot_empty = pn.pane.Markdown(
            "No drift-over-time result is saved in this store: compute one with "
            "`wb.drift_over_time(current, reference=..., time_column=..., freq='1W', store=store)`.",
            visible=False)
        time_tab = pn.Column(pn.Row(self._ot_select, self._ot_column), self._ot_empty, self._heat,
                             pn.Row(self._ot_line, pn.Column("**first change point (since when)**",
                                                             self._since)),
                             sizing_mode="stretch_width")

        self._tq = pn.pane.HTML("", sizing_mode="stretch_width")
        self._quality = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False,
                                             layout="fit_data_table", height=420,
                                             sizing_mode="stretch_width", css_classes=["wb-drift-quality"])
        quality_tab = pn.Column(self._tq, self._quality, sizing_mode="stretch_width")

        self._mv_head = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-drift-mv"])
        self._mv_chart = EChart(height=340, sizing_mode="stretch_width")
        self._mv_rows = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False,
                                             layout="fit_data_table", height=300,
                                             sizing_mode="stretch_width")
        mv_tab = pn.Column(self._mv_head, self._mv_chart, "**Most current-like reference rows**",
                           self._mv_rows, sizing_mode="stretch_width")
        self._tabs = pn.Tabs(("Columns", columns_tab), ("Over time", time_tab),
                             ("Data quality", quality_tab), ("Multivariate", mv_tab),
                             dynamic=False, sizing_mode="stretch_width")
        m.param.watch(lambda *e: self._draw_report(), ["report", "drifted_only"])
        m.param.watch(lambda e: self._draw_column(), "column")
        m.param.watch(lambda *e: self._draw_over_time(), ["over_time", "over_time_list"])
        self._draw_over_time()
        self._draw_report()
        return self._tabs

    # -- drawing ---------------------------------------------------------------------
    def _draw_report(self) -> None:
        m = self.model
        s = m.summary()
        if not s:
            self._summary.object = ("<p class='wb-drift-empty'>No drift report yet: run one above, or "
                                    "in Python: <code>wb.drift_report(reference, current, store=store)</code>.</p>")
            self._table.value = pd.DataFrame()
            self._table.visible = self._drifted_only.visible = False
            self._draw_column()
            return
        self._table.visible = self._drifted_only.visible = True
        verdict = ("<span class='wb-verdict' style='background:#c0392b'>dataset drift</span>"
                   if s["dataset_drift"] else
                   "<span class='wb-verdict' style='background:#27ae60'>no dataset drift</span>")
        st = s["by_status"]
        self._summary.object = (
            "<style>.wb-verdict{color:#fff;padding:3px 10px;border-radius:4px;font-weight:600}</style>"
            f"<div style='font-size:15px'>{verdict} &nbsp; <b>{s['share_drifted']:.0%}</b> of the "
            f"{s['n_tested']} tested columns drifted (verdict at &ge; {s['drift_share']:.0%}) &nbsp;·&nbsp; "
            f"<span style='color:#c0392b'>{st['drifted']} drifted</span>, {st['not drifted']} not drifted, "
            f"{st['not tested']} not tested</div>"
            f"<div style='color:#666'>{html.escape(s['name'] or '(unnamed)')} · reference: "
            f"{html.escape(s['reference'])} · current: {html.escape(s['current'])} · "
            f"{pd.Timestamp(s['created_at'], unit='s').strftime('%Y-%m-%d %H:%M:%S')} UTC · "
            f"id <code>{s['id']}</code></div>")
        self._table.value = m.column_table()
        self._draw_column()
        self._draw_quality()
        self._draw_multivariate()

    def _on_row(self, event: Any) -> None:
        df = self._table.value
        if event.row is not None and 0 <= event.row < len(df):
            self.model.column = str(df.iloc[event.row]["column"])

    def _draw_column(self) -> None:
        m = self.model
        d = m.column_detail()
        if not d:
            self._detail_head.object = ""
            self._quality_figs.object = ""
            for c in (self._hist, self._ecdf, self._col_time):
                c.option, c.visible = {}, False
            return
        r = d["row"]
        tested = r["status"] == "tested"
        p = "" if pd.isna(r.get("p_value")) else f", p-value {r['p_value']:.4g}"
        self._detail_head.object = (
            f"<h4 style='margin:4px 0'>{html.escape(m.column)} "
            f"<small style='color:{'#c0392b' if r['drifted'] else '#27ae60'}'>"
            f"{'drifted' if r['drifted'] else ('not drifted' if tested else html.escape(r['status']))}"
            f"</small></h4><div>{html.escape(str(r['type']))} · {html.escape(str(r['method'] or ''))} "
            f"statistic {_fmt(r['statistic'])}{p} · threshold {_fmt(r['threshold'])} · "
            f"rule <code>{html.escape(str(r['rule'] or ''))}</code></div>" + _typical_words(d))
        q = d["quality"]
        self._quality_figs.object = _figures_table(q, "font-size:12px") if q else ""
        self._hist.option, self._hist.visible = d["histogram"], bool(d["histogram"])
        self._ecdf.option, self._ecdf.visible = d["ecdf"], bool(d["ecdf"])
        self._col_time.option, self._col_time.visible = d["over_time"], bool(d["over_time"])
        self._no_time.object = "" if d["over_time"] else "*No score over time for this column.*"
        self._no_time.visible = not d["over_time"]
        if m.over_time is not None and m.column in self._ot_column.options:
            self._ot_column.value = m.column

    def _draw_over_time(self) -> None:
        m = self.model
        choices = m.over_time_choices()
        self._ot_select.options = choices
        if m.over_time_id and m.over_time_id in choices.values():
            self._ot_select.value = m.over_time_id
        ot = m.over_time
        self._ot_empty.visible = ot is None
        self._heat.visible = self._ot_line.visible = ot is not None
        if ot is None:
            return
        self._heat.option = m.heatmap()
        cols = list(dict.fromkeys(ot.scores["column"]))
        ranked = sorted(cols, key=lambda c: (ot.change_points.get(c) is None or not ot.change_points.get(c), c))
        self._ot_column.options = ranked
        if self._ot_column.value not in ranked:
            self._ot_column.value = m.column if m.column in ranked else (ranked[0] if ranked else None)
        self._since.value = m.first_drift()
        self._draw_line()
        self._draw_column()

    def _draw_line(self) -> None:
        ot, c = self.model.over_time, self._ot_column.value
        if ot is None or not c:
            return
        self._ot_line.option = charts.score_line_option(ot.scores, c, ot.change_points.get(c))

    def _draw_quality(self) -> None:
        m = self.model
        rep = m.report
        tq = rep.table_quality or {}
        self._tq.object = _figures_table(tq)
        self._quality.value = m.quality_table()

    def _draw_multivariate(self) -> None:
        mv = self.model.report.multivariate
        if mv is None:
            self._mv_head.object = ("<p>This report has no domain classifier: run "
                                    "<code>wb.drift_report(..., multivariate=True)</code> on reference rows "
                                    "(not a profile).</p>")
            self._mv_chart.option, self._mv_chart.visible = {}, False
            self._mv_rows.value = pd.DataFrame()
            self._mv_rows.visible = False
            return
        colour = "#c0392b" if mv.drifted else "#27ae60"
        self._mv_head.object = (
            f"<div style='font-size:15px'>domain classifier ROC AUC <b>{mv.roc_auc:.3f}</b> "
            f"(<span style='color:{colour}'>{'drift' if mv.drifted else 'no drift'}</span>: AUC &gt; "
            f"{mv.threshold}) on {mv.n_reference:,} reference and {mv.n_current:,} current rows</div>"
            f"<div style='color:#666'>{html.escape(', '.join(f'{k}: {v}' for k, v in mv.conventions.items()))}</div>")
        self._mv_chart.option, self._mv_chart.visible = charts.importance_option(mv.importance), True
        self._mv_rows.value = pd.DataFrame(mv.current_like_rows)
        self._mv_rows.visible = True


class MonitoringView(_ReportPanels, NotebookScreen):
    """The Monitoring page: ``MonitoringView(store, report_id=...)``; ``model`` is its view-model."""

    model = param.ClassSelector(class_=MonitoringModel)

    def __init__(self, store: Any = None, report_id: str = "", **params: Any) -> None:
        model = params.pop("model", None) or MonitoringModel(store, report_id=report_id)
        params.pop("on_open", None)
        params.pop("on_compare", None)
        super().__init__(model=model, **params)
        self._periodic = None
        self._layout = self._build()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    def _build(self) -> pn.Column:
        m = self.model
        self._reports = pn.widgets.Select(label="saved report", options=m.report_choices(), width=560,
                                          value=m.report_id or None, css_classes=["wb-drift-reports"])
        self._reports.param.watch(lambda e: e.new and e.new != m.report_id and m.open_report(e.new), "value")
        m.param.watch(self._sync_reports, ["reports", "report_id"])
        self._download = pn.widgets.FileDownload(callback=self._export, filename="drift-report.html",
                                                 label="Export HTML", width=140,
                                                 css_classes=["wb-drift-export"])
        self._form = self._build_form()
        self._error = ErrorBanner()
        m.param.watch(lambda e: setattr(self._error, "message", e.new), "error")
        report = self._build_report()
        # the alert rules of the store, and what fired: re-read when a report is saved
        self.alerts = AlertRulesModel(m.store)
        self._tabs.append(("Alerts", AlertsPanel(self.alerts)))
        m.param.watch(lambda e: self.alerts.refresh(), "reports")
        return pn.Column(
            pn.Row(self._reports, pn.Column(pn.Spacer(height=18), self._download)),
            self._form, self._error, report, sizing_mode="stretch_width")

    def _sync_reports(self, *events: Any) -> None:
        m = self.model
        self._reports.options = m.report_choices()
        if m.report_id in self._reports.options.values():
            self._reports.value = m.report_id

    def _export(self) -> io.StringIO:
        rep = self.model.report
        name = (rep.name or "drift-report") if rep is not None else "drift-report"
        self._download.filename = f"{name}-{rep.id[:8] if rep else 'empty'}.html"
        return io.StringIO(rep.to_html() if rep is not None else "<p>no report</p>")

    # -- the new-report form ------------------------------------------------------------
    def _build_form(self) -> pn.Card:
        m = self.model
        self._ref_kind = pn.widgets.Select(label="reference", options={v: k for k, v in REFERENCE_KINDS.items()},
                                           value=m.reference_kind, width=220)
        self._ref_pick = pn.widgets.Select(label="which", options={}, width=320, css_classes=["wb-drift-ref"])
        self._ref_file = pn.widgets.TextInput(label="Parquet path or glob", width=320, visible=False)
        self._cur_kind = pn.widgets.Select(label="current", options={v: k for k, v in CURRENT_KINDS.items()},
                                           value=m.current_kind, width=220)
        self._cur_pick = pn.widgets.Select(label="which", options={}, width=320, css_classes=["wb-drift-cur"])
        self._cur_file = pn.widgets.TextInput(label="Parquet path or glob", width=320, visible=False,
                                              css_classes=["wb-drift-cur-file"])
        self._name = pn.widgets.TextInput(label="report name", width=220, placeholder="e.g. churn-daily")
        self._run = pn.widgets.Button(label="Run report", color="primary", width=140,
                                      css_classes=["wb-drift-run"], align="end")
        self._progress = pn.indicators.Progress(value=0, max=100, width=300, visible=False, bar_color="info",
                                                css_classes=["wb-drift-progress"])
        self._status = pn.pane.HTML("", css_classes=["wb-drift-status"])
        for w in (self._ref_kind, self._cur_kind):
            w.param.watch(lambda e: self._fill_pickers(), "value")
        self._run.on_click(self._on_run)
        m.param.watch(self._on_progress, ["running", "progress", "status"])
        self._fill_pickers()
        return pn.Card(
            pn.Row(self._ref_kind, self._ref_pick, self._ref_file),
            pn.Row(self._cur_kind, self._cur_pick, self._cur_file),
            pn.Row(self._name, self._run, pn.Column(self._progress, self._status)),
            title="New report", collapsed=False, sizing_mode="stretch_width", css_classes=["wb-drift-form"])

    def preset(self, current: str = "", reference: str = "") -> None:
        """Fill the New report form from a link (see :meth:`MonitoringModel.preset`)."""
        if not (current or reference):
            return
        m = self.model
        m.preset(current=current, reference=reference)
        self._ref_kind.value, self._cur_kind.value = m.reference_kind, m.current_kind
        self._fill_pickers()
        for pick, chosen in ((self._ref_pick, m.reference), (self._cur_pick, m.current)):
            if chosen and chosen not in pick.options.values():
                # what the link names, even when the list does not offer it (e.g. @12h): never
                # silently another dataset or deployment
                pick.options = {f"{chosen} (from the link)": chosen,
                                **{k: v for k, v in pick.options.items() if v}}
                pick.disabled = False
            if chosen:
                pick.value = chosen

    def _fill_pickers(self) -> None:
        m = self.model
        for kind_w, pick, file_w, chosen in (
                (self._ref_kind, self._ref_pick, self._ref_file, m.reference),
                (self._cur_kind, self._cur_pick, self._cur_file, m.current)):
            kind = kind_w.value
            is_file = kind == "file"
            file_w.visible, pick.visible = is_file, not is_file
            if not is_file:
                opts = m.source_choices(kind)
                pick.options = opts or {"(none in this store)": ""}
                pick.disabled = not opts
                if pick.value not in pick.options.values():
                    # the model's choice (a link from another page) if offered, else the first
                    values = list(pick.options.values())
                    pick.value = chosen if chosen in values else values[0]

    def _on_run(self, event: Any = None) -> None:
        m = self.model
        ref = self._ref_file.value if self._ref_kind.value == "file" else self._ref_pick.value
        cur = self._cur_file.value if self._cur_kind.value == "file" else self._cur_pick.value
        m.param.update(reference_kind=self._ref_kind.value, reference=ref or "",
                       current_kind=self._cur_kind.value, current=cur or "", report_name=self._name.value)
        if m.start_report() and self._periodic is None:
            self._periodic = pn.state.add_periodic_callback(self._tick, period=250)

    def _tick(self) -> None:
        if not self.model.poll() and self._periodic is not None:
            self._periodic.stop()
            self._periodic = None

    def _on_progress(self, *events: Any) -> None:
        m = self.model
        self._run.disabled = m.running
        self._progress.visible = m.running
        self._progress.value = m.progress
        self._status.object = html.escape(m.status)


class DriftReportView(_ReportPanels, NotebookScreen):
    """One drift report's panels (JupyterLab): ``DriftReportView(rep)`` or ``DriftReportView(rep, store)``."""

    model = param.ClassSelector(class_=MonitoringModel)

    def __init__(self, report: Any, store: Any = None, **params: Any) -> None:
        model = MonitoringModel(store)
        model.set_report(report)
        super().__init__(model=model, **params)
        self._layout = pn.Column(self._build_report(), sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


def _typical_words(detail: dict[str, Any]) -> str:
    """A text column's words and texts that tell current from reference (empty for other columns)."""
    h = detail.get("text") or {}
    if not h:
        return ""
    parts = []
    for side in ("current", "reference"):
        words = ", ".join(html.escape(w) for w in h.get(f"words_{side}", [])) or "none"
        examples = "".join(f"<li>{html.escape(t[:160])}</li>" for t in h.get(f"examples_{side}", [])[:3])
        parts.append(f"<div class='wb-mon-words-{side}'><b>typical of {side}:</b> {words}"
                     f"<ul style='margin:2px 0 4px 18px;color:#555'>{examples}</ul></div>")
    return "<div style='font-size:12px;margin-top:4px'>" + "".join(parts) + "</div>"


def _figures_table(figures: dict[str, Any], style: str = "") -> str:
    """Name / value rows (quality figures), names spaced from their values."""
    rows = "".join(f"<tr><td style='padding-right:10px'>{html.escape(k.replace('_', ' '))}</td>"
                   f"<td><b>{html.escape(_fmt(v))}</b></td></tr>" for k, v in figures.items())
    return f"<table style='{style}'>{rows}</table>"
