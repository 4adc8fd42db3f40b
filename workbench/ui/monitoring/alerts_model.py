"""The Monitoring screen's alert rules: list, add and delete them, and see what fired (no Panel).

A rule is evaluated whenever a drift report is saved (``workbench.monitoring.alerts``); this
view-model wraps that API for the screen's *Alerts* tab::

    a = AlertRulesModel(store)
    a.add_rule("psi-high", "column_score", method="psi", op=">", value=0.2, consecutive=2)
    a.rules      # one row per active rule, with its condition in words
    a.events     # every firing, newest first
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import param

from workbench.monitoring import alerts
from workbench.ui.components.format import error_message

KIND_LABELS = {
    "column_score": "a column's score",
    "column_drifted": "a column flagged drifted",
    "dataset_drift": "the dataset-drift verdict",
    "share_drifted": "the share of drifted columns",
}


def describe_rule(kind: str, spec: dict[str, Any]) -> str:
    """A rule's condition in words, e.g. ``any column's psi > 0.2 in 2 consecutive reports``.

    >>> describe_rule("column_score", {"column": "*", "method": "psi", "op": ">", "value": 0.2,
    ...                                "consecutive": 2})
    "any column's psi score > 0.2, in 2 consecutive reports"
    """
    column = "any column" if spec.get("column", "*") == "*" else f"column {spec['column']}"
    if kind == "column_score":
        method = f"{spec['method']} " if spec.get("method") else ""
        what = f"{column}'s {method}score {spec.get('op', '>')} {spec.get('value')}"
    elif kind == "column_drifted":
        what = f"{column} flagged drifted"
    elif kind == "dataset_drift":
        what = "dataset drift"
    else:
        what = f"share drifted {spec.get('op', '>')} {spec.get('value')}"
    n = int(spec.get("consecutive", 1))
    series = f" of series {spec['report_name']!r}" if spec.get("report_name") else ""
    return what + (f", in {n} consecutive reports{series}" if n > 1 else f", in a report{series}")


class AlertRulesModel(param.Parameterized):
    """Active alert rules and their firings, for the Alerts tab."""

    store = param.Parameter(doc="The workbench Store.")
    rules = param.DataFrame(default=pd.DataFrame(), doc="rule_id, name, condition, created_at")
    events = param.DataFrame(default=pd.DataFrame(), doc="fired_at, rule, report_id, message")
    message = param.String(default="")
    error = param.String(default="")

    def __init__(self, store: Any = None, **params: Any) -> None:
        super().__init__(store=store, **params)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the rules and the events (a report just saved may have fired some)."""
        if self.store is None:
            return
        raw = alerts.alert_rules(self.store)
        self.rules = pd.DataFrame({
            "rule_id": raw["rule_id"].astype(int),
            "name": raw["name"],
            # object dtype even when empty: a float column would make the table show NaN later
            "condition": pd.Series([describe_rule(k, s) for k, s in zip(raw["kind"], raw["spec"])],
                                   index=raw.index, dtype=object),
            "created_at": pd.to_datetime(raw["created_at"], unit="ms", utc=True)
            .dt.strftime("%Y-%m-%d %H:%M"),
        })
        ev = alerts.alert_events(self.store)
        self.events = pd.DataFrame({
            "fired_at": ev["fired_at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "rule": ev["rule_name"],
            "report": ev["report_id"].astype(str).str[:8],
            "message": ev["message"],
        }).iloc[::-1].reset_index(drop=True)

    def add_rule(self, name: str, kind: str, *, column: str = "*", method: str | None = None,
                 op: str = ">", value: float | None = None, consecutive: int = 1,
                 report_name: str | None = None) -> bool:
        """Save a rule (see ``workbench.monitoring.add_alert_rule``); False with ``error`` set
        when it is refused (nothing is saved then)."""
        self.error = self.message = ""
        if consecutive is None:
            self.error = "give the number of reports in a row (1 or more)"
            return False
        # only the fields the form shows for this kind: a hidden method would narrow the rule unseen
        spec: dict[str, Any] = {"consecutive": consecutive}
        if kind in ("column_score", "column_drifted"):
            spec["column"] = (column or "*").strip() or "*"
        if method and kind == "column_score":
            spec["method"] = method
        if report_name:
            spec["report_name"] = report_name.strip()
        if kind in ("column_score", "share_drifted"):
            spec.update(op=op, value=value)
        try:
            rule_id = alerts.add_alert_rule(self.store, name, kind, **spec)
        except Exception as exc:
            self.error = error_message(exc)
            return False
        self.message = f"Alert rule #{rule_id} {name.strip()!r} saved: it is checked on every report saved."
        self.refresh()
        return True

    def delete_rule(self, rule_id: int | None) -> bool:
        """Delete an active rule (its past events stay)."""
        self.error = self.message = ""
        if rule_id is None:
            self.error = "Choose a rule to delete."
            return False
        try:
            alerts.delete_alert_rule(self.store, int(rule_id))
        except Exception as exc:
            self.error = error_message(exc)
            return False
        self.message = f"Alert rule #{int(rule_id)} deleted."
        self.refresh()
        return True
