"""Pipelines: a graph of steps, versioned in the store, run by a caching, retrying engine.

>>> import workbench as wb
>>> pipe = wb.Pipeline("demo", [wb.Step("a", "identity", params={"value": 1})])
>>> pipe.validate().topological_order()
['a']

See ``docs/pipelines.md``.
"""

from __future__ import annotations

from workbench.pipelines.api import (
    churn_template,
    diff_versions,
    list_pipelines,
    list_versions,
    load_pipeline,
    pipeline_runs,
    save_pipeline,
)
from workbench.pipelines.context import StepContext, current_step
from workbench.pipelines.engine import (
    PipelineResult,
    StepRecord,
    lineage,
    run_pipeline,
    step_history,
)
from workbench.pipelines.graph import Pipeline, PipelineDiff, Step, diff_specs, step
from workbench.pipelines.handle import PipelineRunHandle, start_pipeline

__all__ = [
    "Pipeline",
    "PipelineDiff",
    "PipelineResult",
    "PipelineRunHandle",
    "Step",
    "StepContext",
    "StepRecord",
    "churn_template",
    "current_step",
    "diff_specs",
    "diff_versions",
    "lineage",
    "list_pipelines",
    "list_versions",
    "load_pipeline",
    "pipeline_runs",
    "run_pipeline",
    "save_pipeline",
    "start_pipeline",
    "step",
    "step_history",
]
