"""The Pipelines screen: a visual editor for pipeline graphs, their versions and their runs.

``PipelineEditorModel`` holds the state and the actions (pick a pipeline, add, delete,
connect and disconnect steps, edit a step's parameters, save a version, diff two
versions, run in the background and follow the steps' statuses, read a step's log and
output, the history of runs). It speaks only the pipelines API (no SQL), so tests drive it
directly. ``PipelineEditor`` is its view: the graph drawn left to right with Bokeh (nodes
coloured by step status), and the forms around it::

    wb.ui.pipelines.PipelineEditor(store)            # in a notebook or panel serve

Every edit makes a new draft and validates it first: an edit that would make the graph
invalid (a cycle, an unknown callable, a parameter the callable does not take, a duplicate
step name) is refused with the validation message and the draft stays as it was.

The graph panel is :mod:`.graph` and the tabs under the forms :mod:`.tabs` (mixins); this
module builds the forms, the run controls and the live updates.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from typing import Any

import panel as pn

from workbench.store.store import Store
from workbench.ui.components.widgets import ErrorBanner
from workbench.ui.pipelines.fields import _text
from workbench.ui.pipelines.graph import _GraphPanel
from workbench.ui.pipelines.live import LIVE_MS
from workbench.ui.pipelines.model import (
    _SETTINGS,
    BUILTIN_STEPS,
    POLL_MS,
    PipelineEditorModel,
)
from workbench.ui.pipelines.tabs import _ResultTabs


class PipelineEditor(_GraphPanel, _ResultTabs, pn.viewable.Viewer):
    """The Pipelines page. ``on_open(run_id)`` opens a run; ``on_compare(run_ids)`` compares runs."""

    def __init__(self, store: Store | None = None, on_open: Callable[[str], None] | None = None,
                 on_compare: Callable[[list[str]], None] | None = None, *,
                 model: PipelineEditorModel | None = None, sync_url: bool = True) -> None:
        super().__init__()
        if model is None:
            if store is None:
                raise TypeError("PipelineEditor needs a store (or a model)")
            model = PipelineEditorModel(store)
        self.model = model
        self.on_open = on_open
        self.on_compare = on_compare
        self._poller = None
        self._syncing = False
        self._param_widgets: dict[str, Any] = {}
        self._live_poller = None
        self._build()
        if sync_url:
            self._sync_url()
        self._start_live()

    # -- building ------------------------------------------------------------------------------
    def _build(self) -> None:
        m = self.model
        self._errors = ErrorBanner(message=m.error)
        m.param.watch(lambda e: setattr(self._errors, "message", e.new), "error")
        self._message = pn.pane.Alert("", alert_type="success", visible=False,
                                      sizing_mode="stretch_width", css_classes=["wb-message"])

        # choosing a pipeline
        self._pick = pn.widgets.Select(label="Pipeline", options=m.names, value=m.pipeline_name or None,
                                       width=220, css_classes=["wb-pl-pick"])
        self._pick.param.watch(self._on_pick, "value")
        self._template = pn.widgets.Button(label="New from template", width=150, align="end",
                                           css_classes=["wb-pl-template"])
        self._template.on_click(lambda e: m.new_from_template())
        self._new_name = pn.widgets.TextInput(label="New pipeline", placeholder="name", width=170,
                                              css_classes=["wb-pl-new-name"])
        self._new = pn.widgets.Button(label="New empty", width=100, align="end",
                                      css_classes=["wb-pl-new"])
        self._new.on_click(lambda e: m.new_pipeline(self._new_name.value))
        self._reload = pn.widgets.Button(label="Refresh", width=90, align="end",
                                         css_classes=["wb-pl-refresh"])
        self._reload.on_click(lambda e: m.reload())
        self._title = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-pl-title"],
                                   margin=(5, 10))

        # the graph
        self._build_graph()
        self._strip = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-pl-strip"],
                                   margin=(0, 10))

        # add a step
        self._add_name = pn.widgets.TextInput(label="Step name", width=200,
                                              css_classes=["wb-pl-add-name"])
        self._add_builtin = pn.widgets.Select(label="Built-in step", options=BUILTIN_STEPS,
                                              value="identity", width=200,
                                              css_classes=["wb-pl-add-builtin"])
        self._add_callable = pn.widgets.TextInput(
            label="…or a callable", placeholder="package.module:function", width=200,
            css_classes=["wb-pl-add-callable"])
        self._add_inputs = pn.widgets.MultiChoice(label="Takes outputs of", options=[], width=200,
                                                  css_classes=["wb-pl-add-inputs"])
        self._add = pn.widgets.Button(label="Add step", color="primary", width=200,
                                      css_classes=["wb-pl-add"])
        self._add.on_click(self._on_add)
        add_card = pn.Column(pn.pane.Markdown("#### Add a step", margin=(0, 10)), self._add_name,
                             self._add_builtin, self._add_callable, self._add_inputs, self._add,
                             width=225, css_classes=["wb-pl-card", "wb-pl-add-card"])

        # connect / disconnect
        self._from = pn.widgets.Select(label="From", options=[], width=200,
                                       css_classes=["wb-pl-from"])
        self._to = pn.widgets.Select(label="To", options=[], width=200, css_classes=["wb-pl-to"])
        self._argument = pn.widgets.TextInput(label="As argument (optional)", width=200,
                                              css_classes=["wb-pl-argument"])
        self._connect = pn.widgets.Button(label="Connect", color="primary", width=90,
                                          css_classes=["wb-pl-connect"])
        self._connect.on_click(lambda e: m.connect(self._from.value, self._to.value,
                                                   self._argument.value))
        self._disconnect = pn.widgets.Button(label="Disconnect", width=90,
                                             css_classes=["wb-pl-disconnect"])
        self._disconnect.on_click(lambda e: m.disconnect(self._from.value, self._to.value))
        connect_card = pn.Column(pn.pane.Markdown("#### Connect steps", margin=(0, 10)),
                                 self._from, self._to, self._argument,
                                 pn.Row(self._connect, self._disconnect),
                                 width=225, css_classes=["wb-pl-card", "wb-pl-connect-card"])

        # the selected step: parameters
        self._step = pn.widgets.Select(label="Step", options=[], width=200,
                                       css_classes=["wb-pl-step"])
        self._step.param.watch(self._on_step_pick, "value")
        self._delete = pn.widgets.Button(label="Delete step", color="danger", width=100,
                                         align="end", css_classes=["wb-pl-delete"])
        self._delete.on_click(lambda e: m.delete_step(m.selected))
        self._form = pn.Column(sizing_mode="stretch_width", css_classes=["wb-pl-form"])
        self._apply = pn.widgets.Button(label="Apply parameters", color="primary", width=150,
                                        css_classes=["wb-pl-apply"])
        self._apply.on_click(self._on_apply)
        step_card = pn.Column(pn.pane.Markdown("#### Step parameters", margin=(0, 10)),
                              pn.Row(self._step, self._delete), self._form, self._apply,
                              min_width=330, styles={"flex": "1 1 330px"},
                              css_classes=["wb-pl-card", "wb-pl-step-card"])

        # save and run
        self._save_message = pn.widgets.TextInput(label="Version message", width=200,
                                                  css_classes=["wb-pl-save-message"])
        self._save = pn.widgets.Button(label="Save version", color="success", width=200,
                                       css_classes=["wb-pl-save"])
        self._save.on_click(lambda e: m.save(self._save_message.value))
        self._from_step = pn.widgets.Select(label="Run from step", options={"(all steps)": ""},
                                            value="", width=200, css_classes=["wb-pl-from-step"])
        self._force = pn.widgets.Checkbox(label="ignore the cache", value=False, width=200,
                                          css_classes=["wb-pl-force"])
        self._backend = pn.widgets.Select(
            label="Backend", options={"default": "", "loky (processes)": "loky",
                                      "dask (cluster)": "dask", "sequential": "sequential"},
            description="default: $WORKBENCH_PIPELINE_BACKEND, else loky",
            value="", width=200, css_classes=["wb-pl-backend"])
        self._n_jobs = pn.widgets.IntInput(label="Parallel steps (n_jobs)", value=1, start=1,
                                           end=16, width=200, css_classes=["wb-pl-n-jobs"])
        self._run = pn.widgets.Button(label="Run", color="primary", width=200,
                                      css_classes=["wb-pl-run"])
        self._run.on_click(self._on_run)
        self._cancel = pn.widgets.Button(label="Cancel run", color="danger", width=200,
                                         visible=False, css_classes=["wb-pl-cancel"])
        self._cancel.on_click(lambda e: m.cancel_run())
        self._progress = pn.indicators.Progress(active=False, visible=False, width=200,
                                                css_classes=["wb-pl-progress"])
        run_card = pn.Column(pn.pane.Markdown("#### Save and run", margin=(0, 10)),
                             self._save_message, self._save, self._from_step, self._force,
                             self._n_jobs, self._backend, self._run, self._cancel,
                             self._progress,
                             width=225, css_classes=["wb-pl-card", "wb-pl-run-card"])

        self._graph_block = pn.Column(self._title, self._graph_pane, self._strip,
                                      sizing_mode="stretch_width", css_classes=["wb-pl-graph-block"])
        self._editor = pn.Column(
            # a wrapping row: at 1024 px the cards go onto two lines instead of off the page
            pn.FlexBox(add_card, connect_card, step_card, run_card, flex_wrap="wrap",
                       sizing_mode="stretch_width", css_classes=["wb-pl-cards"]),
            self._build_tabs(), sizing_mode="stretch_width", css_classes=["wb-pl-editor"],
        )
        self._empty = pn.pane.Alert(
            "No pipeline saved in this store yet. Click **New from template** for the lifecycle "
            "template (extract → clean → features → split → validate → train → evaluate → "
            "register on the sample churn data), or name a new pipeline and click **New empty**.",
            alert_type="info", sizing_mode="stretch_width", css_classes=["wb-pl-none"])
        # messages sit between the graph and the forms: refusals show where the user edits
        self._layout = pn.Column(
            pn.FlexBox(self._pick, self._reload, self._template, self._new_name, self._new,
                       flex_wrap="wrap", align_items="flex-end", sizing_mode="stretch_width"),
            self._empty, self._graph_block, self._errors, self._message, self._editor,
            sizing_mode="stretch_width", css_classes=["wb-pipelines"],
        )
        m.param.watch(self._sync_names, ["names", "pipeline_name"])
        m.param.watch(self._sync_graph, ["revision", "statuses"])
        m.param.watch(self._sync_structure, ["revision"])
        m.param.watch(self._sync_form, ["selected", "revision"])
        m.param.watch(self._sync_graph, ["selected", "running"])
        m.param.watch(self._sync_detail, ["detail"])
        m.param.watch(self._sync_versions, ["versions", "saved_version", "dirty"])
        m.param.watch(self._sync_diff, ["diff"])
        m.param.watch(self._sync_history, ["history"])
        m.param.watch(self._sync_message, ["message", "error"])
        m.param.watch(self._sync_running, ["running"])
        self._sync_everything()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # -- events ------------------------------------------------------------------------------
    def _on_pick(self, event: Any) -> None:
        m = self.model
        if event.new and event.new != m.pipeline_name and not m.load(event.new):
            self._pick.value = m.pipeline_name if m.pipeline_name in self._pick.options else None

    def _on_step_pick(self, event: Any) -> None:
        if not self._syncing and (event.new or "") != self.model.selected:
            self.model.select_step(event.new or "")

    def _on_add(self, event: Any) -> None:
        func = self._add_callable.value.strip() or self._add_builtin.value
        if self.model.add_step(self._add_name.value, func, list(self._add_inputs.value)):
            self._add_name.value = ""
            self._add_callable.value = ""
            self._add_inputs.value = []

    def _on_apply(self, event: Any) -> None:
        values, settings = {}, {}
        for key, widget in self._param_widgets.items():
            value = getattr(widget, "value_input", None)
            value = widget.value if value is None else value
            if key.startswith("setting:"):
                settings[key.split(":", 1)[1]] = value
            else:
                values[key] = value
        self.model.set_params(self.model.selected, values, settings)

    def _on_run(self, event: Any) -> None:
        n_jobs = int(self._n_jobs.value or 1)
        if self.model.start_run(from_step=self._from_step.value or None,
                                force=bool(self._force.value), n_jobs=n_jobs,
                                backend=self._backend.value or None):
            self._start_polling()

    def _start_polling(self) -> None:
        if self._poller is not None:
            return
        try:
            self._poller = pn.state.add_periodic_callback(self._tick, period=POLL_MS)
        except Exception:  # no server/session (e.g. a static notebook render): poll once later
            self._poller = None

    def _tick(self) -> None:
        if not self.model.poll() and self._poller is not None:
            self._poller.stop()
            self._poller = None

    # -- sync ----------------------------------------------------------------------------------
    def _sync_everything(self) -> None:
        self._sync_names()
        self._sync_structure()
        self._sync_graph()
        self._sync_form()
        self._sync_detail()
        self._sync_versions()
        self._sync_diff()
        self._sync_history()
        self._sync_message()

    def _sync_names(self, *events: Any) -> None:
        m = self.model
        options = list(m.names)
        if m.pipeline_name and m.pipeline_name not in options:
            options.append(m.pipeline_name)
        self._pick.options = options
        self._pick.value = m.pipeline_name or None
        self._empty.visible = m.pipeline is None
        self._editor.visible = self._graph_block.visible = m.pipeline is not None

    def _sync_structure(self, *events: Any) -> None:
        m = self.model
        names = m.step_names
        self._empty.visible = m.pipeline is None
        self._editor.visible = self._graph_block.visible = m.pipeline is not None
        self._add_inputs.options = names
        self._add_inputs.value = [v for v in self._add_inputs.value if v in names]
        for widget in (self._from, self._to):
            keep = widget.value
            widget.options = names
            widget.value = keep if keep in names else (names[0] if names else None)
        if self._to.value == self._from.value and len(names) > 1:
            self._to.value = names[1]
        self._from_step.options = {"(all steps)": "", **{n: n for n in names}}
        if self._from_step.value not in ("", *names):
            self._from_step.value = ""
        self._yaml.object = f"<pre class='wb-pl-yaml-text'>{html.escape(m.to_yaml())}</pre>"
        self._yaml_download.filename = f"{m.pipeline.name if m.pipeline else 'pipeline'}.yaml"
        self._sync_title()

    def _sync_title(self, *events: Any) -> None:
        m = self.model
        if m.pipeline is None:
            self._title.object = ""
            return
        edges = m.pipeline.edges()
        version = f"version {m.saved_version}" if m.saved_version else "not saved yet"
        state = " · <b>unsaved changes</b>" if m.dirty else ""
        edge_text = ", ".join(f"{a} → {b}" for a, b in edges) or "none"
        self._title.object = (
            f"<div class='wb-pl-summary'><b>{html.escape(m.pipeline.name)}</b> · {version}{state}"
            f" · {len(m.pipeline.steps)} steps · edges: <span class='wb-pl-edges'>"
            f"{html.escape(edge_text)}</span></div>"
        )

    def _sync_form(self, *events: Any) -> None:
        m = self.model
        self._syncing = True
        try:
            self._step.options = m.step_names
            self._step.value = m.selected if m.selected in m.step_names else None
        finally:
            self._syncing = False
        self._param_widgets = {}
        if not m.selected or m.pipeline is None:
            self._form.objects = [pn.pane.Markdown("Select a step (click it in the graph).",
                                                   margin=(0, 10))]
            self._delete.disabled = self._apply.disabled = True
            return
        self._delete.disabled = self._apply.disabled = m.running
        step = m.pipeline.step(m.selected)
        widgets = []
        for f in m.param_fields(m.selected):
            label = f"{f.name}{' *' if f.required else ''}" + (f" ({f.annotation})" if f.annotation else "")
            css = ["wb-pl-param", f"wb-pl-param-{f.name}"]
            if f.kind == "bool":
                w = pn.widgets.Checkbox(label=label, value=bool(f.value), css_classes=css,
                                        width=300)
            else:
                placeholder = "" if f.required else f"default: {_text(f.kind, f.default) or 'None'}"
                # value_input too: Panel starts it empty, and Apply reads it (it holds typed text
                # not yet committed by Enter or blur)
                w = pn.widgets.TextInput(label=label, value=f.text, value_input=f.text,
                                         placeholder=placeholder, css_classes=css, width=300)
            self._param_widgets[f.name] = w
            widgets.append(w)
        for key in _SETTINGS:
            v = getattr(step, key)
            text = "" if v is None else str(v)
            w = pn.widgets.TextInput(label=f"{key}{' (s)' if key != 'retries' else ''}",
                                     value=text, value_input=text,
                                     placeholder=f"default: {step.setting(key)}", width=95,
                                     css_classes=["wb-pl-setting", f"wb-pl-setting-{key}"])
            self._param_widgets[f"setting:{key}"] = w
        header = pn.pane.HTML(
            f"<span class='wb-pl-form-step' data-step='{html.escape(step.name)}'><b>"
            f"{html.escape(step.name)}</b></span> · <code>{html.escape(step.ref)}</code> · inputs: "
            f"{html.escape(', '.join(step.input_steps) or 'none')}", margin=(0, 10))
        settings = pn.Row(*[self._param_widgets[f"setting:{k}"] for k in _SETTINGS])
        self._keep_drafts(step.name)
        if not widgets:
            widgets = [pn.pane.Markdown("The callable takes no parameters besides its inputs.",
                                        margin=(0, 10))]
        self._form.objects = [header, *widgets, settings]

    def _keep_drafts(self, step: str) -> None:
        """Show the step's values typed earlier but not applied; remember new ones."""
        m = self.model
        drafts = m.draft_values(step)
        for key, widget in self._param_widgets.items():
            if key in drafts:
                widget.value = drafts[key]
                if hasattr(widget, "value_input"):
                    widget.value_input = drafts[key]
            name = "value_input" if hasattr(widget, "value_input") else "value"
            widget.param.watch(lambda e, k=key: m.note_draft(step, k, e.new), name)

    # -- the URL and the store changing elsewhere ----------------------------------------------
    def _sync_url(self) -> None:
        """``?pipeline=<name>`` selects the pipeline, and follows the one being edited."""
        loc = pn.state.location
        if loc is None:
            return
        wanted = str((loc.query_params or {}).get("pipeline") or "")
        m = self.model
        if wanted and wanted != m.pipeline_name and wanted in m.names:
            m.load(wanted)

        def follow(event: Any) -> None:
            if event.new:
                loc.update_query(pipeline=event.new)

        m.param.watch(follow, "pipeline_name")
        if m.pipeline_name and wanted != m.pipeline_name:
            loc.update_query(pipeline=m.pipeline_name)

    def _start_live(self) -> None:
        if pn.state.curdoc is None or pn.state.curdoc.session_context is None:
            return  # not served (a static render): nothing to poll
        try:
            self._live_poller = pn.state.add_periodic_callback(self._live_tick, period=LIVE_MS)
        except Exception:
            self._live_poller = None

    async def _live_tick(self) -> None:
        # the store query runs in a thread, so the page's event loop never waits for it;
        # only a reload after a real change runs on the loop
        if await asyncio.to_thread(self.model.live_changed):
            self.model.apply_live()

    def _sync_message(self, *events: Any) -> None:
        m = self.model
        self._message.object = html.escape(m.message)
        self._message.visible = bool(m.message) and not m.error

    def _sync_running(self, *events: Any) -> None:
        running = self.model.running
        for w in (self._run, self._add, self._connect, self._disconnect, self._delete,
                  self._apply, self._save, self._template, self._new):
            w.disabled = running
        self._progress.visible = self._progress.active = running
        self._cancel.visible = running
        self._run.label = "Running…" if running else "Run"
        if not running:
            self._sync_form()
