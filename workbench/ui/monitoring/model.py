"""The Monitoring screen's view-model: saved reports, the run form, the open report (no Panel).

``MonitoringModel(store)`` lists the saved drift reports and what a new one can
be run on; ``start_report()`` runs ``wb.drift_report`` in a background thread
(never on the server's event loop) and ``poll()`` (called by the view's periodic
callback, or by a test after ``wait()``) moves its progress and result into the
parameters. ``open_report(id)`` shows a saved report; ``report_id`` is the part
of the URL (``?page=monitoring&report=<id>``)::

    m = MonitoringModel(store)
    m.param.update(reference_kind="profile", reference="churn-reference",
                   current_kind="file", current="/data/october.parquet")
    m.start_report(); m.wait(); m.poll()
    m.column_table()       # per column, sorted by score / threshold
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import pandas as pd
import param

from workbench.monitoring import storage
from workbench.monitoring.html import svg_bars
from workbench.monitoring.over_time import DriftOverTime
from workbench.ui.components.format import error_message
from workbench.ui.monitoring import charts

REFERENCE_KINDS = {"profile": "saved profile", "dataset": "logged dataset",
                   "model": "model version's training data", "file": "Parquet file"}
CURRENT_KINDS = {"dataset": "logged dataset", "file": "Parquet file",
                 "predictions": "deployment's prediction log"}
# the time ranges offered for a prediction log: label -> the ``@...`` of LoggedInputs' text
PREDICTION_RANGES = {"last hour": "@1h", "last 24 hours": "@24h", "last 7 days": "@7D",
                     "everything logged": ""}


def _label(name: Any) -> str:
    """A saved result's name for a picker ('(unnamed)' for None or NaN: NaN is truthy)."""
    return name if isinstance(name, str) and name else "(unnamed)"


class MonitoringModel(param.Parameterized):
    """State and actions of the Monitoring screen."""

    store = param.Parameter(doc="The workbench Store.")
    report_id = param.String(default="", doc="The report shown ('' = the newest saved one).")
    reports = param.DataFrame(default=pd.DataFrame(), doc="Saved reports, newest first.")
    report = param.Parameter(default=None, doc="The DriftReport shown, or None.")
    column = param.String(default="", doc="The column opened in the detail panel.")
    drifted_only = param.Boolean(default=False, doc="Show only drifted columns in the table.")

    reference_kind = param.Selector(default="profile", objects=list(REFERENCE_KINDS))
    reference = param.String(default="", doc="Profile name/id, dataset name/digest, 'model:version' or path.")
    current_kind = param.Selector(default="dataset", objects=list(CURRENT_KINDS))
    current = param.String(default="", doc="Dataset name/digest, Parquet path or "
                           "'predictions:<deployment>[@24h]' (a prediction-log range).")
    report_name = param.String(default="", doc="Name of the new report (a series shares a name).")

    running = param.Boolean(default=False)
    progress = param.Integer(default=0, bounds=(0, 100))
    status = param.String(default="")
    error = param.String(default="")

    over_time_list = param.DataFrame(default=pd.DataFrame(), doc="Saved drift-over-time results.")
    over_time_id = param.String(default="")
    over_time = param.Parameter(default=None, doc="The DriftOverTime shown, or None.")

    def __init__(self, store: Any = None, **params: Any) -> None:
        super().__init__(store=store, **params)
        self._lock = threading.Lock()
        self._job: dict[str, Any] | None = None
        self._thread: threading.Thread | None = None
        self.refresh()
        self.open_report(self.report_id or None)

    # -- lists -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the saved reports and over-time results."""
        if self.store is None:
            return
        self.reports = storage.list_reports(self.store, limit=500)
        self.over_time_list = storage.list_over_time(self.store)
        if self.over_time is None and len(self.over_time_list):
            self.open_over_time(str(self.over_time_list.iloc[0]["result_id"]))

    def report_choices(self) -> dict[str, str]:
        """Label -> id of the saved reports, newest first."""
        out = {}
        for r in self.reports.itertuples(index=False):
            when = pd.Timestamp(r.created_at).strftime("%Y-%m-%d %H:%M:%S")
            verdict = "drift" if r.dataset_drift else "no drift"
            out[f"{_label(r.name)} · {when} · {verdict} {r.n_drifted}/{r.n_tested} · {r.report_id[:8]}"] = \
                str(r.report_id)
        return out

    def source_choices(self, kind: str) -> dict[str, str]:
        """Label -> value for one kind of input (profiles, datasets, model versions; files are typed)."""
        if self.store is None:
            return {}
        src = storage.report_sources(self.store)
        if kind == "profile":
            return {f"{r.name} ({r.n_rows:,} rows)": str(r.name or r.profile_id)
                    for r in src["profiles"].itertuples(index=False)}
        if kind == "dataset":
            return {f"{r.name}@{r.digest[:12]} ({int(r.n_rows or 0):,} rows)": str(r.digest)
                    for r in src["datasets"].itertuples(index=False)}
        if kind == "model":
            return {f"{r.model} v{r.version} [{r.stage}]: {r.dataset}": str(r.digest)
                    for r in src["models"].itertuples(index=False)}
        if kind == "predictions":
            return {f"{name} · {label}": f"predictions:{name}{span}"
                    for name in src["deployments"]["name"] for label, span in PREDICTION_RANGES.items()}
        return {}

    def preset(self, current: str = "", reference: str = "") -> None:
        """Fill the new-report form from a link: ``current`` as ``predictions:<deployment>[@24h]``
        or a dataset name/digest; ``reference`` as ``model:<name>:<version>`` (that version's
        training data), a profile name or a dataset. Unknown values are left for the user."""
        if current:
            kind = "predictions" if current.startswith("predictions:") else "dataset"
            self.param.update(current_kind=kind, current=current)
        if reference.startswith("model:"):
            name, _, version = reference[len("model:"):].rpartition(":")
            models = storage.report_sources(self.store)["models"] if self.store is not None else None
            match = (models[(models["model"] == name) & (models["version"].astype(str) == version)]
                     if models is not None and len(models) else [])
            if len(match):
                self.param.update(reference_kind="model", reference=str(match["digest"].iloc[0]))
            else:
                self.error = (f"the link's reference {reference!r}: that model version has no logged "
                              "training dataset in this store; pick a reference below")
        elif reference:
            kind = "profile" if reference in self.source_choices("profile").values() else "dataset"
            self.param.update(reference_kind=kind, reference=reference)

    # -- the open report ------------------------------------------------------------------
    def open_report(self, report_id: str | None) -> None:
        """Show a saved report (the newest when ``report_id`` is empty)."""
        if not report_id:
            if self.reports is None or self.reports.empty:
                self.report = None
                return
            report_id = str(self.reports.iloc[0]["report_id"])
        try:
            rep = storage.load_report(self.store, report_id)
        except Exception as exc:  # a stale URL: say so, keep the page usable
            self.error = error_message(exc)
            self.report = None
            return
        self.error = ""
        tested = rep.columns.sort_values("column")
        first = self._ranked(rep)
        self.param.update(report=rep, report_id=rep.id,
                          column=str(first["column"].iloc[0]) if len(first) else
                          (str(tested["column"].iloc[0]) if len(tested) else ""))

    def set_report(self, report: Any) -> None:
        """Show an unsaved report (JupyterLab: ``DriftReportView(rep)``)."""
        ranked = self._ranked(report)
        self.param.update(report=report, report_id=report.id,
                          column=str(ranked["column"].iloc[0]) if len(ranked) else "")

    @staticmethod
    def _ranked(rep: Any) -> pd.DataFrame:
        cols = rep.columns.copy()
        cols["relative"] = [charts.relative_score(s, t, k) if st == "tested" else math.nan
                            for s, t, k, st in zip(cols["score"], cols["threshold"], cols["kind"],
                                                   cols["status"])]
        cols["_tested"] = cols["status"] == "tested"
        return cols.sort_values(["_tested", "relative"], ascending=[False, False], na_position="last")

    def summary(self) -> dict[str, Any]:
        """Verdict, share drifted and columns by status of the open report."""
        rep = self.report
        if rep is None:
            return {}
        by_status = {"drifted": rep.n_drifted, "not drifted": int(len(rep.tested)) - rep.n_drifted,
                     "not tested": int(len(rep.columns) - len(rep.tested))}
        return {**rep.summary(), "by_status": by_status, "created_at": rep.created_at,
                "table_quality": rep.table_quality}

    def column_table(self) -> pd.DataFrame:
        """One row per column, sorted by score relative to threshold; ``distribution`` is an SVG."""
        rep = self.report
        if rep is None:
            return pd.DataFrame()
        cols = self._ranked(rep)
        if self.drifted_only:
            cols = cols[cols["drifted"]]
        rows = []
        for r in cols.itertuples(index=False):
            h = rep.histograms.get(r.column) or {}
            svg = svg_bars(h["reference"], h["current"], width=140, height=28) if h.get("reference") else ""
            rows.append({"column": r.column, "type": r.type,
                         "method": r.method if r.status == "tested" else "not tested",
                         "score": r.score, "threshold": r.threshold,
                         "score / threshold": r.relative, "drifted": bool(r.drifted),
                         "distribution": svg, "status": r.status})
        return pd.DataFrame(rows, columns=["column", "type", "method", "score", "threshold",
                                           "score / threshold", "drifted", "distribution", "status"])

    def column_detail(self, column: str | None = None) -> dict[str, Any]:
        """The opened column: its row, its quality figures and its chart options."""
        rep, column = self.report, column or self.column
        if rep is None or not column or column not in set(rep.columns["column"]):
            return {}
        row = rep.columns.set_index("column").loc[column].to_dict()
        q = rep.quality[rep.quality["column"] == column] if len(rep.quality) else pd.DataFrame()
        quality = {k: v for k, v in (q.iloc[0].to_dict() if len(q) else {}).items()
                   if k not in ("column", "type") and not _missing(v)}
        hist = rep.histograms.get(column) or {}
        ks = float(row["statistic"]) if row.get("method") == "ks" else None
        out = {"row": row, "quality": quality, "histogram": charts.histogram_option(hist, column),
               "ecdf": charts.ecdf_option(hist, column, ks), "over_time": self.column_over_time(column),
               "text": {k: v for k, v in hist.items() if k.startswith(("words_", "examples_"))}}
        return out

    def column_over_time(self, column: str) -> dict[str, Any]:
        """The column's score over time: the open over-time result, else the report's series."""
        ot = self.over_time
        if ot is not None and column in set(ot.scores["column"]):
            return charts.score_line_option(ot.scores, column, ot.change_points.get(column))
        rep = self.report
        if rep is not None and rep.name and self.store is not None:
            hist = storage.report_history(self.store, rep.name)
            if hist["report_id"].nunique() > 1:
                return charts.report_series_option(hist, column)
        return {}

    def quality_table(self) -> pd.DataFrame:
        rep = self.report
        if rep is None or rep.quality is None or rep.quality.empty:
            return pd.DataFrame()
        q = rep.quality.copy()
        if "new_category_examples" in q:
            q["new_category_examples"] = q["new_category_examples"].map(
                lambda v: ", ".join(v) if isinstance(v, list) else "")
        return q

    # -- over time -------------------------------------------------------------------------
    def open_over_time(self, result_id: str) -> None:
        try:
            ot = DriftOverTime.load(self.store, result_id)
        except Exception as exc:
            self.error = error_message(exc)
            return
        self.param.update(over_time=ot, over_time_id=ot.id)

    def over_time_choices(self) -> dict[str, str]:
        return {f"{_label(r.name)} · {pd.Timestamp(r.created_at).strftime('%Y-%m-%d %H:%M')} · "
                f"{r.result_id[:8]}": str(r.result_id) for r in self.over_time_list.itertuples(index=False)}

    def heatmap(self) -> dict[str, Any]:
        ot = self.over_time
        return charts.heatmap_option(ot.scores) if ot is not None else {}

    def first_drift(self) -> pd.DataFrame:
        """Per column of the over-time result: its first change point ("since when")."""
        ot = self.over_time
        if ot is None:
            return pd.DataFrame(columns=["column", "since"])
        rows = [{"column": c, "since": charts._win_label(v) if v is not None else ""}
                for c, v in ot.first_drift().items()]
        return pd.DataFrame(rows).sort_values(["since", "column"], key=lambda s: s.replace("", "~"))

    # -- running a report ----------------------------------------------------------------
    def _resolve(self, kind: str, value: str, side: str) -> str:
        value = (value or "").strip()
        if not value:
            raise ValueError(f"choose the {side} data first")
        return value

    def start_report(self) -> bool:
        """Run a report on the chosen inputs in a background thread; False if one is running."""
        if self.running:
            return False
        try:
            ref = self._resolve(self.reference_kind, self.reference, "reference")
            cur = self._resolve(self.current_kind, self.current, "current")
        except ValueError as exc:
            self.error = str(exc)
            return False
        job: dict[str, Any] = {"done": 0, "total": 0, "what": "opening the data", "result": None,
                               "error": None, "finished": False, "started": time.monotonic()}
        self._job = job
        self.param.update(running=True, progress=0, error="", status="opening the data")
        name = self.report_name.strip() or None

        def progress(done: int, total: int, what: str) -> None:
            with self._lock:
                job.update(done=done, total=total, what=what)

        def work() -> None:
            from workbench.monitoring.api import drift_report

            try:
                rep = drift_report(ref, cur, store=self.store, name=name, progress=progress)
                with self._lock:
                    job["result"] = rep.id
            except Exception as exc:  # shown in the banner by poll()
                with self._lock:
                    job["error"] = error_message(exc)
            finally:
                with self._lock:
                    job["finished"] = True

        self._thread = threading.Thread(target=work, name="drift-report", daemon=True)
        self._thread.start()
        return True

    def wait(self, timeout: float = 60.0) -> None:
        """Block until the background report finishes (tests and scripts)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def poll(self) -> bool:
        """Move the background job's progress into the parameters; True while it still runs."""
        job = self._job
        if job is None:
            return False
        with self._lock:
            snap = dict(job)
        pct = int(100 * snap["done"] / snap["total"]) if snap["total"] else 0
        elapsed = time.monotonic() - snap["started"]
        if not snap["finished"]:
            what = snap["what"]
            self.param.update(progress=min(pct, 99), status=(
                f"{snap['done']}/{snap['total']} columns tested ({what}), {elapsed:.1f} s"
                if snap["total"] else f"{what}, {elapsed:.1f} s"))
            return True
        self._job = None
        if snap["error"]:
            self.param.update(running=False, progress=0, status="", error=snap["error"])
            return False
        self.refresh()
        self.open_report(snap["result"])
        self.param.update(running=False, progress=100, status=f"report saved in {elapsed:.1f} s")
        return False


def _missing(v: Any) -> bool:
    if v is None:
        return True
    return isinstance(v, float) and math.isnan(v)
