"""One attempt of one step, in the driver or on a worker: the call, its timeout, its captured output.

:func:`execute_step` takes a plain payload (the callable, argument layout, params,
input hashes, store path, run id), runs the step with its stdout, stderr and
logging captured, writes the output to the artifact folder and returns a plain
dict; it never raises for the step's own errors (the driver retries or reports
them). A timeout is enforced with ``SIGALRM`` sent to the main thread (when the
step runs there), else by waiting on a helper thread.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from workbench.errors import StepTimeoutError
from workbench.pipelines import cache as _cache
from workbench.pipelines.context import StepContext, step_context
from workbench.store.artifacts import ArtifactStore
from workbench.store.store import Store

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
    if in_main and hasattr(signal, "pthread_kill"):
        def _alarm(signum, frame):
            raise StepTimeoutError(f"the step ran longer than its timeout of {timeout} s")

        # The alarm is sent to the main thread itself: a process-wide one (setitimer) may be
        # delivered to any other thread of the process, and then a sleep or a blocking call in
        # the main thread is not interrupted (the step ran its whole 10 s in a busy test run).
        # It also leaves the process's own interval timer (pytest-timeout's, say) alone.
        timer = threading.Timer(timeout, signal.pthread_kill, (threading.main_thread().ident, signal.SIGALRM))
        timer.daemon = True
        old = signal.signal(signal.SIGALRM, _alarm)
        timer.start()
        try:
            return func(*args, **kwargs)
        finally:
            timer.cancel()
            try:
                timer.join()  # a signal being sent now reaches _alarm, not the old handler
            finally:
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
    if payload.get("started_path"):
        try:  # tells the driver this attempt began (its timeout counts from here)
            open(payload["started_path"], "w").close()
        except OSError:
            pass
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
