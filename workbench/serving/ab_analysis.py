"""An A/B analysis of a deployment's prediction log: ``dep.analyze()`` on a split or a bandit.

The log holds one row per request (its variant, routing key, status and latency) and the
feedback posted for it (``POST /v2/models/<model>/feedback``: a label and/or a reward).
:func:`ab_events` turns it into the events of :func:`workbench.abtest.analyze`: one row per
live request, ``unit`` = the routing key (the ``x-workbench-key`` header or the split's key
field; the request id when there was none), so a sticky user is one unit however many
requests it made (``rows="events"``: aggregated per unit first). :func:`analyze_log` runs
the analysis with the deployment's champion as control.

Metrics by name:

- ``"reward"`` (mean of the summed rewards per unit) and ``"label"`` (mean label per unit,
  e.g. the share of positive outcomes): only requests with feedback count;
- ``"error"`` (share of units that saw a failed request, lower is better) and
  ``"latency_ms"`` (mean latency per unit, lower is better): every request counts;

or any :class:`workbench.abtest.Metric` over those columns.

A bandit moves traffic while it learns, so its arms' samples are not a fixed-allocation
experiment: the analysis is reported, with a finding that says so, and the sample-ratio
check compares with the traffic each arm actually received (it cannot flag a bandit).

>>> sorted(METRICS)
['error', 'label', 'latency_ms', 'reward']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from workbench.abtest.metrics import Metric
from workbench.errors import InvalidInputError
from workbench.serving.router import N_BUCKETS

METRICS: dict[str, Metric] = {
    "reward": Metric("reward", kind="mean"),
    "label": Metric("label", kind="mean", agg="avg"),
    "error": Metric("error", kind="proportion", direction="decrease"),
    "latency_ms": Metric("latency_ms", kind="mean", agg="avg", direction="decrease"),
}
FEEDBACK_COLUMNS = ("reward", "label")


def _metrics(metrics: Sequence[str | Metric]) -> list[Metric]:
    out = []
    for m in metrics:
        if isinstance(m, Metric):
            out.append(m)
        elif m in METRICS:
            out.append(METRICS[m])
        else:
            raise InvalidInputError(
                f"unknown prediction-log metric {m!r}; expected one of {', '.join(sorted(METRICS))} "
                "or a workbench.abtest.Metric")
    if not out:
        raise InvalidInputError("name at least one metric, e.g. metrics=['reward']")
    return out


def _control(events: pd.DataFrame, state: dict[str, Any], control: str | int | None) -> str:
    variants = sorted(events["variant"].dropna().unique())
    if control is None:
        champ = next((v["name"] for v in state.get("variants", []) if v.get("role") == "champion"), None)
        control = champ if champ in variants else (variants[0] if variants else None)
    elif isinstance(control, int) and not isinstance(control, bool):
        names = sorted(events.loc[events["version"] == control, "variant"].dropna().unique())
        if not names:
            raise InvalidInputError(f"no logged request was answered by version {control}; "
                                    f"the log has {', '.join(variants) or 'no variant'}")
        control = names[0]
    if control not in variants:
        raise InvalidInputError(f"control {control!r} answered no logged request; "
                                f"the log has {', '.join(variants) or 'no variant'}")
    return str(control)


def _planned(rows: pd.DataFrame, state: dict[str, Any], bandit: bool) -> dict[str, float] | None:
    """The split's weights when the log's variants are the current split's, the observed shares for a
    bandit, else None (``analyze`` then checks against equal shares)."""
    logged = set(rows["variant"].dropna())
    if bandit:
        return rows.drop_duplicates("unit")["variant"].value_counts(normalize=True).to_dict()
    live = {v["name"]: v.get("weight", 0) / N_BUCKETS for v in state.get("variants", [])
            if v.get("role") in ("champion", "challenger")}
    if state.get("strategy") == "split" and logged == {k for k, w in live.items() if w > 0}:
        return {k: w for k, w in live.items() if k in logged}
    return None


def analyze_log(events: pd.DataFrame, deployment: str, state: dict[str, Any],
                metrics: Sequence[str | Metric] = ("reward",), control: str | int | None = None,
                **options: Any) -> Any:
    """:func:`workbench.abtest.analyze` of ``events`` (from :func:`ab_events`); see the module docstring.

    ``control``: a variant name or a version (default: the champion). ``options`` go to
    ``analyze`` (``engine=``, ``alpha=``, ``correction=`` ...).

    >>> from workbench.serving.ab_analysis import analyze_log  # doctest: +SKIP
    >>> analyze_log(dep.ab_events(), "churn-api", dep.state(), ["reward"]).table  # doctest: +SKIP
    """
    from workbench.abtest.analysis import analyze

    chosen = _metrics(metrics)
    needs_feedback = any(c in FEEDBACK_COLUMNS for m in chosen for c in m.columns())
    rows = events[events["has_feedback"] == 1] if needs_feedback else events
    if rows.empty:
        what = "with feedback (POST /v2/models/<model>/feedback)" if needs_feedback else ""
        raise InvalidInputError(f"deployment {deployment!r} has no logged request {what} to analyse".replace(
            "  ", " "))
    ctrl = _control(rows, state, control)
    bandit = bool(rows["strategy"].eq("bandit").any())
    if "weights" not in options:
        options["weights"] = _planned(rows, state, bandit)
    res = analyze(rows, experiment=deployment, metrics=chosen, variant="variant", unit="unit",
                  control=ctrl, rows="events", **options)
    if bandit:
        res.findings.append(
            "bandit allocation: traffic moved between the arms while they were compared, so these are "
            "not fixed-allocation estimates (the sample-ratio check uses the observed shares)")
    return res
