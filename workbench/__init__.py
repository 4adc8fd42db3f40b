"""workbench: an MLOps workbench for one data scientist over one embedded DuckDB store.

>>> import workbench as wb
>>> callable(wb.start_run)
True
"""

from __future__ import annotations

from workbench import errors
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

__version__ = "0.1.0"

__all__ = [
    "Run",
    "Store",
    "active_run",
    "end_run",
    "errors",
    "get_store",
    "log_artifact",
    "log_dataset",
    "log_dict",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_text",
    "set_store",
    "set_tag",
    "set_tags",
    "start_run",
]
