"""Saving drift reports in the store and reading them back (one transaction per report).

>>> callable(save_report) and callable(load_report)
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import NotFoundError
from workbench.monitoring.schema import ensure_schema
from workbench.store import monitoring_store as ms


def _f(x: Any) -> Any:
    if x is None:
        return None
    if isinstance(x, (np.floating, float)):
        return float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def report_rows(report: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    mv = report.multivariate.to_dict() if report.multivariate is not None else None
    head = {"report_id": report.id, "name": report.name, "created_at": int(report.created_at * 1000),
            "reference_label": report.reference_label, "current_label": report.current_label,
            "profile_id": report.profile_id, "dataset_drift": report.dataset_drift,
            "share_drifted": float(report.share_drifted), "n_tested": int(len(report.tested)),
            "n_drifted": report.n_drifted, "drift_share": float(report.drift_share),
            "options": report.options, "table_quality": report.table_quality, "multivariate": mv,
            "elapsed_s": float(report.elapsed_s)}
    quality = {r["column"]: r for r in report.quality.to_dict("records")} if len(report.quality) else {}
    cols = []
    for r in report.columns.to_dict("records"):
        c = {k: _f(v) for k, v in r.items()}
        c["quality"] = {k: _f(v) for k, v in quality.get(r["column"], {}).items()}
        c["histogram"] = report.histograms.get(r["column"], {})
        cols.append(c)
    return head, cols


def save_report(store: Any, report: Any) -> str:
    """Save a report (and evaluate the alert rules on it); returns its id."""
    from workbench.monitoring.alerts import evaluate_rules

    ensure_schema(store)
    head, cols = report_rows(report)
    with store.transaction() as con:
        ms.insert_report(con, head, cols)
    report.alerts = evaluate_rules(store, report)
    return report.id


def load_report(store: Any, report_id: str) -> Any:
    """A saved :class:`DriftReport` by id."""
    from workbench.monitoring.multivariate import DomainClassifierResult
    from workbench.monitoring.report import _COLUMNS, DriftReport

    ensure_schema(store)
    with store.connection() as con:
        got = ms.get_report(con, report_id)
    if got is None:
        raise NotFoundError(f"no drift report with id {report_id!r}")
    head, cols = got
    table = pd.DataFrame([{**{k: c.get(k) for k in ("statistic", "p_value", "p_adjusted", "threshold",
                                                    "drifted", "rule", "score", "status", "n_reference",
                                                    "n_current", "missing_reference", "missing_current",
                                                    "method", "conventions")},
                           "column": c["column_name"], "type": c["column_type"],
                           "kind": ("p_value" if (c["rule"] or "").startswith("p_value") else
                                    ("distance" if c["rule"] else None))} for c in cols],
                         columns=_COLUMNS)
    for k in ("statistic", "p_value", "p_adjusted", "threshold", "score", "missing_reference",
              "missing_current"):
        table[k] = pd.to_numeric(table[k], errors="coerce")
    table["drifted"] = table["drifted"].fillna(False).astype(bool)
    quality = pd.DataFrame([c["quality"] for c in cols])
    rep = DriftReport(table, quality, head["table_quality"] or {}, head["drift_share"],
                      head["options"] or {}, {c["column_name"]: c["histogram"] or {} for c in cols},
                      reference_label=head["reference_label"] or "", current_label=head["current_label"] or "",
                      name=head["name"], id=head["report_id"], created_at=head["created_at"] / 1000,
                      profile_id=head["profile_id"], elapsed_s=head["elapsed_s"] or 0.0)
    if head["multivariate"]:
        rep.multivariate = DomainClassifierResult.from_dict(head["multivariate"])
    return rep


def list_reports(store: Any, name: str | None = None, limit: int = 100) -> pd.DataFrame:
    """Saved reports, newest first: id, name, time, labels, verdict, share drifted."""
    ensure_schema(store)
    with store.connection() as con:
        df = ms.list_reports(con, name, limit)
    df["created_at"] = pd.to_datetime(df["created_at"], unit="ms", utc=True)
    return df


def list_profiles(store: Any) -> pd.DataFrame:
    """Saved reference profiles, newest first."""
    ensure_schema(store)
    with store.connection() as con:
        df = ms.list_profiles(con)
    df["created_at"] = pd.to_datetime(df["created_at"], unit="ms", utc=True)
    return df


def list_over_time(store: Any) -> pd.DataFrame:
    """Saved drift-over-time results, newest first: result_id, name, time, labels."""
    ensure_schema(store)
    with store.connection() as con:
        df = ms.list_over_time(con)
    df["created_at"] = pd.to_datetime(df["created_at"], unit="ms", utc=True)
    return df


def report_sources(store: Any) -> dict[str, pd.DataFrame]:
    """What a report can be run on: ``profiles``, ``datasets`` (with a readable copy),
    ``models`` (each registered version's training dataset) and ``deployments`` (whose
    prediction logs can be the current data).

    >>> callable(report_sources)
    True
    """
    from workbench.store import serving_store as ss
    from workbench.store.schema import schema_version

    ensure_schema(store)
    with store.connection() as con:
        out = {"profiles": ms.list_profiles(con), "datasets": ms.report_datasets(con),
               "models": ms.model_training_datasets(con)}
        out["deployments"] = (ss.list_deployments(con) if schema_version(con, "serving")
                              else pd.DataFrame({"name": pd.Series([], dtype=object)}))
    return out


def report_history(store: Any, name: str | None, n: int = 50) -> pd.DataFrame:
    """Per-column scores of the newest ``n`` saved reports named ``name`` (a series over time)."""
    ensure_schema(store)
    with store.connection() as con:
        return ms.recent_column_scores(con, name, n)
