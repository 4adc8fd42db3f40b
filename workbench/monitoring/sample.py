"""Drift reports on the bundled churn data, for the demo store (so the Monitoring page opens on content).

``sample_data/churn.parquet`` has a step change from July 2025 (monthly
charges x1.15, support calls x1.5, more month-to-month contracts) and a new
region that grows from July. ``build_sample_reports(store)`` saves:

- the reference profile ``churn-reference`` (January to March 2025);
- ``churn-monthly``: one report per month, April to December, against it;
- ``churn-q4-vs-q1``: October to December against the profile, and
  ``churn-q4-vs-q1-multivariate`` against the raw reference rows with the
  domain classifier;
- ``churn-2-weekly``: drift over time in two-week windows (a saved
  :class:`~workbench.monitoring.over_time.DriftOverTime`, with change points);
- two alert rules (any column's score >= 0.2 in 2 consecutive monthly
  reports; a quarter of the columns drifted), evaluated as the monthly reports
  are saved, so the events table holds the firings from July and August.

>>> SAMPLE_REFERENCE_END
'2025-04-01'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

SAMPLE_REFERENCE_END = "2025-04-01"
CHURN = Path(__file__).resolve().parents[2] / "sample_data" / "churn.parquet"
FEATURES_DROP = ["churned"]


def churn_frame(path: str | Path | None = None) -> pd.DataFrame:
    """The churn table without its target (20,000 rows: small enough for pandas)."""
    return pd.read_parquet(path or CHURN).drop(columns=FEATURES_DROP)


def build_sample_reports(store: Any, path: str | Path | None = None) -> dict[str, Any]:
    """Save the sample profile, reports and alert rules in ``store``; returns their ids."""
    from workbench.monitoring.alerts import add_alert_rule
    from workbench.monitoring.api import drift_report, reference_profile

    df = churn_frame(path)
    ref = df[df["timestamp"] < SAMPLE_REFERENCE_END]
    profile = reference_profile(ref, name="churn-reference", store=store)
    rules = [
        add_alert_rule(store, "score >= 0.2 twice", "column_score", op=">=", value=0.2,
                       consecutive=2, report_name="churn-monthly"),
        add_alert_rule(store, "a quarter of the columns drifted", "share_drifted", op=">=", value=0.25,
                       report_name="churn-monthly"),
    ]
    month = df["timestamp"].dt.month
    monthly = []
    for m in range(4, 13):
        rep = drift_report(profile, df[month == m], store=store, name="churn-monthly")
        monthly.append(rep.id)
    q4 = df[month >= 10]
    rep_q4 = drift_report(profile, q4, store=store, name="churn-q4-vs-q1")
    rep_mv = drift_report(ref, q4, store=store, name="churn-q4-vs-q1-multivariate", multivariate=True,
                          multivariate_rows=2000)
    from workbench.monitoring.over_time import drift_over_time

    weekly = drift_over_time(df, reference=profile, time_column="timestamp", freq="2W", store=store,
                             name="churn-2-weekly")
    return {"profile": profile.id, "monthly": monthly, "q4": rep_q4.id, "multivariate": rep_mv.id,
            "rules": rules, "over_time": weekly.id}
