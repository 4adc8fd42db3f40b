"""``drift_report``: every column tested, data quality checked, one small result object.

The reference and current data are scanned by DuckDB column by column (two
columns at a time in threads); each numerical column comes to numpy once per
side, is sorted, tested and dropped, so memory follows one column, not the
table. A saved :class:`~workbench.monitoring.profile.ReferenceProfile` replaces
the reference scan: only the current data is read.

>>> import numpy as np, pandas as pd
>>> from workbench.monitoring import drift_report
>>> rng = np.random.default_rng(0)
>>> ref = pd.DataFrame({"x": rng.normal(size=2000), "c": rng.choice(list("ab"), 2000)})
>>> cur = pd.DataFrame({"x": rng.normal(0.5, 1, 2000), "c": rng.choice(list("ab"), 2000)})
>>> rep = drift_report(ref, cur)
>>> rep.columns[["column", "method", "drifted"]].values.tolist()
[['x', 'wasserstein', True], ['c', 'jensenshannon', False]]
>>> rep.dataset_drift, rep.share_drifted
(True, 0.5)
"""

from __future__ import annotations

import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import InvalidInputError, MonitoringInputError, UnknownMethodError
from workbench.monitoring import _ecdf
from workbench.monitoring.binning import BINNINGS, counts_open_bins
from workbench.monitoring.columns import (
    TEXT,
    ColumnProfile,
    check_column_type,
    default_method,
    read_numeric,
)
from workbench.monitoring.stattests import CATEGORICAL, NUMERICAL, Sample, get_method, run_method
from workbench.monitoring.text_drift import (
    TEXT_METHODS,
    TEXT_SAMPLE_ROWS,
    TEXT_SAMPLE_SEED,
    check_text_method,
    length_histogram,
    text_drift,
)
from workbench.store.drift_sql import Scan

CORRECTIONS = (None, "bonferroni", "bh")


def adjust_p_values(p: np.ndarray, correction: str | None) -> np.ndarray:
    """Bonferroni or Benjamini-Hochberg adjusted p-values (as statsmodels' ``multipletests``)."""
    p = np.asarray(p, dtype=np.float64)
    if correction is None or p.size == 0:
        return p.copy()
    if correction == "bonferroni":
        return np.minimum(p * p.size, 1.0)
    if correction == "bh":
        order = np.argsort(p)
        ranked = p[order] * p.size / np.arange(1, p.size + 1)
        ranked = np.minimum.accumulate(ranked[::-1])[::-1]
        out = np.empty_like(p)
        out[order] = np.minimum(ranked, 1.0)
        return out
    raise InvalidInputError(f"correction must be None, 'bonferroni' or 'bh', got {correction!r}")


@dataclass
class DriftOptions:
    columns: list[str] | None = None
    column_types: dict[str, str] = field(default_factory=dict)
    method: str | None = None
    num_method: str | None = None
    cat_method: str | None = None
    per_column_method: dict[str, str] = field(default_factory=dict)
    threshold: float | dict[str, float] | None = None
    drift_share: float = 0.5
    correction: str | None = None
    binning: str = "quantile"
    seed: int = 0
    n_jobs: int = 2
    text_method: str | None = None

    def check(self) -> None:
        for m in [self.method, self.num_method, self.cat_method, *self.per_column_method.values()]:
            if m is not None and m not in TEXT_METHODS:
                get_method(m)
        if self.text_method is not None:
            check_text_method(self.text_method)
        for c, t in self.column_types.items():
            check_column_type(t, c)
        if self.binning not in BINNINGS:
            raise InvalidInputError(f"binning must be one of {', '.join(BINNINGS)}, got {self.binning!r}")
        if self.correction not in CORRECTIONS:
            raise InvalidInputError(
                f"correction must be None, 'bonferroni' or 'bh', got {self.correction!r}")
        if isinstance(self.drift_share, bool) or not isinstance(self.drift_share, (int, float)) \
                or not 0 < self.drift_share <= 1:
            raise InvalidInputError(f"drift_share must be in (0, 1], got {self.drift_share!r}")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "n_jobs"}

    def method_for(self, column: str, ctype: str) -> str | None:
        if column in self.per_column_method:
            return self.per_column_method[column]
        if ctype == NUMERICAL and self.num_method:
            return self.num_method
        if ctype == CATEGORICAL and self.cat_method:
            return self.cat_method
        return self.method

    def text_method_for(self, column: str) -> str | None:
        m = self.per_column_method.get(column)
        if m is not None and m not in TEXT_METHODS:
            raise UnknownMethodError(
                f"method {m!r} does not apply to the text column {column!r}; it takes "
                f"{' or '.join(TEXT_METHODS)}")
        return m or self.text_method

    def threshold_for(self, column: str) -> float | None:
        if isinstance(self.threshold, dict):
            return self.threshold.get(column)
        return self.threshold


@dataclass
class ColumnOutcome:
    row: dict[str, Any]
    quality: dict[str, Any]
    histogram: dict[str, Any]
    profile: ColumnProfile
    values: np.ndarray | None = None


def current_side(scan: Scan, prof: ColumnProfile) -> tuple[Sample, dict[str, Any], dict[str, Any]]:
    """The current column as a Sample, its quality figures and its display counts."""
    name = prof.name
    q: dict[str, Any] = {"column": name, "type": prof.type}
    if prof.type == NUMERICAL:
        values, n_missing, bad = read_numeric(scan, name)
        s = Sample(NUMERICAL, values=values, n_missing=n_missing)
        q["type_mismatch_current"] = bad
        if values.size and prof.min is not None:
            below = int(np.searchsorted(values, prof.min, side="left"))
            above = int(values.size - np.searchsorted(values, prof.max, side="right"))
            q["out_of_range_current"] = below + above
            q["out_of_range_share"] = (below + above) / values.size
        q["constant_current"] = bool(values.size and values[0] == values[-1])
        q["n_distinct_current"] = _ecdf.n_distinct(values)
        hist = {}
        if prof.display_edges and values.size:
            hist = {"kind": "numerical", "edges": prof.display_edges,
                    "reference": prof.display_counts,
                    "current": counts_open_bins(values, np.asarray(prof.display_edges[1:-1])).tolist()}
        return s, q, hist
    keys, counts, nulls = scan.value_counts(name)
    s = Sample(CATEGORICAL, keys=keys, counts=np.asarray(counts, dtype=np.int64), n_missing=nulls)
    known = set(prof.keys or [])
    new = [(k, c) for k, c in zip(keys, counts) if k not in known]
    q["new_categories"] = len(new)
    q["new_category_examples"] = [str(k) for k, _ in new[:10]]
    q["new_category_share"] = (sum(c for _, c in new) / s.n) if s.n else 0.0
    q["constant_current"] = len(keys) == 1
    q["n_distinct_current"] = len(keys)
    top = [k for k in (prof.keys or [])[:20]]
    cur_map = dict(zip(keys, counts))
    ref_map = dict(zip(prof.keys or [], prof.counts or []))
    hist = {"kind": "categorical", "keys": [str(k) for k in top],
            "reference": [int(ref_map.get(k, 0)) for k in top],
            "current": [int(cur_map.get(k, 0)) for k in top],
            "reference_other": int(prof.n - sum(ref_map.get(k, 0) for k in top)),
            "current_other": int(s.n - sum(cur_map.get(k, 0) for k in top))}
    return s, q, hist


def n_unique_union(ref: Sample, cur: Sample, ref_distinct: int) -> int:
    """Distinct values of both sides together, exactly when it matters (at most 5), else a lower bound."""
    if ref_distinct > 5:
        return ref_distinct
    cur_distinct = cur.n_distinct()
    if cur_distinct > 5:
        return cur_distinct
    return len(set(ref.value_counts()[0]) | set(cur.value_counts()[0]))


def test_column(prof: ColumnProfile, ref_values: np.ndarray | None, cur_scan: Scan,
                opts: DriftOptions) -> ColumnOutcome:
    """Test one column: the reference summary and values against the current scan."""
    name = prof.name
    base = {"column": name, "type": prof.type, "method": None, "statistic": math.nan,
            "p_value": math.nan, "threshold": math.nan, "drifted": False, "rule": None,
            "n_reference": prof.n, "n_current": 0,
            "missing_reference": prof.n_missing / prof.n_rows if prof.n_rows else math.nan,
            "missing_current": math.nan, "status": "tested", "kind": None, "conventions": {}}
    quality: dict[str, Any] = {"column": name, "type": prof.type,
                               "missing_reference": base["missing_reference"],
                               "type_mismatch_reference": prof.n_type_mismatch,
                               "constant_reference": prof.n_distinct == 1}
    if prof.type == TEXT:
        return _test_text(prof, cur_scan, opts, base, quality)
    if prof.type == "datetime":
        nulls = cur_scan.null_counts([name])[name]
        base["missing_current"] = nulls / cur_scan.n_rows
        base["status"] = f"not tested ({prof.type} column)"
        quality["missing_current"] = base["missing_current"]
        return ColumnOutcome(base, quality, {}, prof)
    cur, q, hist = current_side(cur_scan, prof)
    quality.update(q)
    base["n_current"] = cur.n
    base["missing_current"] = cur.n_missing / cur_scan.n_rows
    quality["missing_current"] = base["missing_current"]
    if prof.n == 0 or cur.n == 0:
        side = "reference" if prof.n == 0 else "current"
        base["status"] = f"not tested (all values missing in {side})"
        quality[f"all_missing_{side}"] = True
        return ColumnOutcome(base, quality, hist, prof)
    ref = prof.sample(ref_values)
    method = opts.method_for(name, prof.type)
    if method is None:
        method = default_method(prof.type, ref.n, n_unique_union(ref, cur, prof.n_distinct))
    res = run_method(method, ref, cur, opts.threshold_for(name), binning=opts.binning, seed=opts.seed)
    base.update(method=res.method, statistic=res.statistic, p_value=res.p_value,
                threshold=res.threshold, drifted=res.drifted, rule=res.rule, kind=res.kind,
                conventions=res.conventions)
    return ColumnOutcome(base, quality, hist, prof)


def _test_text(prof: ColumnProfile, cur_scan: Scan, opts: DriftOptions, base: dict[str, Any],
               quality: dict[str, Any]) -> ColumnOutcome:
    """A text column: Evidently's domain classifier on both sides' seeded samples."""
    name = prof.name
    nulls = cur_scan.null_counts([name])[name]
    base["n_current"] = cur_scan.n_rows - nulls
    base["missing_current"] = quality["missing_current"] = nulls / cur_scan.n_rows
    ref_texts = prof.extra.get("texts")
    if ref_texts is None:
        base["status"] = "not tested (the profile keeps no texts; rebuild it)"
        return ColumnOutcome(base, quality, {}, prof)
    if prof.n == 0 or base["n_current"] == 0:
        side = "reference" if prof.n == 0 else "current"
        base["status"] = f"not tested (all values missing in {side})"
        quality[f"all_missing_{side}"] = True
        return ColumnOutcome(base, quality, {}, prof)
    cur_texts = cur_scan.sample_texts(name, TEXT_SAMPLE_ROWS, TEXT_SAMPLE_SEED)
    threshold = opts.threshold.get(name) if isinstance(opts.threshold, dict) else None
    res = text_drift(ref_texts, cur_texts, method=opts.text_method_for(name), threshold=threshold)
    conv = dict(res.conventions, n_reference_texts=res.n_reference, n_current_texts=res.n_current,
                sample_rows=TEXT_SAMPLE_ROWS, sample_seed=TEXT_SAMPLE_SEED)
    base.update(method=res.method, statistic=res.statistic, threshold=res.threshold, drifted=res.drifted,
                rule=res.rule, kind="distance", conventions=conv)
    quality.update({k: conv[k] for k in ("mean_length_reference", "mean_length_current",
                                         "empty_share_reference", "empty_share_current",
                                         "unseen_word_share_current")})
    quality["constant_current"] = len(set(cur_texts)) == 1
    hist = length_histogram(ref_texts, cur_texts)
    hist.update(words_current=conv["words_current"], words_reference=conv["words_reference"],
                examples_current=res.examples["current"], examples_reference=res.examples["reference"])
    return ColumnOutcome(base, quality, hist, prof)


_COLUMNS = ["column", "type", "method", "statistic", "p_value", "threshold", "drifted", "rule",
            "n_reference", "n_current", "missing_reference", "missing_current", "p_adjusted",
            "score", "status", "kind", "conventions"]


def assemble(outcomes: list[ColumnOutcome], opts: DriftOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The columns table (with the multiple-testing correction applied) and the quality table."""
    cols = pd.DataFrame([o.row for o in outcomes])
    if cols.empty:
        cols = pd.DataFrame(columns=_COLUMNS)
    cols["p_adjusted"] = np.nan
    tested_p = (cols["status"] == "tested") & (cols["kind"] == "p_value")
    if opts.correction and tested_p.any():
        adj = adjust_p_values(cols.loc[tested_p, "p_value"].to_numpy(), opts.correction)
        cols.loc[tested_p, "p_adjusted"] = adj
        cols.loc[tested_p, "drifted"] = adj < cols.loc[tested_p, "threshold"].to_numpy()
    cols["score"] = np.where(cols["kind"] == "p_value",
                             cols["p_adjusted"].where(cols["p_adjusted"].notna(), cols["p_value"]),
                             cols["statistic"])
    cols["drifted"] = cols["drifted"].astype(bool)
    quality = pd.DataFrame([o.quality for o in outcomes])
    return cols[_COLUMNS], quality


@dataclass
class DriftReport:
    """A drift report: per-column tests, data quality, the dataset verdict, and where it came from.

    ``columns`` has one row per column (``column, type, method, statistic,
    p_value, threshold, drifted, rule, n_reference, n_current, missing_reference,
    missing_current, p_adjusted, score, status, kind, conventions``);
    ``quality`` one row per column of data-quality figures; ``table_quality``
    the table-level findings (missing/extra columns, duplicated rows).
    """

    columns: pd.DataFrame
    quality: pd.DataFrame
    table_quality: dict[str, Any]
    drift_share: float
    options: dict[str, Any]
    histograms: dict[str, dict[str, Any]]
    reference_label: str = ""
    current_label: str = ""
    name: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)
    profile_id: str | None = None
    multivariate: Any = None
    elapsed_s: float = 0.0
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tested(self) -> pd.DataFrame:
        return self.columns[self.columns["status"] == "tested"]

    @property
    def n_drifted(self) -> int:
        return int(self.tested["drifted"].sum())

    @property
    def share_drifted(self) -> float:
        n = len(self.tested)
        return self.n_drifted / n if n else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(len(self.tested)) and self.share_drifted >= self.drift_share

    @property
    def drifted_columns(self) -> list[str]:
        return self.tested.loc[self.tested["drifted"], "column"].tolist()

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "dataset_drift": self.dataset_drift,
                "share_drifted": self.share_drifted, "n_drifted": self.n_drifted,
                "n_tested": int(len(self.tested)), "drift_share": self.drift_share,
                "reference": self.reference_label, "current": self.current_label}

    def to_html(self, path: str | None = None) -> str:
        """One self-contained offline HTML file (aggregated bins only, inline SVG); returns the text."""
        from workbench.monitoring.html import report_html

        text = report_html(self)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    def _repr_html_(self) -> str:
        from workbench.monitoring.html import summary_html

        return summary_html(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        """In a notebook where ``workbench.ui`` is loaded: the screen's view (``DriftReportView``).

        The view registers itself (:func:`register_display`) when ``workbench.ui`` is
        imported, so this package never imports Panel; without it, ``_repr_html_``'s
        summary is shown.
        """
        for hook in DISPLAY_HOOKS:
            out = hook(self, include, exclude)
            if out is not None:
                return out
        return None

    def __repr__(self) -> str:
        s = self.summary()
        return (f"DriftReport(dataset_drift={s['dataset_drift']}, share_drifted={s['share_drifted']:.3f}, "
                f"drifted={self.drifted_columns}, id={self.id!r})")


#: Callables ``hook(report, include, exclude) -> mimebundle | None`` tried by
#: ``DriftReport._repr_mimebundle_`` (``workbench.ui.monitoring`` adds the screen's view).
DISPLAY_HOOKS: list[Any] = []


def register_display(hook: Any) -> None:
    """Let a UI layer display drift reports in notebooks (idempotent)."""
    if hook not in DISPLAY_HOOKS:
        DISPLAY_HOOKS.append(hook)


def table_quality(ref_cols: list[str], cur_cols: list[str], ref_rows: int, cur_rows: int,
                  dup_ref: int | None, dup_cur: int | None) -> dict[str, Any]:
    return {"n_rows_reference": ref_rows, "n_rows_current": cur_rows,
            "missing_columns": [c for c in ref_cols if c not in set(cur_cols)],
            "extra_columns": [c for c in cur_cols if c not in set(ref_cols)],
            "duplicated_rows_reference": dup_ref, "duplicated_rows_current": dup_cur,
            "duplicated_share_current": (dup_cur / cur_rows) if cur_rows and dup_cur is not None else None}


def known_unique(outcomes: list[ColumnOutcome], n_ref: int, n_cur: int) -> tuple[bool, bool]:
    """Whether some column has a distinct value in every row, on each side (then no row repeats)."""
    ref = any(o.profile.n_distinct == n_ref and o.profile.n_missing == 0 for o in outcomes)
    cur = any(o.quality.get("n_distinct_current") == n_cur for o in outcomes)
    return ref, cur


def run_columns(jobs: list, n_jobs: int) -> list:
    """Run per-column jobs (callables) in ``n_jobs`` threads, keeping their order."""
    if n_jobs <= 1 or len(jobs) <= 1:
        return [j() for j in jobs]
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        return list(pool.map(lambda j: j(), jobs))


def select_columns(ref_cols: list[str], cur_cols: list[str], columns: list[str] | None) -> list[str]:
    shared = [c for c in ref_cols if c in set(cur_cols)]
    if columns is not None:
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise InvalidInputError(f"columns must be a list of column names, got {columns!r}")
        missing_ref = [c for c in columns if c not in set(ref_cols)]
        missing_cur = [c for c in columns if c not in set(cur_cols)]
        if missing_ref or missing_cur:
            parts = []
            if missing_ref:
                parts.append(f"not in the reference: {missing_ref}")
            if missing_cur:
                parts.append(f"not in the current data: {missing_cur}")
            raise MonitoringInputError("columns asked for are " + "; ".join(parts))
        return list(columns)
    if not shared:
        raise MonitoringInputError(
            f"reference and current share no column (reference: {ref_cols[:10]}, current: {cur_cols[:10]})"
        )
    return shared
