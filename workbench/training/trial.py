"""``Trial``: what a train function gets as its second argument, and the code that runs one trial.

A trial is a nested run of its sweep. The sweep's process creates the run
(params, seed, index, the train function's import path) and ends it
(FINISHED, FAILED with the traceback in the ``error`` tag, or KILLED); the
worker that runs the train function only *logs into* it through
:class:`Trial`, with the store's ordinary write path (an in-process buffer
flushed to spool files). Workers therefore never open the database, and a
killed worker leaves no run RUNNING: the sweep process marks it KILLED.

>>> def train(params, trial):
...     trial.log_metric("auc", 0.5 + params["k"] / 100)
...     return {"auc": 0.5 + params["k"] / 100}
"""

from __future__ import annotations

import math
import numbers
import os
import time
import traceback
from typing import Any

from workbench.errors import TrialCancelledError
from workbench.store.store import Store
from workbench.tracking.run import Run


class Trial:
    """One trial of a sweep: a thin wrapper over its nested :class:`~workbench.tracking.run.Run`.

    Attributes: ``params`` (this trial's params), ``seed`` (a per-trial seed:
    pass it to ``random_state``), ``index`` (position in the sweep),
    ``budget`` and ``rung`` (successive halving), ``run`` and ``run_id``.
    """

    def __init__(
        self,
        run: Run,
        params: dict[str, Any],
        index: int,
        seed: int,
        config: int | None = None,
        rung: int | None = None,
        budget: Any = None,
        metric: str | None = None,
        cancel_path: str | None = None,
    ) -> None:
        self.run = run
        self.params = dict(params)
        self.index = index
        self.seed = seed
        self.config = config
        self.rung = rung
        self.budget = budget
        self.metric = metric
        self._cancel_path = cancel_path
        self._last: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"<Trial {self.index} run={self.run.id} params={self.params}>"

    @property
    def run_id(self) -> str:
        return self.run.id

    @property
    def store(self) -> Store:
        return self.run.store

    # -- logging ---------------------------------------------------------
    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Log one metric point on the trial's run."""
        self.run.log_metric(key, value, step=step)
        self._last[key] = float(value)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Log several metric points on the trial's run."""
        self.run.log_metrics(metrics, step=step)
        self._last.update({k: float(v) for k, v in metrics.items()})

    def log_param(self, key: str, value: Any) -> None:
        self.run.log_param(key, value)

    def log_params(self, params: dict[str, Any]) -> None:
        """Log extra params (the sampled ones are already logged)."""
        self.run.log_params(params)

    def set_tag(self, key: str, value: Any) -> None:
        self.run.set_tag(key, value)

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.run.set_tags(tags)

    def log_model(self, model: Any, name: str = "model", input_example: Any = None):
        """Store the trained model (joblib dump, sha256, signature, requirements)."""
        return self.run.log_model(model, name=name, input_example=input_example)

    def log_dataset(
        self,
        data: Any,
        name: str,
        role: str = "train",
        source: str | None = None,
        save: bool = False,
    ) -> str:
        """Record a dataset version (content hash) used by this trial."""
        return self.run.log_dataset(data, name=name, role=role, source=source, save=save)

    def log_artifact(self, local_path: Any, artifact_path: str | None = None) -> list[str]:
        return self.run.log_artifact(local_path, artifact_path)

    def log_dict(self, obj: Any, artifact_path: str) -> str:
        return self.run.log_dict(obj, artifact_path)

    # -- progress and cancellation --------------------------------------
    @property
    def should_stop(self) -> bool:
        """True once the sweep was cancelled (cheap: one ``stat``)."""
        return bool(self._cancel_path) and os.path.exists(self._cancel_path)

    def report(self, step: int, value: float, key: str | None = None) -> None:
        """Log an intermediate value of the sweep's metric at ``step``; stop if cancelled.

        Long train functions should call this now and then (per epoch, per
        boosting round): it raises :class:`~workbench.errors.TrialCancelledError`
        once the sweep has been cancelled, which ends the trial as KILLED.
        """
        self.log_metric(key or self.metric or "objective", value, step=step)
        if self.should_stop:
            raise TrialCancelledError(f"trial {self.index} stopped: its sweep was cancelled")


def _metrics_from_return(out: Any, metric: str | None) -> dict[str, float]:
    if out is None:
        return {}
    if isinstance(out, dict):
        return {
            str(k): float(v)
            for k, v in out.items()
            if isinstance(v, numbers.Real) and not isinstance(v, bool)
        }
    if isinstance(out, numbers.Real) and not isinstance(out, bool):
        return {metric or "objective": float(out)}
    raise TypeError(
        f"a train function must return a dict of metrics, a number or None; got {type(out).__name__}"
    )


def execute_trial(payload: dict[str, Any]) -> dict[str, Any]:
    """Run one trial (in a worker process, or in the sweep's process); never raises.

    ``payload`` comes from the sweep: the store *path*, the run's ids, the
    train function, params and seeds. Returns the status, the objective
    value, the final metrics, the traceback of a failure and timings.
    """
    t0 = time.perf_counter()
    store = Store(payload["store_path"])
    run = Run(
        store,
        payload["experiment"],
        payload["run_id"],
        payload["run_name"],
        payload["parent_run_id"],
    )
    trial = Trial(
        run,
        payload["params"],
        payload["index"],
        payload["seed"],
        payload.get("config"),
        payload.get("rung"),
        payload.get("budget"),
        payload.get("metric"),
        payload.get("cancel_path"),
    )
    metric = payload.get("metric")
    status, error, metrics, value = "FINISHED", None, {}, None
    try:
        out = payload["train"](dict(payload["params"]), trial)
        metrics = _metrics_from_return(out, metric)
        new = {k: v for k, v in metrics.items() if trial._last.get(k) != v}
        if new:
            run.log_metrics(new)
        merged = {**trial._last, **metrics}
        metrics = merged
        if metric is not None:
            value = merged.get(metric)
            if value is None:
                raise KeyError(
                    f"the train function neither returned nor logged the sweep's metric {metric!r} "
                    f"(it gave {sorted(merged)})"
                )
            if not math.isfinite(value):
                raise ValueError(f"the sweep's metric {metric!r} is {value}")
    except TrialCancelledError as exc:
        status, error = "KILLED", f"{type(exc).__name__}: {exc}"
    except BaseException as exc:  # noqa: BLE001 - a failing trial must not stop the sweep
        status = "FAILED"
        error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-5000:]
        metrics = dict(trial._last)
        if isinstance(exc, KeyboardInterrupt):
            status = "KILLED"
    if payload.get("flush", True):
        store.flush()  # acknowledged before the sweep process ends the run
    return {
        "index": payload["index"],
        "run_id": payload["run_id"],
        "status": status,
        "value": value,
        "metrics": metrics,
        "error": error,
        "seconds": time.perf_counter() - t0,
        "pid": os.getpid(),
    }
