"""The A/B screen: ``ABTestView(store)`` in the app, ``ABTestView(res)`` in JupyterLab.

Tabs: **Experiments** (status, SRM state, headline), **Results** (SRM banner, engine
switch, CUPED on/off, forest plot, table of raw and adjusted p-values, posteriors with
chance to win, cumulative lift with its always-valid band, guardrails), **Design**
(sample-size calculator with a live curve and the duration), **Bandits** (simulation)
and **Decision** (ship / stop / iterate with a comment, recorded in the store).

Re-analyses run in a background thread of :class:`ABTestModel`; the view polls it on a
periodic callback and shows a progress indicator meanwhile.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param

from workbench import abtest as ab
from workbench.ui.abtests.model import ENGINES, POLICIES, ABTestModel
from workbench.ui.components.echart import EChart
from workbench.ui.components.format import badge
from workbench.ui.components.notebook import NotebookScreen
from workbench.ui.components.widgets import ErrorBanner

POLL_MS = 200
GOOD, BAD, NEUTRAL = "#198754", "#dc3545", "#6c757d"
PALETTE = ["#0d6efd", "#fd7e14", "#20c997", "#6f42c1", "#d63384", "#ffc107"]
STATUS_COLOURS = {"draft": "#e9ecef", "running": "#cfe2ff", "stopped": "#fff3cd",
                  "decided": "#d1e7dd"}
SRM_COLOURS = {"ok": "#d1e7dd", "FLAGGED": "#f8d7da", "not analysed": "#e9ecef"}


def _fmt_p(p: Any) -> str:
    return "" if p is None or (isinstance(p, float) and math.isnan(p)) else (
        f"{p:.2e}" if p < 1e-4 else f"{p:.4f}")


def forest_option(lifts: pd.DataFrame) -> dict[str, Any]:
    """ECharts option: one row per (metric, variant), relative lift with its interval."""
    if lifts.empty:
        return {}
    labels = [f"{m} · {v}" for m, v in zip(lifts["metric"], lifts["variant"])][::-1]
    series: list[dict[str, Any]] = []
    points = []
    for (_, r), label in zip(lifts.iloc[::-1].iterrows(), labels):
        colour = GOOD if r["good"] else BAD if r["bad"] else NEUTRAL
        lo, hi, mid = 100 * r["rel_ci_low"], 100 * r["rel_ci_high"], 100 * r["rel_lift"]
        series.append({"type": "line", "data": [[lo, label], [hi, label]], "symbol": "none",
                       "lineStyle": {"color": colour, "width": 3}, "silent": True,
                       "name": label})
        points.append({"value": [mid, label], "itemStyle": {"color": colour}})
    series.append({"type": "scatter", "data": points, "symbolSize": 11, "name": "lift",
                   "markLine": {"silent": True, "symbol": "none", "data": [{"xAxis": 0}],
                                "lineStyle": {"color": "#212529", "type": "dashed"}}})
    return {"animation": False, "grid": {"left": 210, "right": 30, "top": 20, "bottom": 40},
            "xAxis": {"type": "value", "name": "relative lift (%)", "nameLocation": "middle",
                      "nameGap": 26, "scale": True},
            "yAxis": {"type": "category", "data": labels}, "tooltip": {"trigger": "item"},
            "series": series}


def posterior_option(lifts: pd.DataFrame) -> dict[str, Any]:
    """Normal posteriors of the relative lift (flat prior: N(lift, se^2)) per metric."""
    rows = lifts[~lifts["guardrail"].astype(bool)] if not lifts.empty else lifts
    if rows.empty:
        return {}
    series = []
    for i, (_, r) in enumerate(rows.iterrows()):
        m, s = 100 * float(r["rel_lift"]), 100 * float(r["rel_se"])
        if not (s > 0 and math.isfinite(m)):
            continue
        x = np.linspace(m - 4 * s, m + 4 * s, 121)
        y = np.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
        p = float(r["chance_to_win"])
        series.append({"type": "line", "showSymbol": False, "areaStyle": {"opacity": 0.15},
                       "name": f"{r['metric']} · {r['variant']}: P(win) {100 * p:.2f} %",
                       "data": np.column_stack([x, y]).round(6).tolist(),
                       "color": PALETTE[i % len(PALETTE)]})
    return {"animation": False, "legend": {"top": 0, "type": "scroll"},
            "grid": {"left": 60, "right": 30, "top": 50, "bottom": 40},
            "xAxis": {"type": "value", "name": "relative lift (%)", "nameLocation": "middle",
                      "nameGap": 26, "scale": True},
            "yAxis": {"type": "value", "name": "density"}, "tooltip": {"trigger": "axis"},
            "series": series}


def over_time_option(ot: pd.DataFrame, metric: str) -> dict[str, Any]:
    """Cumulative relative lift with its always-valid band and the fixed-horizon interval."""
    if ot.empty or metric not in set(ot["metric"]):
        return {}
    d = ot[ot["metric"] == metric]
    d = d[d["variant"] == d["variant"].iloc[0]]
    days = [str(t)[:10] for t in d["t"]]

    def pct(col: str) -> list[float]:
        return (100 * d[col]).round(4).tolist()

    lo, hi = pct("rel_cs_low"), pct("rel_cs_high")
    band = [round(h - lw, 4) for h, lw in zip(hi, lo)]
    return {
        "animation": False, "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "data": ["always-valid band", "fixed-horizon low",
                                      "fixed-horizon high", "lift"]},
        "grid": {"left": 60, "right": 30, "top": 40, "bottom": 40},
        "xAxis": {"type": "category", "data": days, "boundaryGap": False},
        "yAxis": {"type": "value", "name": "relative lift (%)", "scale": True},
        "series": [
            {"type": "line", "name": "cs_low", "data": lo, "stack": "cs", "showSymbol": False,
             "stackStrategy": "all",
             "lineStyle": {"opacity": 0}, "silent": True, "tooltip": {"show": False}},
            {"type": "line", "name": "always-valid band", "data": band, "stack": "cs",
             "stackStrategy": "all",
             "showSymbol": False, "lineStyle": {"opacity": 0}, "color": "#9ec5fe",
             "areaStyle": {"color": "#9ec5fe", "opacity": 0.5}},
            {"type": "line", "name": "fixed-horizon low", "data": pct("rel_fixed_low"),
             "showSymbol": False, "color": "#fd7e14", "lineStyle": {"type": "dashed"}},
            {"type": "line", "name": "fixed-horizon high", "data": pct("rel_fixed_high"),
             "showSymbol": False, "color": "#fd7e14", "lineStyle": {"type": "dashed"}},
            {"type": "line", "name": "lift", "data": pct("rel_lift"), "showSymbol": False,
             "color": "#0d6efd", "lineStyle": {"width": 2},
             "markLine": {"silent": True, "symbol": "none", "data": [{"yAxis": 0}],
                          "lineStyle": {"color": "#212529"}}},
        ],
    }


def design_option(curve: pd.DataFrame, mde: float, n: int | None, power: float) -> dict[str, Any]:
    if curve.empty:
        return {}
    data = np.column_stack([100 * curve["mde"], curve["n_per_arm"]]).round(4).tolist()
    series: list[dict[str, Any]] = [{"type": "line", "name": f"users per arm at power {power:.2f}",
                                     "data": data, "showSymbol": False, "color": "#0d6efd"}]
    if n:
        series.append({"type": "scatter", "name": "your design", "data": [[100 * mde, n]],
                       "symbolSize": 12, "color": BAD})
    return {"animation": False, "legend": {"top": 0}, "tooltip": {"trigger": "axis"},
            "grid": {"left": 80, "right": 30, "top": 40, "bottom": 45},
            "xAxis": {"type": "value", "name": "minimum detectable effect (relative, %)",
                      "nameLocation": "middle", "nameGap": 28},
            "yAxis": {"type": "log", "name": "users per arm"}, "series": series}


def bandit_options(sim: ab.BanditSimulation | None) -> tuple[dict[str, Any], dict[str, Any]]:
    if sim is None:
        return {}, {}
    c = sim.curve
    step = c["step"].astype(float).to_numpy()
    weights = [{"type": "line", "name": col[len("weight_"):], "showSymbol": False,
                "data": np.column_stack([step, c[col]]).round(5).tolist()}
               for col in c.columns if col.startswith("weight_")]
    regret = [{"type": "line", "name": sim.policy, "showSymbol": False, "color": "#0d6efd",
               "data": np.column_stack([step, c["regret"]]).round(4).tolist()},
              {"type": "line", "name": "fixed equal split", "showSymbol": False,
               "color": NEUTRAL, "lineStyle": {"type": "dashed"},
               "data": np.column_stack([step, c["fixed_regret"]]).round(4).tolist()}]
    base = {"animation": False, "legend": {"top": 0}, "tooltip": {"trigger": "axis"},
            "grid": {"left": 60, "right": 30, "top": 40, "bottom": 40},
            "xAxis": {"type": "value", "name": "step", "nameLocation": "middle", "nameGap": 26}}
    return ({**base, "yAxis": {"type": "value", "name": "allocation weight", "max": 1},
             "series": weights},
            {**base, "yAxis": {"type": "value", "name": "cumulative regret"}, "series": regret})


class ABTestView(NotebookScreen):
    """The A/B screen: ``ABTestView(store)``, ``ABTestView(res)`` or ``ABTestView(model=...)``."""

    model = param.ClassSelector(class_=ABTestModel, doc="The view-model.")

    def __init__(self, source: Any = None, experiment: str = "", on_open: Any = None,
                 on_compare: Any = None, **params: Any) -> None:
        model = params.pop("model", None)
        if model is None:
            if isinstance(source, ab.ABTestResult):
                model = ABTestModel(result=source)
            else:
                model = ABTestModel(store=source, experiment=experiment or "")
        super().__init__(model=model, **params)
        self._poller = None
        self._layout = self._build()
        self.model.param.watch(self._on_running, "running")
        if self.model.running:
            self._start_polling()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # -- polling -----------------------------------------------------------------
    def _on_running(self, event: Any) -> None:
        if event.new:
            self._start_polling()

    def _start_polling(self) -> None:
        if self._poller is not None:
            return
        try:
            self._poller = pn.state.add_periodic_callback(self._tick, period=POLL_MS)
        except Exception:  # no server or comm: the caller polls (model.wait())
            self._poller = None

    def _tick(self) -> None:
        if not self.model.poll() and self._poller is not None:
            self._poller.stop()
            self._poller = None

    # -- layout ------------------------------------------------------------------
    def _build(self) -> pn.viewable.Viewable:
        m = self.model
        self._error = ErrorBanner()
        m.param.watch(lambda e: setattr(self._error, "message", e.new), "error")
        self._error.message = m.error
        self.tabs = pn.Tabs(
            ("Experiments", self._experiments_tab()),
            ("Results", self._results_tab()),
            ("Design", self._design_tab()),
            ("Bandits", self._bandits_tab()),
            ("Decision", self._decision_tab()),
            active=1 if m.experiment else 0, dynamic=False, sizing_mode="stretch_width",
            css_classes=["wb-abtest-tabs"],
        )
        self._title = pn.pane.HTML(self._title_html(), sizing_mode="stretch_width",
                                   css_classes=["wb-ab-title"])
        m.param.watch(lambda *e: setattr(self._title, "object", self._title_html()),
                      ["experiment", "definition", "experiments"])
        return pn.Column(self._title, self._error, self.tabs, sizing_mode="stretch_width",
                         css_classes=["wb-abtests"])

    def _title_html(self) -> str:
        m = self.model
        status = m.definition.get("status", "") if m.definition else ""
        hyp = m.definition.get("hypothesis") or "" if m.definition else ""
        colour = STATUS_COLOURS.get(status, "#e9ecef")
        badge = (f"<span class='wb-ab-status' style='background:{colour};padding:1px 6px;"
                 f"border-radius:4px'>{html.escape(status)}</span>") if status else ""
        return (f"<b>{html.escape(m.experiment or 'no experiment')}</b> {badge}"
                f"<div style='color:#6c757d'>{html.escape(hyp)}</div>")

    # experiments
    def _experiments_frame(self) -> pd.DataFrame:
        df = self.model.experiments
        cols = ["name", "status", "srm", "engine", "headline", "winner", "coverage"]
        if df.empty:
            return pd.DataFrame(columns=cols)
        srm = ["not analysed" if pd.isna(a) else ("FLAGGED" if bool(f) else "ok")
               for a, f in zip(df["latest_analysis"], df["srm_flagged"])]
        head = ["" if h is None or pd.isna(h) else f"{m}: {100 * h:+.2f} % ({v})"
                for m, v, h in zip(df["headline_metric"], df["headline_variant"],
                                   df["headline_rel_lift"])]
        status = [badge(x, STATUS_COLOURS, "ab-status") for x in df["status"]]
        srm = [badge(x, SRM_COLOURS, "ab-srm-state") for x in srm]
        return pd.DataFrame({"name": df["name"], "status": status, "srm": srm,
                             "engine": df["engine"].fillna(""), "headline": head,
                             "winner": df["winner"].fillna("—"), "coverage": df["coverage"]})

    def _experiments_tab(self) -> pn.viewable.Viewable:
        m = self.model
        table = pn.widgets.Tabulator(self._experiments_frame(), disabled=True, show_index=False,
                                     sizing_mode="stretch_width", layout="fit_data_table",
                                     css_classes=["wb-ab-experiments"], height=260,
                                     formatters={"status": {"type": "html"},
                                                 "srm": {"type": "html"}})
        m.param.watch(lambda e: setattr(table, "value", self._experiments_frame()), "experiments")

        def on_click(event: Any) -> None:
            names = m.names
            if event.row is not None and event.row < len(names):
                m.experiment = names[event.row]
                self.tabs.active = 1

        table.on_click(on_click)
        return pn.Column(pn.pane.Markdown("Click an experiment to open its results."), table,
                         sizing_mode="stretch_width")

    # results
    def _results_tab(self) -> pn.viewable.Viewable:
        m = self.model
        self.srm_banner = pn.pane.Alert("", sizing_mode="stretch_width",
                                        css_classes=["wb-ab-srm"])
        self.engine_switch = pn.widgets.RadioButtonGroup(
            options=list(ENGINES), value=m.engine, color="primary",
            variant="outline", css_classes=["wb-ab-engine"])
        self.cuped_switch = pn.widgets.Checkbox(label="CUPED", value=m.cuped,
                                                css_classes=["wb-ab-cuped"], margin=(12, 10))
        self.spinner = pn.indicators.LoadingSpinner(value=False, size=24, visible=False,
                                                    css_classes=["wb-ab-progress"])
        self.progress_text = pn.pane.Str("", css_classes=["wb-ab-progress-text"], margin=(10, 5))
        self.headline = pn.pane.Markdown("", css_classes=["wb-ab-headline"],
                                         sizing_mode="stretch_width")
        self.forest = EChart(height=60, sizing_mode="stretch_width", css_classes=["wb-ab-forest"])
        self.table = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False,
                                          sizing_mode="stretch_width", layout="fit_data_table",
                                          css_classes=["wb-ab-table"])
        self.cuped_note = pn.pane.Markdown("", css_classes=["wb-ab-cuped-note"])
        self.posterior = EChart(height=260, sizing_mode="stretch_width",
                                css_classes=["wb-ab-posterior"])
        self.ot_metric = pn.widgets.Select(label="metric over time", options=[], width=250)
        self.over_time = EChart(height=280, sizing_mode="stretch_width",
                                css_classes=["wb-ab-overtime"])
        self.guards = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False,
                                           layout="fit_data_table", css_classes=["wb-ab-guards"])

        # the switches are disabled while nothing can be re-analysed; the model takes the
        # CUPED setting from the analysis it shows, once that analysis ran
        def on_engine(event: Any) -> None:
            if event.new != m.engine or m.running:
                m.reanalyse(engine=event.new)

        def on_cuped(event: Any) -> None:
            if event.new != m.cuped:
                m.reanalyse(cuped=event.new)

        self.engine_switch.param.watch(on_engine, "value")
        self.cuped_switch.param.watch(on_cuped, "value")
        m.param.watch(self._sync_results, ["table", "srm", "engine", "cuped", "message"])
        m.param.watch(self._sync_over_time, ["over_time"])
        m.param.watch(self._sync_progress, ["running", "progress"])
        self.ot_metric.param.watch(lambda e: self._sync_over_time(), "value")
        self._sync_results()
        self._sync_over_time()
        self._sync_progress()
        controls = pn.Row(pn.pane.Markdown("**Engine**", margin=(12, 5)), self.engine_switch,
                          self.cuped_switch, self.spinner, self.progress_text)
        return pn.Column(
            self.srm_banner, controls, self.headline,
            pn.pane.Markdown("**Lift per metric and variant** (95 % interval; green = significant "
                             "improvement, red = significant harm, grey = not significant)"),
            self.forest, self.table, self.cuped_note,
            pn.pane.Markdown("**Posterior of the relative lift** (normal approximation, flat prior; "
                             "the legend gives the chance to win)"),
            self.posterior,
            pn.pane.Markdown("**Cumulative lift over time**: the always-valid confidence "
                             "sequence (blue band) against the fixed-horizon interval (orange, "
                             "dashed), which is only valid at one planned look"),
            self.ot_metric, self.over_time,
            pn.pane.Markdown("**Guardrails** (non-inferiority)"), self.guards,
            sizing_mode="stretch_width",
        )

    def _sync_progress(self, *events: Any) -> None:
        m = self.model
        self.spinner.value = self.spinner.visible = m.running
        self.progress_text.object = m.progress if m.running else ""
        # nothing to re-run (events given as a DataFrame): the switches would disagree with the table
        self.engine_switch.disabled = self.cuped_switch.disabled = m.running or not m.can_reanalyse

    def _sync_results(self, *events: Any) -> None:
        self._sync_progress()
        m = self.model
        srm = m.srm
        if srm:
            self.srm_banner.alert_type = "danger" if m.srm_flagged else "success"
            text = srm.get("message") or ""
            prefix = "**SRM flagged** — " if m.srm_flagged else "SRM check: "
            self.srm_banner.object = prefix + html.escape(text)
            self.srm_banner.visible = True
            self.srm_banner.css_classes = ["wb-ab-srm",
                                           "wb-ab-srm-flagged" if m.srm_flagged else "wb-ab-srm-ok"]
        else:
            self.srm_banner.visible = False
        if self.engine_switch.value != m.engine:
            self.engine_switch.value = m.engine
        if self.cuped_switch.value != m.cuped:
            self.cuped_switch.value = m.cuped
        head = m.headline()
        self.headline.object = f"**{html.escape(head)}**" + (
            f"  \n{html.escape(m.message)}" if m.message else "")
        lifts = m.lifts()
        self.forest.height = max(120, 40 * len(lifts) + 70)
        self.forest.option = forest_option(lifts)
        self.table.value = self._display_table(m.results_table())
        self.table.formatters = {"control": {"type": "money", "precision": 4},
                                 "treatment": {"type": "money", "precision": 4},
                                 "lift %": {"type": "money", "precision": 2},
                                 "P(win)": {"type": "money", "precision": 4}}
        if m.variance_reduction:
            parts = [f"{k}: {100 * v:.1f} % less variance" for k, v in m.variance_reduction.items()]
            self.cuped_note.object = "CUPED on — " + "; ".join(parts)
        else:
            self.cuped_note.object = "CUPED off (raw metrics)" if not m.cuped else ""
        self.posterior.option = posterior_option(lifts)
        self.guards.value = m.guardrails()
        metrics = m.metrics
        if list(self.ot_metric.options) != metrics:
            self.ot_metric.options = metrics
            if metrics and self.ot_metric.value not in metrics:
                self.ot_metric.value = metrics[0]

    @staticmethod
    def _display_table(table: pd.DataFrame) -> pd.DataFrame:
        """Short headers so the table fits a laptop screen; guardrails are marked."""
        if table.empty:
            return table
        metric = [f"{m} (guardrail)" if g else m for m, g in zip(table["metric"], table["guardrail"])]
        return pd.DataFrame({
            "metric": metric, "variant": table["variant"],
            "control": table["control mean"], "treatment": table["treatment mean"],
            "lift %": table["lift %"], "interval %": table["interval %"],
            "p": [_fmt_p(p) for p in table["p"]], "p adj.": [_fmt_p(p) for p in table["p adjusted"]],
            "P(win)": table["chance to win"],
            "sig.": ["yes" if x else "" for x in table["significant"]],
        })

    def _sync_over_time(self, *events: Any) -> None:
        self.over_time.option = over_time_option(self.model.over_time, self.ot_metric.value or "")

    # design
    def _design_tab(self) -> pn.viewable.Viewable:
        m = self.model
        widgets = pn.Param(
            m, parameters=["design_metric", "baseline", "sd", "mde", "power", "alpha",
                           "daily_users"],
            widgets={"design_metric": {"type": pn.widgets.RadioButtonGroup, "name": "metric"},
                     "mde": {"type": pn.widgets.FloatInput, "step": 0.01,
                             "name": "MDE (relative)"},
                     "power": {"type": pn.widgets.FloatSlider, "step": 0.01},
                     "alpha": {"type": pn.widgets.FloatInput, "step": 0.01},
                     "baseline": {"type": pn.widgets.FloatInput, "step": 0.01},
                     "sd": {"type": pn.widgets.FloatInput, "name": "sd (mean metric)"},
                     "daily_users": {"type": pn.widgets.FloatInput, "step": 100,
                                     "name": "daily users"}},
            show_name=False, width=260,
        )
        result = pn.pane.Markdown("", css_classes=["wb-ab-design"])
        chart = EChart(height=320, sizing_mode="stretch_width", css_classes=["wb-ab-curve"])

        def sync(*events: Any) -> None:
            d = m.design
            if "error" in d:
                result.object = f"**Cannot size this design:** {html.escape(d['error'])}"
            else:
                result.object = (f"**{d['n_per_arm']:,} users per arm** ({d['n_total']:,} in "
                                 f"total) to detect {100 * m.mde:.1f} % relative at power "
                                 f"{m.power:.2f}, alpha {m.alpha:g}: **{d['days']} days** at "
                                 f"{m.daily_users:,.0f} users a day ({d['method']}).")
            chart.option = design_option(m.curve, m.mde, d.get("n_per_arm"), m.power)

        m.param.watch(sync, ["design", "curve"])
        sync()
        return pn.Row(widgets, pn.Column(result, chart, sizing_mode="stretch_width"),
                      sizing_mode="stretch_width")

    # bandits
    def _bandits_tab(self) -> pn.viewable.Viewable:
        m = self.model
        rates = pn.widgets.TextInput.from_param(m.param.true_rates, label="true rates (arm=rate)",
                                                width=260, css_classes=["wb-ab-rates"])
        policy = pn.widgets.Select.from_param(m.param.policy, label="policy", width=260)
        policy.options = POLICIES
        steps = pn.widgets.IntInput.from_param(m.param.steps, label="steps", width=260)
        run = pn.widgets.Button(label="Simulate", color="primary", width=120,
                                css_classes=["wb-ab-simulate"])
        summary = pn.pane.Markdown("", css_classes=["wb-ab-bandit-summary"])
        weights = EChart(height=260, sizing_mode="stretch_width", css_classes=["wb-ab-weights"])
        regret = EChart(height=260, sizing_mode="stretch_width", css_classes=["wb-ab-regret"])

        def sync(*events: Any) -> None:
            sim = m.bandit
            weights.option, regret.option = bandit_options(sim)
            if sim is not None:
                pulls = ", ".join(f"{a}: {n:,}" for a, n in sim.pulls.items())
                summary.object = (f"**{sim.policy}** over {sim.n:,} steps: regret "
                                  f"{sim.regret[-1]:.1f} vs {sim.fixed_regret[-1]:.1f} for a fixed "
                                  f"equal split (ratio {sim.regret_ratio:.2f}). Pulls: {pulls}.")

        run.on_click(lambda e: m.simulate())
        m.param.watch(sync, "bandit")
        sync()
        return pn.Row(pn.Column(rates, policy, steps, run, width=280),
                      pn.Column(summary, weights, regret, sizing_mode="stretch_width"),
                      sizing_mode="stretch_width")

    # decision
    def _decisions_frame(self) -> pd.DataFrame:
        d = self.model.decisions
        if d.empty:
            return pd.DataFrame(columns=["decision", "variant", "analysis", "comment", "when"])
        return pd.DataFrame({"decision": d["decision"], "variant": d["variant"].fillna(""),
                             "analysis": d["analysis_id"], "comment": d["comment"].fillna(""),
                             "when": pd.to_datetime(d["created_at"], unit="ms")
                             .dt.strftime("%Y-%m-%d %H:%M")})

    def _decision_tab(self) -> pn.viewable.Viewable:
        m = self.model
        self.decision = pn.widgets.RadioButtonGroup(options=["ship", "stop", "iterate"],
                                                    value="ship", css_classes=["wb-ab-decision"])
        self.comment = pn.widgets.TextAreaInput(placeholder="Why (recorded with the decision)",
                                                height=90, width=460,
                                                css_classes=["wb-ab-comment"])
        record = pn.widgets.Button(label="Record decision", color="success",
                                   css_classes=["wb-ab-record"], width=160)
        done = pn.pane.Markdown("", css_classes=["wb-ab-decided"])
        history = pn.widgets.Tabulator(self._decisions_frame(), disabled=True, show_index=False,
                                       layout="fit_data_table", css_classes=["wb-ab-decisions"])

        def on_record(event: Any) -> None:
            did = m.record_decision(self.decision.value, self.comment.value)
            if did is not None:
                done.object = f"Recorded decision #{did}: **{self.decision.value}**."
                self.comment.value = ""

        record.on_click(on_record)
        m.param.watch(lambda e: setattr(history, "value", self._decisions_frame()), "decisions")
        return pn.Column(
            pn.pane.Markdown("Decide on the analysis shown in **Results** (its id is recorded)."),
            self.decision, self.comment, record, done, pn.pane.Markdown("#### History"), history,
            sizing_mode="stretch_width",
        )
