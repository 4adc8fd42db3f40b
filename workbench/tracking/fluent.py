"""The module-level tracking API: ``wb.start_run``, ``wb.log_metric`` and friends.

Each thread has its own stack of active runs; the ``log_*`` functions act on
the innermost one. Runs still open when the interpreter exits are finished
(FINISHED), and everything logged is flushed to the store's spool.

>>> import tempfile, os, workbench as wb
>>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
>>> with wb.start_run(experiment="churn", run_name="rf", store=store) as run:
...     wb.log_params({"model": "rf"})
...     wb.log_metrics({"auc": 0.9}, step=0)
...     with wb.start_run(run_name="fold-1", nested=True) as child:
...         wb.log_metric("auc", 0.88)
>>> store.get_run(child.id)["parent_run_id"] == run.id
True
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from workbench.errors import RunStateError
from workbench.store.store import Store
from workbench.tracking.run import Run

_local = threading.local()
_default_store: Store | None = None
_all_active: dict[str, Run] = {}
_all_lock = threading.Lock()


def set_store(store: Store | str | os.PathLike | None) -> Store | None:
    """Make ``store`` the default for runs started without ``store=``."""
    global _default_store
    _default_store = store if isinstance(store, Store) or store is None else Store(store)
    return _default_store


def get_store() -> Store:
    """The default store (opened at ``$WORKBENCH_STORE`` / ``~/.workbench`` on first use)."""
    global _default_store
    if _default_store is None:
        _default_store = Store()
    return _default_store


def resolve_store(store: Store | str | os.PathLike | None) -> Store:
    """A Store from a Store, a path, or None (the default store, :func:`get_store`).

    >>> resolve_store(None) is get_store()  # doctest: +SKIP
    True
    """
    if isinstance(store, Store):
        return store
    return get_store() if store is None else Store(store)


def _stack() -> list[Run]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def active_run() -> Run | None:
    """The innermost run started in this thread and not yet ended."""
    stack = _stack()
    while stack and stack[-1].status != "RUNNING":
        stack.pop()
    return stack[-1] if stack else None


class _ActiveRun(Run):
    """A run started through :func:`start_run`: leaving ``with`` pops it off the stack."""

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            super().__exit__(exc_type, exc, tb)
        finally:
            _pop(self)

    def end(self, status: str = "FINISHED") -> None:
        super().end(status)
        _pop(self)


def _pop(run: Run) -> None:
    stack = _stack()
    if run in stack:
        stack.remove(run)
    with _all_lock:
        _all_active.pop(run.id, None)


def start_run(
    experiment: str | int | None = None,
    run_name: str | None = None,
    store: Store | None = None,
    tags: dict[str, Any] | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    description: str | None = None,
) -> Run:
    """Start a run and make it this thread's active run; use it as a context manager.

    ``nested=True`` starts a child of the active run (its store and experiment
    by default). Starting a run while another is active needs ``nested=True``.
    ``parent_run_id`` makes a child of any run, e.g. from a worker process.
    """
    parent = active_run()
    if parent is not None and not nested and parent_run_id is None:
        raise RunStateError(
            f"run {parent.id} ({parent.name!r}) is already active in this thread; end it first "
            "or pass nested=True to start a child run"
        )
    if nested and parent is None and parent_run_id is None:
        raise RunStateError("nested=True needs an active run to nest under")
    if store is None:
        store = parent.store if (nested and parent is not None) else get_store()
    if experiment is None and nested and parent is not None:
        experiment = parent.experiment
    run = Run.create(
        store,
        experiment=experiment,
        run_name=run_name,
        parent_run_id=parent_run_id or (parent.id if nested and parent is not None else None),
        tags=tags,
        description=description,
    )
    run.__class__ = _ActiveRun
    _stack().append(run)
    with _all_lock:
        _all_active[run.id] = run
    return run


def end_run(status: str = "FINISHED") -> None:
    """End the active run (FINISHED by default)."""
    run = active_run()
    if run is None:
        raise RunStateError("there is no active run to end")
    run.end(status)


def _require_active() -> Run:
    run = active_run()
    if run is None:
        raise RunStateError("no active run: call wb.start_run() first (or use run.log_* directly)")
    return run


def log_param(key: str, value: Any) -> None:
    """Log a param on the active run."""
    _require_active().log_param(key, value)


def log_params(params: dict[str, Any]) -> None:
    """Log params on the active run."""
    _require_active().log_params(params)


def log_metric(key: str, value: float, step: int | None = None, timestamp: int | None = None) -> None:
    """Log a metric point on the active run."""
    _require_active().log_metric(key, value, step=step, timestamp=timestamp)


def log_metrics(metrics: dict[str, float], step: int | None = None, timestamp: int | None = None) -> None:
    """Log metric points on the active run."""
    _require_active().log_metrics(metrics, step=step, timestamp=timestamp)


def set_tag(key: str, value: Any) -> None:
    """Set a tag on the active run."""
    _require_active().set_tag(key, value)


def set_tags(tags: dict[str, Any]) -> None:
    """Set tags on the active run."""
    _require_active().set_tags(tags)


def log_artifact(local_path: str | os.PathLike, artifact_path: str | None = None) -> list[str]:
    """Copy a file or folder into the active run's artifacts."""
    return _require_active().log_artifact(local_path, artifact_path)


def log_text(text: str, artifact_path: str) -> str:
    """Store text as an artifact of the active run."""
    return _require_active().log_text(text, artifact_path)


def log_dict(obj: Any, artifact_path: str) -> str:
    """Store an object as JSON in the active run's artifacts."""
    return _require_active().log_dict(obj, artifact_path)


def log_dataset(data: Any, name: str, role: str = "train", source: str | None = None,
                save: bool = False) -> str:
    """Record a dataset version used by the active run; returns its digest."""
    return _require_active().log_dataset(data, name=name, role=role, source=source, save=save)


def log_model(model: Any, name: str = "model", input_example: Any = None):
    """Store a trained model in the active run (artifact, sha256, signature, requirements)."""
    return _require_active().log_model(model, name=name, input_example=input_example)


@atexit.register
def _finish_open_runs() -> None:
    with _all_lock:
        runs = list(_all_active.values())
    for run in runs:
        try:
            run.end("FINISHED")
        except Exception:
            pass
