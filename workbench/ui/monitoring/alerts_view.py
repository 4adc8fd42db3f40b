"""The Monitoring screen's *Alerts* tab: the rules, a form to add one, and what fired.

Built by :class:`~workbench.ui.monitoring.view.MonitoringView` around an
:class:`~workbench.ui.monitoring.alerts_model.AlertRulesModel`.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import panel as pn

from workbench.monitoring.alerts import KINDS, OPS
from workbench.monitoring.stattests import METHODS
from workbench.ui.components.widgets import wrapping_row
from workbench.ui.monitoring.alerts_model import KIND_LABELS, AlertRulesModel


class AlertsPanel(pn.viewable.Viewer):
    """Rules (with delete), the add form, and the events table."""

    def __init__(self, model: AlertRulesModel, **params: Any) -> None:
        super().__init__(**params)
        self.model = m = model
        table = dict(disabled=True, show_index=False, sizing_mode="stretch_width",
                     layout="fit_data_table")
        self._rules = pn.widgets.Tabulator(pd.DataFrame(), max_height=220, css_classes=["wb-alert-rules"],
                                           **table)
        self._events = pn.widgets.Tabulator(pd.DataFrame(), max_height=300,
                                            css_classes=["wb-alert-events"], **table)
        self._name = pn.widgets.TextInput(label="Rule name", width=180, placeholder="e.g. psi-high",
                                          css_classes=["wb-alert-name"])
        self._kind = pn.widgets.Select(label="Fires on", width=220, css_classes=["wb-alert-kind"],
                                       options={KIND_LABELS[k]: k for k in KINDS})
        self._column = pn.widgets.TextInput(label="Column (* = any)", value="*", width=150)
        self._method = pn.widgets.Select(label="Method", width=150,
                                         options={"any": "", **{k: k for k in sorted(METHODS)}})
        self._op = pn.widgets.Select(label="Op", options=list(OPS), value=">", width=70)
        self._value = pn.widgets.FloatInput(label="Value", value=0.2, width=100,
                                            css_classes=["wb-alert-value"])
        self._consecutive = pn.widgets.IntInput(label="In N reports in a row", value=1, start=1,
                                                width=150)
        self._series = pn.widgets.TextInput(label="Report series (name; blank = any)", width=220)
        self._add = pn.widgets.Button(label="Add rule", color="primary", width=110,
                                      css_classes=["wb-alert-add"])
        self._add.on_click(lambda e: self._on_add())
        self._pick = pn.widgets.Select(label="Rule", options={}, width=260)
        self._delete = pn.widgets.Button(label="Delete rule", color="danger", width=120,
                                         css_classes=["wb-alert-delete"])
        self._delete.on_click(lambda e: m.delete_rule(self._pick.value))
        self._feedback = pn.pane.Alert("", visible=False, sizing_mode="stretch_width",
                                       css_classes=["wb-alert-feedback"])
        self._kind.param.watch(lambda e: self._sync_form(), "value")
        m.param.watch(lambda *e: self._sync(), ["rules", "events", "message", "error"])
        self._layout = pn.Column(
            pn.pane.Markdown("##### Alert rules (checked whenever a report is saved)"),
            self._rules,
            wrapping_row(self._pick, self._delete),
            pn.pane.Markdown("##### Add a rule"),
            wrapping_row(self._name, self._kind, self._column, self._method, self._op, self._value,
                         self._consecutive, self._series, self._add),
            self._feedback,
            pn.pane.Markdown("##### Alerts fired (newest first; also POSTed to the registry's "
                             "webhooks when any are set)"),
            self._events,
            sizing_mode="stretch_width", css_classes=["wb-alerts"],
        )
        self._sync_form()
        self._sync()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    def _on_add(self) -> None:
        kind = self._kind.value
        if self.model.add_rule(
                self._name.value, kind, column=self._column.value, method=self._method.value or None,
                op=self._op.value, value=self._value.value, consecutive=self._consecutive.value,
                report_name=self._series.value or None):
            self._name.value = ""

    def _sync_form(self) -> None:
        kind = self._kind.value
        scored = kind in ("column_score", "share_drifted")
        self._op.visible = self._value.visible = scored
        self._column.visible = kind in ("column_score", "column_drifted")
        self._method.visible = kind == "column_score"

    def _sync(self) -> None:
        m = self.model
        self._rules.value = m.rules
        self._events.value = m.events if len(m.events) else pd.DataFrame(
            {"message": ["No alert has fired yet."]})
        self._pick.options = {f"#{r.rule_id} {r.name}": int(r.rule_id)
                              for r in m.rules.itertuples(index=False)} or {"(no rules)": None}
        self._delete.disabled = m.rules.empty
        text = m.error or m.message
        self._feedback.param.update(object=html.escape(text), visible=bool(text),
                                    alert_type="danger" if m.error else "success")
