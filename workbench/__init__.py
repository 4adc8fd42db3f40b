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


# Imported when first used, so that ``import workbench`` stays quick (``wb.ui``
# imports Panel; the lifecycle parts import scipy.stats, ruptures, FastAPI).
_LAZY_MODULES = {"ui", "abtest", "monitoring", "serving"}
_LAZY_NAMES = {
    "deploy": "workbench.serving",
    "Deployment": "workbench.serving",
    "sync_predictions": "workbench.serving",
    "drift_report": "workbench.monitoring",
    "reference_profile": "workbench.monitoring",
    "drift_over_time": "workbench.monitoring",
    "LoggedInputs": "workbench.monitoring",
}


def __getattr__(name: str):
    import importlib

    if name in _LAZY_MODULES:
        return importlib.import_module(f"workbench.{name}")
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


__all__ = [
    "Deployment",
    "abtest",
    "deploy",
    "serving",
    "sync_predictions",
    "drift_over_time",
    "drift_report",
    "monitoring",
    "LoggedInputs",
    "reference_profile",
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
