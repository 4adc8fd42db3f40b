"""Saved A/B objects: experiments list, analyses, decisions (typed wrappers over the store).

>>> import tempfile, os, workbench as wb
>>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
>>> experiments(store).empty
True
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from workbench.store import abtest_store


def experiments(store: Any) -> pd.DataFrame:
    """Every experiment: name, status, coverage, variants, the latest analysis and SRM flag.

    With a latest analysis, the headline columns come from its primary (first
    non-guardrail) metric: ``headline_metric``, ``headline_variant`` (the significant
    variant with the best lift, else the one with the largest absolute lift),
    ``headline_rel_lift``, ``headline_significant``, and ``winner`` (None while the SRM
    check is flagged or nothing won).
    """
    frame = abtest_store.list_experiments(store)
    heads = [
        _headline(store, a, flag) for a, flag in zip(frame["latest_analysis"], frame["srm_flagged"])
    ]
    for key in (
        "headline_metric",
        "headline_variant",
        "headline_rel_lift",
        "headline_significant",
        "winner",
    ):
        frame[key] = [h.get(key) for h in heads]
    return frame


def _headline(store: Any, analysis_id: Any, srm_flagged: Any) -> dict[str, Any]:
    if analysis_id is None or pd.isna(analysis_id):
        return {}
    saved = abtest_store.get_analysis(store, int(analysis_id))
    table = saved["table"]
    control = saved["options"].get("control")
    rows = table[(table["variant"] != control) & ~table["guardrail"].astype(bool)]
    if rows.empty:
        return {}
    primary = rows["metric"].iloc[0]
    rows = rows[rows["metric"] == primary]
    sign = -1.0 if rows["direction"].iloc[0] == "decrease" else 1.0
    good = rows[rows["significant"].astype(bool) & (sign * rows["abs_lift"] > 0)]
    guards = table[table["guardrail"].astype(bool) & (table["variant"] != control)]
    best = (
        good.loc[(sign * good["rel_lift"]).idxmax()]
        if not good.empty
        else rows.loc[rows["rel_lift"].abs().idxmax()]
    )
    passed = guards[guards["variant"] == best["variant"]]["guardrail_passed"]
    won = (not bool(srm_flagged)) and not good.empty and bool(passed.fillna(False).all())
    return {
        "headline_metric": primary,
        "headline_variant": best["variant"],
        "headline_rel_lift": float(best["rel_lift"]),
        "headline_significant": bool(best["significant"]),
        "winner": best["variant"] if won else None,
    }


def set_status(store: Any, experiment: str, status: str) -> None:
    """Set an experiment's status: ``draft``, ``running``, ``stopped`` or ``decided``."""
    abtest_store.set_status(store, experiment, status)


def get_analysis(store: Any, analysis_id: int) -> dict[str, Any]:
    """A saved analysis: ``options``, ``table`` (DataFrame), ``srm``, ``findings``."""
    return abtest_store.get_analysis(store, analysis_id)


def list_analyses(store: Any, experiment: str) -> pd.DataFrame:
    """The saved analyses of an experiment, newest first."""
    return abtest_store.list_analyses(store, experiment)


def record_decision(
    store: Any,
    experiment: str,
    decision: str,
    comment: str | None = None,
    variant: str | None = None,
    analysis_id: int | None = None,
    user: str | None = None,
) -> int:
    """Record ``ship`` / ``stop`` / ``iterate`` with a comment; the status becomes ``decided``."""
    return abtest_store.record_decision(
        store, experiment, decision, comment, variant, analysis_id, user
    )


def list_decisions(store: Any, experiment: str) -> pd.DataFrame:
    """The decisions recorded for an experiment, oldest first."""
    return abtest_store.list_decisions(store, experiment)


def get_experiment(store: Any, experiment: str) -> dict[str, Any]:
    """The stored definition of an experiment: variants, weights, unit, status, hypothesis."""
    return abtest_store.get_experiment(store, experiment)


def list_designs(store: Any, experiment: str | None = None) -> pd.DataFrame:
    """Saved sample-size designs (``inputs`` and ``result`` as JSON), newest first."""
    return abtest_store.list_designs(store, experiment)
