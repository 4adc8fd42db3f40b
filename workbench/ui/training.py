"""The Training screen: launch a hyper-parameter sweep on a table and follow it live.

``TrainingModel`` (the view-model) holds the sweep's settings and its live
state. In the screen the settings are a dataset (a sample table or a dataset
file recorded in the store), a target column, a scikit-learn model family and
its search space, a strategy, the number of trials and parallel jobs, and
the metric; ``launch()`` then sweeps
:func:`workbench.training.tabular.train_tabular` with the dataset, target and
family as fixed params. Scripts and tests may instead name any train function
(``train="module:qualname"``) and give ``space_spec`` directly.

``launch()`` starts ``wb.sweep(..., wait=False)``: the sweep's driver runs in
its own thread and the trials in worker processes, so nothing slow runs in a
Bokeh callback. The view calls ``refresh()`` from
``pn.state.add_periodic_callback``; tests call it directly::

    m = TrainingModel(store, dataset="sample_data/wine.parquet", family="random_forest")
    m.launch()
    m.wait()          # tests only; the view polls refresh()
    m.finished, m.best_value, m.best_table()

A sweep outlives the browser tab that launched it: ``attach_running()`` (called
when the screen is built) finds a sweep still running in this process, or
one RUNNING in the store launched by another process, and follows it.

``TrainingView(store, on_open=None, on_compare=None)`` is the screen.
"""

from __future__ import annotations

import copy
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn
import param

from workbench.errors import InvalidInputError
from workbench.store.store import Store
from workbench.training import tabular
from workbench.training.follow import SweepRecord, running_sweeps
from workbench.training.space import space_from_dict
from workbench.training.strategies import STRATEGIES
from workbench.training.sweep import Sweep, import_train, live_sweep, live_sweeps, sweep
from workbench.ui.widgets import ErrorBanner, error_message, short_id

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
    from workbench.demo import sample_data_dir

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
            label = (f"{start:%Y-%m-%d %H:%M} · {row['run_name']} · {row['experiment']} · "
                     f"{row['status']} · {short_id(row['run_id'])}")
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
        ok = ok.rename(columns={"value": self.metric or "value"})
        return ok.reset_index(drop=True)

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

    def chart(self):
        """A HoloViews overlay: the metric of every finished trial and the best-so-far line."""
        import holoviews as hv
        import holoviews.plotting.bokeh  # noqa: F401 - registers the backend the options are for

        df = self.chart_frame()
        metric = self.metric or "value"
        finished = df[df["status"] == "FINISHED"].dropna(subset=["value"])
        kdim = hv.Dimension("trial", label="trial")
        vdim = hv.Dimension("value", label=metric)
        points = hv.Scatter(finished, kdim, [vdim, "status"], label=metric).opts(
            color="#0d6efd", size=7, tools=["hover"]
        )
        best = df.dropna(subset=["best"])
        line = hv.Curve(best, kdim, hv.Dimension("best", label=metric),
                        label=f"best so far ({self.mode})").opts(
            color="#198754", line_width=2, interpolation="steps-post"
        )
        failed = df[df["status"] == "FAILED"]
        overlay = points * line
        if len(failed) and len(finished):
            low = float(finished["value"].min())
            marks = hv.Scatter(
                pd.DataFrame({"trial": failed["trial"], "value": low}), kdim, vdim, label="failed"
            ).opts(color="#dc3545", marker="x", size=10)
            overlay = overlay * marks
        title = f"{metric} per trial ({len(finished)} finished)"
        xmax = max(self.total - 1, int(df["trial"].max()) if len(df) else 0, 1)
        wanted = (xmax + 1) / 12
        step = next((k * 10**e for e in range(7) for k in (1, 2, 5) if k * 10**e >= wanted), 1)
        return overlay.opts(
            title=title, responsive=True, height=300, legend_position="bottom_right",
            xlim=(-0.5, xmax + 0.5), show_grid=True, xticks=list(range(0, xmax + 1, step)),
        )

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
class TrainingView(pn.viewable.Viewer):
    """The Training screen. ``on_open(run_id)`` opens a run; ``on_compare(ids)`` compares runs."""

    def __init__(
        self,
        store: Store,
        on_open: Callable[[str], Any] | None = None,
        on_compare: Callable[[list[str]], Any] | None = None,
        **params: Any,
    ) -> None:
        super().__init__()
        self.store = store
        self.on_open = on_open
        self.on_compare = on_compare
        options = dataset_options(store)
        # Trials run in worker processes even with one job: training never competes with
        # the server's event loop for the GIL, and a trial that crashes its process cannot
        # take the server down.
        params.setdefault("backend", "loky")
        if "dataset" not in params and options:
            churn = [p for p in options.values() if Path(p).stem == "churn"]
            params["dataset"] = churn[0] if churn else next(iter(options.values()))
        self.model = m = TrainingModel(store, dataset_options=options, **params)
        self._callback = None
        self._shown_results: int | None = None
        self._best_ids: list[str] = []

        # -- settings widgets
        self._dataset = pn.widgets.Select(label="Dataset", options=m.dataset_options,
                                          value=m.dataset or None, sizing_mode="stretch_width",
                                          css_classes=["wb-dataset"])
        self._target = pn.widgets.Select(label="Target column", options=m.target_options,
                                         value=m.target or None, sizing_mode="stretch_width",
                                         css_classes=["wb-target"])
        self._task = pn.pane.Markdown("", margin=(0, 10), css_classes=["wb-task"])
        self._family = pn.widgets.Select(
            label="Model family", options={v: k for k, v in tabular.FAMILIES.items()},
            value=m.family, sizing_mode="stretch_width", css_classes=["wb-family"],
        )
        self._space = pn.Column(sizing_mode="stretch_width", css_classes=["wb-space"], margin=0)
        self._strategy = pn.widgets.Select(label="Strategy", options=list(STRATEGIES),
                                           value=m.strategy, width=130, css_classes=["wb-strategy"])
        self._budget = pn.pane.Markdown("", margin=(0, 10), css_classes=["wb-budget"])
        self._n_trials = pn.widgets.IntInput(label="Trials", value=m.n_trials, start=1, end=10_000,
                                             width=100, css_classes=["wb-n-trials"])
        self._n_jobs = pn.widgets.IntInput(label="Parallel jobs", value=m.n_jobs, start=1, end=64,
                                           width=100, css_classes=["wb-n-jobs"])
        self._metric = pn.widgets.Select(label="Metric", options=m.metric_options or [m.metric],
                                         value=m.metric, width=130, css_classes=["wb-metric"])
        self._mode = pn.widgets.Select(label="Goal", options={"maximise": "max", "minimise": "min"},
                                       value=m.mode, width=110, css_classes=["wb-mode"])
        self._seed = pn.widgets.IntInput(label="Seed", value=m.seed, start=0, width=90)
        self._experiment = pn.widgets.TextInput(label="Experiment", value=m.experiment,
                                                sizing_mode="stretch_width",
                                                css_classes=["wb-experiment"])
        self._launch = pn.widgets.Button(label="Launch sweep", color="primary", width=140,
                                         css_classes=["wb-launch"])
        self._cancel = pn.widgets.Button(label="Cancel", color="danger", width=100,
                                         disabled=True, css_classes=["wb-cancel-sweep"])
        self._launch.on_click(lambda e: self._on_launch())
        self._cancel.on_click(lambda e: self._on_cancel())

        for widget, name in ((self._dataset, "dataset"), (self._target, "target"),
                             (self._family, "family"), (self._strategy, "strategy"),
                             (self._n_trials, "n_trials"), (self._n_jobs, "n_jobs"),
                             (self._metric, "metric"), (self._mode, "mode"),
                             (self._seed, "seed"), (self._experiment, "experiment")):
            widget.param.watch(self._to_model(name), "value")

        # -- progress and results widgets
        self._status = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-sweep-status"],
                                    margin=(5, 10))
        self._progress = pn.indicators.Progress(value=0, max=100, bar_color="primary",
                                                sizing_mode="stretch_width", height=22,
                                                visible=False, css_classes=["wb-progress"])
        self._intro = pn.pane.Alert(
            "Choose a dataset, its target column, a model family and its search space, then "
            "**Launch sweep**. Every trial is recorded as a run nested under the sweep's run; "
            "the sweep keeps running if you close this tab.",
            alert_type="info", sizing_mode="stretch_width", css_classes=["wb-training-intro"],
        )
        self._recent = pn.widgets.Select(label="Show a recent sweep", options={},
                                         sizing_mode="stretch_width", max_width=720,
                                         css_classes=["wb-recent-sweeps"])
        self._recent.param.watch(self._on_recent, "value")
        self._recent_row = pn.Row(self._recent, sizing_mode="stretch_width")
        self._chart = pn.pane.HoloViews(None, backend="bokeh", sizing_mode="stretch_width",
                                        height=320, linked_axes=False)
        # Visibility is toggled on a wrapper: toggling it on the HoloViews pane itself makes
        # Panel copy its layout params (``design``) onto the Bokeh figure, which refuses them.
        self._chart_box = pn.Column(self._chart, visible=False, sizing_mode="stretch_width",
                                    css_classes=["wb-sweep-chart"])
        self._best = pn.widgets.Tabulator(
            pd.DataFrame(), disabled=True, show_index=False, sizing_mode="stretch_width",
            layout="fit_data_table", height=300, hidden_columns=["run_id"],
            css_classes=["wb-best-trials"], visible=False,
        )
        self._best.on_click(self._on_best_click)
        self._best_title = pn.pane.HTML("", margin=(10, 10, 0, 10), visible=False,
                                        sizing_mode="stretch_width")
        self._compare_btn = pn.widgets.Button(label="Compare best", color="primary",
                                              width=130, css_classes=["wb-compare-best"])
        self._open_btn = pn.widgets.Button(label="Open best run", width=130,
                                           css_classes=["wb-open-best"])
        self._name = pn.widgets.TextInput(label="Model name", value=m.model_name, width=220,
                                          css_classes=["wb-model-name"])
        self._register = pn.widgets.Button(label="Register best model", color="success",
                                           width=170, css_classes=["wb-register-best"])
        self._compare_btn.on_click(lambda e: self._on_compare())
        self._open_btn.on_click(lambda e: m.best_run_id and self._open(m.best_run_id))
        self._register.on_click(lambda e: self._busy(self._register, m.register_best))
        self._name.param.watch(self._to_model("model_name"), "value")
        self._actions = pn.Column(
            pn.Row(self._compare_btn, self._open_btn),
            pn.Row(self._name, pn.Column(self._register, margin=(18, 0, 0, 0))),
            visible=False, sizing_mode="stretch_width", css_classes=["wb-sweep-actions"],
        )
        self._errors = ErrorBanner(message=m.error)
        self._message = pn.pane.Alert("", alert_type="success", visible=False,
                                      sizing_mode="stretch_width", css_classes=["wb-message"])

        m.param.watch(lambda e: setattr(self._errors, "message", e.new), "error")
        m.param.watch(self._sync_message, "message")
        m.param.watch(self._sync_settings, [
            "dataset", "dataset_options", "target", "target_options", "task", "family",
            "metric", "metric_options", "mode", "strategy", "n_trials", "n_jobs", "seed",
            "experiment", "model_name", "budget_name", "budget_min", "budget_max",
        ])
        m.param.watch(self._sync_space, ["space_spec", "strategy", "budget_name"])
        m.param.watch(self._sync_progress, [
            "status", "finished", "failed", "killed", "running", "pending", "best_value",
            "is_running", "results",
        ])

        settings = pn.Column(
            pn.pane.HTML("<h6 class='wb-section'>Data and model</h6>", margin=(0, 10)),
            self._dataset, self._target, self._task, self._family,
            pn.pane.HTML("<h6 class='wb-section'>Search space</h6>", margin=(10, 10, 0, 10)),
            self._space,
            pn.pane.HTML("<h6 class='wb-section'>Search</h6>", margin=(10, 10, 0, 10)),
            pn.Row(self._strategy, self._n_trials, self._n_jobs),
            self._budget,
            pn.Row(self._metric, self._mode, self._seed),
            self._experiment,
            pn.Row(self._launch, self._cancel),
            width=400, css_classes=["wb-training-settings"],
            styles={"border-right": "1px solid #dee2e6"},
        )
        progress = pn.Column(
            self._errors, self._message, self._intro, self._recent_row, self._status,
            self._progress, self._chart_box,
            self._best_title, self._actions, self._best,
            sizing_mode="stretch_width", css_classes=["wb-training-progress"],
        )
        self._layout = pn.Row(settings, progress, sizing_mode="stretch_width")

        self._sync_settings()
        self._sync_space()
        if m.attach_running():
            self._start_polling()
        self._sync_recent()
        self._sync_progress()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # -- widgets -> model -------------------------------------------------------------
    def _to_model(self, name: str) -> Callable[[Any], None]:
        def update(event: Any) -> None:
            if getattr(self, "_syncing", False) or event.new is None:
                return
            if getattr(self.model, name) != event.new:
                try:
                    setattr(self.model, name, event.new)
                except Exception as exc:  # e.g. a value out of bounds
                    self.model.error = error_message(exc)

        return update

    def _busy(self, widget: Any, action: Callable[[], Any]) -> Any:
        with widget.param.update(loading=True):
            return action()

    def _on_launch(self) -> None:
        if self._busy(self._launch, self.model.launch):
            self._shown_results = None
            self._start_polling()
            self._sync_recent()
        self._sync_progress()

    def _sync_recent(self) -> None:
        options = {"": ""} | self.model.recent_sweeps()
        current = self.model.sweep_run_id or ""
        self._syncing = True
        try:
            self._recent.options = options
            self._recent.value = current if current in options.values() else ""
        finally:
            self._syncing = False
        self._recent_row.visible = len(options) > 1

    def _on_recent(self, event: Any) -> None:
        m = self.model
        if getattr(self, "_syncing", False) or not event.new or event.new == m.sweep_run_id:
            return
        if m.is_running:
            m.error = "a sweep is running: cancel it or wait for it to end before showing another"
            self._sync_recent()
            return
        m.error = m.message = ""
        if m.attach(event.new):
            self._shown_results = None
            if m.is_running:
                self._start_polling()
        self._sync_progress()

    def _on_cancel(self) -> None:
        self.model.cancel()

    def _start_polling(self) -> None:
        if self._callback is not None:
            self._callback.stop()
        cb = pn.state.add_periodic_callback(self._tick, period=POLL_MS, start=False)
        # Polling is background work: it must not keep the page's busy indicator spinning
        # for the whole sweep (Panel's PeriodicCallback takes background=True for this).
        cb._background = True
        cb.log = False
        cb.start()
        self._callback = cb

    def _tick(self) -> None:
        m = self.model
        try:
            m.refresh()
        except Exception as exc:  # never let the poller die silently
            import traceback

            traceback.print_exc()
            m.error = error_message(exc)
        if not m.is_running and self._callback is not None:
            self._callback.stop()
            self._callback = None
            self._sync_recent()  # the sweep's label now shows how it ended

    def _open(self, run_id: str) -> None:
        if self.on_open is not None:
            self.on_open(run_id)
        else:
            self.model.message = f"Run {run_id}"

    def _on_best_click(self, event: Any) -> None:
        if event.row is not None and event.row < len(self._best_ids):
            self._open(self._best_ids[event.row])

    def _on_compare(self) -> None:
        m = self.model
        try:
            ids = m.compare_ids()
        except Exception as exc:
            m.error = error_message(exc)
            return
        if self.on_compare is not None:
            self.on_compare(ids)
        else:
            from workbench.ui.compare import RunComparison

            self._layout.append(RunComparison(self.store, run_ids=ids))

    # -- model -> widgets -------------------------------------------------------------
    def _sync_message(self, *events: Any) -> None:
        self._message.object = html.escape(self.model.message)
        self._message.visible = bool(self.model.message)

    def _sync_settings(self, *events: Any) -> None:
        m = self.model
        self._syncing = True
        try:
            with pn.io.hold():
                self._dataset.options = m.dataset_options
                self._dataset.value = m.dataset or None
                self._target.options = m.target_options
                self._target.value = m.target or None
                self._family.value = m.family
                self._metric.options = m.metric_options or [m.metric]
                self._metric.value = m.metric
                self._mode.value = m.mode
                self._strategy.value = m.strategy
                self._n_trials.value = m.n_trials
                self._n_jobs.value = max(1, m.n_jobs)
                self._seed.value = m.seed
                self._experiment.value = m.experiment
                self._name.value = m.model_name
                self._task.object = (
                    f"Task: **{m.task}**" + (" — a classifier is trained" if m.task ==
                                             "classification" else " — a regressor is trained")
                    if m.task else ""
                )
        finally:
            self._syncing = False
        self._sync_budget()

    def _sync_budget(self) -> None:
        m = self.model
        self._budget.object = (
            f"Successive halving: budget **{m.budget_name}** from {m.budget_min:g} to "
            f"{m.budget_max:g}, keeping the best 1/{m.eta} at each rung."
            if m.strategy == "halving" else ""
        )
        self._budget.visible = m.strategy == "halving"

    def _sync_space(self, *events: Any) -> None:
        m = self.model
        rows = []
        for name, spec in (m.space_spec or {}).items():
            if m.strategy == "halving" and name == m.budget_name:
                continue
            rows.append(self._dimension_row(name, spec))
        self._space.objects = rows or [pn.pane.Markdown("(no hyper-parameters)")]
        self._sync_budget()

    def _dimension_row(self, name: str, spec: dict[str, Any]) -> pn.Row:
        label = pn.pane.Markdown(f"`{name}`", width=130, margin=(18, 5, 0, 10))
        kind = spec.get("type")
        if kind == "choice":
            box = pn.widgets.TextInput(label="values (comma separated)",
                                       value=format_values(spec.get("values", [])), width=230)
            box.param.watch(lambda e: self._set_dim(name, values=e.new), "value")
            return pn.Row(label, box, css_classes=["wb-dim", f"wb-dim-{name}"])
        Input = pn.widgets.IntInput if kind == "int_range" else pn.widgets.FloatInput
        low = Input(label="low", value=spec.get("low"), width=85)
        high = Input(label="high", value=spec.get("high"), width=85)
        log = pn.widgets.Checkbox(label="log", value=bool(spec.get("log")), width=50,
                                  margin=(30, 5, 0, 5))
        low.param.watch(lambda e: self._set_dim(name, low=e.new), "value")
        high.param.watch(lambda e: self._set_dim(name, high=e.new), "value")
        log.param.watch(lambda e: self._set_dim(name, log=e.new), "value")
        return pn.Row(label, low, high, log, css_classes=["wb-dim", f"wb-dim-{name}"])

    def _set_dim(self, name: str, **changes: Any) -> None:
        if any(v is None for v in changes.values()):
            return
        try:
            # the form already shows the new value: do not rebuild it under the user's cursor
            spec = copy.deepcopy(self.model.space_spec or {})
            if "values" in changes:
                changes["values"] = parse_values(changes["values"])
            spec[name].update(changes)
            with param.parameterized.discard_events(self.model):
                self.model.space_spec = spec
            self.model.error = ""
        except Exception as exc:
            self.model.error = error_message(exc)

    def _sync_progress(self, *events: Any) -> None:
        m = self.model
        has_sweep = m.sweep is not None
        self._intro.visible = not has_sweep
        self._launch.disabled = m.is_running
        self._cancel.disabled = not m.is_running
        if not has_sweep:
            self._status.object = ""
            return
        best = "" if m.best_value is None else f" · best {html.escape(m.metric)} <b>{m.best_value:.4g}</b>"
        state = f"<span class='wb-sweep-state wb-state-{m.status.lower()}'><b>{m.status}</b></span>"
        self._status.object = (
            f"<div class='wb-status-text'>{state} · sweep <code>{short_id(m.sweep_run_id)}</code> · "
            f"<b>{m.finished + m.failed}</b> of {m.total} done · {m.running} running · "
            f"{m.failed} failed · {m.killed} killed · {m.pending} pending{best}</div>"
        )
        self._progress.visible = True
        self._progress.value = int(round(100 * m.fraction_done))
        self._progress.bar_color = (
            "success" if m.status == "FINISHED" else "danger" if m.status == "FAILED"
            else "warning" if m.status == "KILLED" else "primary"
        )
        n = 0 if m.results is None else len(m.results)
        if n != self._shown_results or not m.is_running:
            self._shown_results = n
            self._sync_results()

    def _sync_results(self) -> None:
        m = self.model
        frame = m.chart_frame()
        has_points = bool(len(frame)) and bool(frame["value"].notna().any())
        if has_points:
            self._chart.object = m.chart()
        self._chart_box.visible = has_points
        table = m.best_table()
        self._best_ids = list(table["run_id"]) if "run_id" in table else []
        show = bool(self._best_ids)
        self._best_title.object = (
            f"<h6 class='wb-section'>Best trials by {html.escape(m.metric)} "
            f"({'higher' if m.mode == 'max' else 'lower'} is better)</h6>"
            "<span style='color:#6c757d'>Click a trial to open its run.</span>"
        )
        if not show and not m.is_running:
            self._best_title.object = (
                "<span style='color:#6c757d'>No trial finished with a value for "
                f"{html.escape(m.metric)}: there is nothing to compare or register.</span>"
            )
        self._best_title.visible = show or not m.is_running
        self._best.visible = show
        self._actions.visible = show and not m.is_running
        if show:
            shown = table.copy()
            for col in shown.columns:
                if shown[col].dtype.kind == "f":
                    shown[col] = shown[col].round(4)
            self._best.value = shown
