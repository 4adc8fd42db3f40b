"""The sweep runner: the :class:`Sweep` handle, its driver loop, its results and its cancellation.

The driver (a thread of the sweep's process) asks the strategy for trials,
creates each trial's run, hands the train function to an executor
(:mod:`workbench.training.executors`) and ends the run when the result comes
back. :meth:`Sweep.cancel` drops pending trials and kills running ones; each
becomes a KILLED run, so a cancelled sweep can be resumed
(:func:`workbench.training.sweep.resume_sweep`).
"""

from __future__ import annotations

import importlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import InvalidInputError, SweepError
from workbench.store.store import Store
from workbench.tracking.datasets import DATASET_ROLES
from workbench.tracking.run import Run
from workbench.training.executors import _DaskExecutor, _LokyExecutor, _ThreadExecutor
from workbench.training.failfast import FAIL_FAST_TRIALS, same_failure
from workbench.training.space import trial_seed
from workbench.training.strategies import Strategy, TrialSpec

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
        if status == "FAILED":
            self._check_fail_fast()

    def _check_fail_fast(self) -> None:
        """Stop the sweep when its first trials all failed the same way (see failfast.py)."""
        with self._lock:
            line = same_failure(self._results.values())
        if line is not None and self._error is None:
            self._error = SweepError(
                f"the first {FAIL_FAST_TRIALS} trials all failed with the same error, so the "
                f"sweep was stopped instead of running the rest: {line} (see the trials' "
                "'error' tag; fix the train function and run the sweep again)"
            )
            self._cancel.set()

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
