"""A small real store with drift reports on the bundled churn data, for the screen's tests.

Faster than :func:`workbench.monitoring.sample.build_sample_reports` (no monthly series of
nine reports): a reference profile (January to March 2025), two reports of a series
(April and August against the profile), Q4 against the raw reference with the domain
classifier, drift over time in four-week windows, and ``support-tickets``: a text column
whose current texts speak of refunds and invoices. The current-data Parquet files
are written beside the store, so a test can run a new report from the screen::

    ids = build_monitoring_store(tmp_path / "m.duckdb")
    ids["files"]["q4"]      # a Parquet path for the "current" picker
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.monitoring.sample import SAMPLE_REFERENCE_END, churn_frame

_COMMON = ["customer", "account", "plan", "service", "month", "bill", "phone", "line", "support", "help"]
_BILLING = ["refund", "invoice", "payment", "failed", "charge", "dispute"]


def support_tickets(n: int, seed: int, billing_share: float) -> Any:
    """``n`` support-ticket texts (a ``note`` column) and a wait time; a share speaks of billing."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    notes = []
    for _ in range(n):
        words = list(rng.choice(_COMMON, 6))
        if rng.random() < billing_share:
            words += list(rng.choice(_BILLING, 2))
        rng.shuffle(words)
        notes.append(" ".join(words))
    return pd.DataFrame({"note": notes, "wait_minutes": rng.gamma(2.0, 5.0 + 3 * billing_share, n)})


def build_monitoring_store(path: str | Path, multivariate: bool = True) -> dict[str, Any]:
    """Build the store at ``path``; returns the ids saved and the Parquet files written."""
    from workbench.monitoring.api import drift_report, reference_profile
    from workbench.monitoring.over_time import drift_over_time
    from workbench.store.store import Store

    path = Path(path)
    store = Store(path)
    try:
        df = churn_frame()
        ref = df[df["timestamp"] < SAMPLE_REFERENCE_END]
        month = df["timestamp"].dt.month
        files = {}
        for label, part in (("april", df[month == 4]), ("q4", df[month >= 10]), ("reference", ref)):
            files[label] = str(path.parent / f"churn-{label}.parquet")
            part.to_parquet(files[label], index=False)
        # first, so that the Q4 report stays the newest (the one the page opens on)
        tickets = drift_report(support_tickets(1500, 1, 0.0), support_tickets(1500, 2, 0.4), store=store,
                               name="support-tickets")
        profile = reference_profile(ref, name="churn-reference", store=store)
        series = [drift_report(profile, df[month == m], store=store, name="churn-monthly").id for m in (4, 8)]
        q4 = drift_report(ref, df[month >= 10], store=store, name="churn-q4-vs-q1-multivariate",
                          multivariate=multivariate, multivariate_rows=1000)
        ot = drift_over_time(df, reference=profile, time_column="timestamp", freq="4W", store=store,
                             name="churn-4-weekly")
        return {"profile": profile.id, "series": series, "q4": q4.id, "over_time": ot.id, "files": files,
                "tickets": tickets.id}
    finally:
        store.close()
