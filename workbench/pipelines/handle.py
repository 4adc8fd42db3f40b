"""A pipeline run in the background that can be cancelled: :func:`start_pipeline`."""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable
from typing import Any

from workbench.pipelines.engine import checked_options, run_pipeline
from workbench.pipelines.graph import Pipeline, bind_action
from workbench.pipelines.results import PipelineResult
from workbench.store.store import Store


class PipelineRunHandle:
    """A pipeline run started in the background by :func:`start_pipeline`.

    >>> import tempfile, os, workbench as wb
    >>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> pipe = wb.Pipeline("bg", [wb.Step("a", "sleep", params={"seconds": 30})])
    >>> handle = start_pipeline(pipe, store)
    >>> handle.cancel().result(timeout=60).status
    'CANCELLED'
    """

    def __init__(self, target: Callable[[Any], PipelineResult]) -> None:
        self._event = threading.Event()
        self._box: dict[str, Any] = {}

        def body() -> None:
            try:
                self._box["result"] = target(self._event)
            except BaseException as exc:  # noqa: BLE001 - re-raised by result()
                self._box["error"] = exc

        self._thread = threading.Thread(target=body, daemon=True, name="workbench-pipeline")
        self._thread.start()

    def cancel(self) -> PipelineRunHandle:
        """Ask the run to stop (returns at once; ``result()`` waits for it)."""
        self._event.set()
        return self

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self, timeout: float | None = None) -> PipelineResult:
        """Wait for the run to end; its :class:`PipelineResult` (re-raises a driver error)."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the pipeline run is still going after {timeout} s")
        if "error" in self._box:
            raise self._box["error"]
        return self._box["result"]


def check_run_options(pipeline: Pipeline, **options: Any) -> None:
    """Raise now what ``run_pipeline(pipeline, **options)`` would raise before starting.

    An unknown option is a ``TypeError``; a bad value an
    :class:`~workbench.errors.InvalidInputError` naming it.

    >>> from workbench.pipelines.graph import Step
    >>> check_run_options(Pipeline("p", [Step("a", "identity")]), n_jobs=0)
    Traceback (most recent call last):
    ...
    workbench.errors.InvalidInputError: n_jobs must be a positive int or -1, got 0
    """
    sig = inspect.signature(run_pipeline)
    sig.bind(pipeline, **options)  # TypeError: got an unexpected keyword argument ...
    names = ("n_jobs", "backend", "address", "from_step", "in_process")
    checked_options(pipeline, *(options.get(k, sig.parameters[k].default) for k in names))


def start_pipeline(pipeline: Pipeline, store: Store | str | os.PathLike | None = None,
                   **options: Any) -> PipelineRunHandle:
    """Start :func:`run_pipeline` in a background thread, every step on a worker process.

    Returns a :class:`PipelineRunHandle` (``cancel()``, ``done()``, ``result()``).
    ``options`` are those of :func:`run_pipeline` (``in_process`` defaults to False).
    """
    from workbench.tracking.fluent import resolve_store

    options.setdefault("in_process", False)
    options.setdefault("progress", False)
    check_run_options(pipeline, **options)  # bad options raise here, not later from result()
    store = resolve_store(store)
    return PipelineRunHandle(lambda event: run_pipeline(pipeline, store, cancel=event, **options))


bind_action("start", start_pipeline)
