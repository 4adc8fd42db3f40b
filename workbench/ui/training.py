"""The Training screen's view-model: launch a sweep in the background and follow its progress.

``TrainingModel`` holds the sweep's settings (train function by import path,
space, strategy, trials, jobs, metric) and its live state (status, counts of
finished / running / failed / killed / pending trials, best value and run,
the results table). ``launch()`` starts ``wb.sweep(..., wait=False)``: the
sweep's driver runs in its own thread and the trials in worker processes, so
nothing slow runs in a Bokeh callback. The view (a later issue) calls
``refresh()`` from ``pn.state.add_periodic_callback`` to copy the progress
into the parameters it shows; tests call it directly::

    m = TrainingModel(store, experiment="churn")
    m.launch()
    m.wait()          # tests only; the view polls refresh()
    m.finished, m.best_value
"""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import param

from workbench.errors import InvalidInputError
from workbench.store.store import Store
from workbench.training.space import space_from_dict
from workbench.training.strategies import STRATEGIES
from workbench.training.sweep import Sweep, import_train, sweep
from workbench.ui.widgets import error_message

DEFAULT_TRAIN = "workbench.training.examples:random_forest_churn"
DEFAULT_SPACE = {
    "n_estimators": {"type": "int_range", "low": 10, "high": 150, "log": False, "step": 1},
    "max_depth": {"type": "choice", "values": [4, 8, 16]},
    "min_samples_leaf": {"type": "int_range", "low": 1, "high": 20, "log": False, "step": 1},
}


class TrainingModel(param.Parameterized):
    """Settings, actions and live progress of one sweep at a time (no Panel needed)."""

    # -- settings ------------------------------------------------------------
    experiment = param.String(default="Default", doc="Experiment the sweep is recorded in.")
    train = param.String(default=DEFAULT_TRAIN, doc="The train function as 'module:qualname'.")
    space_spec = param.Dict(default=None, doc="The space as {name: {'type': 'int_range', ...}}.")
    strategy = param.Selector(default="random", objects=list(STRATEGIES))
    n_trials = param.Integer(default=16, bounds=(1, None))
    n_jobs = param.Integer(default=2, bounds=(-1, None))
    metric = param.String(default="auc")
    mode = param.Selector(default="max", objects=["max", "min"])
    seed = param.Integer(default=0, bounds=(0, None))
    budget_name = param.String(default="n_estimators", doc="Halving: the budget's param name.")
    budget_min = param.Number(default=10)
    budget_max = param.Number(default=150)
    eta = param.Integer(default=3, bounds=(2, None))

    # -- live state (read-only for the view) -------------------------------------
    status = param.String(default="IDLE", doc="IDLE, RUNNING, FINISHED, KILLED or FAILED.")
    is_running = param.Boolean(default=False)
    total = param.Integer(default=0)
    finished = param.Integer(default=0)
    failed = param.Integer(default=0)
    killed = param.Integer(default=0)
    running = param.Integer(default=0)
    pending = param.Integer(default=0)
    fraction_done = param.Number(default=0.0, bounds=(0, 1))
    best_value = param.Number(default=None, allow_None=True)
    best_run_id = param.String(default=None, allow_None=True)
    sweep_run_id = param.String(default=None, allow_None=True)
    results = param.DataFrame(default=None, allow_None=True)
    error = param.String(default="")

    def __init__(self, store: Store, **params: Any) -> None:
        super().__init__(**params)
        self.store = store
        if self.space_spec is None:
            self.space_spec = copy.deepcopy(DEFAULT_SPACE)
        self.sweep: Sweep | None = None

    # -- actions ------------------------------------------------------------------
    def launch(self) -> bool:
        """Start a sweep in the background; False (and ``error`` set) if the settings are bad."""
        if self.is_running:
            self.error = "a sweep is already running: cancel it or wait for it to end"
            return False
        self.error = ""
        try:
            train = import_train(self.train)
            space = space_from_dict(self.space_spec or {})
            budget = None
            if self.strategy == "halving":
                integer = (
                    float(self.budget_min).is_integer() and float(self.budget_max).is_integer()
                )
                cast = int if integer else float
                budget = (self.budget_name, cast(self.budget_min), cast(self.budget_max))
            if not self.metric:
                raise InvalidInputError("metric must name the value to optimise, e.g. 'auc'")
            self.sweep = sweep(
                train,
                space,
                strategy=self.strategy,
                n_trials=self.n_trials,
                n_jobs=self.n_jobs,
                metric=self.metric,
                mode=self.mode,
                experiment=self.experiment or "Default",
                store=self.store,
                seed=self.seed,
                budget=budget,
                eta=self.eta,
                wait=False,
            )
        except Exception as exc:  # shown in the screen's error banner
            self.error = error_message(exc)
            return False
        self.sweep_run_id = self.sweep.run_id
        self.results = None
        self.refresh()
        return True

    def cancel(self) -> None:
        """Stop the running sweep (returns at once; ``refresh`` shows the outcome)."""
        if self.sweep is not None and not self.sweep.done:
            self.sweep.cancel(wait=False)
        self.refresh()

    def refresh(self) -> None:
        """Copy the sweep's progress (and, once it ended, its results) into the parameters."""
        s = self.sweep
        if s is None:
            return
        p = s.progress
        ended = s.done
        total = p["total"] or 0
        updates = {
            "status": p["status"],
            "is_running": not ended,
            "total": total,
            "finished": p["finished"],
            "failed": p["failed"],
            "killed": p["killed"],
            "running": p["running"],
            "pending": p["pending"],
            "best_value": p["best_value"],
            "best_run_id": s.best_run_id,
            "fraction_done": min(1.0, (p["done"] + p["killed"]) / total) if total else 0.0,
        }
        if ended and s._error is not None:
            updates["error"] = error_message(s._error)
        if ended or self.results is None or len(self.results) != p["done"] + p["killed"]:
            updates["results"] = s.results
        self.param.update(**updates)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the sweep ends, then refresh (for scripts and tests)."""
        if self.sweep is not None:
            self.sweep._finished.wait(timeout)
        self.refresh()

    @property
    def results_table(self) -> pd.DataFrame:
        """The results without the long columns (error tracebacks), for a table widget."""
        if self.results is None or self.results.empty:
            return pd.DataFrame(columns=["trial", "status", "value", "seconds"])
        return self.results.drop(columns=["error", "run_id"], errors="ignore")
