"""Hyper-parameter sweeps: ``wb.sweep``, the ``Sweep`` handle, ``wb.resume_sweep`` and ``wb.rerun``.

A sweep is a parent run; each trial is a nested run. The sweep's process
(the *driver*) asks the strategy for trials, creates each trial's run,
hands the train function to an executor and ends the run when the result
comes back. Executors:

- ``"sequential"``: one trial at a time in a thread of this process
  (the default when ``n_jobs=1``);
- ``"loky"``: ``n_jobs`` worker processes of joblib's loky (the default when
  ``n_jobs > 1``), driven through its ``concurrent.futures`` interface so
  that pending trials can be dropped and running ones killed on cancel;
- ``"dask"``: a dask.distributed cluster (``address=`` a scheduler address
  or a ``Client``), driven through futures.

Workers get the store's *path*, open ``Store(path)`` and log through the
store's write path (buffer -> spool files), so no worker ever needs the
database file. The train function must be picklable: define it at module
level (cloudpickle also takes closures, but only a module-level function can
be re-run later by its import path).

>>> import tempfile, os, workbench as wb
>>> from workbench.training.examples import quadratic
>>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
>>> sweep = wb.sweep(quadratic, {"x": wb.float_range(-2, 2)}, strategy="random", n_trials=4,
...                  metric="score", mode="max", experiment="demo", store=store, seed=0)
>>> sweep.progress["finished"], len(sweep.results)
(4, 4)
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib
import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import InvalidInputError, NotFoundError, SearchSpaceError, SweepError
from workbench.store.store import Store
from workbench.tracking.datasets import DATASET_ROLES
from workbench.tracking.fluent import resolve_store
from workbench.tracking.run import Run
from workbench.training.space import check_space, space_from_dict, space_to_dict, trial_seed
from workbench.training.strategies import DoneTrial, Strategy, TrialSpec, make_strategy
from workbench.training.trial import execute_trial

BACKENDS = ("sequential", "loky", "dask")
KIND_TAG = "workbench.kind"
_POLL = 0.05


# -- helpers ----------------------------------------------------------------
def train_ref(train: Callable) -> str:
    """``"module:qualname"`` of a train function (how :func:`rerun` finds it again)."""
    return f"{getattr(train, '__module__', '?')}:{getattr(train, '__qualname__', '?')}"


def import_train(ref: str) -> Callable:
    """The function named by ``"module:qualname"``."""
    module_name, _, qualname = ref.partition(":")
    if not qualname or "<" in qualname or module_name in ("__main__", "?"):
        raise SweepError(
            f"the train function {ref!r} cannot be imported again (it was defined in __main__ or "
            "inside another function); pass it explicitly: wb.rerun(run_id, train)"
        )
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise SweepError(f"cannot import the train function {ref!r}: {exc}") from exc
    return obj


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _params_json(params: dict[str, Any]) -> str:
    return json.dumps({k: _jsonable(v) for k, v in params.items()}, default=repr, sort_keys=False)


def _check_datasets(datasets: Any) -> list[tuple[str, Any, str]]:
    if datasets is None:
        return []
    if not isinstance(datasets, dict):
        raise InvalidInputError(
            f"datasets must be a dict of name -> data (or (data, role)), got {type(datasets).__name__}"
        )
    out = []
    for name, value in datasets.items():
        data, role = value if isinstance(value, tuple) and len(value) == 2 else (value, None)
        role = role or (name if name in DATASET_ROLES else "train")
        out.append((name, data, role))
    return out


@dataclass
class TrialResult:
    """How one trial ended (a row of :attr:`Sweep.results`)."""

    index: int
    run_id: str
    status: str
    params: dict[str, Any]
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    seed: int | None = None
    rung: int | None = None
    budget: Any = None
    seconds: float | None = None
    error: str | None = None


# -- executors ----------------------------------------------------------------
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


# -- the sweep ------------------------------------------------------------------
#: Sweeps whose driver runs in this process, by sweep run id (while they run).
_LIVE: dict[str, Sweep] = {}
_LIVE_LOCK = threading.Lock()


def live_sweeps() -> list[Sweep]:
    """The sweeps running in this process (oldest first): a screen reopened finds them here."""
    with _LIVE_LOCK:
        return list(_LIVE.values())


def live_sweep(run_id: str) -> Sweep | None:
    """The handle of sweep ``run_id`` if its driver runs in this process, else None."""
    with _LIVE_LOCK:
        return _LIVE.get(run_id)


class Sweep:
    """A running or finished sweep: progress, results, the best run, cancel and wait.

    Made by :func:`sweep` and :func:`resume_sweep`; not meant to be built directly.
    """

    def __init__(
        self,
        *,
        train: Callable,
        store: Store,
        strategy: Strategy,
        space: dict,
        metric: str | None,
        mode: str,
        seed: int,
        experiment: str | int,
        n_jobs: int,
        backend: str,
        address: Any,
        datasets: list,
        run: Run,
        done: list[TrialResult],
        callback: Callable | None,
    ) -> None:
        self.train = train
        self.store = store
        self.strategy = strategy
        self.space = space
        self.metric = metric
        self.mode = mode
        self.seed = seed
        self.experiment = experiment
        self.n_jobs = n_jobs
        self.backend = backend
        self.address = address
        self.run = run
        self.callback = callback
        self._datasets = datasets
        self._lock = threading.Lock()
        self._results: dict[int, TrialResult] = {r.index: r for r in done}
        self._running: dict[int, TrialSpec] = {}
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.status = "RUNNING"
        self.started_at = time.time()
        self.ended_at: float | None = None
        self._cancel_path = self.store.spool_dir / "sweeps" / f"{run.id}.cancel"

    def __repr__(self) -> str:
        p = self.progress
        return (
            f"<Sweep {self.run.id} {self.strategy.name} {self.status}: "
            f"{p['finished']} finished, {p['failed']} failed, {p['running']} running, "
            f"{p['pending']} pending>"
        )

    @property
    def run_id(self) -> str:
        """The sweep's (parent) run id."""
        return self.run.id

    # -- progress -------------------------------------------------------------
    @property
    def progress(self) -> dict[str, Any]:
        """Counts of trials: total, finished, failed, killed, running, pending, done; best value."""
        with self._lock:
            results = list(self._results.values())
            running = len(self._running)
        counts = {s: sum(r.status == s for r in results) for s in ("FINISHED", "FAILED", "KILLED")}
        total = self.strategy.total
        done = counts["FINISHED"] + counts["FAILED"]
        pending = max(0, (total or 0) - done - counts["KILLED"] - running) if total else 0
        if self.status != "RUNNING":
            pending = 0
        best = self._best(results)
        return {
            "total": total,
            "finished": counts["FINISHED"],
            "failed": counts["FAILED"],
            "killed": counts["KILLED"],
            "running": running,
            "pending": pending,
            "done": done,
            "status": self.status,
            "best_value": None if best is None else best.value,
            "elapsed_s": (self.ended_at or time.time()) - self.started_at,
        }

    @property
    def done(self) -> bool:
        """Whether the sweep has ended (finished, cancelled or failed)."""
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> Sweep:
        """Block until the sweep ends; re-raises an error of the driver itself."""
        if not self._finished.wait(timeout):
            raise TimeoutError(f"sweep {self.run.id} still running after {timeout} s")
        if self._error is not None:
            raise SweepError(
                f"sweep {self.run.id} stopped on an error: {self._error}"
            ) from self._error
        return self

    def cancel(self, wait: bool = True, timeout: float | None = 60) -> Sweep:
        """Stop the sweep: running trials are stopped, pending ones are recorded as KILLED."""
        self._cancel.set()
        try:
            self._cancel_path.parent.mkdir(parents=True, exist_ok=True)
            self._cancel_path.touch()
        except OSError:
            pass
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            self._finished.wait(timeout)
        return self

    # -- results ------------------------------------------------------------
    def _best(self, results: list[TrialResult]) -> TrialResult | None:
        ok = [
            r
            for r in results
            if r.status == "FINISHED" and r.value is not None and not math.isnan(r.value)
        ]
        if not ok:
            return None
        # Halving: only the trials of the highest rung reached are comparable.
        top = max((r.rung or 0) for r in ok)
        ok = [r for r in ok if (r.rung or 0) == top]
        pick = max if self.mode == "max" else min
        return pick(
            ok, key=lambda r: (r.value, -r.index) if self.mode == "max" else (r.value, r.index)
        )

    @property
    def best_trial(self) -> TrialResult | None:
        """The best finished trial (of the last halving rung reached), or None."""
        with self._lock:
            return self._best(list(self._results.values()))

    @property
    def best_run_id(self) -> str | None:
        best = self.best_trial
        return None if best is None else best.run_id

    @property
    def best_params(self) -> dict[str, Any] | None:
        best = self.best_trial
        return None if best is None else dict(best.params)

    @property
    def best_value(self) -> float | None:
        best = self.best_trial
        return None if best is None else best.value

    @property
    def best_run(self) -> dict[str, Any] | None:
        """The best trial's run as the store has it (``Store.get_run``), or None."""
        run_id = self.best_run_id
        return None if run_id is None else self.store.get_run(run_id)

    @property
    def results(self) -> pd.DataFrame:
        """One row per trial: trial, run_id, status, value, seconds, seed, rung, budget,
        ``params.*`` and ``metrics.*`` columns, error; ordered by trial index."""
        with self._lock:
            results = sorted(self._results.values(), key=lambda r: r.index)
        rows = []
        for r in results:
            row = {
                "trial": r.index,
                "run_id": r.run_id,
                "status": r.status,
                "value": r.value,
                "seconds": r.seconds,
                "seed": r.seed,
                "rung": r.rung,
                "budget": r.budget,
            }
            row.update({f"params.{k}": v for k, v in r.params.items()})
            row.update({f"metrics.{k}": v for k, v in r.metrics.items()})
            row["error"] = r.error
            rows.append(row)
        columns = [
            "trial",
            "run_id",
            "status",
            "value",
            "seconds",
            "seed",
            "rung",
            "budget",
            "error",
        ]
        return pd.DataFrame(rows, columns=None if rows else columns)

    @property
    def error(self) -> BaseException | None:
        """The error that stopped the driver itself (not a trial's), or None."""
        return self._error

    # -- the driver -----------------------------------------------------------
    def _start(self, wait: bool) -> None:
        # A marker left by a cancel before a crash must not cancel a resumed sweep.
        try:
            self._cancel_path.unlink(missing_ok=True)
        except OSError:
            pass
        with _LIVE_LOCK:
            _LIVE[self.run.id] = self
        if wait:
            try:
                self._drive()
            except KeyboardInterrupt:
                self._finished.wait(30)
                raise
            self.wait()
        else:
            self._thread = threading.Thread(
                target=self._drive, name=f"workbench-sweep-{self.run.id[:8]}", daemon=True
            )
            self._thread.start()

    def _make_executor(self):
        if self.backend == "sequential":
            return _ThreadExecutor(1)
        if self.backend == "loky":
            return _LokyExecutor(self.n_jobs)
        ex = _DaskExecutor(self.address, self.n_jobs)
        self.n_jobs = ex.n_jobs
        return ex

    def _payload(self, spec: TrialSpec, run: Run, seed: int, in_process: bool) -> dict[str, Any]:
        return {
            "store_path": str(self.store.path),
            "experiment": self.experiment,
            "run_id": run.id,
            "run_name": run.name,
            "parent_run_id": self.run.id,
            "train": self.train,
            "params": spec.params,
            "index": spec.index,
            "seed": seed,
            "config": spec.config,
            "rung": spec.rung,
            "budget": spec.budget,
            "metric": self.metric,
            "cancel_path": str(self._cancel_path),
            "flush": not in_process,
        }

    def _create_trial_run(self, spec: TrialSpec, seed: int | None) -> Run:
        tags = {
            KIND_TAG: "trial",
            "sweep.id": self.run.id,
            "sweep.index": spec.index,
            "sweep.train": train_ref(self.train),
            "sweep.params": _params_json(spec.params),
            "sweep.strategy": self.strategy.name,
        }
        if seed is not None:
            tags["sweep.trial_seed"] = seed
        if spec.rung is not None:
            tags.update(
                {
                    "sweep.rung": spec.rung,
                    "sweep.config_index": spec.config,
                    "sweep.budget": spec.budget,
                }
            )
        run = Run.create(
            self.store,
            self.experiment,
            run_name=f"trial-{spec.index}",
            parent_run_id=self.run.id,
            tags=tags,
        )
        params = dict(spec.params)
        if seed is not None and "trial_seed" not in params:
            params["trial_seed"] = seed
        if params:
            run.log_params(params)
        for name, digest, role in self._datasets:
            # The digest was computed once for the sweep run; link it to each trial.
            run._writer.add(
                {
                    "kind": "run_dataset",
                    "run_id": run.id,
                    "digest": digest,
                    "name": name,
                    "role": role,
                }
            )
        return run

    def _record_killed(self, spec: TrialSpec, run: Run, seed: int | None, reason: str) -> None:
        run.end("KILLED")
        self._record(TrialResult(spec.index, run.id, "KILLED", dict(spec.params), seed=seed,
                                 rung=spec.rung, budget=spec.budget, error=reason))

    def _record(self, result: TrialResult) -> None:
        with self._lock:
            self._results[result.index] = result
            self._running.pop(result.index, None)
        if self.callback is not None:
            try:
                self.callback(result, self)
            except Exception:  # a broken callback must not break the sweep
                pass

    def _drive(self) -> None:
        executor = None
        in_flight: dict[Any, tuple[TrialSpec, Run, int]] = {}
        exhausted = False
        try:
            executor = self._make_executor()
            while not self._cancel.is_set():
                if self._cancel_path.exists():  # cancelled by another process (cancel_sweep)
                    self._cancel.set()
                    break
                free = self.n_jobs - len(in_flight)
                if free > 0 and not exhausted:
                    specs = self.strategy.ask(free)
                    if specs is None:
                        exhausted = True
                    else:
                        for spec in specs:
                            seed = trial_seed(self.seed, spec.config)
                            run = self._create_trial_run(spec, seed)
                            payload = self._payload(spec, run, seed, executor.in_process)
                            with self._lock:
                                self._running[spec.index] = spec
                            in_flight[executor.submit(payload)] = (spec, run, seed)
                if not in_flight:
                    if exhausted:
                        break
                    raise SweepError(
                        f"strategy {self.strategy.name!r} waits for results but no trial is running"
                    )
                for fut in executor.wait(list(in_flight), _POLL):
                    spec, run, seed = in_flight.pop(fut)
                    self._finish_trial(fut, spec, run, seed)
        except KeyboardInterrupt:
            self._cancel.set()
            raise
        except BaseException as exc:  # noqa: BLE001 - recorded, re-raised by wait()
            self._error = exc
            self._cancel.set()
        finally:
            try:
                self._wind_down(executor, in_flight)
            finally:
                self._finished.set()
                with _LIVE_LOCK:
                    if _LIVE.get(self.run.id) is self:
                        del _LIVE[self.run.id]

    def _finish_trial(self, fut, spec: TrialSpec, run: Run, seed: int) -> None:
        try:
            res = fut.result()
        except BaseException as exc:  # the worker died or the payload did not pickle
            res = {
                "status": "FAILED",
                "value": None,
                "metrics": {},
                "seconds": None,
                "error": "the trial's worker process failed (this trial or one running beside "
                f"it crashed its process): {type(exc).__name__}: {exc}",
            }
        status = res["status"]
        if self._cancel.is_set() and status == "KILLED":
            status = "KILLED"
        if res.get("error"):
            run.set_tag("error", res["error"])
        run.end(status)
        self.strategy.tell(spec, res.get("value"), status)
        self._record(
            TrialResult(
                spec.index,
                run.id,
                status,
                dict(spec.params),
                res.get("value"),
                dict(res.get("metrics") or {}),
                seed,
                spec.rung,
                spec.budget,
                res.get("seconds"),
                res.get("error"),
            )
        )

    def _wind_down(self, executor, in_flight: dict) -> None:
        cancelled = self._cancel.is_set()
        if in_flight and executor is not None:
            # Collect what already came back, then stop the rest.
            for fut in [f for f in in_flight if f.done()]:
                spec, run, seed = in_flight.pop(fut)
                self._finish_trial(fut, spec, run, seed)
            pids = executor.worker_pids() if hasattr(executor, "worker_pids") else []
            if isinstance(executor, _DaskExecutor):
                executor.cancel(list(in_flight))
            executor.kill()
            for spec, run, seed in in_flight.values():
                run.set_tag("error", "stopped: the sweep was cancelled")
                self._record_killed(spec, run, seed, "stopped: the sweep was cancelled")
            _remove_partial_spools(self.store.spool_dir, pids)
        if cancelled:
            for spec in self.strategy.pending():
                seed = trial_seed(self.seed, spec.config) if spec.params else None
                run = self._create_trial_run(spec, seed)
                run.set_tag("sweep.never_started", "true")
                self._record_killed(spec, run, seed, "never started")
        if executor is not None:
            executor.close()
        self._close_run(cancelled)
        try:
            self._cancel_path.unlink(missing_ok=True)
        except OSError:
            pass

    def _close_run(self, cancelled: bool) -> None:
        p = self.progress
        best = self.best_trial
        summary = {
            "sweep.finished": p["finished"],
            "sweep.failed": p["failed"],
            "sweep.killed": p["killed"],
        }
        if best is not None:
            summary["sweep.best_run_id"] = best.run_id
            summary["sweep.best_params"] = _params_json(best.params)
            if self.metric is not None:
                self.run.log_metric(f"best_{self.metric}", best.value)
        if self._error is not None:
            summary["error"] = f"{type(self._error).__name__}: {self._error}"
        self.run.set_tags(summary)
        self.status = (
            "FAILED" if self._error is not None else ("KILLED" if cancelled else "FINISHED")
        )
        self.ended_at = time.time()
        self.run.end(self.status)
        self.store.flush()


def _remove_partial_spools(spool_dir: Path, pids: list[int]) -> None:
    """Delete half-written spool files of killed workers (they are never ingested anyway)."""
    if not pids:
        return
    from workbench.store.spool import TMP_PREFIX

    wanted = {str(p) for p in pids}
    time.sleep(0.05)
    for path in Path(spool_dir).glob(TMP_PREFIX + "*"):
        parts = path.name[len(TMP_PREFIX) :].split("-")
        if len(parts) >= 2 and parts[1] in wanted:
            path.unlink(missing_ok=True)


# -- the public functions ---------------------------------------------------------
def _check_common(train, metric, mode, n_jobs, backend, address):
    if not callable(train):
        raise InvalidInputError(
            f"train must be a function train(params, trial), got {type(train).__name__}"
        )
    if mode not in ("max", "min"):
        raise InvalidInputError(f"mode must be 'max' or 'min', got {mode!r}")
    if metric is not None and not isinstance(metric, str):
        raise InvalidInputError(f"metric must be a metric name (str), got {metric!r}")
    if backend is None and address is not None:
        backend = "dask"
    if n_jobs is None:
        n_jobs = -1 if backend == "dask" else 1  # dask: one trial per worker thread
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise InvalidInputError(f"n_jobs must be a positive int or -1 (all cores), got {n_jobs!r}")
    if n_jobs == -1 and backend != "dask":
        n_jobs = os.cpu_count() or 1
    if backend is None:
        backend = "loky" if n_jobs > 1 else "sequential"
    if backend == "threading":
        backend = "sequential"
    if backend not in BACKENDS:
        raise InvalidInputError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend == "sequential" and n_jobs != 1:
        raise InvalidInputError("backend='sequential' runs one trial at a time: use n_jobs=1")
    if backend in ("loky", "dask"):
        try:
            import cloudpickle as pickler  # what loky and dask use
        except ImportError:  # pragma: no cover
            import pickle as pickler
        try:
            pickler.dumps(train)
        except Exception as exc:
            raise InvalidInputError(
                f"the train function {train_ref(train)} cannot be pickled for worker processes "
                f"({type(exc).__name__}: {exc}); define it at module level"
            ) from exc
    return n_jobs, backend


def sweep_config(store: Store, sweep_run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A sweep's run (``Store.get_run``) and the settings it recorded (its ``sweep.config`` tag).

    Raises :class:`SweepError` when there is no such run or it is not a sweep.
    """
    try:
        info = store.get_run(sweep_run_id)
    except NotFoundError:
        raise SweepError(f"no sweep run {sweep_run_id!r} in {store.path}") from None
    raw = info["tags"].get("sweep.config")
    if raw is None:
        raise SweepError(f"run {sweep_run_id} is not a sweep (it has no 'sweep.config' tag)")
    return info, json.loads(raw)


def sweep(
    train: Callable[[dict[str, Any], Any], Any],
    space: dict[str, Any] | None = None,
    strategy: str | Strategy = "random",
    n_trials: int | None = None,
    n_jobs: int | None = None,
    metric: str | None = None,
    mode: str = "max",
    experiment: str | int | None = None,
    store: Store | str | os.PathLike | None = None,
    seed: int | None = None,
    *,
    backend: str | None = None,
    address: Any = None,
    budget: tuple | None = None,
    eta: int = 3,
    strategy_options: dict[str, Any] | None = None,
    datasets: dict[str, Any] | None = None,
    run_name: str | None = None,
    tags: dict[str, Any] | None = None,
    callback: Callable[[TrialResult, Sweep], None] | None = None,
    wait: bool = True,
    resume: str | None = None,
) -> Sweep:
    """Run a hyper-parameter sweep of ``train(params, trial)`` and track every trial.

    ``space`` maps names to :func:`int_range`, :func:`float_range` or
    :func:`choice`. ``strategy`` is ``"grid"``, ``"random"``, ``"halving"``
    (successive halving over ``budget=(name, min, max)`` with factor ``eta``)
    or ``"tpe"`` (Optuna). ``train`` returns a dict of metrics (or a number)
    and may log through ``trial``; ``metric``/``mode`` name the objective.
    ``n_jobs`` trials run at once: in loky worker processes, or on a
    dask.distributed cluster with ``backend="dask", address=...``. With
    ``wait=False`` the sweep runs in a background thread and the returned
    handle offers ``.progress``, ``.wait()`` and ``.cancel()``. ``resume=``
    a sweep run id continues a crashed or cancelled sweep (see
    :func:`resume_sweep`). ``datasets={"train": df, ...}`` records the
    datasets' content hashes on the sweep and on every trial.
    """
    if resume is not None:
        return resume_sweep(
            resume,
            train,
            store=store,
            n_jobs=n_jobs,
            backend=backend,
            address=address,
            wait=wait,
            callback=callback,
        )
    n_jobs, backend = _check_common(train, metric, mode, n_jobs, backend, address)
    space = check_space(space)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    if n_trials is not None and (
        isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1
    ):
        raise InvalidInputError(f"n_trials must be a positive int, got {n_trials!r}")
    strat = make_strategy(
        strategy, space, n_trials, seed, mode, budget=budget, eta=eta, options=strategy_options
    )
    if strat.name in ("halving", "tpe") and metric is None:
        raise InvalidInputError(f"strategy={strat.name!r} needs metric= (the value to optimise)")
    store = resolve_store(store)
    experiment = "Default" if experiment is None else experiment
    datasets_in = _check_datasets(datasets)
    config = {
        "version": 1,
        "space": space_to_dict(space),
        **strat.config(),
        "n_trials": n_trials,
        "seed": seed,
        "metric": metric,
        "mode": mode,
        "train": train_ref(train),
        "budget": list(budget) if budget else None,
        "eta": eta,
        "strategy_options": strategy_options or {},
    }
    try:
        config_json = json.dumps(config)
    except TypeError:
        config["space"] = None  # choices that JSON cannot hold: resume needs space= again
        config_json = json.dumps(config, default=repr)
    run = Run.create(
        store,
        experiment,
        run_name=run_name or f"sweep-{strat.name}",
        tags={
            KIND_TAG: "sweep",
            "sweep.config": config_json,
            "sweep.train": train_ref(train),
            **(tags or {}),
        },
    )
    run.log_params(
        {
            "strategy": strat.name,
            "n_trials": strat.total,
            "seed": seed,
            "metric": metric,
            "mode": mode,
            "n_jobs": n_jobs,
            "backend": backend,
        }
    )
    linked = []
    for name, data, role in datasets_in:
        digest = run.log_dataset(data, name=name, role=role)
        linked.append((name, digest, role))
    handle = Sweep(
        train=train,
        store=store,
        strategy=strat,
        space=space,
        metric=metric,
        mode=mode,
        seed=seed,
        experiment=experiment,
        n_jobs=n_jobs,
        backend=backend,
        address=address,
        datasets=linked,
        run=run,
        done=[],
        callback=callback,
    )
    handle._start(wait)
    return handle


def _load_trials(store: Store, sweep_run_id: str) -> list[dict[str, Any]]:
    df = store.search_runs(
        filter=f"attributes.parent_run_id = '{sweep_run_id}'", max_results=1_000_000
    )
    return df.to_dict("records")


def resume_sweep(
    sweep_run_id: str,
    train: Callable | None = None,
    store: Store | str | os.PathLike | None = None,
    n_jobs: int | None = None,
    *,
    backend: str | None = None,
    address: Any = None,
    space: dict[str, Any] | None = None,
    wait: bool = True,
    callback: Callable | None = None,
) -> Sweep:
    """Continue a crashed or cancelled sweep: run only its missing trials.

    Trials that FINISHED or FAILED are kept; KILLED and never-run ones run
    again with the same params (grid, random and halving recompute them from
    the seed; TPE re-tells Optuna the finished trials and asks for the rest).
    ``train`` defaults to the function recorded on the sweep (``module:qualname``).
    The new trials are nested under the same sweep run.
    """
    store = resolve_store(store)
    from workbench.store.ingest import mark_dead_runs

    with store.connection() as con:  # ingests everything waiting first
        mark_dead_runs(con, store.spool_dir)  # a crashed sweep's runs become KILLED
    info, config = sweep_config(store, sweep_run_id)
    if info["status"] == "RUNNING":
        raise SweepError(f"sweep {sweep_run_id} is still running; cancel it before resuming")
    if space is not None:
        space = check_space(space)
    elif config.get("space") is not None:
        space = space_from_dict(config["space"])
    else:
        raise SearchSpaceError(
            f"sweep {sweep_run_id} recorded no space (its choices were not JSON); pass space="
        )
    if train is None:
        train = import_train(config["train"])
    n_jobs, backend = _check_common(
        train, config["metric"], config["mode"], n_jobs, backend, address
    )
    options = dict(config.get("strategy_options") or {})
    strategy_name = config["strategy"]
    budget = tuple(config["budget"]) if config.get("budget") else None
    strat = make_strategy(
        strategy_name,
        space,
        config["n_trials"],
        config["seed"],
        config["mode"],
        budget=budget,
        eta=config.get("eta", 3),
        options=options,
    )
    done: list[TrialResult] = []
    by_index: dict[int, TrialResult] = {}
    metric = config["metric"]
    for row in _load_trials(store, sweep_run_id):
        status = row.get("status")
        index = row.get("tags.sweep.index")
        if status not in ("FINISHED", "FAILED") or index is None or pd.isna(index):
            continue
        index = int(index)
        params = json.loads(row.get("tags.sweep.params") or "{}")
        value = row.get(f"metrics.{metric}") if metric else None
        value = None if value is None or pd.isna(value) else float(value)
        metrics = {
            k[len("metrics.") :]: float(v)
            for k, v in row.items()
            if k.startswith("metrics.") and v is not None and not pd.isna(v)
        }
        seed = row.get("tags.sweep.trial_seed")
        rung = row.get("tags.sweep.rung")
        result = TrialResult(
            index,
            row["run_id"],
            status,
            params,
            value,
            metrics,
            None if seed is None or pd.isna(seed) else int(seed),
            None if rung is None or pd.isna(rung) else int(rung),
            params.get(budget[0]) if budget else None,
            row.get("duration_s"),
            row.get("tags.error") if status == "FAILED" else None,
        )
        old = by_index.get(index)
        if old is None or (old.status != "FINISHED" and status == "FINISHED"):
            by_index[index] = result
    done = sorted(by_index.values(), key=lambda r: r.index)
    strat.start([DoneTrial(r.index, r.params, r.value, r.status, None, r.rung) for r in done])
    experiment = info["experiment"]
    run = Run(store, experiment, sweep_run_id, info["run_name"], info["parent_run_id"])
    run.set_tags({"sweep.resumed": str(int(info["tags"].get("sweep.resumed", "0")) + 1)})
    handle = Sweep(
        train=train,
        store=store,
        strategy=strat,
        space=space,
        metric=metric,
        mode=config["mode"],
        seed=config["seed"],
        experiment=experiment,
        n_jobs=n_jobs,
        backend=backend,
        address=address,
        datasets=[],
        run=run,
        done=done,
        callback=callback,
    )
    handle._start(wait)
    return handle


def rerun(
    run_id: str,
    train: Callable | None = None,
    store: Store | str | os.PathLike | None = None,
    experiment: str | int | None = None,
) -> TrialResult:
    """Run one trial again, alone, in this process: same params, same per-trial seed.

    ``train`` defaults to the function recorded on the trial (``module:qualname``).
    The new run is a top-level run tagged ``rerun_of=<run_id>``; the result
    says how it ended and what it measured.
    """
    store = resolve_store(store)
    info = store.get_run(run_id)
    tags = info["tags"]
    if "sweep.params" not in tags:
        raise SweepError(f"run {run_id} is not a sweep trial (it has no 'sweep.params' tag)")
    params = json.loads(tags["sweep.params"])
    seed = int(tags["sweep.trial_seed"]) if "sweep.trial_seed" in tags else 0
    if train is None:
        train = import_train(tags.get("sweep.train", "?:?"))
    metric = None
    sweep_id = tags.get("sweep.id")
    if sweep_id:
        try:
            sweep_info = store.get_run(sweep_id)
            metric = json.loads(sweep_info["tags"].get("sweep.config", "{}")).get("metric")
        except NotFoundError:
            pass
    index = int(tags.get("sweep.index", 0))
    rung = int(tags["sweep.rung"]) if "sweep.rung" in tags else None
    new_tags = {
        KIND_TAG: "rerun",
        "rerun_of": run_id,
        "sweep.params": tags["sweep.params"],
        "sweep.trial_seed": seed,
        "sweep.train": train_ref(train),
        "sweep.index": index,
    }
    run = Run.create(
        store,
        experiment if experiment is not None else info["experiment"],
        run_name=f"rerun-{info['run_name']}",
        tags=new_tags,
    )
    run.log_params({**params, **({"trial_seed": seed} if "trial_seed" not in params else {})})
    budget = tags.get("sweep.budget")
    res = execute_trial(
        {
            "store_path": str(store.path),
            "experiment": run.experiment,
            "run_id": run.id,
            "run_name": run.name,
            "parent_run_id": None,
            "train": train,
            "params": params,
            "index": index,
            "seed": seed,
            "config": None,
            "rung": rung,
            "budget": budget,
            "metric": metric,
            "cancel_path": None,
            "flush": False,
        }
    )
    if res.get("error"):
        run.set_tag("error", res["error"])
    run.end(res["status"])
    store.flush()
    return TrialResult(
        index,
        run.id,
        res["status"],
        params,
        res["value"],
        res["metrics"],
        seed,
        rung,
        budget,
        res["seconds"],
        res["error"],
    )


__all__ = [
    "Sweep",
    "TrialResult",
    "import_train",
    "live_sweep",
    "live_sweeps",
    "rerun",
    "resume_sweep",
    "shutdown_workers",
    "sweep",
    "train_ref",
]
