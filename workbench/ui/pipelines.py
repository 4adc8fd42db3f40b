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
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn

from workbench.pipelines.graph import Pipeline
from workbench.store.store import Store
from workbench.ui.pipelines_model import (
    _SETTINGS,
    BUILTIN_STEPS,
    POLL_MS,
    STEP_COLOURS,
    PipelineEditorModel,
    _text,
    step_colour,
)
from workbench.ui.widgets import ErrorBanner, short_id


def _graph_data(pipe: Pipeline | None, statuses: dict[str, str]) -> tuple[dict, dict, tuple]:
    """Bokeh column data of nodes and edges, and the plot's (x0, x1, y0, y1)."""
    nodes: dict[str, list] = {k: [] for k in ("name", "x", "y", "colour", "status", "callable",
                                              "label_y", "status_y")}
    edges: dict[str, list] = {k: [] for k in ("x0", "y0", "x1", "y1", "cx0", "cy0", "cx1", "cy1",
                                              "tip_x", "tip_y")}
    if pipe is None or not pipe.steps:
        return nodes, edges, (-1.0, 1.0, -1.0, 1.0)
    try:
        pos = pipe.layout()
    except Exception:  # a graph that cannot be laid out (never a valid draft): a column
        pos = {n: (0.0, -float(i)) for i, n in enumerate(pipe.step_names)}
    for s in pipe.steps:
        x, y = pos[s.name]
        status = statuses.get(s.name)
        nodes["name"].append(s.name)
        nodes["x"].append(x)
        nodes["y"].append(y)
        nodes["colour"].append(step_colour(status))
        nodes["status"].append(status or "not run")
        nodes["callable"].append(s.ref)
        nodes["label_y"].append(y + 0.07)
        nodes["status_y"].append(y - 0.14)
    # Edges are cubic Bezier curves from a node's right side to the next one's left side;
    # an edge that skips layers arcs over the steps between (alternately above and below).
    arc = 1.0
    for src, dst in pipe.edges():
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        sx, sy, ex, ey = x0 + 0.36, y0, x1 - 0.36, y1
        lift = 0.0
        if x1 - x0 > 1.0 and y0 == y1:
            lift, arc = arc * (0.6 + 0.1 * (x1 - x0 - 2)), -arc
        cx0, cy0, cx1, cy1 = sx + 0.25, sy + lift, ex - 0.25, ey + lift
        dx, dy = ex - cx1, ey - cy1
        norm = max((dx * dx + dy * dy) ** 0.5, 1e-9)
        for key, value in (("x0", sx), ("y0", sy), ("x1", ex), ("y1", ey), ("cx0", cx0),
                           ("cy0", cy0), ("cx1", cx1), ("cy1", cy1),
                           ("tip_x", ex - 0.02 * dx / norm), ("tip_y", ey - 0.02 * dy / norm)):
            edges[key].append(value)
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    return nodes, edges, (min(xs) - 0.6, max(xs) + 0.6, min(ys) - 0.6, max(ys) + 0.6)


class PipelineEditor(pn.viewable.Viewer):
    """The Pipelines page. ``on_open(run_id)`` opens a run; ``on_compare(run_ids)`` compares runs."""

    def __init__(self, store: Store | None = None, on_open: Callable[[str], None] | None = None,
                 on_compare: Callable[[list[str]], None] | None = None, *,
                 model: PipelineEditorModel | None = None) -> None:
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
        self._build()

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
                              min_width=330, sizing_mode="stretch_width",
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
        self._progress = pn.indicators.Progress(active=False, visible=False, width=200,
                                                css_classes=["wb-pl-progress"])
        run_card = pn.Column(pn.pane.Markdown("#### Save and run", margin=(0, 10)),
                             self._save_message, self._save, self._from_step, self._force,
                             self._n_jobs, self._backend, self._run, self._progress,
                             width=225, css_classes=["wb-pl-card", "wb-pl-run-card"])

        # tabs: step details, versions, history, YAML
        self._detail = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-pl-detail"])
        self._open_step = pn.widgets.Button(label="Open the step's run", width=180,
                                            css_classes=["wb-pl-open-step"], visible=False)
        self._open_step.on_click(lambda e: self._open(m.detail.get("run_id")))
        self._log = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-pl-log"])
        self._va = pn.widgets.Select(label="Version A", options=[], width=120,
                                     css_classes=["wb-pl-va"])
        self._vb = pn.widgets.Select(label="Version B", options=[], width=120,
                                     css_classes=["wb-pl-vb"])
        self._show_diff = pn.widgets.Button(label="Show diff", width=110, align="end",
                                            css_classes=["wb-pl-diff"])
        self._show_diff.on_click(lambda e: m.show_diff(self._va.value, self._vb.value)
                                 if self._va.value and self._vb.value else None)
        self._load_version = pn.widgets.Button(label="Edit version A", width=130, align="end",
                                               css_classes=["wb-pl-load-version"])
        self._load_version.on_click(lambda e: m.load(m.pipeline_name, self._va.value)
                                    if self._va.value else None)
        self._versions = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False,
                                              sizing_mode="stretch_width", layout="fit_data_table",
                                              max_height=260, css_classes=["wb-pl-versions"])
        self._diff = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-pl-diff-out"])
        self._history = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False,
                                             selectable="checkbox", hidden_columns=["run_id"],
                                             sizing_mode="stretch_width", layout="fit_data_table",
                                             max_height=320, css_classes=["wb-pl-history"])
        self._open_run = pn.widgets.Button(label="Open run", width=110,
                                           css_classes=["wb-pl-open-run"])
        self._open_run.on_click(self._on_open_run)
        self._compare = pn.widgets.Button(label="Compare selected", width=150,
                                          css_classes=["wb-pl-compare"])
        self._compare.on_click(self._on_compare)
        self._yaml = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-pl-yaml"])
        self._yaml_download = pn.widgets.FileDownload(
            callback=lambda: io.StringIO(m.to_yaml()), filename="pipeline.yaml",
            label="Download YAML", width=160, css_classes=["wb-pl-yaml-download"])
        self._yaml_upload = pn.widgets.FileInput(accept=".yaml,.yml", width=260,
                                                 css_classes=["wb-pl-yaml-upload"])
        self._yaml_upload.param.watch(self._on_upload, "value")
        self._tabs = pn.Tabs(
            ("Step log & output", pn.Column(self._detail, self._open_step, self._log,
                                            sizing_mode="stretch_width")),
            ("Versions & diff", pn.Column(
                pn.Row(self._va, self._vb, self._show_diff, self._load_version),
                self._diff, self._versions, sizing_mode="stretch_width")),
            ("Run history", pn.Column(
                pn.pane.Markdown("Durations per step in seconds; tick runs to compare them.",
                                 margin=(0, 10)),
                pn.Row(self._open_run, self._compare), self._history,
                sizing_mode="stretch_width")),
            ("YAML", pn.Column(pn.Row(self._yaml_download, self._yaml_upload), self._yaml,
                               sizing_mode="stretch_width")),
            dynamic=False, sizing_mode="stretch_width", css_classes=["wb-pl-tabs"],
        )

        self._graph_block = pn.Column(self._title, self._graph_pane, self._strip,
                                      sizing_mode="stretch_width", css_classes=["wb-pl-graph-block"])
        self._editor = pn.Column(
            pn.Row(add_card, connect_card, step_card, run_card, sizing_mode="stretch_width"),
            self._tabs, sizing_mode="stretch_width", css_classes=["wb-pl-editor"],
        )
        self._empty = pn.pane.Alert(
            "No pipeline saved in this store yet. Click **New from template** for the lifecycle "
            "template (extract → clean → features → split → validate → train → evaluate → "
            "register on the sample churn data), or name a new pipeline and click **New empty**.",
            alert_type="info", sizing_mode="stretch_width", css_classes=["wb-pl-none"])
        # messages sit between the graph and the forms: refusals show where the user edits
        self._layout = pn.Column(
            pn.Row(self._pick, self._reload, self._template, self._new_name, self._new),
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

    def _build_graph(self) -> None:
        self._nodes = None
        self._graph_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=260,
                                         css_classes=["wb-pl-graph"])

    def _figure(self, nodes: dict, edges: dict, ranges: tuple, height: int, selected: list[int]):
        """A new Bokeh figure of the graph (replacing the pane's object is safe from any
        callback, where changing a shown model in place is not)."""
        from bokeh.models import (
            Arrow,
            ColumnDataSource,
            HoverTool,
            Label,
            Range1d,
            TapTool,
            VeeHead,
        )
        from bokeh.plotting import figure

        x0, x1, y0, y1 = ranges
        source = ColumnDataSource(nodes)
        source.selected.indices = selected
        fig = figure(height=height, sizing_mode="stretch_width", x_range=Range1d(x0, x1),
                     y_range=Range1d(y0, y1), tools="", toolbar_location=None,
                     min_border=5, outline_line_color=None)
        fig.axis.visible = False
        fig.grid.visible = False
        if edges["x0"]:
            edge_source = ColumnDataSource(edges)
            fig.bezier("x0", "y0", "x1", "y1", "cx0", "cy0", "cx1", "cy1", source=edge_source,
                       line_color="#495057", line_width=2)
            fig.add_layout(Arrow(end=VeeHead(size=10, fill_color="#495057", line_color="#495057"),
                                 source=edge_source, x_start="tip_x", y_start="tip_y",
                                 x_end="x1", y_end="y1", line_color="#495057", line_width=1))
        rects = fig.rect("x", "y", width=0.72, height=0.5, source=source,
                         fill_color="colour", line_color="#343a40", line_width=1.5,
                         selection_line_color="#0d6efd", selection_line_width=4,
                         nonselection_fill_alpha=1.0, nonselection_line_alpha=1.0,
                         selection_fill_color="colour")
        fig.text("x", "label_y", text="name", source=source, text_align="center",
                 text_baseline="middle", text_font_size="13px", text_font_style="bold",
                 text_color="#212529", nonselection_text_alpha=1.0)
        fig.text("x", "status_y", text="status", source=source, text_align="center",
                 text_baseline="middle", text_font_size="10px", text_color="#343a40",
                 nonselection_text_alpha=1.0)
        fig.add_tools(TapTool(renderers=[rects]),
                      HoverTool(renderers=[rects], tooltips=[("step", "@name"),
                                                             ("callable", "@callable"),
                                                             ("status", "@status")]))
        if not nodes["name"]:
            fig.add_layout(Label(x=0, y=0, text="No steps yet: add one below.",
                                 text_align="center", text_baseline="middle",
                                 text_color="#6c757d", text_font_size="14px"))
        source.selected.on_change("indices", self._on_tap)
        self._nodes = source
        return fig

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

    def _on_tap(self, attr: str, old: list[int], new: list[int]) -> None:
        names = list(self._nodes.data.get("name", [])) if self._nodes is not None else []
        if new and new[0] < len(names) and names[new[0]] != self.model.selected:
            self.model.select_step(names[new[0]])

    def _on_add(self, event: Any) -> None:
        func = self._add_callable.value.strip() or self._add_builtin.value
        if self.model.add_step(self._add_name.value, func, list(self._add_inputs.value)):
            self._add_name.value = ""
            self._add_callable.value = ""
            self._add_inputs.value = []

    def _on_apply(self, event: Any) -> None:
        values, settings = {}, {}
        for key, widget in self._param_widgets.items():
            if key.startswith("setting:"):
                settings[key.split(":", 1)[1]] = widget.value
            else:
                values[key] = widget.value
        self.model.set_params(self.model.selected, values, settings)

    def _on_upload(self, event: Any) -> None:
        if not event.new:
            return
        data = event.new if isinstance(event.new, bytes) else str(event.new).encode()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.model.error = "Not imported: the file is not UTF-8 text"
            return
        self.model.import_yaml(text)

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

    def _open(self, run_id: str | None) -> None:
        if not run_id:
            return
        if self.on_open is not None:
            self.on_open(run_id)
        else:
            self.model.message = f"Run id: {run_id}"

    def _selected_history(self) -> list[str]:
        h = self.model.history
        if h is None or h.empty:
            return []
        return [str(h.iloc[i]["run_id"]) for i in self._history.selection if i < len(h)]

    def _on_open_run(self, event: Any) -> None:
        ids = self._selected_history()
        if not ids and self.model.history is not None and len(self.model.history):
            ids = [str(self.model.history.iloc[0]["run_id"])]
        if ids:
            self._open(ids[0])

    def _on_compare(self, event: Any) -> None:
        ids = self._selected_history()
        if len(ids) < 2:
            self.model.error = "Tick two or more runs in the history to compare them."
            return
        self.model.error = ""
        if self.on_compare is not None:
            self.on_compare(ids)

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

    def _sync_graph(self, *events: Any) -> None:
        m = self.model
        nodes, edges, (x0, x1, y0, y1) = _graph_data(m.pipeline, m.statuses)
        rows = max(1.0, y1 - y0)
        height = int(min(520, max(220, 110 * rows)))
        selected = [i for i, n in enumerate(nodes["name"]) if n == m.selected]
        key = (repr(nodes), repr(edges), height, tuple(selected))
        if key != getattr(self, "_graph_key", None):
            self._graph_key = key
            fig = self._figure(nodes, edges, (x0, max(x1, x0 + 5.0), y0, y1), height, selected)
            with pn.io.hold():
                self._graph_pane.height = height
                self._graph_pane.object = fig
        badges = []
        for n in nodes["name"]:
            status = m.statuses.get(n)
            cls = (status or "none").lower()
            badges.append(
                f"<span class='wb-step-status wb-step-{cls}' data-step='{html.escape(n)}' "
                f"style='background:{step_colour(status)};padding:2px 8px;margin:2px;"
                f"border-radius:10px;display:inline-block;border:1px solid #adb5bd'>"
                f"{html.escape(n)}: {html.escape(status or 'not run')}</span>")
        run = f" (run {short_id(m.status_run_id)})" if m.status_run_id else ""
        live = " — running…" if m.running else ""
        legend = " ".join(
            f"<span style='display:inline-block;width:10px;height:10px;background:{colour};"
            f"border:1px solid #adb5bd;margin:0 3px 0 8px'></span>{label}"
            for label, colour in (("succeeded", STEP_COLOURS["SUCCEEDED"]),
                                  ("cached", STEP_COLOURS["CACHED"]),
                                  ("running", STEP_COLOURS["RUNNING"]),
                                  ("failed", STEP_COLOURS["FAILED"]),
                                  ("cancelled", STEP_COLOURS["CANCELLED"]),
                                  ("killed", STEP_COLOURS["KILLED"]),
                                  ("not run", STEP_COLOURS[None])))
        self._strip.object = (
            f"<div>Step status{run}{live}: {''.join(badges)}</div>"
            f"<div style='color:#6c757d;font-size:0.85em'>{legend}</div>" if badges else "")
        self._sync_title()

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
                w = pn.widgets.TextInput(label=label, value=f.text, placeholder=placeholder,
                                         css_classes=css, width=300)
            self._param_widgets[f.name] = w
            widgets.append(w)
        for key in _SETTINGS:
            v = getattr(step, key)
            w = pn.widgets.TextInput(label=f"{key}{' (s)' if key != 'retries' else ''}",
                                     value="" if v is None else str(v),
                                     placeholder=f"default: {step.setting(key)}", width=95,
                                     css_classes=["wb-pl-setting", f"wb-pl-setting-{key}"])
            self._param_widgets[f"setting:{key}"] = w
        header = pn.pane.HTML(
            f"<span class='wb-pl-form-step' data-step='{html.escape(step.name)}'><b>"
            f"{html.escape(step.name)}</b></span> · <code>{html.escape(step.ref)}</code> · inputs: "
            f"{html.escape(', '.join(step.input_steps) or 'none')}", margin=(0, 10))
        settings = pn.Row(*[self._param_widgets[f"setting:{k}"] for k in _SETTINGS])
        if not widgets:
            widgets = [pn.pane.Markdown("The callable takes no parameters besides its inputs.",
                                        margin=(0, 10))]
        self._form.objects = [header, *widgets, settings]

    def _sync_detail(self, *events: Any) -> None:
        d = self.model.detail
        if not d:
            self._detail.object = "<p style='color:#6c757d'>Select a step to see its log and output.</p>"
            self._log.object = ""
            self._open_step.visible = False
            return
        rows = [("step", d.get("step")), ("callable", d.get("callable")),
                ("status", d.get("status") or "not run"), ("attempts", d.get("attempts")),
                ("duration (s)", None if d.get("duration_s") is None else f"{d['duration_s']:.3f}"),
                ("output hash", (d.get("output_sha") or "")[:16]), ("error", d.get("error"))]
        table = "".join(f"<tr><th style='padding-right:12px;text-align:left'>{html.escape(k)}</th>"
                        f"<td>{html.escape(str(v))}</td></tr>" for k, v in rows if v not in (None, ""))
        self._detail.object = f"<table class='wb-pl-detail-table'>{table}</table>"
        self._open_step.visible = bool(d.get("run_id"))
        parts = []
        if d.get("output"):
            parts.append("<h6>Output</h6><pre class='wb-pl-output' style='max-height:260px;"
                         f"overflow:auto;background:#f8f9fa;padding:6px'>{html.escape(d['output'])}</pre>")
        parts.append("<h6>Log</h6><pre class='wb-pl-log-text' style='max-height:320px;overflow:auto;"
                     f"background:#f8f9fa;padding:6px'>{html.escape(d.get('log') or '(empty)')}</pre>")
        self._log.object = "".join(parts)

    def _sync_versions(self, *events: Any) -> None:
        m = self.model
        df = m.versions
        if df is None or df.empty:
            self._versions.value = pd.DataFrame(columns=["version", "message", "steps", "created_at"])
            self._va.options = self._vb.options = []
        else:
            view = df[["version", "message", "steps", "created_by", "created_at"]].copy()
            view["created_at"] = view["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
            self._versions.value = view
            options = [int(v) for v in df["version"]]
            self._va.options = self._vb.options = options
            if self._vb.value not in options:
                self._vb.value = options[-1]
            if self._va.value not in options:
                self._va.value = options[-2] if len(options) > 1 else options[-1]
        self._sync_title()

    def _sync_diff(self, *events: Any) -> None:
        d = self.model.diff
        if d is None:
            self._diff.object = ""
            return
        a, b = self.model.diff_pair
        self._diff.object = (f"<h6>From version {a} to version {b}</h6>"
                             f"<pre class='wb-pl-diff-text'>{html.escape(str(d))}</pre>")

    def _sync_history(self, *events: Any) -> None:
        h = self.model.history
        self._history.value = h if h is not None else pd.DataFrame(columns=["run"])

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
        self._run.label = "Running…" if running else "Run"
        if not running:
            self._sync_form()
