"""The public entry points: ``drift_report`` and ``reference_profile``.

Inputs may be a DataFrame, a Parquet path or glob (or a list of them), a
logged dataset (its name or digest; its saved Parquet copy is read), a saved
reference profile (its name or id, or the object), or a time range of a deployment's
prediction log (:class:`~workbench.monitoring.logged_inputs.LoggedInputs`, or its text
form ``"predictions:churn-api@24h"``).

>>> import numpy as np, pandas as pd
>>> ref = pd.DataFrame({"x": np.arange(500.0)})
>>> row = drift_report(ref, ref.assign(x=ref.x + 100)).columns.iloc[0]
>>> row["method"], bool(row["drifted"])
('ks', True)
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import MonitoringInputError, NotFoundError
from workbench.monitoring.logged_inputs import PREFIX, LoggedInputs
from workbench.monitoring.profile import ReferenceProfile, build_profile, load_profile, save_profile
from workbench.monitoring.report import (
    DriftOptions,
    DriftReport,
    assemble,
    known_unique,
    run_columns,
    select_columns,
    table_quality,
    test_column,
)
from workbench.monitoring.schema import ensure_schema
from workbench.monitoring.stattests import CATEGORICAL, NUMERICAL
from workbench.monitoring.storage import save_report
from workbench.store.drift_sql import Scan

Data = Any  # DataFrame | str | PathLike | list[str] | ReferenceProfile


def _is_globlike(s: str) -> bool:
    return any(ch in s for ch in "*?[")


def open_data(data: Data, side: str, store: Any = None, allow_profile: bool = False,
              threads: int | None = None) -> tuple[Scan | ReferenceProfile, str]:
    """A :class:`Scan` (or a saved profile) for one side of a report, and its label."""
    if isinstance(data, ReferenceProfile):
        if not allow_profile:
            raise MonitoringInputError(f"a reference profile can only be the reference, not the {side}")
        return data, f"profile {data.name or data.id}"
    if isinstance(data, str) and data.startswith(PREFIX):
        data = LoggedInputs.parse(data)
    if isinstance(data, LoggedInputs):
        if store is None:
            raise MonitoringInputError(f"the {side} is a prediction log: pass store=")
        frame = data.read(store)
        if frame.empty:
            raise MonitoringInputError(f"the {side}, the {data.label()}, holds no logged inputs")
        return Scan.open(frame, label=f"{side} data", threads=threads), f"{data.label()}, {len(frame):,} rows"
    if isinstance(data, pd.DataFrame):
        if data.shape[1] == 0:
            raise MonitoringInputError(f"the {side} data has no columns")
        return Scan.open(data, label=f"{side} data", threads=threads), f"DataFrame ({len(data):,} rows)"
    if isinstance(data, (list, tuple)):
        paths = [str(p) for p in data]
        for p in paths:
            if not (Path(p).is_file() or (_is_globlike(p) and glob.glob(p))):
                raise MonitoringInputError(f"{side} file {p!r} does not exist")
        return Scan.open(paths, label=f"{side} data", threads=threads), ", ".join(paths)
    if isinstance(data, (str, os.PathLike)):
        text = str(data)
        if Path(text).is_file() or (_is_globlike(text) and glob.glob(text)):
            if Path(text).is_file() and not text.endswith(".parquet"):
                raise MonitoringInputError(f"{side} file {text!r} is not a Parquet file")
            return Scan.open(text, label=f"{side} data", threads=threads), text
        if store is not None and isinstance(data, str):
            from workbench.monitoring.schema import ensure_schema as _ensure
            from workbench.store import monitoring_store as ms

            _ensure(store)
            if allow_profile:
                try:
                    prof = load_profile(store, text)
                    return prof, f"profile {prof.name}"
                except NotFoundError:
                    pass
            with store.connection() as con:
                ds = ms.find_dataset(con, text)
            if ds is not None:
                label = f"dataset {ds['name']}@{ds['digest'][:12]}"
                if ds["artifact_sha256"]:
                    path = store.artifacts.verify(ds["artifact_sha256"])
                    return Scan.open(str(path), label=f"{side} data", threads=threads), label
                if ds["source"] and Path(ds["source"]).is_file() and ds["source"].endswith(".parquet"):
                    return Scan.open(ds["source"], label=f"{side} data", threads=threads), label
                raise MonitoringInputError(
                    f"dataset {ds['name']!r} was logged without a saved copy (log it with save=True)")
        what = "a saved profile, a logged dataset" if store is not None else "a file (pass store= for datasets)"
        raise NotFoundError(f"{side} {text!r} is neither a Parquet path/glob nor {what}")
    raise MonitoringInputError(
        f"the {side} must be a DataFrame, a Parquet path or glob, a logged dataset name or digest, "
        f"a reference profile or LoggedInputs (a prediction-log range); got {type(data).__name__}")


def reference_profile(reference: Data, name: str | None = None, *, store: Any = None,
                      columns: Sequence[str] | None = None, column_types: dict[str, str] | None = None,
                      keep_values: bool = True, n_jobs: int = 2) -> ReferenceProfile:
    """Summarise a reference once, to test later current data against it without a reference scan.

    ``keep_values=False`` keeps only the summaries (histogram methods still work;
    exact KS/Wasserstein then need the reference data). With ``store=`` the
    profile is saved (``name=``) and can be passed to ``drift_report`` by name.

    >>> import pandas as pd
    >>> reference_profile(pd.DataFrame({"x": [1.0, 2.0, 3.0]})).n_rows
    3
    """
    src, label = open_data(reference, "reference", store)
    if isinstance(src, ReferenceProfile):
        return src
    try:
        prof = build_profile(src, name, list(columns) if columns is not None else None,
                             column_types, keep_values=keep_values, n_jobs=n_jobs, source=label)
    finally:
        src.close()
    if store is not None:
        save_profile(store, prof)
    return prof


def drift_report(reference: Data, current: Data, *, columns: Sequence[str] | None = None,
                 column_types: dict[str, str] | None = None, method: str | None = None,
                 num_method: str | None = None, cat_method: str | None = None,
                 per_column_method: dict[str, str] | None = None,
                 threshold: float | dict[str, float] | None = None, drift_share: float = 0.5,
                 correction: str | None = None, binning: str = "quantile", seed: int = 0,
                 text_method: str | None = None, multivariate: bool = False, multivariate_rows: int = 100_000,
                 quality: bool = True, store: Any = None, name: str | None = None,
                 n_jobs: int = 2, progress: Any = None) -> DriftReport:
    """Compare current data with a reference, column by column, plus data quality.

    Methods default to Evidently's choice per column (see ``docs/monitoring.md``);
    ``threshold`` is global or per column; ``correction`` (``"bonferroni"``/``"bh"``)
    adjusts the p-value tests across columns; ``binning`` (``"quantile"`` or
    ``"evidently"``) applies to PSI, KL, JS and Hellinger on numerical columns.
    Text columns are tested with Evidently's TF-IDF domain classifier
    (``text_method=`` ``"abs_text_content_drift"`` or ``"perc_text_content_drift"``,
    chosen by the reference size otherwise; a per-column ``threshold`` only).
    ``multivariate=True`` adds a domain classifier. With ``store=`` the report is
    saved (``name=``) and the alert rules are evaluated on it. ``progress``, if
    given, is called as ``progress(done, total, what)`` as the columns are tested
    (from worker threads), so a screen can show a progress bar.
    """
    t0 = time.perf_counter()
    opts = DriftOptions(columns=list(columns) if columns is not None else None,
                        column_types=dict(column_types or {}), method=method, num_method=num_method,
                        cat_method=cat_method, per_column_method=dict(per_column_method or {}),
                        threshold=threshold, drift_share=drift_share, correction=correction,
                        binning=binning, seed=seed, n_jobs=n_jobs, text_method=text_method)
    opts.check()
    if store is not None:
        ensure_schema(store)
    ref_src, ref_label = open_data(reference, "reference", store, allow_profile=True)
    cur_src, cur_label = open_data(current, "current", store)
    try:
        return _run(ref_src, cur_src, ref_label, cur_label, opts, multivariate, multivariate_rows,
                    quality, store, name, t0, progress)
    finally:
        cur_src.close()
        if isinstance(ref_src, Scan):
            ref_src.close()


def _run(ref_src, cur: Scan, ref_label, cur_label, opts: DriftOptions, multivariate: bool,
         multivariate_rows: int, quality: bool, store, name, t0, progress=None) -> DriftReport:
    from workbench.monitoring.columns import infer_types, profile_column

    if cur.n_rows == 0:
        raise MonitoringInputError("the current data is empty (0 rows)")
    cur_cols = [c for c, _ in cur.columns]
    if isinstance(ref_src, ReferenceProfile):
        ref_cols = list(ref_src.columns)
        if opts.column_types:
            for c, t in opts.column_types.items():
                if c in ref_src.columns and ref_src.columns[c].type != t:
                    raise MonitoringInputError(
                        f"column {c!r} is {ref_src.columns[c].type} in the profile; rebuild the profile "
                        f"to test it as {t}")
        ref_rows = ref_src.n_rows
    else:
        if ref_src.n_rows == 0:
            raise MonitoringInputError("the reference data is empty (0 rows)")
        ref_cols = [c for c, _ in ref_src.columns]
        ref_rows = ref_src.n_rows
    names = select_columns(ref_cols, cur_cols, opts.columns)
    for key, what in ((opts.per_column_method, "per_column_method"),
                      (opts.threshold if isinstance(opts.threshold, dict) else {}, "threshold")):
        unknown = [c for c in key if c not in set(names)]
        if unknown:
            raise MonitoringInputError(f"{what} names columns that are not compared: {unknown}")

    if isinstance(ref_src, ReferenceProfile):
        def job(c: str):
            return lambda: test_column(ref_src[c], ref_src.values(c), cur, opts)
    else:
        types = infer_types(ref_src, [c for c in names if c not in opts.column_types])
        types.update({c: t for c, t in opts.column_types.items() if c in set(names)})

        def job(c: str):
            def run():
                prof, values = profile_column(ref_src, c, types[c])
                return test_column(prof, values, cur, opts)
            return run

    jobs = [job(c) for c in names]
    if progress is not None:
        jobs = _counted(jobs, names, progress)
    outcomes = run_columns(jobs, opts.n_jobs)
    cols, qual = assemble(outcomes, opts)
    dup_ref = dup_cur = None
    if quality:
        # a column with a distinct value in every row proves there is no duplicated row
        uniq_ref, uniq_cur = known_unique(outcomes, ref_rows, cur.n_rows)
        dup_cur = 0 if uniq_cur else cur.duplicated_rows(cur_cols)
        if isinstance(ref_src, ReferenceProfile):
            dup_ref = ref_src.table_stats.get("duplicated_rows")
        else:
            dup_ref = 0 if uniq_ref else ref_src.duplicated_rows(ref_cols)
    tq = table_quality(ref_cols, cur_cols, ref_rows, cur.n_rows, dup_ref, dup_cur)
    rep = DriftReport(cols, qual, tq, opts.drift_share, opts.to_dict(),
                      {o.row["column"]: o.histogram for o in outcomes},
                      reference_label=ref_label, current_label=cur_label, name=name,
                      profile_id=ref_src.id if isinstance(ref_src, ReferenceProfile) else None)
    if multivariate:
        from workbench.monitoring.multivariate import domain_classifier

        if isinstance(ref_src, ReferenceProfile):
            raise MonitoringInputError("the domain classifier needs reference rows, not a profile")
        # the classifier takes numbers and categories; text columns have their own
        tested = cols.loc[(cols["status"] == "tested") & cols["type"].isin([NUMERICAL, CATEGORICAL]),
                          ["column", "type"]].values.tolist()
        rep.multivariate = domain_classifier(ref_src, cur, tested, max_rows=multivariate_rows,
                                             seed=opts.seed)
    rep.elapsed_s = time.perf_counter() - t0
    if progress is not None:
        progress(len(names), len(names), "saving" if store is not None else "done")
    if store is not None:
        save_report(store, rep)
    return rep


def _counted(jobs: list, names: list[str], progress: Any) -> list:
    """The jobs, each reporting ``progress(done, total, column)`` when it finishes (thread-safe)."""
    import threading

    lock = threading.Lock()
    done = [0]
    total = len(jobs)
    progress(0, total, "starting")

    def wrap(j, name):
        def run():
            out = j()
            with lock:
                done[0] += 1
                n = done[0]
            progress(n, total, name)
            return out
        return run

    return [wrap(j, c) for j, c in zip(jobs, names)]
