"""What a pipeline run produced: one :class:`StepRecord` per step, the :class:`PipelineResult`, lineage.

>>> StepRecord("train").status
'PENDING'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from workbench.errors import PipelineError, PipelineRunError
from workbench.pipelines import cache as _cache
from workbench.pipelines.graph import Pipeline
from workbench.store import pipelines_store as ps
from workbench.store.store import Store

STEP_STATUSES = ("SUCCEEDED", "CACHED", "FAILED", "CANCELLED", "SKIPPED", "RUNNING", "KILLED")


@dataclass
class StepRecord:
    """What happened to one step in one pipeline run."""

    name: str
    status: str = "PENDING"
    attempts: int = 0
    duration_s: float | None = None
    run_id: str | None = None
    cache_key: str | None = None
    code_hash: str | None = None
    output_sha: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    logs: str = ""


class PipelineResult:
    """A pipeline run: its status, one :class:`StepRecord` per step, outputs and lineage."""

    def __init__(self, pipeline: Pipeline, store: Store, run_id: str, version: int | None) -> None:
        self.pipeline = pipeline
        self.store = store
        self.run_id = run_id
        self.version = version
        self.status = "RUNNING"
        self.steps: dict[str, StepRecord] = {n: StepRecord(n) for n in pipeline.step_names}
        self.duration_s: float | None = None

    def __repr__(self) -> str:
        counts = pd.Series([s.status for s in self.steps.values()]).value_counts().to_dict()
        return f"<PipelineResult {self.pipeline.name!r} {self.status} run={self.run_id} {counts}>"

    @property
    def ok(self) -> bool:
        return self.status == "FINISHED"

    def statuses(self) -> dict[str, str]:
        """Step name -> SUCCEEDED / CACHED / FAILED / CANCELLED / RUNNING / PENDING."""
        return {n: s.status for n, s in self.steps.items()}

    def output(self, step: str) -> Any:
        """The output of a step that succeeded (or was cached), loaded from the artifact store."""
        rec = self.steps[step]
        if rec.output_sha is None:
            raise PipelineError(f"step {step!r} has no output ({rec.status})")
        return _cache.load_output(self.store.artifacts, rec.output_sha)

    def to_frame(self) -> pd.DataFrame:
        """One row per step: status, attempts, duration, hashes, error."""
        return pd.DataFrame([
            {"step": s.name, "status": s.status, "attempts": s.attempts, "duration_s": s.duration_s,
             "output_sha": s.output_sha, "cache_key": s.cache_key, "run_id": s.run_id,
             "error": s.error}
            for s in self.steps.values()
        ])

    def lineage(self) -> pd.DataFrame:
        """The recorded lineage of this run (see :func:`lineage`)."""
        return lineage(self.store, self.run_id)

    def raise_for_status(self) -> PipelineResult:
        """Raise :class:`PipelineRunError` naming the failed steps unless the run finished."""
        if self.status != "FINISHED":
            failed = {n: s.error for n, s in self.steps.items() if s.status == "FAILED"}
            detail = "; ".join(f"{n}: {e}" for n, e in failed.items()) or self.status
            raise PipelineRunError(f"pipeline {self.pipeline.name!r} run {self.run_id} {self.status}: {detail}")
        return self


def effective_status(tag: Any, run_status: Any) -> str:
    """A step's status from its ``pipeline.status`` tag and its run's status.

    A step whose process died while it ran has the tag RUNNING and a KILLED run.
    """
    tag = tag if isinstance(tag, str) else None
    if run_status == "KILLED" and tag in (None, "RUNNING"):
        return "KILLED"
    return tag or str(run_status)


def lineage(store: Store, pipeline_run_id: str) -> pd.DataFrame:
    """Step -> input hashes -> output hash of one pipeline run, in execution order.

    Columns: ``step``, ``status``, ``inputs`` (dict input -> sha256; data a
    step reads from files appears as ``"<data>"``), ``input_hashes`` (list),
    ``output_hash``, ``cache_key``, ``code_hash``, ``attempts``,
    ``duration_s``, ``run_id`` (the step's nested run), ``cached_from``.
    """
    df = ps.step_rows(store, [pipeline_run_id])
    rows = []
    for r in df.itertuples(index=False):
        inputs = json.loads(r.inputs) if isinstance(r.inputs, str) and r.inputs else {}
        status = effective_status(r.status, r.run_status)
        rows.append({
            "step": r.step, "status": status, "inputs": inputs,
            "input_hashes": list(inputs.values()), "output_hash": r.output_sha,
            "cache_key": r.cache_key, "code_hash": r.code_hash,
            "attempts": int(r.attempts) if isinstance(r.attempts, str) and r.attempts.isdigit() else None,
            "duration_s": r.duration_s, "run_id": r.run_id, "cached_from": r.cached_from,
            "error": r.error,
        })
    out = pd.DataFrame(rows, columns=["step", "status", "inputs", "input_hashes", "output_hash",
                                      "cache_key", "code_hash", "attempts", "duration_s", "run_id",
                                      "cached_from", "error"])
    info = ps.pipeline_run_info(store, pipeline_run_id)
    order = {name: i for i, name in enumerate(info["steps"] if info else [])}
    out["_order"] = out["step"].map(lambda n: order.get(n, len(order)))
    return out.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)


def step_history(store: Store, name: str, limit: int = 20) -> pd.DataFrame:
    """Per-step durations and statuses of a pipeline's latest runs (long form, newest first)."""
    runs = ps.pipeline_runs(store, name, limit=limit)
    if runs.empty:
        return pd.DataFrame(columns=["pipeline_run_id", "version", "step", "status", "attempts",
                                     "duration_s", "start_time"])
    df = ps.step_rows(store, runs["run_id"].tolist())
    df = df.merge(runs[["run_id", "version"]].rename(columns={"run_id": "pipeline_run_id"}),
                  on="pipeline_run_id")
    df["status"] = [effective_status(st, rs) for st, rs in zip(df["status"], df["run_status"])]
    df["start_time"] = pd.to_datetime(df["start_time"], unit="ms", utc=True)
    return df[["pipeline_run_id", "version", "step", "status", "attempts", "duration_s",
               "start_time"]]
