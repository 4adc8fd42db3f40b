"""Alert rules saved in the store, evaluated whenever a drift report is saved.

A rule looks at the newest ``consecutive`` saved reports that share the new
report's name (a series of reports, e.g. one per day) and fires when its
condition holds in every one of them:

- ``kind="column_score"``: some column's score (the statistic for distances,
  the p-value for tests) compared with ``value`` by ``op``; ``column="*"``
  means any column scored by a distance (p-values and text columns' ROC AUCs
  are on other scales), ``method=`` restricts to one method (e.g. PSI > 0.2);
- ``kind="column_drifted"``: the column (or any column) was flagged drifted;
- ``kind="dataset_drift"``: the dataset-drift verdict was true;
- ``kind="share_drifted"``: the share of drifted columns compared with ``value``.

Each firing is an event row (rule, report, time, message, details) written in
one transaction, and is POSTed as ``{"event": "drift_alert", ...}`` to the
registry's webhooks when any are configured (``Registry.add_webhook``).

>>> check_rule("column_score", {"column": "*", "op": ">", "value": 0.2, "consecutive": 2})["op"]
'>'
"""

from __future__ import annotations

import operator
from typing import Any

import pandas as pd

from workbench.errors import InvalidInputError, NotFoundError
from workbench.monitoring.text_drift import TEXT_METHODS
from workbench.store import monitoring_store as ms
from workbench.store.spool import now_ms

KINDS = ("column_score", "column_drifted", "dataset_drift", "share_drifted")
OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def check_rule(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    if kind not in KINDS:
        raise InvalidInputError(f"alert kind must be one of {', '.join(KINDS)}, got {kind!r}")
    out = dict(spec)
    out.setdefault("column", "*")
    out.setdefault("consecutive", 1)
    out.setdefault("report_name", None)
    c = out["consecutive"]
    if isinstance(c, bool) or not isinstance(c, int) or c < 1:
        raise InvalidInputError(f"consecutive must be an integer >= 1, got {c!r}")
    if kind in ("column_score", "share_drifted"):
        if out.get("op", ">") not in OPS:
            raise InvalidInputError(f"op must be one of {', '.join(OPS)}, got {out.get('op')!r}")
        out.setdefault("op", ">")
        v = out.get("value")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InvalidInputError(f"an alert on a score needs a numeric value, got {v!r}")
    if out.get("method") is not None:
        from workbench.monitoring.stattests import get_method

        out["method"] = get_method(out["method"]).name
    return out


def add_alert_rule(store: Any, name: str, kind: str = "column_score", **spec: Any) -> int:
    """Save an alert rule; returns its id.

    ``add_alert_rule(store, "psi-high", "column_score", method="psi", op=">", value=0.2,
    consecutive=2)`` fires when any column's PSI exceeds 0.2 in two consecutive reports.
    """
    from workbench.monitoring.schema import ensure_schema

    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"an alert rule needs a non-empty name, got {name!r}")
    checked = check_rule(kind, spec)
    ensure_schema(store)
    with store.transaction() as con:
        return ms.insert_rule(con, name.strip(), kind, checked, now_ms())


def delete_alert_rule(store: Any, rule_id: int) -> None:
    from workbench.monitoring.schema import ensure_schema

    ensure_schema(store)
    with store.transaction() as con:
        if not ms.delete_rule(con, rule_id, now_ms()):
            raise NotFoundError(f"no active alert rule with id {rule_id!r}")


def alert_rules(store: Any) -> pd.DataFrame:
    from workbench.monitoring.schema import ensure_schema

    ensure_schema(store)
    with store.connection() as con:
        return pd.DataFrame(ms.active_rules(con), columns=["rule_id", "name", "kind", "spec", "created_at"])


def alert_events(store: Any, report_id: str | None = None) -> pd.DataFrame:
    """Every alert event (or a report's), oldest first."""
    from workbench.monitoring.schema import ensure_schema

    ensure_schema(store)
    with store.connection() as con:
        df = ms.list_events(con, report_id)
    df["fired_at"] = pd.to_datetime(df["fired_at"], unit="ms", utc=True)
    return df


def _column_hits(scores: pd.DataFrame, spec: dict[str, Any], kind: str) -> pd.DataFrame:
    s = scores[scores["status"] == "tested"]
    if spec["column"] != "*":
        s = s[s["column_name"] == spec["column"]]
    if spec.get("method"):
        s = s[s["method"] == spec["method"]]
    elif spec["column"] == "*" and kind == "column_score":
        s = s[s["p_value"].isna() & ~s["method"].isin(list(TEXT_METHODS))]
    if kind == "column_drifted":
        return s[s["drifted"].astype(bool)]
    return s[OPS[spec["op"]](s["score"].astype(float), float(spec["value"]))]


def _fires(con, rule: dict[str, Any], report: Any) -> dict[str, Any] | None:
    spec, kind = rule["spec"], rule["kind"]
    if spec.get("report_name") is not None and spec["report_name"] != report.name:
        return None
    n = int(spec["consecutive"])
    if kind in ("dataset_drift", "share_drifted"):
        recent = ms.recent_reports(con, report.name, n)
        if len(recent) < n or recent["report_id"].iloc[0] != report.id:
            return None
        if kind == "dataset_drift":
            ok = bool(recent["dataset_drift"].all())
        else:
            ok = bool(OPS[spec["op"]](recent["share_drifted"].astype(float), float(spec["value"])).all())
        return {"reports": recent["report_id"].tolist(),
                "share_drifted": float(report.share_drifted)} if ok else None
    scores = ms.recent_column_scores(con, report.name, n)
    ids = list(dict.fromkeys(scores["report_id"]))
    if len(ids) < n or ids[0] != report.id:
        return None
    hit_sets = [set(_column_hits(scores[scores["report_id"] == rid], spec, kind)["column_name"])
                for rid in ids]
    common = set.intersection(*hit_sets) if hit_sets else set()
    if not common:
        return None
    now = scores[(scores["report_id"] == report.id) & scores["column_name"].isin(common)]
    return {"reports": ids, "columns": sorted(common),
            "scores": {r.column_name: float(r.score) for r in now.itertuples()}}


def _message(rule: dict[str, Any], details: dict[str, Any]) -> str:
    spec, kind = rule["spec"], rule["kind"]
    times = f" in {spec['consecutive']} consecutive reports" if spec["consecutive"] > 1 else ""
    if kind == "dataset_drift":
        return f"dataset drift{times}"
    if kind == "share_drifted":
        return f"share of drifted columns {spec['op']} {spec['value']}{times}"
    what = spec.get("method") or "score"
    cols = ", ".join(details["columns"][:10])
    if kind == "column_drifted":
        return f"drift in {cols}{times}"
    return f"{what} {spec['op']} {spec['value']} in {cols}{times}"


def evaluate_rules(store: Any, report: Any) -> list[dict[str, Any]]:
    """Evaluate every active rule on a just-saved report; record and send the firings."""
    with store.transaction() as con:
        rules = ms.active_rules(con)
        fired = []
        for rule in rules:
            details = _fires(con, rule, report)
            if details is None:
                continue
            msg = _message(rule, details)
            ts = now_ms()
            eid = ms.insert_event(con, rule["rule_id"], report.id, ts, msg, details)
            fired.append({"action": "drift_alert", "event_id": eid, "rule_id": rule["rule_id"],
                          "rule": rule["name"], "report_id": report.id, "report_name": report.name,
                          "message": msg, "details": details, "ts": ts})
        hooks = ms.registry_webhooks(con) if fired else []
    if fired and hooks:
        from workbench.registry import webhooks

        webhooks.dispatch(str(store.path), fired, hooks)
    return fired
