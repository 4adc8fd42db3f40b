"""``analyze``: one call from events to an honest A/B result.

The events are aggregated in DuckDB into per-variant sufficient statistics
(:mod:`workbench.store.abtest_sql`); every statistic then runs on those few numbers. The
result names its engine, correction, conventions and findings (duplicates, SRM).

Conventions:

- the first variant that is not ``control`` is compared with ``control``, and so on for
  every other variant; lifts are treatment - control (``abs_lift``) and relative to the
  control mean (``rel_lift``);
- ``ci_low``/``ci_high`` bound the absolute lift and ``rel_ci_low``/``rel_ci_high`` the
  relative lift, with the engine's interval: fixed-horizon (frequentist), credible
  (bayesian) or the always-valid confidence sequence (sequential);
- ``p_value`` is the engine's p-value (NaN for the Bayesian engine), ``p_adjusted`` the
  correction over every non-guardrail metric x variant; ``fixed_p_value``,
  ``always_valid_p``, ``chance_to_win`` and ``expected_loss`` are always filled, so the
  engines can be compared on the same data;
- the first non-guardrail metric is the primary one: ``res.winner`` is the variant that
  beats control on it significantly, in the metric's good direction, with every
  guardrail passing, and is ``None`` while the SRM check is flagged.

>>> from workbench.samples import load_sample
>>> ev = load_sample("ab_events")
>>> res = analyze(ev, experiment="checkout", metrics=[Metric("converted", kind="proportion")])
>>> res.srm.flagged, bool(res.table.loc[1, "significant"])
(False, True)
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.abtest import bayesian, checks, sequential
from workbench.abtest.metrics import Metric, arm_moments, compare_metric
from workbench.errors import ExperimentDataError, InvalidInputError
from workbench.store import abtest_sql

ENGINES = ("frequentist", "bayesian", "sequential")


@dataclass
class ABTestResult:
    """The result of :func:`analyze`.

    ``table``: one row per (metric, variant) including the control rows; ``srm``: the
    sample-ratio check (:class:`~workbench.abtest.checks.SRMResult`); ``findings``: what
    was noticed and done (duplicates excluded, rows without a variant, SRM);
    ``duplicates``: units seen in two variants; ``stats``: the per-variant sufficient
    statistics the numbers were computed from; ``options``: every setting used.
    """

    experiment: str
    engine: str
    correction: str | None
    alpha: float
    control: str
    variants: list[str]
    metrics: list[Metric]
    table: pd.DataFrame
    srm: checks.SRMResult
    findings: list[str]
    duplicates: abtest_sql.Duplicates
    stats: pd.DataFrame
    options: dict[str, Any]
    analysis_id: int | None = None
    _events: Any = field(default=None, repr=False)
    _store: Any = field(default=None, repr=False)

    @property
    def winner(self) -> str | None:
        """The variant that wins the primary metric (see the module), else None."""
        if self.srm.flagged:
            return None
        primary = next((m for m in self.metrics if not m.guardrail), None)
        if primary is None:
            return None
        rows = self.table[
            (self.table["metric"] == primary.name) & (self.table["variant"] != self.control)
        ]
        good = rows[
            rows["significant"].astype(bool)
            & (
                (rows["abs_lift"] > 0)
                if primary.direction == "increase"
                else (rows["abs_lift"] < 0)
            )
        ]
        if good.empty:
            return None
        guard = self.table[
            self.table["guardrail"].astype(bool) & (self.table["variant"] != self.control)
        ]
        ok = [
            v
            for v in good["variant"]
            if guard[guard["variant"] == v]["guardrail_passed"].astype(bool).all()
        ]
        if not ok:
            return None
        best = good[good["variant"].isin(ok)]
        key = best["rel_lift"] if primary.direction == "increase" else -best["rel_lift"]
        return str(best.loc[key.idxmax(), "variant"])

    def summary(self) -> str:
        """A short plain-text summary: SRM banner, then one line per metric x variant."""
        lines = []
        if self.srm.flagged:
            lines.append("!! " + self.srm.message)
        for f in self.findings:
            if f != self.srm.message:
                lines.append("note: " + f)
        for _, r in self.table[self.table["variant"] != self.control].iterrows():
            lines.append(
                f"{r['metric']} {r['variant']} vs {self.control}: {r['rel_lift']:+.2%} "
                f"[{r['rel_ci_low']:+.2%}, {r['rel_ci_high']:+.2%}] "
                + (
                    f"p = {r['p_value']:.3g}"
                    if np.isfinite(r["p_value"])
                    else f"chance to win {r['chance_to_win']:.1%}"
                )
                + (
                    " (guardrail " + ("pass" if r["guardrail_passed"] else "FAIL") + ")"
                    if r["guardrail"]
                    else ""
                )
            )
        lines.append(f"winner: {self.winner}")
        return "\n".join(lines)

    def over_time(self, freq: str = "1D", metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Cumulative estimates per time bucket with fixed and always-valid intervals.

        One row per (t, metric, variant): the cumulative units, the lift, the
        fixed-horizon interval (``fixed_low``/``fixed_high``), the confidence sequence
        (``cs_low``/``cs_high``), the running always-valid p-value, the fixed p-value and
        the peeking cost; relative versions with the ``rel_`` prefix. Aggregated in
        DuckDB by (variant, bucket), then cumulated.
        """
        if self._events is None:
            raise InvalidInputError("this result has no events to recompute over time")
        bucket_us = parse_freq(freq)
        chosen = [m for m in self.metrics if metrics is None or m.name in metrics]
        if metrics is not None and len(chosen) != len(set(metrics)):
            raise InvalidInputError(
                f"unknown metrics {sorted(set(metrics) - {m.name for m in chosen})}"
            )
        req = _request(self.options, chosen)
        ts = self.options["timestamp"]
        with abtest_sql.open_events(self._events, self._store) as src:
            exclude = False
            if self.duplicates.count:
                abtest_sql.find_duplicates(src, req)
                exclude = True
            frame = abtest_sql.sufficient_stats(src, req, exclude, time_col=ts, bucket_us=bucket_us)
        frame = frame[frame["variant"].isin(self.variants)]
        value_cols = [c for c in frame.columns if c not in ("variant", "t")]
        times = sorted(frame["t"].unique())
        full = (
            frame.set_index(["variant", "t"])[value_cols]
            .reindex(
                pd.MultiIndex.from_product([self.variants, times], names=["variant", "t"]),
                fill_value=0,
            )
            .groupby(level=0)
            .cumsum()
        )
        rows = []
        for t in times:
            ctrl = full.loc[(self.control, t)]
            for v in self.variants:
                if v == self.control:
                    continue
                trt = full.loc[(v, t)]
                for m in chosen:
                    if min(ctrl["n"], trt["n"]) < 2:
                        continue
                    r = compare_metric(m, ctrl, trt, self.options)
                    rows.append(
                        {
                            "t": t,
                            "metric": m.name,
                            "variant": v,
                            "n_control": int(ctrl["n"]),
                            "n_treatment": int(trt["n"]),
                            "abs_lift": r["abs_lift"],
                            "rel_lift": r["rel_lift"],
                            "fixed_low": r["fixed_ci_low"],
                            "fixed_high": r["fixed_ci_high"],
                            "cs_low": r["cs_low"],
                            "cs_high": r["cs_high"],
                            "rel_fixed_low": r["rel_fixed_low"],
                            "rel_fixed_high": r["rel_fixed_high"],
                            "rel_cs_low": r["rel_cs_low"],
                            "rel_cs_high": r["rel_cs_high"],
                            "fixed_p_value": r["fixed_p_value"],
                            "always_valid_p": r["always_valid_p"],
                            "chance_to_win": r["chance_to_win"],
                            "peeking_cost": r["peeking_cost"],
                        }
                    )
        out = pd.DataFrame(rows)
        if not out.empty:  # always-valid p-values only go down as evidence accumulates
            out["always_valid_p"] = out.groupby(["metric", "variant"])["always_valid_p"].cummin()
        return out

    def to_records(self) -> list[dict[str, Any]]:
        return self.table.replace({np.nan: None}).to_dict(orient="records")


_FREQ = re.compile(r"^\s*(\d+)?\s*(D|d|day|days|H|h|hour|hours|min|T|W|w|week|weeks)\s*$")
_UNIT_US = {
    "d": 86_400e6,
    "day": 86_400e6,
    "days": 86_400e6,
    "h": 3_600e6,
    "hour": 3_600e6,
    "hours": 3_600e6,
    "min": 60e6,
    "t": 60e6,
    "w": 7 * 86_400e6,
    "week": 7 * 86_400e6,
    "weeks": 7 * 86_400e6,
}


def parse_freq(freq: str) -> int:
    """A bucket width like ``"1D"``, ``"12h"``, ``"30min"`` or ``"1W"`` in microseconds.

    >>> parse_freq("1D")
    86400000000
    """
    m = _FREQ.match(str(freq))
    if not m:
        raise InvalidInputError(f"freq must look like '1D', '12h', '30min' or '1W', got {freq!r}")
    k = int(m.group(1) or 1)
    if k <= 0:
        raise InvalidInputError(f"freq must be positive, got {freq!r}")
    return int(k * _UNIT_US[m.group(2).lower()])


# -- analyze -------------------------------------------------------------------------------
def _request(opts: Mapping[str, Any], metrics: Sequence[Metric]) -> abtest_sql.StatsRequest:
    columns: list[str] = []
    pairs: list[tuple[str, str]] = []
    binary: list[str] = []
    unit_agg: dict[str, str] = {}
    for m in metrics:
        for c in m.columns():
            if c not in columns:
                columns.append(c)
        if m.kind == "proportion" and m.column not in binary:
            binary.append(m.column)
        if m.kind == "ratio" and (m.numerator, m.denominator) not in pairs:
            pairs.append((m.numerator, m.denominator))
        if m.cuped and (m.column, m.cuped) not in pairs:
            pairs.append((m.column, m.cuped))
        for c in m.columns():
            if c == m.cuped:
                unit_agg.setdefault(c, "max")
            else:
                unit_agg.setdefault(c, m.agg or ("max" if m.kind == "proportion" else "sum"))
    return abtest_sql.StatsRequest(
        opts["variant"], opts["unit"], columns, pairs, binary, unit_agg, opts["rows"]
    )


def _check_options(engine, correction, duplicates, rows, alpha, metrics):
    if engine not in ENGINES:
        raise InvalidInputError(f"engine must be one of {ENGINES}, got {engine!r}")
    if correction not in checks.CORRECTIONS:
        raise InvalidInputError(
            f"correction must be one of {checks.CORRECTIONS}, got {correction!r}"
        )
    if duplicates not in ("exclude", "refuse", "trust"):
        raise InvalidInputError(
            f"duplicates must be 'exclude', 'refuse' or 'trust', got {duplicates!r}"
        )
    if rows not in ("unit", "events"):
        raise InvalidInputError(f"rows must be 'unit' or 'events', got {rows!r}")
    if not 0 < float(alpha) < 1:
        raise InvalidInputError(f"alpha must be in (0, 1), got {alpha!r}")
    if isinstance(metrics, Metric):
        metrics = [metrics]
    metrics = list(metrics or [])
    if not metrics or not all(isinstance(m, Metric) for m in metrics):
        raise InvalidInputError("metrics must be a non-empty list of ab.Metric")
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"metric names must be unique, got {names}")
    return metrics


def _planned_weights(weights, experiment, store, observed) -> dict[str, float] | None:
    if weights is not None:
        from workbench.abtest.allocation import check_weights

        return check_weights(weights)
    if store is not None:
        from workbench.errors import NotFoundError
        from workbench.store import abtest_store

        try:
            return {
                k: float(w) for k, w in abtest_store.get_experiment(store, experiment)["variants"]
            }
        except NotFoundError:
            pass
    return None


def analyze(
    events: Any,
    experiment: str,
    metrics: Sequence[Metric],
    variant: str = "variant",
    unit: str = "user_id",
    control: str = "control",
    engine: str = "frequentist",
    correction: str | None = "holm",
    alpha: float = 0.05,
    weights: Mapping[str, float] | None = None,
    duplicates: str = "exclude",
    rows: str = "unit",
    timestamp: str = "timestamp",
    prior: bayesian.NormalPrior | None = None,
    beta_prior: tuple[float, float] = (1.0, 1.0),
    n_star: float = sequential.DEFAULT_N_STAR,
    store: Any = None,
) -> ABTestResult:
    """Analyse an experiment's events; see the module for the conventions.

    ``events``: a DataFrame, a Parquet path/glob/list, or the name of a store table.
    ``weights``: the planned split for the SRM check (default: the stored experiment's
    weights, else equal). ``duplicates``: units found in two variants are
    ``"exclude"``-d from every arm (reported in ``findings``) or ``"refuse"``-d (raises
    :class:`ExperimentDataError`). ``rows``: ``"unit"`` (one row per unit) or
    ``"events"`` (many rows per unit, aggregated per unit first). ``prior``: the normal
    prior on lifts (flat by default), ``beta_prior`` the Beta prior of proportions.
    ``n_star``: the sequential tuning constant N*. With ``store=``, the analysis is saved
    (one transaction, after every check passed).
    """
    metrics = _check_options(engine, correction, duplicates, rows, alpha, metrics)
    if not isinstance(experiment, str) or not experiment:
        raise InvalidInputError(f"experiment must be a non-empty name, got {experiment!r}")
    opts: dict[str, Any] = {
        "experiment": experiment,
        "variant": variant,
        "unit": unit,
        "control": control,
        "engine": engine,
        "correction": correction,
        "alpha": float(alpha),
        "duplicates": duplicates,
        "rows": rows,
        "timestamp": timestamp,
        "prior": prior or bayesian.NormalPrior(),
        "beta_prior": tuple(beta_prior),
        "n_star": float(n_star),
    }
    req = _request(opts, metrics)
    findings: list[str] = []
    with abtest_sql.open_events(events, store) as src:
        src.require(variant, "variant")
        src.require(unit, "unit")
        for c in req.columns:
            src.require(c, "metric", numeric=True)
        stats = abtest_sql.sufficient_stats(src, req)
        nulls = stats["variant"].isna()
        null_rows = int(stats.loc[nulls, "n"].sum())
        stats = stats[~nulls].reset_index(drop=True)
        if duplicates == "trust":
            dups = abtest_sql.Duplicates(0, [], {})
        else:
            dups = abtest_sql.find_duplicates(src, req, stats["variant"].tolist())
        if dups.count and duplicates == "refuse":
            raise ExperimentDataError(
                f"{dups.count} units appear in more than one variant (e.g. {dups.examples}); "
                "pass duplicates='exclude' to drop them from every arm"
            )
        if dups.count:
            stats = abtest_sql.sufficient_stats(src, req, exclude_duplicates=True)
            stats = stats[stats["variant"].notna()].reset_index(drop=True)
        if rows == "events":
            null_rows = abtest_sql.null_variant_rows(src, variant)
    if dups.count:
        findings.append(
            f"{dups.count} units appeared in more than one variant and were "
            f"excluded from every arm (e.g. {dups.examples})"
        )
    if null_rows:
        findings.append(f"{null_rows} rows had no {variant!r} and were left out")
    observed = stats["variant"].tolist()
    planned = _planned_weights(weights, experiment, store, observed)
    if control not in observed:
        raise ExperimentDataError(
            f"control variant {control!r} is not in column {variant!r}; variants found: {observed}"
        )
    if planned is not None:
        unknown = sorted(set(observed) - set(planned))
        if unknown:
            raise ExperimentDataError(
                f"unknown variants {unknown} in column {variant!r}; the planned variants are "
                f"{list(planned)}"
            )
    variants = [control] + [v for v in (list(planned) if planned else observed) if v != control]
    by_v = {r["variant"]: r for _, r in stats.iterrows()}
    for v in variants:
        n = int(by_v[v]["n"]) if v in by_v else 0
        if n < 2:
            raise ExperimentDataError(f"variant {v!r} has {n} units; every arm needs at least 2")
    for m in metrics:
        for c in m.columns():
            for v in variants:
                missing = int(by_v[v]["n"] - by_v[v][f"n_{c}"])
                if missing:
                    raise ExperimentDataError(
                        f"column {c!r} (metric {m.name!r}) has {missing} missing values in "
                        f"variant {v!r}; fill or drop them first"
                    )
        if m.kind == "proportion":
            bad = int(sum(by_v[v][f"bad_{m.column}"] for v in variants))
            if bad:
                raise ExperimentDataError(
                    f"proportion metric {m.name!r}: column {m.column!r} has {bad} values "
                    "outside {0, 1}; use kind='mean' for other values"
                )
        if m.kind == "ratio":
            for v in variants:
                if by_v[v][f"sum_{m.denominator}"] == 0:
                    raise ExperimentDataError(
                        f"ratio metric {m.name!r}: denominator {m.denominator!r} sums to 0 "
                        f"in variant {v!r}"
                    )
    counts = {v: int(by_v[v]["n"]) for v in variants}
    srm = checks.srm_test(counts, planned or {v: 1 / len(variants) for v in variants})
    if srm.flagged:
        findings.insert(0, srm.message)

    records = []
    for m in metrics:
        c = by_v[control]
        mean_c, var_c = arm_moments(m, c)
        records.append(
            {
                "metric": m.name,
                "kind": m.kind,
                "variant": control,
                "n": counts[control],
                "mean": mean_c,
                "sd": math.sqrt(var_c),
                "guardrail": m.guardrail,
                "direction": m.direction,
                "engine": engine,
            }
        )
        for v in variants[1:]:
            row = compare_metric(m, c, by_v[v], opts)
            row.update(
                {
                    "metric": m.name,
                    "kind": m.kind,
                    "variant": v,
                    "guardrail": m.guardrail,
                    "direction": m.direction,
                    "engine": engine,
                }
            )
            records.append(row)
    table = pd.DataFrame(records)
    for col in (
        "p_value",
        "p_adjusted",
        "chance_to_win",
        "expected_loss",
        "variance_reduction",
        "guardrail_p",
    ):
        if col not in table:
            table[col] = np.nan
    is_test = (table["variant"] != control) & ~table["guardrail"].astype(bool)
    table["p_adjusted"] = np.nan
    if engine != "bayesian":
        table.loc[is_test, "p_adjusted"] = checks.adjust_pvalues(
            table.loc[is_test, "p_value"].to_numpy(dtype=float), correction
        )
        sig = table["p_adjusted"] < alpha
    else:
        ctw = table["chance_to_win"]
        sig = (ctw > 1 - alpha) | (ctw < alpha)
    table["significant"] = np.where(table["variant"] != control, sig, False).astype(bool)
    order = [
        "metric",
        "kind",
        "variant",
        "n",
        "mean",
        "sd",
        "abs_lift",
        "rel_lift",
        "ci_low",
        "ci_high",
        "rel_ci_low",
        "rel_ci_high",
        "p_value",
        "p_adjusted",
        "significant",
        "chance_to_win",
        "expected_loss",
        "variance_reduction",
        "guardrail",
        "direction",
        "guardrail_p",
        "guardrail_passed",
        "engine",
        "method",
    ]
    table = table[order + [c for c in table.columns if c not in order]]
    result = ABTestResult(
        experiment,
        engine,
        correction,
        float(alpha),
        control,
        variants,
        metrics,
        table,
        srm,
        findings,
        dups,
        stats,
        opts,
        _events=events,
        _store=store,
    )
    if store is not None:
        from workbench.store import abtest_store

        saved_opts = {
            k: (v.__dict__ if isinstance(v, bayesian.NormalPrior) else v) for k, v in opts.items()
        }
        saved_opts["metrics"] = [m.__dict__ for m in metrics]
        saved_opts["events"] = (
            str(events)
            if isinstance(events, (str, os.PathLike))
            else (
                [str(e) for e in events]
                if isinstance(events, (list, tuple))
                else type(events).__name__
            )
        )
        result.analysis_id = abtest_store.save_analysis(
            store,
            experiment,
            engine,
            correction,
            saved_opts,
            result.to_records(),
            srm.to_dict(),
            findings,
            [[v, (planned or {}).get(v, 1 / len(variants))] for v in variants],
            unit,
        )
    return result
