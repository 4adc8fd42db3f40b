"""The Run detail's view-model: everything recorded about one run, and its actions (no Panel).

``RunDetailModel`` loads a run's params, metrics (with downsampled histories), tags
(editable), datasets, artifacts (with previews), child runs, environment and parent, and
deletes/restores the run after a confirmation; :func:`preview_artifact` reads what an
artifact preview shows. The view is :class:`workbench.ui.runs.detail.RunDetail`.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

import pandas as pd
import param

from workbench.store.store import Store
from workbench.ui.components.format import error_message, frame_of_dict, guarded

#: Points per metric history plot (the store downsamples, keeping spikes).
MAX_POINTS = 1000
#: Metric histories plotted before the user picks others.
DEFAULT_PLOTS = 4
#: Rows and characters shown in artifact previews.
PREVIEW_ROWS = 20
PREVIEW_CHARS = 20_000

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}
TABLE_SUFFIXES = {".csv", ".tsv", ".parquet", ".pq"}
TEXT_SUFFIXES = {".txt", ".md", ".json", ".yaml", ".yml", ".log", ".py", ".toml", ".cfg", ".ini",
                 ".html", ".xml", ".sql", ".sh"}


class RunDetailModel(param.Parameterized):
    """State and actions of the run detail; drive it directly in tests."""

    store = param.ClassSelector(class_=Store, allow_refs=False)
    run_id = param.String(default="")
    run = param.Dict(default={}, doc="get_run() of the run")
    metrics = param.DataFrame(default=None, doc="latest/min/max/count of each metric")
    plot_keys = param.List(default=[], item_type=str, doc="metrics whose histories are plotted")
    histories = param.Dict(default={}, doc="metric key -> history DataFrame (downsampled)")
    tags = param.DataFrame(default=None)
    datasets = param.DataFrame(default=None)
    artifacts = param.DataFrame(default=None)
    children = param.DataFrame(default=None)
    environment = param.Dict(default={})
    parent = param.Dict(default={}, doc="run_id, run_name of the parent run, if any")
    artifact = param.String(default="", doc="path of the artifact previewed")
    preview = param.Dict(default={}, doc="kind ('image'|'table'|'text'|'binary') and content")
    pending = param.String(default="", doc="'delete' or 'restore' awaiting confirmation")
    message = param.String(default="")
    error = param.String(default="")

    def __init__(self, store: Store, **params: Any) -> None:
        super().__init__(store=store, **params)
        if self.run_id:
            self.load()

    @param.depends("run_id", watch=True)
    def load(self) -> None:
        """Load everything about ``run_id`` from the store."""
        self.error = self.message = self.pending = ""
        self.artifact, self.preview = "", {}
        if not self.run_id:
            self.run = {}
            return
        s, rid = self.store, self.run_id
        try:
            run = s.get_run(rid)
            self.metrics = s.latest_metrics([rid])
            self.tags = frame_of_dict(run["tags"])
            self.datasets = s.run_datasets(rid)
            self.artifacts = s.list_artifacts(rid)
            self.children = s.child_runs(rid)
            self.environment = s.environment(rid)
            parent = {}
            if run.get("parent_run_id"):
                try:
                    p = s.get_run(run["parent_run_id"])
                    parent = {"run_id": p["run_id"], "run_name": p["run_name"]}
                except Exception:
                    parent = {"run_id": run["parent_run_id"], "run_name": "(missing)"}
            self.parent = parent
            self.run = run
        except Exception as exc:
            self.run = {}
            self.error = error_message(exc)
            return
        # a metric logged once (a final accuracy) is a value, not a history: it goes in the
        # single-values table; the plots default to the metrics that have histories
        self.plot_keys = self.history_keys[:DEFAULT_PLOTS]
        self._load_histories()
        if self.artifacts is not None and len(self.artifacts):
            self.select_artifact(self.artifacts.iloc[0]["path"])

    @property
    def history_keys(self) -> list[str]:
        """The metrics with several points (plotted as histories), in key order."""
        if self.metrics is None or self.metrics.empty:
            return []
        return self.metrics.loc[self.metrics["n_points"] > 1, "key"].astype(str).tolist()

    @property
    def single_value_keys(self) -> list[str]:
        """The metrics logged once (final accuracy, AUC...): shown as values, not plots."""
        if self.metrics is None or self.metrics.empty:
            return []
        return self.metrics.loc[self.metrics["n_points"] <= 1, "key"].astype(str).tolist()

    def single_values(self) -> pd.DataFrame:
        """``metric``, ``value``, ``step`` of the metrics logged once, in key order.

        >>> import tempfile, os, workbench as wb
        >>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
        >>> with wb.start_run(experiment="e", store=store) as run:
        ...     run.log_metric("accuracy", 0.93)
        ...     run.log_metric_history("loss", [0.9, 0.5, 0.3])
        >>> model = RunDetailModel(store, run_id=run.id)
        >>> model.plot_keys, model.single_values()["metric"].tolist()
        (['loss'], ['accuracy'])
        """
        if self.metrics is None or self.metrics.empty:
            return pd.DataFrame(columns=["metric", "value", "step"])
        rows = self.metrics.loc[self.metrics["n_points"] <= 1, ["key", "value", "step"]]
        return rows.rename(columns={"key": "metric"}).reset_index(drop=True)

    def history_summary(self) -> pd.DataFrame:
        """``metric``, ``latest``, ``step``, ``min``, ``max``, ``points`` of the history metrics."""
        columns = {"key": "metric", "value": "latest", "step": "step", "min_value": "min",
                   "max_value": "max", "n_points": "points"}
        if self.metrics is None or self.metrics.empty:
            return pd.DataFrame(columns=list(columns.values()))
        rows = self.metrics.loc[self.metrics["n_points"] > 1, list(columns)]
        return rows.rename(columns=columns).reset_index(drop=True)

    @param.depends("plot_keys", watch=True)
    def _load_histories(self) -> None:
        histories = {}
        for key in self.plot_keys:
            df = guarded(self, self.store.metric_history, self.run_id, key, max_points=MAX_POINTS)
            if df is not None:
                histories[key] = df
        self.histories = histories

    # -- tags ------------------------------------------------------------------
    def set_tag(self, key: str, value: str) -> None:
        key = (key or "").strip()
        if not key:
            self.error = "a tag needs a key"
            return
        if guarded(self, self.store.set_tag, self.run_id, key, value) is None and self.error:
            return
        self.error = ""
        self.message = f"Tag {key!r} set."
        self._reload_tags()

    def delete_tag(self, key: str) -> None:
        if guarded(self, self.store.delete_tag, self.run_id, key) is None and self.error:
            return
        self.error = ""
        self.message = f"Tag {key!r} deleted."
        self._reload_tags()

    def _reload_tags(self) -> None:
        run = guarded(self, self.store.get_run, self.run_id)
        if run is not None:
            self.tags = frame_of_dict(run["tags"])
            self.run = run

    # -- delete / restore ----------------------------------------------------------
    @property
    def deleted(self) -> bool:
        value = self.run.get("deleted_at")
        return value is not None and not (isinstance(value, float) and pd.isna(value))

    def request(self, action: str) -> None:
        if action not in ("delete", "restore"):
            raise ValueError(f"unknown action {action!r}")
        self.pending = action

    def cancel(self) -> None:
        self.pending = ""

    def confirm(self) -> None:
        action, self.pending = self.pending, ""
        if not action:
            return
        method = self.store.delete_run if action == "delete" else self.store.restore_run
        if guarded(self, method, self.run_id) is None and self.error:
            return
        run = guarded(self, self.store.get_run, self.run_id)
        if run is not None:
            self.run = run
        self.message = "Run deleted (restore it here or from the deleted runs view)." if action == "delete" else "Run restored."

    # -- artifacts -------------------------------------------------------------------
    def select_artifact(self, path: str) -> None:
        """Preview one artifact: image, table head (CSV/Parquet), text, or its size."""
        self.artifact = path
        try:
            self.preview = preview_artifact(self.store, self.run_id, path)
        except Exception as exc:
            self.preview = {"kind": "error", "content": error_message(exc)}


def preview_artifact(store: Store, run_id: str, path: str) -> dict[str, Any]:
    """A preview of an artifact: ``{"kind": ..., "content": ...}``."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return {"kind": "image", "content": store.read_artifact(run_id, path), "suffix": suffix}
    if suffix in TABLE_SUFFIXES:
        file = store.artifact_file(run_id, path)
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(file)
            batch = next(pf.iter_batches(batch_size=PREVIEW_ROWS), None)
            head = batch.to_pandas() if batch is not None else pd.DataFrame()
            total = pf.metadata.num_rows
        else:
            sep = "\t" if suffix == ".tsv" else ","
            head = pd.read_csv(file, nrows=PREVIEW_ROWS, sep=sep)
            total = None
        return {"kind": "table", "content": head, "rows": total}
    data = store.read_artifact(run_id, path)
    if suffix in TEXT_SUFFIXES or _looks_like_text(data):
        text = data[:PREVIEW_CHARS].decode("utf-8", errors="replace")
        if suffix == ".json" and len(data) <= PREVIEW_CHARS:
            try:
                text = json.dumps(json.loads(text), indent=2)
            except ValueError:
                pass
        return {"kind": "text", "content": text, "truncated": len(data) > PREVIEW_CHARS}
    return {"kind": "binary", "content": f"{len(data):,} bytes (no preview for this file type)"}


def _looks_like_text(data: bytes) -> bool:
    sample = data[:2048]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


__all__ = ["RunDetailModel", "preview_artifact", "MAX_POINTS"]
