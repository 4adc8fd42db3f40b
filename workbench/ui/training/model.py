"""The Training screen's view-model: sweep settings, launch, live progress and results.

No Panel here: the view (``workbench.ui.training.view``) lays it out; tests drive it directly.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pandas as pd
import param

from workbench.errors import InvalidInputError
from workbench.store.store import Store
from workbench.training import tabular
from workbench.training.follow import SweepRecord, running_sweeps
from workbench.training.space import space_from_dict
from workbench.training.strategies import STRATEGIES
from workbench.training.sweep import Sweep, import_train, live_sweep, live_sweeps, sweep
from workbench.ui.components.format import error_message, short_id

DEFAULT_TRAIN = "workbench.training.examples:random_forest_churn"
TABULAR_TRAIN = "workbench.training.tabular:train_tabular"
DEFAULT_SPACE = {
    "n_estimators": {"type": "int_range", "low": 10, "high": 150, "log": False, "step": 1},
    "max_depth": {"type": "choice", "values": [4, 8, 16]},
    "min_samples_leaf": {"type": "int_range", "low": 1, "high": 20, "log": False, "step": 1},
}
#: The sample tables offered by the screen (in ``sample_data/``).
SAMPLE_TABLES = ("churn", "breast_cancer", "wine", "diabetes")
#: Target columns picked by default when a table has one of them.
TARGET_NAMES = ("target", "churned", "label", "y", "class")
#: Rows of the best-trials table.
BEST_ROWS = 10
#: Trials compared by "Compare best".
COMPARE_BEST = 5
#: How often the screen polls a running sweep (ms).
POLL_MS = 500


def dataset_options(store: Store | None) -> dict[str, str]:
    """``label -> file path`` of the tables a sweep can train on.

    The bundled samples first, then the dataset versions logged in the store
    whose source file (Parquet or CSV) still exists.
    """
    from workbench.samples import sample_data_dir

    options: dict[str, str] = {}
    folder = sample_data_dir()
    for name in SAMPLE_TABLES:
        path = folder / f"{name}.parquet"
        if path.is_file():
            options[f"{name} (sample)"] = str(path.resolve())
    if store is not None:
        try:
            logged = store.list_datasets()
        except Exception:  # an unreadable store must not break the screen
            logged = pd.DataFrame()
        seen = set(options.values())
        for row in logged.to_dict("records")[::-1]:  # newest first
            source = row.get("source")
            if not isinstance(source, str) or not source:
                continue
            path = Path(source)
            if path.suffix not in (".parquet", ".csv") or not path.is_file():
                continue
            key = str(path.resolve())
            if key in seen:
                continue
            seen.add(key)
            options[f"{row['name']} (store: {path.name})"] = key
    return options


def parse_values(text: str) -> list[Any]:
    """The values of a choice typed as ``"4, 8, None, sqrt"``: numbers, None, true/false, strings."""
    out: list[Any] = []
    for raw in str(text).split(","):
        item = raw.strip()
        if not item:
            continue
        low = item.lower()
        if low in ("none", "null"):
            out.append(None)
        elif low in ("true", "false"):
            out.append(low == "true")
        else:
            try:
                out.append(int(item))
            except ValueError:
                try:
                    out.append(float(item))
                except ValueError:
                    out.append(item.strip("'\""))
    if not out:
        raise InvalidInputError(f"a choice needs at least one value, got {text!r}")
    return out


def format_values(values: list[Any]) -> str:
    return ", ".join("None" if v is None else str(v) for v in values)


class TrainingModel(param.Parameterized):
    """Settings, actions and live progress of one sweep at a time (no browser needed)."""

    # -- settings ------------------------------------------------------------
    experiment = param.String(default="Default", doc="Experiment the sweep is recorded in.")
    train = param.String(default=DEFAULT_TRAIN, doc="The train function as 'module:qualname'.")
    space_spec = param.Dict(default=None, doc="The space as {name: {'type': 'int_range', ...}}.")
    dataset = param.String(default="", doc="A table file: sweeps train_tabular on it when set.")
    dataset_options = param.Dict(default={}, doc="label -> path of the tables offered.")
    target = param.String(default="", doc="The target column of the dataset.")
    target_options = param.List(default=[], item_type=str)
    task = param.String(default="", doc="'classification' or 'regression' (from the target).")
    family = param.Selector(default="random_forest", objects=list(tabular.FAMILIES))
    metric_options = param.List(default=[], item_type=str)
    strategy = param.Selector(default="random", objects=list(STRATEGIES))
    n_trials = param.Integer(default=16, bounds=(1, None))
    n_jobs = param.Integer(default=2, bounds=(-1, None))
    metric = param.String(default="auc")
    mode = param.Selector(default="max", objects=["max", "min"])
    seed = param.Integer(default=0, bounds=(0, None))
    backend = param.Selector(default=None, objects=[None, "sequential", "loky"], allow_None=True,
                             doc="None: wb.sweep's default (a thread for n_jobs=1, else loky).")
    budget_name = param.String(default="n_estimators", doc="Halving: the budget's param name.")
    budget_min = param.Number(default=10)
    budget_max = param.Number(default=150)
    eta = param.Integer(default=3, bounds=(2, None))
    model_name = param.String(default="", doc="Name to register the best model under.")

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
    message = param.String(default="", doc="What the last action did (e.g. registered a model).")

    def __init__(self, store: Store, **params: Any) -> None:
        super().__init__(**params)
        self.store = store
        if self.space_spec is None:
            self.space_spec = (
                tabular.default_space(self.family) if self.dataset else copy.deepcopy(DEFAULT_SPACE)
            )
        self.sweep: Sweep | SweepRecord | None = None
        self._auto_experiment = self.experiment == "Default"
        if self.dataset:
            self._on_dataset()
            self._on_family(keep_space="space_spec" in params, keep=set(params))

    # -- settings logic -------------------------------------------------------
    @param.depends("dataset", watch=True)
    def _on_dataset(self) -> None:
        if not self.dataset:
            self.param.update(target_options=[], target="", task="")
            return
        try:
            columns = tabular.read_columns(self.dataset)
        except Exception as exc:
            self.error = f"cannot read {Path(self.dataset).name}: {error_message(exc)}"
            self.param.update(target_options=[], target="")
            return
        target = self.target if self.target in columns else next(
            (c for c in TARGET_NAMES if c in columns), columns[-1] if columns else ""
        )
        updates: dict[str, Any] = {"target_options": columns}
        if self._auto_experiment:
            updates["experiment"] = f"training-{Path(self.dataset).stem}"
        self.param.update(**updates)
        self._auto_experiment = True
        if target == self.target:
            self._on_target()
        else:
            self.target = target

    @param.depends("experiment", watch=True)
    def _on_experiment(self) -> None:
        self._auto_experiment = False

    @param.depends("target", watch=True)
    def _on_target(self) -> None:
        if not self.dataset or not self.target:
            return
        try:
            task = tabular.target_task(self.dataset, self.target)
        except Exception as exc:
            self.error = error_message(exc)
            return
        options = list(tabular.METRICS[task])
        updates: dict[str, Any] = {"task": task, "metric_options": options}
        if self.metric not in options:
            updates["metric"] = tabular.DEFAULT_METRIC[task]
        self.param.update(**updates)
        self._on_metric()
        self._default_name()

    @param.depends("metric", watch=True)
    def _on_metric(self) -> None:
        modes = tabular.METRICS.get(self.task, {})
        if self.metric in modes:
            self.mode = modes[self.metric]

    @param.depends("family", watch=True)
    def _on_family(self, keep_space: bool = False, keep: set[str] | None = None) -> None:
        if not self.dataset:
            return
        if not keep_space:
            self.space_spec = tabular.default_space(self.family)
        name, low, high = tabular.BUDGETS[self.family]
        budget = {"budget_name": name, "budget_min": low, "budget_max": high}
        self.param.update(**{k: v for k, v in budget.items() if k not in (keep or set())})
        self._default_name()

    def _default_name(self) -> None:
        if self.dataset:
            stem = Path(self.dataset).stem
            self.model_name = f"{stem}-{self.family}".replace("_", "-")

    def set_dimension(self, name: str, **changes: Any) -> None:
        """Change one dimension of the space (``low=``, ``high=``, ``log=``, ``values=``)."""
        spec = copy.deepcopy(self.space_spec or {})
        if name not in spec:
            raise InvalidInputError(f"the space has no dimension {name!r}; it has {sorted(spec)}")
        if "values" in changes and isinstance(changes["values"], str):
            changes["values"] = parse_values(changes["values"])
        spec[name].update(changes)
        self.space_spec = spec

    def build_space(self) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        """The train function's path, the space (dict specs) and the datasets to record."""
        spec = copy.deepcopy(self.space_spec or {})
        if self.strategy == "halving":
            spec.pop(self.budget_name, None)  # the budget is halving's to set
        if not self.dataset:
            return self.train, spec, None
        if not self.target:
            raise InvalidInputError("choose the target column to predict")
        fixed = tabular.fixed_space(self.dataset, self.target, self.family)
        return TABULAR_TRAIN, {**fixed, **spec}, {Path(self.dataset).stem: self.dataset}

    # -- actions ------------------------------------------------------------------
    def launch(self) -> bool:
        """Start a sweep in the background; False (and ``error`` set) if the settings are bad."""
        if self.is_running:
            self.error = "a sweep is already running: cancel it or wait for it to end"
            return False
        self.error = self.message = ""
        try:
            train_path, spec, datasets = self.build_space()
            train = import_train(train_path)
            space = space_from_dict(spec)
            budget = None
            if self.strategy == "halving":
                integer = (
                    float(self.budget_min).is_integer() and float(self.budget_max).is_integer()
                )
                cast = int if integer else float
                budget = (self.budget_name, cast(self.budget_min), cast(self.budget_max))
            if not self.metric:
                raise InvalidInputError("metric must name the value to optimise, e.g. 'auc'")
            handle = sweep(
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
                datasets=datasets,
                backend=self.backend,
                run_name=f"sweep-{self.family}" if self.dataset else None,
                wait=False,
            )
        except Exception as exc:  # shown in the screen's error banner
            self.error = error_message(exc)
            return False
        self._follow(handle)
        return True

    def _follow(self, handle: Sweep | SweepRecord) -> None:
        self.sweep = handle
        self.sweep_run_id = handle.run_id
        self.results = None
        self.refresh()

    def attach(self, sweep_run_id: str) -> bool:
        """Follow sweep ``sweep_run_id``: its live handle if it runs here, else its store records."""
        try:
            handle: Sweep | SweepRecord = live_sweep(sweep_run_id) or SweepRecord(
                self.store, sweep_run_id
            )
        except Exception as exc:
            self.error = error_message(exc)
            return False
        self._adopt_settings(handle)
        self._follow(handle)
        return True

    def recent_sweeps(self, limit: int = 20) -> dict[str, str]:
        """``label -> sweep run id`` of the newest sweeps in the store, for re-opening one."""
        try:
            df = self.store.search_runs(
                filter="tags.`workbench.kind` = 'sweep'",
                order_by=["attributes.start_time DESC"], max_results=limit,
                params=["strategy", "n_trials"], metrics=[], tags=[],
            )
        except Exception as exc:
            self.error = error_message(exc)
            return {}
        out = {}
        for row in df.to_dict("records"):
            start = pd.Timestamp(row["start_time"], unit="ms", tz="UTC") if isinstance(
                row["start_time"], (int, float)) else pd.Timestamp(row["start_time"])
            # the followed sweep's end may still sit in its writer's spool buffer
            ended = row["run_id"] == self.sweep_run_id and self.status not in ("IDLE", "RUNNING")
            label = (f"{start:%Y-%m-%d %H:%M} · {row['run_name']} · {row['experiment']} · "
                     f"{self.status if ended else row['status']} · {short_id(row['run_id'])}")
            out[label] = row["run_id"]
        return out

    def attach_running(self) -> bool:
        """Follow a sweep that is still running (here first, else any in the store); False if none."""
        mine = [s for s in live_sweeps() if not s.done and s.store.path == self.store.path]
        if mine:
            return self.attach(mine[-1].run_id)
        try:
            df = running_sweeps(self.store)
        except Exception as exc:
            self.error = error_message(exc)
            return False
        if df.empty:
            return False
        return self.attach(str(df["run_id"].iloc[0]))

    def _adopt_settings(self, handle: Sweep | SweepRecord) -> None:
        """Show the followed sweep's settings (metric, strategy, dataset, target, family)."""
        if isinstance(handle, Sweep):
            from workbench.training.space import space_to_dict

            space = space_to_dict(handle.space)
            strategy, n_jobs = handle.strategy.name, handle.n_jobs
            n_trials = getattr(handle.strategy, "n_trials", None)
        else:
            space = handle.config.get("space") or {}
            strategy, n_jobs = handle.strategy_name, None
            n_trials = handle.config.get("n_trials")
        fixed = {
            k: (space.get(k) or {}).get("values", [None])[0] for k in tabular.FIXED_PARAMS
        }
        updates: dict[str, Any] = {"experiment": str(handle.experiment)}
        if strategy in STRATEGIES:
            updates["strategy"] = strategy
        if n_jobs:
            updates["n_jobs"] = n_jobs
        if isinstance(n_trials, int) and n_trials > 0:
            updates["n_trials"] = n_trials
        if all(fixed.values()) and fixed["family"] in tabular.FAMILIES:
            self.dataset_options = {
                **self.dataset_options,
                **({} if fixed["dataset"] in self.dataset_options.values()
                   else {Path(fixed["dataset"]).name: fixed["dataset"]}),
            }
            updates.update(dataset=fixed["dataset"], target=fixed["target"],
                           family=fixed["family"])
        self.param.update(**updates)
        if all(fixed.values()):
            self.space_spec = {k: v for k, v in space.items() if k not in tabular.FIXED_PARAMS}
        if handle.metric:
            # a sweep launched from Python may optimise a metric the form does not offer
            options = list(self.metric_options)
            if handle.metric not in options:
                options.append(handle.metric)
            self.param.update(metric_options=options, metric=handle.metric, mode=handle.mode)

    def cancel(self) -> None:
        """Stop the running sweep (returns at once; ``refresh`` shows the outcome)."""
        if self.sweep is not None and not self.sweep.done:
            self.sweep.cancel(wait=False)
            self.message = "Cancelling: running trials are stopped, pending ones will not start."
        self.refresh()

    def refresh(self) -> None:
        """Copy the sweep's progress (and, once it ended, its results) into the parameters."""
        s = self.sweep
        if s is None:
            return
        if isinstance(s, SweepRecord):
            try:
                s.update()
            except Exception as exc:
                self.error = error_message(exc)
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
        if ended and s.error is not None:
            updates["error"] = error_message(s.error)
        if ended and self.message.startswith("Cancelling"):
            updates["message"] = ""
        if ended or self.results is None or len(self.results) != p["done"] + p["killed"]:
            updates["results"] = s.results
        self.param.update(**updates)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the sweep ends, then refresh (for scripts and tests)."""
        s = self.sweep
        if isinstance(s, Sweep):
            s._finished.wait(timeout)
        elif s is not None:
            import time

            deadline = None if timeout is None else time.time() + timeout
            while not s.update().done and (deadline is None or time.time() < deadline):
                time.sleep(0.1)
        self.refresh()

    # -- what the view shows -------------------------------------------------------
    @property
    def results_table(self) -> pd.DataFrame:
        """The results without the long columns (error tracebacks), for a table widget."""
        if self.results is None or self.results.empty:
            return pd.DataFrame(columns=["trial", "status", "value", "seconds"])
        return self.results.drop(columns=["error", "run_id"], errors="ignore")

    def _constant_param_columns(self, df: pd.DataFrame) -> list[str]:
        return [f"params.{k}" for k in tabular.FIXED_PARAMS if f"params.{k}" in df]

    def best_table(self, n: int = BEST_ROWS) -> pd.DataFrame:
        """The ``n`` best finished trials, best first: trial, value, params, metrics, run_id.

        For halving, trials of the highest rung reached come first (as for the best run).
        """
        df = self.results
        if df is None or df.empty:
            return pd.DataFrame(columns=["trial", "value", "run_id"])
        ok = df[(df["status"] == "FINISHED") & df["value"].notna()].copy()
        if ok.empty:
            return pd.DataFrame(columns=["trial", "value", "run_id"])
        ok["_rung"] = ok["rung"].fillna(0) if "rung" in ok else 0
        ok = ok.sort_values(["_rung", "value", "trial"],
                            ascending=[False, self.mode != "max", True]).head(n)
        drop = ["_rung", "status", "error", "seed", *self._constant_param_columns(ok)]
        if "rung" in ok and ok["rung"].isna().all():
            drop += ["rung", "budget"]
        elif "budget" in ok and ok["budget"].isna().all():
            drop.append("budget")
        ok = ok.drop(columns=[c for c in drop if c in ok])
        # the sweep's metric is the value column; the other metrics and params lose their prefix
        ok = ok.drop(columns=[f"metrics.{self.metric}"], errors="ignore")
        short = [c.split(".", 1)[1] if c.startswith(("params.", "metrics.")) else c
                 for c in ok.columns]
        ok.columns = [s if short.count(s) == 1 else c for s, c in zip(short, ok.columns)]
        ok = ok.rename(columns={"value": self.metric or "value", "seconds": "trial_seconds"})
        return ok.reset_index(drop=True)

    @property
    def starting_workers(self) -> int:
        """How many workers are starting: while the sweep runs and no trial has started or
        ended yet (loky takes seconds to start its processes), else 0."""
        if self.sweep is None or not self.is_running:
            return 0
        if self.running or self.finished or self.failed or self.killed:
            return 0
        n = getattr(self.sweep, "n_jobs", None) or self.n_jobs
        if n == -1:
            n = os.cpu_count() or 1
        return max(1, min(int(n), self.total) if self.total else int(n))

    def best_table_for_display(self, n: int = BEST_ROWS) -> pd.DataFrame:
        """:meth:`best_table` as the screen shows it: floats to 4 decimals, missing values
        (e.g. a ``None`` param such as ``max_depth=None``, or a metric one trial lacks) blank.

        >>> model.best_table_for_display()  # doctest: +SKIP
        """
        shown = self.best_table(n)
        for col in shown.columns:
            values = shown[col]
            if values.dtype.kind == "f":
                values = values.round(4)
            missing = values.isna()
            if missing.any():
                values = values.astype(object).where(~missing, "")
            shown[col] = values
        return shown

    def compare_ids(self, n: int = COMPARE_BEST) -> list[str]:
        """Run ids of the ``n`` best trials, for the Compare view (at least 2)."""
        ids = list(self.best_table(n)["run_id"])
        if len(ids) < 2:
            raise InvalidInputError(
                f"Compare needs at least 2 finished trials; this sweep has {len(ids)}"
            )
        return ids

    def chart_frame(self) -> pd.DataFrame:
        """trial, value, status and the best value so far (in trial order), for the live chart."""
        df = self.results
        if df is None or df.empty:
            return pd.DataFrame(columns=["trial", "value", "status", "best"])
        out = df[["trial", "value", "status"]].sort_values("trial").reset_index(drop=True)
        ok = out["value"].where(out["status"] == "FINISHED")
        best = ok.cummax() if self.mode == "max" else ok.cummin()
        out["best"] = best
        return out

    def register_best(self) -> Any:
        """Register the best trial's model in the registry; the version, or None (``error`` set)."""
        self.error = self.message = ""
        if not self.best_run_id:
            self.error = "there is no best trial to register yet"
            return None
        try:
            from workbench.registry import Registry

            version = Registry(self.store).register_model(
                self.model_name or "model",
                run_id=self.best_run_id,
                artifact="model",
                description=(
                    f"best trial of sweep {self.sweep_run_id} ({self.metric}={self.best_value:.4g})"
                    if self.best_value is not None else None
                ),
            )
        except Exception as exc:
            self.error = f"could not register the best model: {error_message(exc)}"
            return None
        self.message = (
            f"Registered {version.name} version {version.version} from run "
            f"{short_id(self.best_run_id)}."
        )
        return version


# -- the view ------------------------------------------------------------------------------
