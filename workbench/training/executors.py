"""Where a sweep's trials run: a thread of this process, joblib's loky processes or dask.

Every executor has the same verbs (``submit``, ``wait``, ``kill``, ``close``), so
the runner (:mod:`workbench.training.runner`) drives them alike; ``kill`` is what
cancellation uses to stop running trials, not just pending ones.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from typing import Any

from workbench.errors import SweepError
from workbench.training.trial import execute_trial


class _ThreadExecutor:
    """One trial at a time in a thread of this process."""

    kind = "sequential"
    in_process = True

    def __init__(self, n_jobs: int) -> None:
        self.n_jobs = n_jobs
        self._pool = cf.ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="workbench-trial")

    def submit(self, payload: dict[str, Any]):
        return self._pool.submit(execute_trial, payload)

    def wait(self, futures: list, timeout: float) -> set:
        return cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)[0]

    def kill(self) -> None:
        # Threads cannot be killed: running trials stop at their next
        # trial.report() (cooperative), and their results are discarded.
        self._pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._pool.shutdown(wait=False)


_LOKY: dict[int, Any] = {}
_LOKY_LOCK = threading.Lock()


class _LokyExecutor:
    """``n_jobs`` loky worker processes, kept between sweeps (workers import workbench once)."""

    kind = "loky"
    in_process = False

    def __init__(self, n_jobs: int) -> None:
        from joblib.externals.loky.process_executor import ProcessPoolExecutor

        self.n_jobs = n_jobs
        with _LOKY_LOCK:
            ex = _LOKY.get(n_jobs)
            if (
                ex is None
                or getattr(getattr(ex, "_flags", None), "broken", None)
                or getattr(getattr(ex, "_flags", None), "shutdown", False)
            ):
                ex = _LOKY[n_jobs] = ProcessPoolExecutor(max_workers=n_jobs)
        self._ex = ex

    def submit(self, payload: dict[str, Any]):
        self.reset_if_broken()
        try:
            return self._ex.submit(execute_trial, payload)
        except (RuntimeError, cf.BrokenExecutor):
            # A worker died (segfault, out of memory, os._exit): loky then
            # refuses new work. Start fresh workers and go on.
            self._forget()
            self.__init__(self.n_jobs)
            return self._ex.submit(execute_trial, payload)

    def wait(self, futures: list, timeout: float) -> set:
        return cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)[0]

    def _forget(self) -> None:
        with _LOKY_LOCK:
            if _LOKY.get(self.n_jobs) is self._ex:
                del _LOKY[self.n_jobs]

    def worker_pids(self) -> list[int]:
        return list(getattr(self._ex, "_processes", {}) or {})

    def kill(self) -> None:
        self._forget()
        self._ex.shutdown(wait=False, kill_workers=True)

    def reset_if_broken(self) -> None:
        flags = getattr(self._ex, "_flags", None)
        if flags is not None and getattr(flags, "broken", None):
            self._forget()
            self.__init__(self.n_jobs)

    def close(self) -> None:
        pass  # kept for the next sweep


def shutdown_workers() -> None:
    """Stop the loky worker processes kept for sweeps (they also stop at exit)."""
    with _LOKY_LOCK:
        pools = list(_LOKY.values())
        _LOKY.clear()
    for ex in pools:
        ex.shutdown(wait=True, kill_workers=True)


class _DaskExecutor:
    """Trials as dask.distributed futures."""

    kind = "dask"
    in_process = False

    def __init__(self, address: Any, n_jobs: int | None) -> None:
        from distributed import Client

        if address is None:
            raise SweepError("backend='dask' needs address= (a scheduler address or a Client)")
        if isinstance(address, Client):
            self.client, self._own = address, False
        else:
            self.client, self._own = Client(address, set_as_default=False), True
        if n_jobs is None or n_jobs < 1:
            n_jobs = max(1, sum(self.client.nthreads().values()))
        self.n_jobs = n_jobs
        self._event = threading.Event()

    def submit(self, payload: dict[str, Any]):
        fut = self.client.submit(
            execute_trial, payload, pure=False, key=f"workbench-trial-{payload['run_id']}"
        )
        fut.add_done_callback(lambda _: self._event.set())
        return fut

    def wait(self, futures: list, timeout: float) -> set:
        done = {f for f in futures if f.done()}
        if not done and self._event.wait(timeout):
            self._event.clear()
            done = {f for f in futures if f.done()}
        return done

    def kill(self) -> None:
        # Tasks already running finish in their worker thread unless the
        # trial checks in with trial.report(); their results are discarded.
        pass

    def cancel(self, futures: list) -> None:
        try:
            self.client.cancel(futures, force=True)
        except Exception:
            pass

    def close(self) -> None:
        if self._own:
            self.client.close()
