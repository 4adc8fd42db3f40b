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

import concurrent.futures as cf
import io
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from workbench.errors import InvalidInputError, PipelineError, PipelineRunError, StepTimeoutError
from workbench.pipelines import cache as _cache
from workbench.pipelines.context import StepContext, step_context
from workbench.pipelines.graph import Pipeline, code_hash
from workbench.store import pipelines_store as ps
from workbench.store.artifacts import ArtifactStore
from workbench.store.spool import now_ms
from workbench.store.store import Store

BACKENDS = ("loky", "dask", "sequential")
STEP_STATUSES = ("SUCCEEDED", "CACHED", "FAILED", "CANCELLED", "SKIPPED", "RUNNING", "KILLED")
_TIMEOUT_GRACE = 5.0  # extra seconds the driver waits for a worker to enforce a timeout itself
_LOG_LIMIT = 1_000_000  # characters of captured log kept per step


# -- capturing a step's stdout, stderr and logging ------------------------------------------
class _ThreadRouter(io.TextIOBase):
    """Stands in for sys.stdout/sys.stderr: threads that capture write to their buffer."""

    def __init__(self, original) -> None:
        self.original = original
        self.buffers: dict[int, io.StringIO] = {}

    def write(self, text: str) -> int:
        buf = self.buffers.get(threading.get_ident())
        if buf is not None:
            return buf.write(text)
        return self.original.write(text)

    def flush(self) -> None:
        try:
            self.original.flush()
        except Exception:
            pass

    def __getattr__(self, name: str):
        return getattr(self.original, name)


_router_lock = threading.Lock()


def _routers() -> tuple[_ThreadRouter, _ThreadRouter]:
    with _router_lock:
        if not isinstance(sys.stdout, _ThreadRouter):
            sys.stdout = _ThreadRouter(sys.stdout)
        if not isinstance(sys.stderr, _ThreadRouter):
            sys.stderr = _ThreadRouter(sys.stderr)
        return sys.stdout, sys.stderr  # type: ignore[return-value]


class _Capture:
    """Collects what the current thread prints and logs while the step runs."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self._threads: list[int] = []

    def attach(self) -> None:
        """Capture the calling thread too (a thread started to enforce a timeout)."""
        out, err = _routers()
        ident = threading.get_ident()
        out.buffers[ident] = self.buffer
        err.buffers[ident] = self.buffer
        self._threads.append(ident)

    def detach_all(self) -> None:
        out, err = _routers()
        for ident in self._threads:
            out.buffers.pop(ident, None)
            err.buffers.pop(ident, None)
        self._threads.clear()

    def __enter__(self) -> _Capture:
        self.attach()
        self.handler = _LogHandler(self)
        root = logging.getLogger()
        root.addHandler(self.handler)
        self._level = root.level
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc) -> None:
        root = logging.getLogger()
        root.removeHandler(self.handler)
        root.setLevel(self._level)
        self.detach_all()

    def text(self) -> str:
        value = self.buffer.getvalue()
        if len(value) > _LOG_LIMIT:
            value = value[: _LOG_LIMIT // 2] + "\n... (truncated) ...\n" + value[-_LOG_LIMIT // 2:]
        return value


class _LogHandler(logging.Handler):
    def __init__(self, capture: _Capture) -> None:
        super().__init__(logging.DEBUG)
        self.capture = capture
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread in self.capture._threads:
            try:
                self.capture.buffer.write(self.format(record) + "\n")
            except Exception:
                pass


# -- executing one attempt (driver or worker) --------------------------------------------------
_WORKER_STORES: dict[str, Store] = {}


def _worker_store(path: str) -> Store:
    store = _WORKER_STORES.get(path)
    if store is None:
        store = _WORKER_STORES[path] = Store(path)
    return store


def _call(func: Callable, args: list, kwargs: dict, timeout: float | None, capture: _Capture) -> Any:
    if timeout is None:
        return func(*args, **kwargs)
    in_main = threading.current_thread() is threading.main_thread()
    if in_main and hasattr(signal, "setitimer"):
        def _alarm(signum, frame):
            raise StepTimeoutError(f"the step ran longer than its timeout of {timeout} s")

        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return func(*args, **kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    # Not the main thread: run in a helper thread and stop waiting at the deadline
    # (Python cannot kill a thread; its late result is discarded).
    box: dict[str, Any] = {}

    def target() -> None:
        capture.attach()
        try:
            box["value"] = func(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name="workbench-step")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise StepTimeoutError(f"the step ran longer than its timeout of {timeout} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def execute_step(payload: dict[str, Any]) -> dict[str, Any]:
    """Run one attempt of one step; returns a plain dict (never raises for the step's errors).

    ``payload`` holds the callable, the argument layout, params, the input
    hashes (or, in the driver, the input objects), the store path and the
    step's run id. The output goes to the artifact folder; the result holds
    its sha256, the captured logs and the error if any.
    """
    t0 = time.perf_counter()
    from workbench.tracking import fluent
    from workbench.tracking.run import Run

    in_driver = payload.get("objects") is not None
    store = payload["store"] if in_driver else _worker_store(payload["store_path"])
    artifacts: ArtifactStore = store.artifacts
    objects: dict[str, Any] = payload.get("objects") or {}
    run = Run(store, payload["experiment"], payload["run_id"], payload["step"],
              payload["parent_run_id"])
    ctx = StepContext(payload["pipeline"], payload["version"], payload["step"], payload["run_id"],
                      payload["parent_run_id"], str(store.path), payload["attempt"])
    result: dict[str, Any] = {"ok": False, "output_sha": None, "size": 0, "error": None,
                              "traceback": None, "timed_out": False, "logs": ""}
    capture = _Capture()
    stack = fluent._stack()
    stack.append(run)
    try:
        with capture, step_context(ctx):
            try:
                func = payload["func"]
                values = {}
                for sha in {sha for _, sha in payload["inputs"]}:
                    values[sha] = objects[sha] if sha in objects else _cache.load_output(artifacts, sha)
                args = [values[sha] for arg, sha in payload["inputs"] if arg is None]
                kwargs = dict(payload["params"])
                kwargs.update({arg: values[sha] for arg, sha in payload["inputs"] if arg is not None})
                value = _call(func, args, kwargs, payload.get("timeout"), capture)
                data = _cache.dump_output(value)
                sha, size = artifacts.put_bytes(data)
                result.update(ok=True, output_sha=sha, size=size)
                if in_driver:
                    result["value"] = value
            except BaseException as exc:  # noqa: BLE001 - reported, retried by the driver
                if isinstance(exc, KeyboardInterrupt) and in_driver:
                    raise
                result.update(
                    error=f"{type(exc).__name__}: {exc}",
                    traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
                    timed_out=isinstance(exc, StepTimeoutError),
                )
                print(result["traceback"], file=sys.stderr)
    finally:
        if run in stack:
            stack.remove(run)
        if not in_driver:
            store.flush()  # what the step logged, before the driver reports it done
    result["logs"] = capture.text()
    result["seconds"] = time.perf_counter() - t0
    result["pid"] = os.getpid()
    return result


# -- executors ------------------------------------------------------------------------------
class _LokyExecutor:
    def __init__(self, n_jobs: int) -> None:
        from joblib.externals.loky import get_reusable_executor

        self.ex = get_reusable_executor(max_workers=n_jobs, timeout=300)

    def submit(self, payload: dict[str, Any]):
        return self.ex.submit(execute_step, payload)

    def cancel(self, fut) -> None:
        fut.cancel()

    def close(self) -> None:
        pass


def _current_dask_client():
    """The current dask.distributed client, or a :class:`PipelineError` saying how to get one."""
    try:
        from distributed import get_client
    except ImportError as exc:
        raise PipelineError(f"backend='dask' needs dask.distributed ({exc})") from None
    try:
        return get_client()
    except ValueError:
        raise PipelineError(
            "backend='dask' needs address= (a scheduler address or a Client) or a running "
            "dask.distributed Client"
        ) from None


class _DaskExecutor:
    def __init__(self, address: Any) -> None:
        from distributed import Client

        self._own = False
        if address is None:
            self.client = _current_dask_client()
        elif isinstance(address, Client):
            self.client = address
        else:
            self.client = Client(address, set_as_default=False)
            self._own = True

    def submit(self, payload: dict[str, Any]):
        return self.client.submit(
            execute_step, payload, pure=False,
            key=f"workbench-step-{payload['step']}-{payload['run_id']}-{payload['attempt']}",
        )

    def cancel(self, fut) -> None:
        try:
            self.client.cancel([fut], force=True)
        except Exception:
            pass

    def close(self) -> None:
        if self._own:
            self.client.close()


def _wait(futures: list, timeout: float) -> set:
    if not futures:
        time.sleep(max(0.0, timeout))
        return set()
    if hasattr(futures[0], "add_done_callback") and not isinstance(futures[0], cf.Future):
        # dask futures
        from distributed import wait as dask_wait

        try:
            done, _ = dask_wait(futures, timeout=timeout, return_when="FIRST_COMPLETED")
        except (TimeoutError, Exception):
            done = {f for f in futures if f.done()}
        return set(done)
    return cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)[0]


# -- results --------------------------------------------------------------------------------
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


# -- the driver -------------------------------------------------------------------------------
def default_backend(backend: str | None = None, address: Any = None) -> tuple[str, Any]:
    """The backend and dask address a run uses: the arguments, else the environment.

    ``$WORKBENCH_PIPELINE_BACKEND`` (``loky``, ``dask`` or ``sequential``; default
    ``loky``) and, for dask, ``$WORKBENCH_DASK_ADDRESS`` (a scheduler address).
    """
    if backend is None:
        backend = os.environ.get("WORKBENCH_PIPELINE_BACKEND", "").strip() or "loky"
    if backend == "dask" and address is None:
        address = os.environ.get("WORKBENCH_DASK_ADDRESS", "").strip() or None
    return backend, address


def _check_settings(n_jobs: Any, backend: str, from_step: str | None, pipeline: Pipeline) -> int:
    if backend not in BACKENDS:
        raise InvalidInputError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs == 0 or n_jobs < -1:
        raise InvalidInputError(f"n_jobs must be a positive int or -1, got {n_jobs!r}")
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    if from_step is not None and from_step not in pipeline.step_names:
        raise InvalidInputError(
            f"from_step {from_step!r} is not a step of {pipeline.name!r} "
            f"(steps: {', '.join(pipeline.step_names)})"
        )
    return n_jobs


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

    A failed run does not raise: check ``result.status`` or call
    ``result.raise_for_status()``. An invalid pipeline raises
    :class:`PipelineValidationError` before anything is written.
    """
    from workbench.pipelines.api import save_pipeline
    from workbench.tracking.fluent import resolve_store

    pipeline.validate()
    backend, address = default_backend(backend, address)
    n_jobs = _check_settings(n_jobs, backend, from_step, pipeline)
    if not in_process and backend == "sequential":
        raise InvalidInputError("in_process=False needs worker processes: backend 'loky' or "
                                "'dask', not 'sequential'")
    if backend == "dask" and address is None:
        _current_dask_client()  # fail before anything is written
    store = resolve_store(store)
    version = save_pipeline(store, pipeline)
    driver = _Driver(pipeline, store, version, n_jobs=n_jobs, backend=backend, address=address,
                     from_step=from_step, force=force, experiment=experiment, callback=callback,
                     in_process=in_process)
    return driver.run()


class _Driver:
    def __init__(self, pipeline: Pipeline, store: Store, version: int | None, *, n_jobs: int,
                 backend: str, address: Any, from_step: str | None, force: bool,
                 experiment: str | None, callback, in_process: bool = True) -> None:
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

    # -- records ------------------------------------------------------------------------
    def _emit(self, event: str, rec: StepRecord) -> None:
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
        try:
            self._loop()
            failed = any(r.status in ("FAILED", "CANCELLED") for r in self.result.steps.values())
            status = "FAILED" if failed else "FINISHED"
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
            self.parent.end(status)
            self.result.status = status
            self.objects.clear()
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
                if self.backend == "sequential" or (self.in_process and (self.n_jobs == 1 or alone)):
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
        deadline = time.monotonic() + timeout + _TIMEOUT_GRACE if timeout else None
        fut = self.executor.submit(payload)
        self.in_flight[fut] = (name, time.monotonic(), deadline)

    def _collect(self) -> None:
        wait_for = 0.5
        now = time.monotonic()
        if self.retry_at:
            wait_for = min(wait_for, max(0.0, min(self.retry_at.values()) - now))
        deadlines = [d for _, _, d in self.in_flight.values() if d is not None]
        if deadlines:
            wait_for = min(wait_for, max(0.0, min(deadlines) - now))
        done = _wait(list(self.in_flight), wait_for)
        now = time.monotonic()
        for fut, (name, _, deadline) in list(self.in_flight.items()):
            if fut in done:
                del self.in_flight[fut]
                try:
                    out = fut.result()
                except BaseException as exc:  # the worker died or the task was lost
                    out = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                           "traceback": traceback.format_exc(), "logs": "", "timed_out": False}
                self._after_attempt(name, out)
            elif deadline is not None and now >= deadline:
                del self.in_flight[fut]
                self.executor.cancel(fut)
                timeout = self.steps[name].setting("timeout")
                self._after_attempt(name, {
                    "ok": False, "timed_out": True, "logs": "",
                    "error": f"StepTimeoutError: the step ran longer than its timeout of {timeout} s",
                    "traceback": None})

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
            run = self._step_run(name, "CANCELLED")
            run.set_tags({"pipeline.error": f"cancelled: upstream step {failed!r} failed"})
            run.end("KILLED")
            rec.status, rec.run_id = "CANCELLED", run.id
            rec.error = f"cancelled: upstream step {failed!r} failed"
            self._emit("cancelled", rec)


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
