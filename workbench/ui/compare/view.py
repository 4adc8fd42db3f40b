"""The Compare screen: 2 to 50 runs side by side.

``CompareModel`` is the view-model (state and actions, no browser needed);
``RunComparison`` is the view, the same object in ``panel serve`` and in
JupyterLab::

    from workbench.ui.compare.view import RunComparison
    RunComparison(store, run_ids=[id1, id2, id3])

It shows, in tabs built when first opened, (1) the metrics: every metric's history
overlaid (one ECharts canvas, a grid per metric, one line per run; x as step, wall
time or relative time; EMA smoothing; log scale) and, for a metric logged once per
run, one bar per run with the best one highlighted, (2) the latest metric values with
the best run per metric highlighted, (3) the params of the runs with the
differing ones highlighted, (4) parallel coordinates of the differing params
against a chosen metric and (5) a scatter of any param or metric against any
other.

Data comes from the Store API in three queries whatever the number of runs:
``search_runs`` for the runs and their params, ``latest_metrics`` for the
summary and ``metric_histories_by_key`` for every charted metric, downsampled
in SQL to ``max_points`` points per curve.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
import param

from workbench.store.store import Store
from workbench.ui.compare.model import (
    CompareModel,
    ema,
    guess_direction,
    run_colors,
)
from workbench.ui.compare.plots import parallel_plot, scatter_plot
from workbench.ui.components.echart import EChart
from workbench.ui.components.format import column_widths
from workbench.ui.components.notebook import NotebookScreen

_BEST_STYLE = "background-color: #c8f0c8; font-weight: bold"
_DIFF_STYLE = "background-color: #fff3c4"

class RunComparison(NotebookScreen):
    """The Compare screen for 2 to 50 runs: ``RunComparison(store, run_ids=[...])``.

    ``model`` is its :class:`CompareModel`; set ``run_ids`` (on the view or the
    model) to compare other runs.
    """

    model = param.ClassSelector(class_=CompareModel, doc="The view-model.")
    run_ids = param.List(default=[], doc="The runs to compare (mirrors model.run_ids).")

    def __init__(self, store: Store | None = None, run_ids: list[str] | None = None,
                 **params: Any) -> None:
        model_keys = {k: params.pop(k) for k in list(params) if k in CompareModel.param
                      and k not in ("name",)}
        ids = list(run_ids or [])
        model = params.pop("model", None) or CompareModel(store=store, run_ids=ids, **model_keys)
        super().__init__(model=model, run_ids=list(model.run_ids), **params)
        self.param.watch(self._to_model, "run_ids")
        self.model.param.watch(self._from_model, "run_ids")
        self._layout = self._build()

    def __panel__(self):
        return self._layout

    def _to_model(self, event) -> None:
        if list(event.new) != list(self.model.run_ids):
            self.model.run_ids = list(event.new)

    def _from_model(self, event) -> None:
        if list(event.new) != list(self.run_ids):
            self.run_ids = list(event.new)

    # -- sections ------------------------------------------------------
    def _build(self):
        m = self.model
        w = pn.widgets
        self.x_axis_widget = w.RadioButtonGroup.from_param(m.param.x_axis, label="x axis")
        self.smoothing_widget = w.FloatSlider.from_param(m.param.smoothing, label="Smoothing",
                                                         width=200)
        self.log_y_widget = w.Checkbox.from_param(m.param.log_y, label="log y", width=80,
                                                css_classes=["wb-log-y"])
        self.max_points_widget = w.IntInput.from_param(m.param.max_points,
                                                      label="Points per curve", width=130)
        self.metrics_widget = w.MultiChoice.from_param(m.param.chart_metrics, label="Metrics",
                                                       sizing_mode="stretch_width")
        self.only_diff_widget = w.Checkbox.from_param(m.param.only_differing,
                                                      label="only params that differ",
                                                      css_classes=["wb-only-differing"])
        self.parallel_widget = w.Select.from_param(m.param.parallel_metric, label="Metric axis",
                                                   width=220)
        self.scatter_x_widget = w.Select.from_param(m.param.scatter_x, label="x", width=220)
        self.scatter_y_widget = w.Select.from_param(m.param.scatter_y, label="y", width=220)
        self.chart = EChart(sizing_mode="stretch_width", css_classes=["wb-history-chart"])
        self.higher_widget = w.MultiChoice(label="Higher is better", options=[], value=[],
                                           sizing_mode="stretch_width")
        self.higher_widget.param.watch(self._on_higher, "value")
        m.param.watch(self._sync_higher, ["latest", "directions"])
        self._sync_higher()

        error = pn.pane.Alert(pn.bind(lambda e: e or "", m.param.error), alert_type="danger",
                              visible=pn.bind(bool, m.param.error), sizing_mode="stretch_width")
        header = pn.pane.Markdown(pn.bind(self._header, m.param.runs), margin=(0, 10))
        # Only the open tab is built and sent to the browser (dynamic tabs, lazy sections):
        # opening Compare costs the chart tab, not every section.
        self.tabs = pn.Tabs(
            ("Metrics", pn.Column(
                pn.Row(self.x_axis_widget, self.smoothing_widget, self.log_y_widget,
                       self.max_points_widget, css_classes=["wb-history-controls"],
                       visible=pn.bind(self._charts_histories, m.param.chart_metrics,
                                       m.param.latest)),
                self.metrics_widget,
                pn.pane.Markdown(pn.bind(self._chart_note, m.param.chart_metrics, m.param.latest),
                                 css_classes=["wb-chart-note"], margin=(0, 10),
                                 styles={"color": "#6c757d"}),
                self._section(self._charts_view, m.param.runs, m.param.chart_metrics,
                              m.param.x_axis, m.param.smoothing, m.param.log_y,
                              m.param.max_points, m.param.directions),
                sizing_mode="stretch_width")),
            ("Latest values", pn.Column(
                pn.pane.Markdown("Best run per metric in green."), self.higher_widget,
                self._section(self._summary_view, m.param.latest, m.param.directions),
                sizing_mode="stretch_width")),
            ("Parameters", pn.Column(
                pn.pane.Markdown("Values that differ between the runs are highlighted."),
                self.only_diff_widget,
                self._section(self._params_view, m.param.runs, m.param.only_differing),
                sizing_mode="stretch_width")),
            ("Parallel coordinates", pn.Column(
                self.parallel_widget,
                self._section(self._parallel_view, m.param.runs, m.param.parallel_metric,
                              m.param.directions))),
            ("Scatter", pn.Column(
                pn.Row(self.scatter_x_widget, self.scatter_y_widget),
                self._section(self._scatter_view, m.param.runs, m.param.scatter_x,
                              m.param.scatter_y))),
            dynamic=True, sizing_mode="stretch_width", css_classes=["wb-compare-tabs"],
        )
        body = pn.Column(
            self.tabs,
            visible=pn.bind(lambda e: not e, m.param.error),
            sizing_mode="stretch_width",
        )
        return pn.Column(header, error, body, sizing_mode="stretch_width",
                         css_classes=["wb-compare"])

    def _section(self, fn, *deps):
        """A section drawn by ``fn`` when first shown and whenever ``deps`` change."""
        return pn.param.ParamFunction(self._guard(fn, *deps), lazy=True,
                                      sizing_mode="stretch_width")

    def _guard(self, fn, *deps):
        """Bind ``fn`` to ``deps``; an exception becomes a readable alert, not a traceback."""

        def safe(*_):
            if self.model.runs is None:
                return pn.pane.Markdown("")
            try:
                return fn()
            except Exception as exc:
                return pn.pane.Alert(f"Could not draw this section: {type(exc).__name__}: {exc}",
                                     alert_type="warning")

        return pn.bind(safe, *deps)

    def _charts_histories(self, *_) -> bool:
        """True when a charted metric has a history (the x axis, smoothing... apply)."""
        single = set(self.model.single_value_metrics)
        return any(k not in single for k in self.model.chart_metrics)

    def _chart_note(self, *_) -> str:
        single = set(self.model.single_value_metrics)
        bars = [k for k in self.model.chart_metrics if k in single]
        if not bars:
            return ""
        return ("Logged once per run, so drawn as one bar per run, the best one outlined "
                "(★; ▲ marks the highest when which way is better is not known): "
                + ", ".join(bars) + ".")

    def _header(self, runs):
        if runs is None:
            return "## Compare runs"
        experiments = ", ".join(sorted(runs["experiment"].dropna().astype(str).unique()))
        return f"## Compare {len(runs)} runs" + (f" · {experiments}" if experiments else "")

    def _on_higher(self, event) -> None:
        metrics = self.model.metric_names
        if not metrics or self._syncing:
            return
        chosen = set(event.new)
        self.model.directions = {k: ("max" if k in chosen else "min") for k in metrics}

    _syncing = False

    def _sync_higher(self, *_) -> None:
        metrics = self.model.metric_names
        self._syncing = True
        try:
            self.higher_widget.options = metrics
            self.higher_widget.value = [k for k in metrics if self.model.direction(k) == "max"]
        finally:
            self._syncing = False

    def _summary_view(self):
        frame = self.model.summary_frame()
        mask = self.model.best_mask()
        metrics = self.model.metric_names
        frame[metrics] = frame[metrics].astype(object).where(frame[metrics].notna(), None)
        titles = {k: f"{k} {'↑' if self.model.direction(k) == 'max' else '↓'}"
                  for k in self.model.metric_names}
        # explicit widths (the text as shown, titles included): Tabulator need not measure
        shown = frame.drop(columns="run_id")
        shown[metrics] = shown[metrics].map(lambda v: "" if v is None else f"{v:.4f}")
        widths = dict(zip(shown.columns, column_widths(
            shown.set_axis([titles.get(c, c) for c in shown.columns], axis=1)).values(),
            strict=True))
        table = pn.widgets.Tabulator(
            frame, disabled=True, show_index=False, hidden_columns=["run_id"],
            frozen_columns=["run"], titles=titles, layout="fit_data_table",
            widths=widths,
            sizing_mode="stretch_width", max_height=420, selectable=False,
            formatters={k: {"type": "money", "precision": 4, "thousand": "",
                            "symbol": ""} for k in self.model.metric_names},
        )
        table.style.apply(lambda _df: mask.replace({True: _BEST_STYLE, False: ""}), axis=None)
        return table

    def _params_view(self):
        frame = self.model.params_frame()
        if frame.empty:
            return pn.pane.Markdown("*No params logged by these runs.*" if not
                                    self.model.only_differing else "*All params are equal.*")
        differs = frame["differs"].to_numpy()
        table = pn.widgets.Tabulator(
            frame, disabled=True, show_index=False, hidden_columns=["differs"],
            frozen_columns=["param"], layout="fit_data_table", sizing_mode="stretch_width",
            max_height=420, selectable=False,
        )
        table.style.apply(
            lambda df: pd.DataFrame(
                [[_DIFF_STYLE if d else ""] * df.shape[1] for d in differs],
                index=df.index, columns=df.columns,
            ),
            axis=None,
        )
        return table

    def _charts_view(self):
        if not self.model.chart_metrics:
            return pn.pane.Markdown("*Pick metrics to chart.*" if self.model.metric_names
                                    else "*These runs logged no metrics.*")
        # One chart object for the page's life: a new option redraws it in place.
        self.chart.param.update(option=self.model.history_chart(),
                                height=self.model.history_chart_height())
        return self.chart

    def _parallel_view(self):
        fig = parallel_plot(self.model)
        return pn.pane.Bokeh(fig, width=fig.width, height=fig.height)

    def _scatter_view(self):
        if self.model.scatter_frame().empty:
            return pn.pane.Markdown("*No run has both values.*")
        fig = scatter_plot(self.model)
        return pn.pane.Bokeh(fig, width=fig.width, height=fig.height)


__all__ = ["CompareModel", "RunComparison", "ema", "guess_direction", "run_colors"]
