"""Drift over time: every column's score per window, drifted cells, and change points.

``drift_over_time(current, time_column="ts", freq="1D", reference=profile)``
cuts the current data into windows (by time with ``freq``, or by ``rows``
consecutive rows), tests each column in each window against the reference with
the column's method (Evidently's default unless given, chosen once per column
from the reference), and marks windows with fewer than ``min_rows`` rows as
too small rather than scoring them (with 100 rows PSI exceeds 0.1 about half
the time without any drift). ``correction`` ("bonferroni"/"bh") adjusts the
p-value tests over all windows x columns.

Change points: each column's statistic series (windows too small left out)
is segmented by PELT (``ruptures``, ``model="l2"``, ``min_size=2``,
``jump=1``) with the penalty ``pen = max(2 sigma^2 ln(n), delta^2)``: the first
term is the BIC of a mean change in Gaussian noise, with sigma estimated
robustly from the series' first differences (``MAD / (0.6745 sqrt 2)``) and
``n`` the number of scored windows; ``delta`` is the method's threshold for
distances (0 for p-value tests), so that a step smaller than one threshold
between two 2-window segments is not called a change. ``penalty=`` overrides
it. A change point is reported as the first window of the new segment.

>>> parse_freq("1D"), parse_freq("1W"), parse_freq("6H")
('1 day', '7 days', '6 hours')
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import InvalidInputError, MonitoringInputError, NotFoundError
from workbench.monitoring import _ecdf
from workbench.monitoring.columns import default_method
from workbench.monitoring.profile import ReferenceProfile, build_profile
from workbench.monitoring.report import DriftOptions, adjust_p_values
from workbench.monitoring.stattests import CATEGORICAL, NUMERICAL, Sample, get_method, run_method

_UNITS = {"D": "day", "W": "week", "H": "hour", "h": "hour", "min": "minute", "T": "minute",
          "S": "second", "s": "second", "M": "month", "MS": "month", "ME": "month"}


def parse_freq(freq: Any) -> str:
    """A pandas-style frequency ("1D", "1W", "6H", "30min", "1M") as a DuckDB interval."""
    if not isinstance(freq, str):
        raise InvalidInputError(f"freq must be a string such as '1D' or '1W', got {freq!r}")
    m = re.fullmatch(r"\s*(\d*)\s*(MS|ME|min|D|W|H|h|T|S|s|M)\s*", freq)
    if not m:
        raise InvalidInputError(f"freq {freq!r} is not understood; use e.g. '1D', '1W', '6H', '30min', '1M'")
    n = int(m.group(1) or 1)
    if n < 1:
        raise InvalidInputError(f"freq {freq!r} must be at least 1 unit")
    unit = _UNITS[m.group(2)]
    if unit == "week":
        n, unit = n * 7, "day"
    return f"{n} {unit}{'s' if n != 1 else ''}"


def default_penalty(scores: np.ndarray, min_jump: float = 0.0) -> float:
    """``max(2 sigma^2 ln(n), min_jump^2)``, sigma from the MAD of the first differences."""
    n = scores.size
    d = np.diff(scores)
    sigma = float(np.median(np.abs(d - np.median(d)))) / (0.6745 * math.sqrt(2)) if d.size else 0.0
    if sigma <= 0:
        sigma = max(float(np.std(scores)) * 0.1, 1e-12)
    return max(2.0 * sigma**2 * math.log(max(n, 2)), float(min_jump) ** 2)


def change_points(scores: np.ndarray, penalty: float | None = None,
                  min_jump: float = 0.0) -> tuple[list[int], float]:
    """Indexes (into ``scores``) where a new segment starts, and the penalty used."""
    import ruptures as rpt

    s = np.asarray(scores, dtype=np.float64)
    if s.size < 4 or not np.all(np.isfinite(s)):
        return [], float("nan") if penalty is None else penalty
    pen = default_penalty(s, min_jump) if penalty is None else float(penalty)
    bkps = rpt.Pelt(model="l2", min_size=2, jump=1).fit(s.reshape(-1, 1)).predict(pen=pen)
    return [int(b) for b in bkps if b < s.size], pen


@dataclass
class DriftOverTime:
    """Scores per window x column, window summaries, and change points per column."""

    scores: pd.DataFrame
    windows: pd.DataFrame
    change_points: dict[str, list[Any]]
    penalties: dict[str, float]
    options: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    reference_label: str = ""
    current_label: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)

    def save(self, store: Any, name: str | None = None) -> str:
        """Save in the store (one transaction); returns the id."""
        from workbench.monitoring.schema import ensure_schema
        from workbench.store import monitoring_store as ms

        if name is not None:
            self.name = name
        ensure_schema(store)

        def recs(df: pd.DataFrame) -> list[dict[str, Any]]:
            out = df.copy()
            if "window_start" in out:
                out["window_start"] = out["window_start"].astype(str)
            return json.loads(out.to_json(orient="records"))

        with store.transaction() as con:
            ms.insert_over_time(con, {
                "result_id": self.id, "name": self.name, "created_at": int(self.created_at * 1000),
                "reference_label": self.reference_label, "current_label": self.current_label,
                "options": self.options, "scores": recs(self.scores), "windows": recs(self.windows),
                "change_points": {c: [str(x) for x in v] for c, v in self.change_points.items()},
                "penalties": self.penalties})
        return self.id

    def matrix(self, value: str = "relative") -> pd.DataFrame:
        """Windows x columns: ``"relative"`` (score / threshold, >= 1 or p below it is drifted),
        ``"score"`` or ``"drifted"``."""
        s = self.scores.copy()
        if value == "relative":
            s["v"] = np.where(s["kind"] == "p_value", s["threshold"] / s["score"], s["score"] / s["threshold"])
        else:
            s["v"] = s[value]
        return s.pivot(index="window_start", columns="column", values="v")

    @classmethod
    def load(cls, store: Any, name_or_id: str) -> DriftOverTime:
        """A saved result by id, or the newest one with that name."""
        from workbench.monitoring.schema import ensure_schema
        from workbench.store import monitoring_store as ms

        ensure_schema(store)
        with store.connection() as con:
            row = ms.get_over_time(con, name_or_id)
        if row is None:
            raise NotFoundError(f"no drift-over-time result named or with id {name_or_id!r}")
        time_based = bool(row["options"].get("freq"))

        def conv(x: str) -> Any:
            return pd.Timestamp(x) if time_based else int(x)

        scores = pd.DataFrame(row["scores"])
        windows = pd.DataFrame(row["windows"])
        for df in (scores, windows):
            if "window_start" in df:
                df["window_start"] = df["window_start"].map(conv)
        return cls(scores, windows, {c: [conv(x) for x in v] for c, v in row["change_points"].items()},
                   row["penalties"] or {}, row["options"] or {}, name=row["name"],
                   reference_label=row["reference_label"] or "", current_label=row["current_label"] or "",
                   id=row["result_id"], created_at=row["created_at"] / 1000)

    def first_drift(self) -> dict[str, Any]:
        """Per column, the start of its first change point (None when there is none)."""
        return {c: (cps[0] if cps else None) for c, cps in self.change_points.items()}


def drift_over_time(current: Any, *, reference: Any, time_column: str | None = None,
                    freq: str | None = None, rows: int | None = None, columns: list[str] | None = None,
                    column_types: dict[str, str] | None = None, method: str | None = None,
                    num_method: str | None = None, cat_method: str | None = None,
                    per_column_method: dict[str, str] | None = None,
                    threshold: float | dict[str, float] | None = None, min_rows: int = 500,
                    correction: str | None = None, binning: str = "quantile", seed: int = 0,
                    penalty: float | None = None, store: Any = None, name: str | None = None,
                    n_jobs: int = 2) -> DriftOverTime:
    """Score every column in every window of ``current`` against ``reference`` (see the module docstring).

    With ``store=`` and ``name=`` the result is saved (``DriftOverTime.load(store, name)``).
    """
    from workbench.monitoring.api import open_data
    from workbench.monitoring.report import run_columns

    if (freq is None) == (rows is None):
        raise InvalidInputError("give exactly one of freq= (with time_column=) or rows=")
    if freq is not None and not time_column:
        raise InvalidInputError("freq= needs time_column=")
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 1):
        raise InvalidInputError(f"rows must be a positive integer, got {rows!r}")
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise InvalidInputError(f"min_rows must be a positive integer, got {min_rows!r}")
    opts = DriftOptions(columns=columns, column_types=dict(column_types or {}), method=method,
                        num_method=num_method, cat_method=cat_method,
                        per_column_method=dict(per_column_method or {}), threshold=threshold,
                        correction=correction, binning=binning, seed=seed, n_jobs=n_jobs)
    opts.check()
    every = parse_freq(freq) if freq is not None else None
    ref_src, ref_label = open_data(reference, "reference", store, allow_profile=True)
    cur, cur_label = open_data(current, "current", store)
    try:
        if not isinstance(ref_src, ReferenceProfile):
            names = columns or [c for c, _ in ref_src.columns if c != time_column]
            ref_src_scan = ref_src
            ref_src = build_profile(ref_src, None, [c for c in names if c in dict(cur.columns)],
                                    opts.column_types, n_jobs=n_jobs, source="reference")
            ref_src_scan.close()
        prof: ReferenceProfile = ref_src
        cur_names = [c for c, _ in cur.columns]
        if time_column is not None and time_column not in cur_names:
            raise MonitoringInputError(f"the current data has no time column {time_column!r}")
        names = columns or [c for c in prof.columns if c in set(cur_names) and c != time_column]
        missing = [c for c in names if c not in prof.columns or c not in set(cur_names)]
        if missing:
            raise MonitoringInputError(f"columns not in both reference and current: {missing}")
        if every is not None:
            ids, starts = cur.time_windows(time_column, every)
            labels = [pd.Timestamp(s) for s in starts]
        else:
            ids = np.arange(cur.n_rows, dtype=np.int64) // rows
            labels = list(range(int(ids.max()) + 1 if ids.size else 0))
        n_win = len(labels)
        sizes = np.bincount(ids[ids >= 0], minlength=n_win) if n_win else np.zeros(0, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        bounds = np.searchsorted(ids[order], np.arange(n_win + 1))

        def job(c: str):
            return lambda: _column_windows(c, prof, cur, opts, ids, order, bounds, sizes, labels,
                                           min_rows, time_column, every, rows)

        frames = run_columns([job(c) for c in names], n_jobs)
    finally:
        cur.close()
    scores = pd.DataFrame([r for f in frames for r in f])
    tested_p = (scores["status"] == "tested") & (scores["kind"] == "p_value")
    scores["p_adjusted"] = np.nan
    if correction and tested_p.any():
        adj = adjust_p_values(scores.loc[tested_p, "p_value"].to_numpy(), correction)
        scores.loc[tested_p, "p_adjusted"] = adj
        scores.loc[tested_p, "score"] = adj
        scores.loc[tested_p, "drifted"] = adj < scores.loc[tested_p, "threshold"].to_numpy()
    scores["drifted"] = scores["drifted"].astype(bool)
    win = scores.groupby("window", as_index=False).agg(
        window_start=("window_start", "first"), n_rows=("n_rows", "first"),
        n_tested=("status", lambda s: int((s == "tested").sum())), n_drifted=("drifted", "sum"))
    win["share_drifted"] = np.where(win["n_tested"] > 0, win["n_drifted"] / win["n_tested"].clip(lower=1), np.nan)
    win["dataset_drift"] = (win["n_tested"] > 0) & (win["share_drifted"] >= opts.drift_share)
    cps, pens = {}, {}
    for c in names:
        s = scores[(scores["column"] == c) & (scores["status"] == "tested")]
        if s.empty:
            continue
        distance = bool(s["kind"].eq("distance").all())
        jump = float(s["threshold"].iloc[0]) if distance else 0.0
        idx, pen = change_points(s["statistic"].to_numpy(), penalty, jump)
        cps[c] = [s["window_start"].iloc[i] for i in idx]
        pens[c] = pen
    result = DriftOverTime(scores, win, cps, pens,
                           {**opts.to_dict(), "freq": freq, "rows": rows, "time_column": time_column,
                            "min_rows": min_rows, "penalty": penalty if penalty is not None else
                            "max(2 sigma^2 ln(n), threshold^2), sigma = MAD(diff)/(0.6745 sqrt 2)"},
                           name=name, reference_label=ref_label, current_label=cur_label)
    if store is not None and name is not None:
        result.save(store)
    return result


def _column_windows(c, prof: ReferenceProfile, cur, opts, ids, order, bounds, sizes, labels, min_rows,
                    time_column, every, rows) -> list[dict[str, Any]]:
    cp = prof[c]
    out: list[dict[str, Any]] = []
    if cp.type not in (NUMERICAL, CATEGORICAL) or cp.n == 0:
        return out
    ref = cp.sample(prof.values(c))
    method = opts.method_for(c, cp.type) or default_method(cp.type, ref.n, max(cp.n_distinct, 1))
    spec = get_method(method)
    thr = opts.threshold_for(c)
    per_window: list[Sample | None] = []
    if cp.type == NUMERICAL:
        fam = dict(cur.columns)[c]
        from workbench.store.drift_sql import type_family

        raw, _ = cur.numeric(c, cast=type_family(fam) not in ("integer", "float", "boolean"))
        grouped = raw[order]
        del raw
        for w in range(len(labels)):
            chunk = grouped[bounds[w]:bounds[w + 1]]
            vals, n_bad = _ecdf.finite_sorted(chunk)
            per_window.append(Sample(NUMERICAL, values=vals, n_missing=n_bad))
    else:
        df = cur.window_value_counts(c, time_column, every, [x.to_pydatetime() for x in labels]
                                     if every else None, rows)
        for w in range(len(labels)):
            part = df[(df["w"] == w) & df["k"].notna()]
            per_window.append(Sample(CATEGORICAL, keys=part["k"].tolist(),
                                     counts=part["n"].to_numpy(dtype=np.int64)))
    for w, s in enumerate(per_window):
        row = {"window": w, "window_start": labels[w], "column": c, "type": cp.type, "method": spec.name,
               "n_rows": int(sizes[w]), "n": s.n if s is not None else 0, "statistic": math.nan,
               "p_value": math.nan, "score": math.nan, "threshold": math.nan, "drifted": False,
               "kind": spec.kind, "status": "tested"}
        if s is None or s.n < min_rows:
            row["status"] = f"too small (< {min_rows} rows)"
        else:
            r = run_method(spec, ref, s, thr, binning=opts.binning, seed=opts.seed)
            row.update(statistic=r.statistic, p_value=r.p_value, score=r.score, threshold=r.threshold,
                       drifted=r.drifted)
        out.append(row)
    return out
