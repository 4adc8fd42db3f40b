"""The Pipelines screen's graph panel: the steps drawn left to right with Bokeh, coloured by status.

A part of :class:`~workbench.ui.pipelines.view.PipelineEditor` (a mixin: it builds
the graph pane on the view and redraws it from the shared
:class:`~workbench.ui.pipelines.model.PipelineEditorModel`): clicking a node
selects the step; under the graph, a strip of status badges and the legend.
"""

from __future__ import annotations

import html
from typing import Any

import panel as pn

from workbench.pipelines.graph import Pipeline
from workbench.ui.components.format import short_id
from workbench.ui.pipelines.model import STEP_COLOURS, PipelineEditorModel, step_colour


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


class _GraphPanel:
    """The graph of the draft pipeline, its step-status strip and node selection by click."""

    model: PipelineEditorModel

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

    def _on_tap(self, attr: str, old: list[int], new: list[int]) -> None:
        names = list(self._nodes.data.get("name", [])) if self._nodes is not None else []
        if new and new[0] < len(names) and names[new[0]] != self.model.selected:
            self.model.select_step(names[new[0]])

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
