"""Which pipeline step is running in this thread (for steps that want to know).

>>> current_step() is None
True
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass

_local = threading.local()


@dataclass(frozen=True)
class StepContext:
    """The pipeline, its saved version, the step, its run id and the attempt (1-based)."""

    pipeline: str
    version: int | None
    step: str
    run_id: str
    pipeline_run_id: str
    store_path: str
    attempt: int = 1


def current_step() -> StepContext | None:
    """The context of the step running in this thread, or None outside a pipeline."""
    return getattr(_local, "ctx", None)


@contextmanager
def step_context(ctx: StepContext):
    previous = getattr(_local, "ctx", None)
    _local.ctx = ctx
    try:
        yield ctx
    finally:
        _local.ctx = previous
