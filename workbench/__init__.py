"""workbench: an MLOps workbench for one data scientist over one embedded DuckDB store.

>>> import workbench as wb
>>> callable(wb.start_run)
True
"""

from __future__ import annotations

from workbench import errors
from workbench.pipelines import Pipeline, Step, load_pipeline, step
from workbench.registry import Registry, load_model
from workbench.store.store import Store
from workbench.tracking.fluent import (
    active_run,
    end_run,
    get_store,
    log_artifact,
    log_dataset,
    log_dict,
    log_metric,
    log_metrics,
    log_model,
    log_param,
    log_params,
    log_text,
    set_store,
    set_tag,
    set_tags,
    start_run,
)
from workbench.tracking.run import Run
from workbench.training import choice, float_range, int_range, rerun, resume_sweep, sweep

__version__ = "0.1.0"


def __getattr__(name: str):
    # ``wb.ui`` imports Panel only when first used: ``import workbench`` never does.
    if name == "ui":
        import importlib

        return importlib.import_module("workbench.ui")
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


__all__ = [
    "Pipeline",
    "Step",
    "Registry",
    "Run",
    "Store",
    "active_run",
    "choice",
    "end_run",
    "errors",
    "float_range",
    "get_store",
    "int_range",
    "load_model",
    "load_pipeline",
    "log_artifact",
    "log_dataset",
    "log_dict",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_text",
    "rerun",
    "resume_sweep",
    "set_store",
    "set_tag",
    "set_tags",
    "start_run",
    "step",
    "sweep",
]
