"""The engine: run a pipeline's steps in dependency order, in parallel, cached, retried.

One *driver* (the calling thread) walks the graph. A step whose inputs are
ready is first looked up in the cache (its key hashes code, params, input
hashes and data fingerprint); a hit reuses the recorded output without
running anything. Otherwise the step runs:

- in the driver's own process when it has no sibling that could run at the
  same time (a chain of steps pays no inter-process cost), or when
  ``backend="sequential"`` or ``n_jobs=1``;
- else on a worker: joblib's loky processes (``backend="loky"``, the
  default; the reusable executor, so workers are started once) or a
  dask.distributed cluster (``backend="dask"``, ``address=`` a scheduler
  address or a ``Client``; default: the current client).

Workers get the store's *path*, read their inputs from the artifact folder
by hash, write their output there, and log on the step's run through their
own spool. Every pipeline run is a tracked run; every step execution
(including cached and cancelled ones) a nested run with tags
``pipeline.*``, a ``duration_s`` metric and its captured logs.

>>> import tempfile, os, workbench as wb
>>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
>>> pipe = wb.Pipeline("tiny", [wb.Step("a", "identity", params={"value": 2}),
...                             wb.Step("b", "identity", inputs=["a"])])
>>> result = pipe.run(store)
>>> result.status, result.output("b")
('FINISHED', 2)
>>> pipe.run(store).statuses()
{'a': 'CACHED', 'b': 'CACHED'}
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import pandas as pd

from workbench.errors import InvalidInputError
from workbench.pipelines import cache as _cache
from workbench.pipelines.backends import (
    BACKENDS,
    _current_dask_client,
    _DaskExecutor,
    _LokyExecutor,
    _wait,
    check_timeouts,
    default_backend,
)
from workbench.pipelines.graph import Pipeline, bind_action, code_hash
from workbench.pipelines.progress import progress_bar
from workbench.pipelines.results import (
    STEP_STATUSES,
    PipelineResult,
    StepRecord,
    effective_status,
    lineage,
    step_history,
)
from workbench.pipelines.worker import execute_step
from workbench.store import pipelines_store as ps
from workbench.store.spool import now_ms
from workbench.store.store import Store

__all__ = [
    "BACKENDS", "STEP_STATUSES", "PipelineResult", "StepRecord", "default_backend",
    "effective_status", "execute_step", "lineage", "run_pipeline", "step_history",
]

_TIMEOUT_GRACE = 5.0  # extra seconds the driver waits for a worker to enforce a timeout itself


# -- the driver -------------------------------------------------------------------------------
def checked_options(pipeline: Pipeline, n_jobs: Any, backend: str | None, address: Any,
                    from_step: str | None, in_process: bool) -> tuple[int, str, Any]:
    """Everything :func:`run_pipeline` refuses before it writes anything; the resolved
    ``(n_jobs, backend, address)``."""
    pipeline.validate()
    backend, address = default_backend(backend, address)
    if backend not in BACKENDS:
        raise InvalidInputError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs == 0 or n_jobs < -1:
        raise InvalidInputError(f"n_jobs must be a positive int or -1, got {n_jobs!r}")
    if from_step is not None and from_step not in pipeline.step_names:
        raise InvalidInputError(
            f"from_step {from_step!r} is not a step of {pipeline.name!r} "
            f"(steps: {', '.join(pipeline.step_names)})"
        )
    if not in_process and backend == "sequential":
        raise InvalidInputError("in_process=False needs worker processes: backend 'loky' or "
                                "'dask', not 'sequential'")
    check_timeouts(pipeline, backend)
    if backend == "dask" and address is None:
        _current_dask_client()
    return (os.cpu_count() or 1) if n_jobs == -1 else n_jobs, backend, address


def run_pipeline(
    pipeline: Pipeline,
    store: Store | str | os.PathLike | None = None,
    *,
    n_jobs: int = 1,
    backend: str | None = None,
    address: Any = None,
    from_step: str | None = None,
    force: bool = False,
    experiment: str | None = None,
    callback: Callable[[str, StepRecord], None] | None = None,
    in_process: bool = True,
    cancel: Any = None,
    progress: bool | None = None,
) -> PipelineResult:
    """Validate, save (if changed) and run a pipeline; returns a :class:`PipelineResult`.

    ``n_jobs`` steps run at once (``-1``: one per CPU). ``backend`` is
    ``"loky"`` (processes), ``"dask"`` (``address=`` a scheduler address or a
    ``distributed.Client``; default: ``$WORKBENCH_DASK_ADDRESS``, else the
    current client) or ``"sequential"``; default: ``$WORKBENCH_PIPELINE_BACKEND``,
    else ``"loky"``.
    ``from_step`` re-runs that step and everything downstream of it (steps
    upstream come from the cache when they can); ``force=True`` ignores the
    cache. ``in_process=False`` runs every step on a worker, never in this process
    (what an app server wants: its own process stays free; not with ``"sequential"``).
    ``experiment`` defaults to ``"pipeline/<name>"``. ``callback(event,
    step_record)`` is called in this thread when a step changes status.

    ``cancel`` is a ``threading.Event`` (anything with ``is_set()``): once set, steps
    not started are marked CANCELLED, steps running on workers are stopped (their
    loky processes are killed) and the run ends with status ``"CANCELLED"`` (its
    tracked run KILLED). A step running in this process finishes its attempt first;
    :func:`~workbench.pipelines.handle.start_pipeline` runs every step on a worker and returns a handle with
    ``cancel()``. A step's ``timeout`` is enforced wherever it runs: with SIGALRM in
    the main thread, else by running the step on a worker process (killed if it
    overruns); ``backend="dask"`` (worker threads) and ``"sequential"`` off the main
    thread cannot stop a step, so a timed step is refused there.
    ``progress`` shows a tqdm bar of the steps (default: on in a terminal or notebook
    unless ``$WORKBENCH_PROGRESS=0``; see :mod:`workbench.pipelines.progress`).

    A failed run does not raise: check ``result.status`` or call
    ``result.raise_for_status()``. An invalid pipeline raises
    :class:`PipelineValidationError` before anything is written.
    """
    from workbench.pipelines.api import save_pipeline
    from workbench.tracking.fluent import resolve_store

    n_jobs, backend, address = checked_options(pipeline, n_jobs, backend, address, from_step, in_process)
    store = resolve_store(store)
    version = save_pipeline(store, pipeline)
    driver = _Driver(pipeline, store, version, n_jobs=n_jobs, backend=backend, address=address,
                     from_step=from_step, force=force, experiment=experiment, callback=callback,
                     in_process=in_process, cancel=cancel, progress=progress)
    return driver.run()


class _Driver:
    def __init__(self, pipeline: Pipeline, store: Store, version: int | None, *, n_jobs: int,
                 backend: str, address: Any, from_step: str | None, force: bool,
                 experiment: str | None, callback, in_process: bool = True,
                 cancel: Any = None, progress: bool | None = None) -> None:
        self.pipeline = pipeline
        self.in_process = in_process
        self.store = store
        self.version = version
        self.n_jobs = n_jobs
        self.backend = backend
        self.address = address
        self.from_step = from_step
        self.force = force
        self.experiment = experiment or f"pipeline/{pipeline.name}"
        self.callback = callback
        self.order = pipeline.topological_order()
        self.steps = {s.name: s for s in pipeline.steps}
        self.funcs = {s.name: s.resolve() for s in pipeline.steps}
        self.codes = {n: code_hash(f) for n, f in self.funcs.items()}
        self.rerun = set(pipeline.downstream(from_step)) if from_step else set()
        consumers: dict[str, int] = {n: 0 for n in self.order}
        for s in pipeline.steps:
            for d in set(s.input_steps):
                consumers[d] += 1
        self.consumers = consumers
        self.objects: dict[str, Any] = {}  # output sha -> value, for in-process consumers
        self.executor = None
        self._missed: set[str] = set()  # steps whose cache lookup missed (they must run)
        self.cancel_event = cancel
        self._marks: str | None = None  # folder of the workers' "attempt started" files
        self.cancelled = False
        self.progress = progress
        self.main_thread = threading.current_thread() is threading.main_thread()

    # -- records ------------------------------------------------------------------------
    def _emit(self, event: str, rec: StepRecord) -> None:
        if self.bar is not None and event in ("cached", "finished", "failed", "cancelled"):
            self.bar.update(1)
            self.bar.set_postfix_str(f"{rec.name}: {rec.status}", refresh=False)
        if self.callback is not None:
            try:
                self.callback(event, rec)
            except Exception as exc:  # a UI callback must not break the run
                logging.getLogger(__name__).warning("pipeline callback failed: %s", exc)

    def _step_run(self, name: str, status_tag: str):
        from workbench.tracking.run import Run

        step = self.steps[name]
        run = Run.create(
            self.store, self.experiment, run_name=name, parent_run_id=self.parent.id,
            tags={"pipeline.name": self.pipeline.name, "pipeline.step": name,
                  "pipeline.callable": step.ref, "pipeline.status": status_tag,
                  "pipeline.code_hash": self.codes[name]},
        )
        if step.params:
            run.log_params({k: json.dumps(v) if not isinstance(v, str) else v
                            for k, v in step.params.items()})
        return run

    # -- main loop ------------------------------------------------------------------------
    def run(self) -> PipelineResult:
        from workbench.tracking.run import Run

        t0 = time.perf_counter()
        self.parent = Run.create(
            self.store, self.experiment, run_name=f"{self.pipeline.name} v{self.version}",
            tags={"pipeline.name": self.pipeline.name, "pipeline.version": str(self.version),
                  "pipeline.kind": "pipeline_run"},
        )
        self.parent.log_params({"pipeline": self.pipeline.name, "version": self.version,
                                "backend": self.backend, "n_jobs": self.n_jobs,
                                "from_step": self.from_step or "", "force": self.force,
                                "in_process": self.in_process})
        self.result = PipelineResult(self.pipeline, self.store, self.parent.id, self.version)
        self.cache = ps.begin_run(
            self.store, self.parent.id, self.pipeline.name, self.version, self.backend,
            self.n_jobs, self.from_step, self.force, self.order, list(self.codes.values()),
        )
        self.runs: dict[str, Any] = {}
        self.in_flight: dict[Any, tuple[str, float, float | None]] = {}  # future -> step, start, deadline
        self.retry_at: dict[str, float] = {}
        self.started: dict[str, float] = {}
        status = "FAILED"
        self.bar = progress_bar(len(self.order), f"pipeline {self.pipeline.name}", "step",
                                enabled=self.progress)
        try:
            self._loop()
            failed = any(r.status in ("FAILED", "CANCELLED") for r in self.result.steps.values())
            status = "CANCELLED" if self.cancelled else ("FAILED" if failed else "FINISHED")
        except BaseException:
            status = "KILLED"
            for name, run in self.runs.items():
                rec = self.result.steps[name]
                if rec.status == "RUNNING":
                    rec.status = "KILLED"
                    run.set_tag("pipeline.status", "KILLED")
                    run.end("KILLED")
            raise
        finally:
            for fut in list(self.in_flight):
                self.executor.cancel(fut)
            if self.executor is not None:
                self.executor.close()
            counts = pd.Series([r.status for r in self.result.steps.values()]).value_counts()
            self.result.duration_s = time.perf_counter() - t0
            self.parent.log_metrics({
                "duration_s": self.result.duration_s,
                "steps_run": float(counts.get("SUCCEEDED", 0)),
                "steps_cached": float(counts.get("CACHED", 0)),
                "steps_failed": float(counts.get("FAILED", 0)),
                "steps_cancelled": float(counts.get("CANCELLED", 0)),
            })
            if self.cancelled:
                self.parent.set_tag("pipeline.status", "CANCELLED")
            self.parent.end("KILLED" if status == "CANCELLED" else status)
            self.result.status = status
            self.objects.clear()
            if self.bar is not None:
                self.bar.close()
            if self._marks is not None:
                shutil.rmtree(self._marks, ignore_errors=True)
        return self.result

    def _ready(self) -> list[str]:
        out = []
        for name in self.order:
            rec = self.result.steps[name]
            if rec.status != "PENDING" or name in self.retry_at:
                continue
            deps = self.steps[name].input_steps
            if all(self.result.steps[d].status in ("SUCCEEDED", "CACHED") for d in deps):
                out.append(name)
        return out

    def _loop(self) -> None:
        while True:
            if self.cancel_event is not None and self.cancel_event.is_set():
                self._cancel_all()
                return
            now = time.monotonic()
            for name, at in sorted(self.retry_at.items(), key=lambda kv: kv[1]):
                if at <= now and len(self.in_flight) < self.n_jobs:
                    del self.retry_at[name]
                    self._dispatch(name, retry=True)
            ready = self._ready()
            for name in ready:
                if self._try_cache(name):
                    continue
                busy = len(self.in_flight)
                alone = busy == 0 and len([n for n in self._ready() if n != name]) == 0 \
                    and not self.retry_at
                # a timed step off the main thread goes to a worker: only a process can be stopped
                timed_off_main = bool(self.steps[name].setting("timeout")) and not self.main_thread
                if self.backend == "sequential" or (
                        self.in_process and (self.n_jobs == 1 or alone) and not timed_off_main):
                    self._open_step(name)
                    self._run_in_process(name)
                elif busy < self.n_jobs:
                    self._open_step(name)
                    self._dispatch(name)
                # else: the step stays PENDING until a worker is free, so that at most
                # n_jobs steps are RUNNING and a timeout counts from a step's real start
            if not self.in_flight and not self.retry_at:
                if not self._ready():
                    break
                continue
            self._collect()

    # -- a step's lifecycle ---------------------------------------------------------------
    def _inputs(self, name: str) -> tuple[list[tuple[str | None, str]], dict[str, str]]:
        step = self.steps[name]
        layout: list[tuple[str | None, str]] = []
        named: dict[str, str] = {}
        if isinstance(step.inputs, dict):
            for arg, src in step.inputs.items():
                sha = self.result.steps[src].output_sha
                layout.append((arg, sha))
                named[src] = sha
        else:
            for src in step.inputs:
                sha = self.result.steps[src].output_sha
                layout.append((None, sha))
                named[src] = sha
        return layout, named

    def _fingerprint(self, name: str) -> str | None:
        fn = getattr(self.funcs[name], "__wb_fingerprint__", None)
        if fn is None:
            return None
        try:
            return str(fn(dict(self.steps[name].params)))
        except Exception as exc:  # the step itself will report the problem
            return f"unavailable: {exc}"

    def _try_cache(self, name: str) -> bool:
        if name in self._missed:  # looked up already; waiting for a free worker
            return False
        rec = self.result.steps[name]
        layout, named = self._inputs(name)
        fingerprint = self._fingerprint(name)
        rec.inputs = dict(named)
        if fingerprint is not None:
            rec.inputs["<data>"] = fingerprint
        rec.code_hash = self.codes[name]
        rec.cache_key = _cache.cache_key(
            self.codes[name], self.steps[name].params,
            [(arg if arg is not None else str(i), sha) for i, (arg, sha) in enumerate(layout)],
            fingerprint,
        )
        self._layout = getattr(self, "_layout", {})
        self._layout[name] = layout
        if self.force or name in self.rerun or not self.steps[name].setting("cache"):
            self._missed.add(name)
            return False
        sha = self.cache.get(rec.cache_key)
        if sha is None or not _cache.has_output(self.store.artifacts, sha):
            self._missed.add(name)
            return False
        t = now_ms()
        run = self._step_run(name, "CACHED")
        run.set_tags({"pipeline.cache_key": rec.cache_key, "pipeline.output_sha": sha,
                      "pipeline.inputs": json.dumps(rec.inputs), "pipeline.attempts": "0",
                      "pipeline.cached_from": sha})
        run.log_metrics({"duration_s": 0.0, "attempts": 0.0}, timestamp=t)
        run.end("FINISHED")
        rec.status, rec.output_sha, rec.run_id, rec.duration_s = "CACHED", sha, run.id, 0.0
        self._release_inputs(name)
        self._emit("cached", rec)
        return True

    def _open_step(self, name: str) -> None:
        rec = self.result.steps[name]
        run = self._step_run(name, "RUNNING")
        run.set_tags({"pipeline.cache_key": rec.cache_key, "pipeline.inputs": json.dumps(rec.inputs)})
        self.runs[name] = run
        rec.status, rec.run_id = "RUNNING", run.id
        self.started[name] = time.perf_counter()
        self._emit("started", rec)

    def _payload(self, name: str, in_driver: bool) -> dict[str, Any]:
        rec = self.result.steps[name]
        step = self.steps[name]
        layout = self._layout[name]
        payload = {
            "func": self.funcs[name], "inputs": layout, "params": dict(step.params),
            "timeout": step.setting("timeout"), "step": name, "run_id": rec.run_id,
            "parent_run_id": self.parent.id, "experiment": self.experiment,
            "pipeline": self.pipeline.name, "version": self.version,
            "attempt": rec.attempts + 1, "store_path": str(self.store.path),
        }
        if in_driver:
            payload["store"] = self.store
            payload["objects"] = {sha: self.objects[sha] for _, sha in layout if sha in self.objects}
        return payload

    def _run_in_process(self, name: str) -> None:
        rec = self.result.steps[name]
        step = self.steps[name]
        while True:
            rec.attempts += 1
            out = execute_step(self._payload(name, in_driver=True))
            if out["ok"] or rec.attempts > step.setting("retries"):
                self._finish(name, out)
                return
            self._note_attempt_failure(name, out)
            time.sleep(self._backoff(name))

    def _dispatch(self, name: str, retry: bool = False) -> None:
        rec = self.result.steps[name]
        if self.executor is None:
            self.executor = (_DaskExecutor(self.address) if self.backend == "dask"
                             else _LokyExecutor(self.n_jobs))
        # The step's run (and anything else buffered) must be visible to a worker
        # that reads the database (e.g. to register a model logged on it).
        self.store.flush()
        rec.attempts += 1
        payload = self._payload(name, in_driver=False)
        timeout = payload["timeout"]
        deadline = None
        if timeout:
            # the hard deadline counts from the attempt's start in the worker (a new worker
            # may take seconds to start): the worker touches this file when it begins
            if self._marks is None:
                self._marks = tempfile.mkdtemp(prefix="workbench-steps-")
            payload["started_path"] = os.path.join(self._marks, f"{rec.run_id}-{rec.attempts}")
            # a re-dispatched attempt (its worker stopped for a sibling's overrun) reuses the name:
            # the old mark would start the new deadline before the new worker does
            with contextlib.suppress(FileNotFoundError):
                os.remove(payload["started_path"])
            deadline = ("waiting", payload["started_path"], float(timeout))
        fut = self.executor.submit(payload)
        self.in_flight[fut] = (name, time.monotonic(), deadline)

    def _collect(self) -> None:
        wait_for = 0.5
        now = time.monotonic()
        if self.retry_at:
            wait_for = min(wait_for, max(0.0, min(self.retry_at.values()) - now))
        for fut, (name, t0, deadline) in list(self.in_flight.items()):
            if isinstance(deadline, tuple) and os.path.exists(deadline[1]):
                self.in_flight[fut] = (name, t0, now + deadline[2] + _TIMEOUT_GRACE)
        deadlines = [d for _, _, d in self.in_flight.values() if isinstance(d, float)]
        if deadlines:
            wait_for = min(wait_for, max(0.0, min(deadlines) - now))
        done = _wait(list(self.in_flight), wait_for)
        now = time.monotonic()
        # finished attempts first: stopping an overrun worker below re-dispatches whatever is
        # still in flight, and a result already in hand must not be thrown away and re-run
        for fut in [f for f in self.in_flight if f in done]:
            name = self.in_flight.pop(fut)[0]
            try:
                out = fut.result()
            except BaseException as exc:  # the worker died or the task was lost
                out = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                       "traceback": traceback.format_exc(), "logs": "", "timed_out": False}
            self._after_attempt(name, out)
        for fut, (name, _, deadline) in list(self.in_flight.items()):
            if fut not in self.in_flight:  # re-dispatched under a new future by an earlier overrun
                continue
            if isinstance(deadline, float) and now >= deadline:
                del self.in_flight[fut]
                self.executor.cancel(fut)
                self._stop_overrun_worker(name)
                timeout = self.steps[name].setting("timeout")
                self._after_attempt(name, {
                    "ok": False, "timed_out": True, "logs": "",
                    "error": f"StepTimeoutError: the step ran longer than its timeout of {timeout} s",
                    "traceback": None})

    def _stop_overrun_worker(self, name: str) -> None:
        """A step outlived its timeout and grace: kill the pool; re-dispatch its siblings."""
        self.executor.kill()
        self.executor = None
        for fut, (other, _, _) in list(self.in_flight.items()):
            del self.in_flight[fut]
            rec = self.result.steps[other]
            rec.attempts -= 1  # not its fault: this attempt does not count
            rec.logs += f"\n--- restarted: its worker was stopped because step {name!r} overran " \
                        "its timeout\n"
            self._dispatch(other)

    def _cancel_all(self) -> None:
        """Cancel the run: stop running workers, mark every unfinished step CANCELLED."""
        self.cancelled = True
        reason = "cancelled: the pipeline run was cancelled"
        if self.in_flight and self.executor is not None:
            for fut in list(self.in_flight):
                self.executor.cancel(fut)
            self.executor.kill()
            self.executor = None
        for fut, (name, _, _) in list(self.in_flight.items()):
            del self.in_flight[fut]
            self.result.steps[name].duration_s = time.perf_counter() - self.started[name]
            self._mark_cancelled(name, reason)
        self.retry_at.clear()
        for name in self.order:
            if self.result.steps[name].status in ("PENDING", "RUNNING"):  # RUNNING: awaiting a retry
                self._mark_cancelled(name, reason)

    def _mark_cancelled(self, name: str, reason: str) -> None:
        """End the step's run (a new one for a step that never started) as CANCELLED."""
        rec = self.result.steps[name]
        run = self.runs.get(name) if rec.status == "RUNNING" else None
        if run is None:
            run = self._step_run(name, "CANCELLED")
            rec.run_id = run.id
        run.set_tags({"pipeline.status": "CANCELLED", "pipeline.error": reason})
        run.end("KILLED")
        rec.status, rec.error = "CANCELLED", reason
        self._emit("cancelled", rec)

    def _after_attempt(self, name: str, out: dict[str, Any]) -> None:
        rec = self.result.steps[name]
        if out["ok"] or rec.attempts > self.steps[name].setting("retries"):
            self._finish(name, out)
            return
        self._note_attempt_failure(name, out)
        self.retry_at[name] = time.monotonic() + self._backoff(name)

    def _backoff(self, name: str) -> float:
        rec = self.result.steps[name]
        return float(self.steps[name].setting("backoff")) * 2 ** (rec.attempts - 1)

    def _note_attempt_failure(self, name: str, out: dict[str, Any]) -> None:
        rec = self.result.steps[name]
        rec.logs += out.get("logs", "") + f"\n--- attempt {rec.attempts} failed: {out['error']}\n"
        self._emit("retry", rec)

    def _finish(self, name: str, out: dict[str, Any]) -> None:
        rec = self.result.steps[name]
        run = self.runs[name]
        rec.logs += out.get("logs", "")
        rec.duration_s = time.perf_counter() - self.started[name]
        tags = {"pipeline.attempts": str(rec.attempts)}
        if out["ok"]:
            rec.status, rec.output_sha = "SUCCEEDED", out["output_sha"]
            if "value" in out and self.consumers[name]:
                self.objects[rec.output_sha] = out["value"]
            tags.update({"pipeline.status": "SUCCEEDED", "pipeline.output_sha": rec.output_sha})
            run._record_artifact("output.joblib", rec.output_sha, int(out.get("size") or 0))
        else:
            rec.status, rec.error = "FAILED", out["error"]
            tags.update({"pipeline.status": "FAILED", "pipeline.error": out["error"][-4000:]})
            if out.get("traceback"):
                tags["error"] = out["traceback"][-5000:]
        if rec.logs:
            run.log_text(rec.logs, "logs/step.log")
        run.set_tags(tags)
        run.log_metrics({"duration_s": rec.duration_s, "attempts": float(rec.attempts)})
        run.end("FINISHED" if out["ok"] else "FAILED")
        self._release_inputs(name)
        self._emit("finished" if out["ok"] else "failed", rec)
        if not out["ok"]:
            self._cancel_downstream(name)

    def _release_inputs(self, name: str) -> None:
        for src in set(self.steps[name].input_steps):
            self.consumers[src] -= 1
            sha = self.result.steps[src].output_sha
            if self.consumers[src] <= 0 and sha in self.objects:
                still = any(self.result.steps[o].output_sha == sha and self.consumers[o] > 0
                            for o in self.order)
                if not still:
                    del self.objects[sha]

    def _cancel_downstream(self, failed: str) -> None:
        for name in self.pipeline.downstream(failed)[1:]:
            rec = self.result.steps[name]
            if rec.status != "PENDING":
                continue
            self._mark_cancelled(name, f"cancelled: upstream step {failed!r} failed")


bind_action("run", run_pipeline)
