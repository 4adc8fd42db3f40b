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

from workbench.store.store import Store
from workbench.training import tabular
from workbench.training.strategies import STRATEGIES
from workbench.ui.components.format import error_message, short_id
from workbench.ui.components.notebook import NotebookScreen
from workbench.ui.components.widgets import ErrorBanner
from workbench.ui.training.chart import sweep_chart
from workbench.ui.training.model import (
    POLL_MS,
    TrainingModel,
    dataset_options,
    format_values,
    parse_values,
)


class TrainingView(NotebookScreen):
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
            header_tooltips={
                "trial_seconds": "wall time of the whole trial: load data, fit, score, record",
                "fit_seconds": "time of the model's fit alone (the trial's fit_seconds metric)",
            },
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
            if self._best.visible:
                # The browser can miss a table update that lands right after the previous one
                # (seen once in the browser test: 3 of 4 best trials shown while the chart beside
                # it had all 4), so the final table is sent once more as polling stops.
                self._best.param.trigger("value")
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
            from workbench.ui.compare.view import RunComparison

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
        starting = m.starting_workers
        if starting:  # no "0 of N done" with an empty bar while the worker processes start
            counts = (f"starting <b>{starting}</b> worker{'s' if starting != 1 else ''} · "
                      f"{m.total} trials pending")
        else:
            counts = (f"<b>{m.finished + m.failed}</b> of {m.total} done · {m.running} running · "
                      f"{m.failed} failed · {m.killed} killed · {m.pending} pending{best}")
        self._status.object = (
            f"<div class='wb-status-text'>{state} · sweep <code>{short_id(m.sweep_run_id)}</code> · "
            f"{counts}</div>"
        )
        self._progress.visible = True
        # -1: Panel's indeterminate (animated) bar, while nothing can be counted yet
        self._progress.value = -1 if starting else int(round(100 * m.fraction_done))
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
            self._chart.object = sweep_chart(m)
        self._chart_box.visible = has_points
        table = m.best_table()
        self._best_ids = list(table["run_id"]) if "run_id" in table else []
        show = bool(self._best_ids)
        self._best_title.object = (
            f"<h6 class='wb-section'>Best trials by {html.escape(m.metric)} "
            f"({'higher' if m.mode == 'max' else 'lower'} is better)</h6>"
            "<span style='color:#6c757d'>Click a trial to open its run. "
            "<i>trial_seconds</i>: wall time of the whole trial in its worker (load the data, "
            "fit, score, record the run); <i>fit_seconds</i>: the model's fit alone.</span>"
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
            self._best.value = m.best_table_for_display()
