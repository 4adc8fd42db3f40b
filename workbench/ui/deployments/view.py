"""The Deployments screen: ``DeploymentsView(store)`` in the app and in JupyterLab.

Shows the selected deployment's variants (version, role, weight), the strategy's state
(canary step, time to the next analysis, each gate's verdict per step, inconclusive
pauses), live ECharts of requests/s, error rate and p50/p95/p99 latency per variant from
the prediction log, breaker states and shadow agreement, the events, and buttons to
start/stop a server and to promote, roll back, pause or resume (with a confirmation).
The "New rollout" card (:mod:`~workbench.ui.deployments.rollout_card`) starts any strategy
on a registered version after a confirmation that states the plan.

A periodic callback polls :class:`~workbench.ui.deployments.model.DeploymentsModel`
every :data:`POLL_MS` and starts a background re-read every :data:`REFRESH_S` seconds.
"""

from __future__ import annotations

import html
import time
import urllib.parse
from typing import Any

import pandas as pd
import panel as pn
import param

from workbench.ui.components.echart import EChart
from workbench.ui.components.format import badge
from workbench.ui.components.notebook import NotebookScreen
from workbench.ui.components.widgets import ConfirmBar, ErrorBanner
from workbench.ui.deployments.model import CONFIRM, DeploymentsModel, DeploymentSnapshot
from workbench.ui.deployments.rollout_card import RolloutCard

POLL_MS = 1000


def drift_link_html(snap: DeploymentSnapshot | None) -> str:
    """A link to the Monitoring page with its New report form filled: the last 24 hours of the
    deployment's logged inputs against the champion version's training data."""
    if snap is None:
        return ("Drift of the logged inputs: the <a class='wb-dep-monitoring' href='?page=monitoring'>"
                "Monitoring page</a> (<code>wb.LoggedInputs</code> as current data)")
    st = snap.status
    champ = next((r for r in st.get("variants", []) if r.get("role") == "champion"), None)
    query = {"page": "monitoring", "current": f"predictions:{snap.name}@24h"}
    if champ is not None and st.get("model"):
        query["reference"] = f"model:{st['model']}:{champ['version']}"
    href = "?" + urllib.parse.urlencode(query)
    against = f"v{champ['version']}'s" if champ else "the champion's"
    return (f"<a class='wb-dep-monitoring' href='{html.escape(href)}'>Drift of the last 24 hours of "
            f"logged inputs</a> against {against} training data, on the Monitoring page "
            f"(<code>wb.drift_report(..., wb.LoggedInputs({html.escape(repr(snap.name))}, "
            "last='24h'))</code>)")
REFRESH_S = 3.0
PALETTE = ["#0d6efd", "#fd7e14", "#20c997", "#6f42c1", "#d63384", "#ffc107"]
ROLE_COLOURS = {"champion": "#d1e7dd", "challenger": "#cfe2ff", "shadow": "#e2d9f3"}
BREAKER_COLOURS = {"closed": "#d1e7dd", "open": "#f8d7da", "half_open": "#fff3cd", "half-open": "#fff3cd"}
CANARY_COLOURS = {"running": "#cfe2ff", "paused": "#fff3cd", "inconclusive": "#fff3cd",
                  "rolled_back": "#f8d7da", "promoted": "#d1e7dd"}
METRICS = {"requests_per_s": ("requests/s", 1.0), "error_rate": ("error rate (%)", 100.0),
           "latency": ("latency (ms)", 1.0)}


def _epoch_ms(times: pd.Series) -> pd.Series:
    """Milliseconds since the epoch, whatever the datetime column's unit (pandas 3 keeps ms or us)."""
    if not pd.api.types.is_datetime64_any_dtype(times):
        return times.astype("int64")
    ts = pd.to_datetime(times, utc=True)
    return ((ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).astype("int64")


def traffic_option(traffic: pd.DataFrame, metric: str, every_ms: int = 60_000) -> dict[str, Any]:
    """ECharts option: one line per variant (and per quantile for ``latency``) over the intervals.

    >>> df = pd.DataFrame({"variant": ["churn-v1"], "time": [pd.Timestamp("2026-01-01", tz="UTC")],
    ...                    "requests_per_s": [2.5], "error_rate": [0.0], "p50_ms": [1.0], "p95_ms": [2.0],
    ...                    "p99_ms": [3.0]})
    >>> [s["name"] for s in traffic_option(df, "latency")["series"]]
    ['churn-v1 p50', 'churn-v1 p95', 'churn-v1 p99']
    """
    label, scale = METRICS[metric]
    series: list[dict[str, Any]] = []
    # Ticks no finer than the interval, and no label drawn over another (the default crowded a
    # 3-minute range); seconds shown only when the intervals are shorter than a minute.
    x_axis: dict[str, Any] = {"type": "time", "minInterval": every_ms, "splitNumber": 4,
                              "axisLabel": {"hideOverlap": True,
                                            "formatter": "{HH}:{mm}:{ss}" if every_ms < 60_000 else "{HH}:{mm}"}}
    if not traffic.empty:
        starts = _epoch_ms(traffic["time"])
        x_axis.update(min=int(starts.min()) - every_ms, max=int(starts.max()) + every_ms)
        symbol = 6 if len(set(starts)) <= 60 else 0  # dots while they stay apart
        for i, (variant, g) in enumerate(traffic.assign(_x=starts.values).groupby("variant", sort=True)):
            colour = PALETTE[i % len(PALETTE)]
            cols = [("p50_ms", "solid"), ("p95_ms", "dashed"), ("p99_ms", "dotted")] if metric == "latency" \
                else [(metric, "solid")]
            for col, line in cols:
                name = f"{variant} {col.split('_')[0]}" if metric == "latency" else str(variant)
                data = [[int(t), None if pd.isna(v) else float(v) * scale] for t, v in zip(g["_x"], g[col])]
                series.append({"type": "line", "name": name, "data": data, "showSymbol": bool(symbol),
                               "symbolSize": symbol, "lineStyle": {"color": colour, "type": line},
                               "itemStyle": {"color": colour}})
    return {"animation": False, "title": {"text": label, "textStyle": {"fontSize": 13}},
            "grid": {"left": 55, "right": 15, "top": 50, "bottom": 30},
            "legend": {"top": 22, "type": "scroll"}, "tooltip": {"trigger": "axis"},
            "xAxis": x_axis, "yAxis": {"type": "value", "min": 0}, "series": series}


SUMMARY_COLUMNS = ["variant", "role", "requests", "errors", "error_rate", "p50_ms", "p95_ms", "p99_ms"]
SHADOW_COLUMNS = ["variant", "compared", "agreement", "abs_diff_p50", "abs_diff_p95", "latency_diff_p50_ms"]


def _table(columns: list[str], **kw: Any) -> pn.widgets.Tabulator:
    return pn.widgets.Tabulator(pd.DataFrame(columns=columns), disabled=True, show_index=False,
                                sizing_mode="stretch_width", formatters=kw.pop("formatters", {}), **kw)


VARIANT_COLUMNS = ["variant", "version", "role", "weight_pct", "percent"]
BREAKER_COLUMNS = ["variant", "state", "calls", "failure_rate", "slow_rate"]
STEP_COLUMNS = ["step", "weight_pct", "decision", "canary_n", "champion_n", "gates"]
EVENT_COLUMNS = ["time", "kind", "actor", "details"]


def steps_frame(steps: pd.DataFrame) -> pd.DataFrame:
    """The canary table with its gate columns joined into one ``gates`` column ("name: verdict; ...").

    >>> steps_frame(pd.DataFrame({"step": [1], "weight_pct": [5], "decision": ["advance"], "canary_n": [20],
    ...     "champion_n": [90], "error_rate": ["pass 0.01 (<= 0.05)"]})).loc[0, "gates"]
    'error_rate: pass 0.01 (<= 0.05)'
    """
    fixed = STEP_COLUMNS[:-1]
    gates = [c for c in steps.columns if c not in fixed]
    out = steps.reindex(columns=fixed)
    out["gates"] = ["; ".join(f"{g}: {r[g]}" for g in gates if isinstance(r[g], str)) for _, r in
                    steps.iterrows()]
    return out


def _set(table: pn.widgets.Tabulator, df: pd.DataFrame) -> None:
    """Replace a table's frame only when it changed (each replacement rebuilds it in the browser)."""
    old = table.value
    if old is not None and list(old.columns) == list(df.columns) and old.reset_index(drop=True).equals(
            df.reset_index(drop=True)):
        return
    table.value = df


class DeploymentsView(NotebookScreen):
    """The Deployments screen: ``DeploymentsView(store)`` or ``DeploymentsView(model=...)``."""

    model = param.ClassSelector(class_=DeploymentsModel, doc="The view-model.")

    def __init__(self, store: Any = None, deployment: str = "", **params: Any) -> None:
        model = params.pop("model", None) or DeploymentsModel(store, deployment=deployment)
        super().__init__(model=model, **params)
        self._queued: str | None = None
        self._last_refresh = 0.0
        self._poller = None
        self._layout = self._build()
        m = self.model
        m.param.watch(lambda e: self._draw(), "snapshot")
        m.param.watch(lambda *e: self._sync_status(), ["busy", "message", "error"])
        m.param.watch(lambda e: self._on_selected(), "deployment")
        m.refresh()
        self._last_refresh = time.monotonic()

        def start_polling() -> None:
            # live updates start once the page has loaded: a table updated before Tabulator has
            # built itself in the browser raises there
            try:
                self._poller = pn.state.add_periodic_callback(self._tick, period=POLL_MS)
            except Exception:  # no server or comm: the caller polls (model.wait())
                self._poller = None

        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.onload(start_polling)
        else:
            start_polling()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # -- polling -----------------------------------------------------------------
    def _tick(self) -> None:
        m = self.model
        m.poll()
        if self._queued and not m.busy:
            action, self._queued = self._queued, None
            self._do(action)
            return
        if self.rollout.queued_plan is not None and not m.busy:
            plan, self.rollout.queued_plan = self.rollout.queued_plan, None
            self.rollout.run(plan)
            return
        if not m.busy and m.deployment and time.monotonic() - self._last_refresh >= REFRESH_S:
            self._last_refresh = time.monotonic()
            m.refresh()

    # -- layout ------------------------------------------------------------------
    def _build(self) -> pn.viewable.Viewable:
        m = self.model
        self.select = pn.widgets.Select(label="Deployment", options=m.names, value=m.deployment or None,
                                        width=260, css_classes=["wb-dep-select"])
        self.select.param.watch(lambda e: e.new and setattr(m, "deployment", e.new), "value")
        self.port = pn.widgets.IntInput(label="Port (0 = any free)", value=0, start=0, end=65535, width=150)
        self.buttons: dict[str, pn.widgets.Button] = {}
        for action, kind in (("start", "success"), ("stop", "warning"), ("promote", "primary"),
                             ("rollback", "danger"), ("pause", "warning"), ("resume", "primary")):
            b = pn.widgets.Button(label=action.capitalize(), color=kind, width=95,
                                  css_classes=[f"wb-dep-{action}"])
            b.on_click(lambda e, a=action: self._ask(a))
            self.buttons[action] = b
        self.confirm = ConfirmBar(on_confirm=self._do, css="wb-dep-confirm")
        self._error = ErrorBanner()
        self.status = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-dep-status"])
        self.header = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-dep-header"])
        self.variants = _table(VARIANT_COLUMNS, css_classes=["wb-dep-variants"], formatters={"role": {"type": "html"}})
        self.breakers = _table(BREAKER_COLUMNS, css_classes=["wb-dep-breakers"], formatters={"state": {"type": "html"}})
        # the gates column takes what the five narrow ones leave and wraps, so every gate's verdict stays
        # readable at 1024 px too (no sort arrows: the analyses are in order already)
        self.steps = _table(STEP_COLUMNS, css_classes=["wb-dep-steps"], formatters={"gates": {"type": "textarea"}},
                            layout="fit_columns", sortable=False,
                            titles={"weight_pct": "weight %", "canary_n": "canary n", "champion_n": "champion n"},
                            widths={"step": 70, "weight_pct": 115, "decision": 115, "canary_n": 115,
                                    "champion_n": 140})
        self.shadow = _table(SHADOW_COLUMNS, css_classes=["wb-dep-shadow"])
        self.summary = _table(SUMMARY_COLUMNS, css_classes=["wb-dep-summary"])
        self.events = _table(EVENT_COLUMNS, css_classes=["wb-dep-events"], height=260)
        self.charts = {k: EChart(option=traffic_option(pd.DataFrame(), k), height=260, sizing_mode="stretch_width",
                                 css_classes=[f"wb-dep-chart-{k.replace('_', '-')}"]) for k in METRICS}
        link = self.drift_link = pn.pane.HTML(drift_link_html(None), css_classes=["wb-dep-drift"])
        empty = pn.pane.Alert("No deployment in this store yet: create one with "
                              "<code>wb.deploy(\"churn-api\", model=\"churn\", version=1)</code>.",
                              alert_type="info", visible=not m.names, css_classes=["wb-dep-empty"])
        self._empty = empty
        controls = pn.FlexBox(self.select, self.port, *self.buttons.values(), sizing_mode="stretch_width",
                              align_items="flex-end")
        charts = pn.Row(*self.charts.values(), sizing_mode="stretch_width")
        self.window = pn.widgets.RadioButtonGroup.from_param(m.param.window, name="", color="primary", variant="outline",
                                                             align="center", css_classes=["wb-dep-window"])
        self.rollout = RolloutCard(m)
        self._sync_status()
        self._draw()
        return pn.Column(
            empty, controls, self.confirm, self._error, self.status, self.header,
            pn.Row(pn.Column("#### Variants", self.variants, sizing_mode="stretch_width"),
                   pn.Column("#### Circuit breakers", self.breakers, sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            "#### Canary analyses (one row per analysis; each gate's verdict)", self.steps,
            self.rollout,
            pn.Row(pn.pane.Markdown("#### Live traffic (prediction log)", align="center"), self.window), charts,
            pn.Row(pn.Column("#### Per variant (whole log)", self.summary, sizing_mode="stretch_width"),
                   pn.Column("#### Shadow agreement", self.shadow, sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            link, "#### Events", self.events,
            sizing_mode="stretch_width", css_classes=["wb-deployments"])

    # -- actions -----------------------------------------------------------------
    def _ask(self, action: str) -> None:
        if action in CONFIRM:
            self.confirm.ask(action, f"<b>{html.escape(self.model.deployment)}</b>: {html.escape(CONFIRM[action])}")
        else:
            self._do(action)

    def _do(self, action: str) -> None:
        m = self.model
        try:
            if not m.act(action, port=int(self.port.value or 0) or None):
                self._queued = action  # a read is in flight: run the action right after it
                m.message = f"{action} queued after the current read"
        except Exception as exc:
            m.error = f"{action} failed: {exc}"

    # -- drawing -----------------------------------------------------------------
    def _on_selected(self) -> None:
        # a confirmation or a queued action was for the deployment it named: never run it on another
        self.confirm.withdraw()
        self._queued = None
        self.rollout.withdraw()
        self.rollout.queued_plan = None
        if self.select.value != self.model.deployment:
            self.select.value = self.model.deployment
        self._draw()
        self.model.refresh()
        self._last_refresh = time.monotonic()

    def _sync_status(self) -> None:
        m = self.model
        self._error.message = m.error
        parts = []
        if m.busy:
            parts.append(f"<span class='wb-dep-busy'>{html.escape(m.busy)}…</span>")
        if m.message:
            parts.append(f"<span class='wb-dep-message'>{html.escape(m.message)}</span>")
        self.status.object = " · ".join(parts)

    def _draw(self) -> None:
        snap: DeploymentSnapshot | None = self.model.snapshot
        running = bool(snap and snap.running)
        canary = (snap.canary or {}) if snap else {}
        live_canary = canary.get("status") in ("running", "paused", "inconclusive")
        enabled = {"start": bool(snap) and not running, "stop": running,
                   "promote": bool(snap) and (live_canary or len(snap.variants) == 2),
                   "rollback": bool(snap), "pause": canary.get("status") == "running",
                   "resume": canary.get("status") in ("paused", "inconclusive")}
        for action, b in self.buttons.items():
            b.disabled = not enabled[action]
        self.rollout.sync(snap)
        if snap is None:
            self.header.object = f"<i>reading {html.escape(self.model.deployment)}…</i>" if self.model.deployment \
                else ""
            return
        st = snap.status
        server = (f"<span class='wb-dep-running' style='color:#198754'>serving at "
                  f"<code>{html.escape(str(st.get('url')))}</code></span>") if running else \
            "<span class='wb-dep-stopped' style='color:#6c757d'>no server running</span>"
        cstate = canary.get("status")
        cbadge = badge(cstate, CANARY_COLOURS, "dep-canary") if cstate else ""
        self.header.object = (
            f"<b>{html.escape(snap.name)}</b> · model <b>{html.escape(str(st.get('model')))}</b> · strategy "
            f"<b class='wb-dep-strategy'>{html.escape(str(st.get('strategy')))}</b> · {server}"
            f"<div class='wb-dep-canary-line'>{cbadge} {html.escape(snap.canary_line()) if cstate else ''}</div>")
        # fixed columns per table: a Tabulator whose columns change under a live update can break
        v = snap.variants.reindex(columns=VARIANT_COLUMNS)
        v["role"] = [badge(r, ROLE_COLOURS, "dep-role") for r in v["role"]]
        v["percent"] = ["" if pd.isna(x) else f"{x:g}" for x in v["percent"]]
        _set(self.variants, v)
        b = snap.breakers.reindex(columns=BREAKER_COLUMNS)
        b["state"] = [badge(s, BREAKER_COLOURS, "dep-breaker") for s in b["state"]]
        _set(self.breakers, b)
        _set(self.steps, steps_frame(snap.steps))
        self.drift_link.object = drift_link_html(snap)
        _set(self.summary, snap.summary.round(4))
        _set(self.shadow, snap.shadow.round(4))
        ev = snap.events
        ev = pd.DataFrame(columns=EVENT_COLUMNS) if ev.empty else pd.DataFrame(
            {"time": ev["ts"].dt.strftime("%H:%M:%S"), "kind": ev["kind"], "actor": ev.get("actor", ""),
             "details": [str(d)[:160] for d in ev["details"]]})
        _set(self.events, ev)
        for key, chart in self.charts.items():
            option = traffic_option(snap.traffic, key, snap.every_ms)
            if option != chart.option:
                chart.option = option
