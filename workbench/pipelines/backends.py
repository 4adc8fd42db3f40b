"""Where a step runs off the driver: joblib's loky processes or a dask.distributed cluster.

Both executors have the same three verbs (``submit``, ``cancel``, ``close``);
:func:`default_backend` picks one from the arguments or the environment.

>>> default_backend("sequential")
('sequential', None)
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
import time
from typing import Any

from workbench.errors import InvalidInputError, PipelineError
from workbench.pipelines.worker import execute_step

BACKENDS = ("loky", "dask", "sequential")


_IDLE: dict[int, list[Any]] = {}  # max_workers -> idle pools kept for the next run
_ALL: list[Any] = []  # every pool started here (for shutdown_workers)
_POOL_LOCK = threading.Lock()


def _usable(ex: Any) -> bool:
    flags = getattr(ex, "_flags", None)
    return not (getattr(flags, "broken", None) or getattr(flags, "shutdown", False))


class _LokyExecutor:
    """A pool of ``n_jobs`` loky processes owned by one pipeline run at a time.

    Pools are kept between runs (workers import workbench once), but never shared by
    two runs at once and never shared with sweeps, so stopping one run's workers
    (cancel, or a step that overran its timeout) touches nothing else.
    """

    def __init__(self, n_jobs: int) -> None:
        from joblib.externals.loky.process_executor import ProcessPoolExecutor

        self.n_jobs = n_jobs
        with _POOL_LOCK:
            idle = [ex for ex in _IDLE.get(n_jobs, []) if _usable(ex)]
            self.ex = idle.pop() if idle else None
            _IDLE[n_jobs] = idle
            if self.ex is None:
                self.ex = ProcessPoolExecutor(max_workers=n_jobs, timeout=300)
                _ALL.append(self.ex)

    def submit(self, payload: dict[str, Any]):
        return self.ex.submit(execute_step, payload)

    def cancel(self, fut) -> None:
        fut.cancel()

    def worker_pids(self) -> list[int]:
        return list(getattr(self.ex, "_processes", {}) or {})

    def kill(self) -> None:
        """Stop the worker processes now (running steps included); the pool is not reused."""
        with _POOL_LOCK:
            if self.ex in _ALL:
                _ALL.remove(self.ex)
        self.ex.shutdown(wait=False, kill_workers=True)

    def close(self) -> None:
        with _POOL_LOCK:
            if _usable(self.ex) and self.ex in _ALL:
                _IDLE.setdefault(self.n_jobs, []).append(self.ex)


def shutdown_workers() -> None:
    """Stop every loky worker process that pipeline runs of this process started.

    >>> shutdown_workers()
    """
    with _POOL_LOCK:
        pools = list(_ALL)
        _ALL.clear()
        _IDLE.clear()
    for ex in pools:
        try:
            ex.shutdown(wait=True, kill_workers=True)
        except Exception:
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

    def kill(self) -> None:
        pass  # dask runs steps in worker threads: cancel() is all there is

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


def check_timeouts(pipeline: Any, backend: str) -> None:
    """Refuse a step timeout the backend cannot enforce (dask; sequential off the main thread)."""
    timed = [s.name for s in pipeline.steps if s.setting("timeout")]
    if not timed:
        return
    if backend == "dask":
        raise InvalidInputError(
            f"step(s) {', '.join(timed)} have a timeout, which backend 'dask' cannot enforce "
            "(its workers run steps in threads, which cannot be stopped): use backend='loky' "
            "or remove the timeout"
        )
    if backend == "sequential" and threading.current_thread() is not threading.main_thread():
        raise InvalidInputError(
            f"step(s) {', '.join(timed)} have a timeout, which backend 'sequential' cannot "
            "enforce outside the main thread (a thread cannot be stopped): use backend='loky' "
            "or remove the timeout"
        )
