"""The Compare screen's Bokeh plots: parallel coordinates and scatter, from a CompareModel.

Apart from the view-model (:mod:`.model`), which builds no Bokeh figure itself:
the metrics chart is an ECharts option (``CompareModel.history_chart``, built in :mod:`.chart`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    FixedTicker,
    HoverTool,
    LinearColorMapper,
    Span,
)
from bokeh.palettes import Viridis256
from bokeh.plotting import figure

from workbench.ui.compare.model import NA_POSITION

if TYPE_CHECKING:
    from workbench.ui.compare.model import CompareModel


def parallel_plot(model: CompareModel):
    """Parallel coordinates as a Bokeh figure: one line per run, coloured by the metric."""
    axes = model.parallel_axes()
    if len(axes) < 2:
        fig = figure(width=700, height=120, toolbar_location=None, x_range=(0, 1), y_range=(0, 1))
        fig.axis.visible = False
        fig.grid.visible = False
        fig.text([0.02], [0.5], text=["Parallel coordinates need at least one differing param "
                                      "and a metric."], text_baseline="middle")
        return fig
    metric = model.parallel_metric
    column = f"metrics.{metric}"
    values = (pd.to_numeric(model.runs[column], errors="coerce") if column in model.runs.columns
              else pd.Series(np.nan, index=model.runs.index)).to_numpy(dtype=float)
    xs = np.arange(len(axes), dtype=float)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    palette = Viridis256 if model.direction(metric) == "max" else Viridis256[::-1]
    mapper = LinearColorMapper(palette=palette, low=low, high=high if high > low else low + 1,
                               nan_color="#bbbbbb")
    fig = figure(title=f"Parameters against {metric}", width=max(560, 120 * len(axes) + 160),
                 height=380, x_range=(-0.2, len(axes) - 0.6), toolbar_location="above",
                 y_range=(NA_POSITION - 0.06, 1.06), tools="pan,wheel_zoom,box_zoom,reset,save")
    for x in xs:
        fig.add_layout(Span(location=float(x), dimension="height", line_color="#555",
                            line_width=1))
    source = ColumnDataSource({
        "xs": [xs] * len(model.runs),
        "ys": [np.array([a["positions"][i] for a in axes]) for i in range(len(model.runs))],
        "run": model.runs["label"].tolist(), "value": values,
    })
    lines = fig.multi_line("xs", "ys", source=source, line_width=2.5, alpha=0.85,
                           line_color={"field": "value", "transform": mapper},
                           hover_line_width=4)
    fig.add_tools(HoverTool(renderers=[lines], tooltips=[("run", "@run"), (metric, "@value")]))
    ticks = [(float(x) + 0.03, float(p), t) for x, a in zip(xs, axes, strict=False)
             for p, t in a["ticks"]]
    fig.text([t[0] for t in ticks], [t[1] for t in ticks], text=[t[2] for t in ticks],
             text_font_size="8pt", text_color="#333", text_baseline="middle")
    fig.xaxis.ticker = FixedTicker(ticks=list(xs))
    fig.xaxis.major_label_overrides = {
        float(x): a["name"] + (" (log)" if a["kind"] == "log" else "") for x, a in zip(xs, axes, strict=False)
    }
    fig.yaxis.visible = False
    fig.grid.visible = False
    fig.add_layout(ColorBar(color_mapper=mapper, title=metric, width=12), "right")
    return fig


def scatter_plot(model: CompareModel):
    """A Bokeh scatter of ``scatter_y`` against ``scatter_x``, one point per run."""
    frame = model.scatter_frame()
    xname, yname = model._choice_label(model.scatter_x), model._choice_label(model.scatter_y)
    kinds, ranges = {}, {}
    for axis in ("x", "y"):
        col = frame[axis]
        numeric = len(col) and pd.api.types.is_numeric_dtype(col)
        if not numeric:  # text values: a categorical axis of the values present
            ranges[axis] = sorted(col.astype(str).unique().tolist())
            frame = frame.assign(**{axis: col.astype(str)})
        kinds[axis] = ("log" if numeric and (col > 0).all() and col.max() / col.min() >= 100
                       else "linear")
    fig = figure(title=f"{yname} vs {xname}", width=560, height=380, toolbar_location="above",
                 x_axis_label=xname, y_axis_label=yname,
                 x_axis_type=kinds["x"] if "x" not in ranges else "auto",
                 y_axis_type=kinds["y"] if "y" not in ranges else "auto",
                 tools="pan,wheel_zoom,box_zoom,reset,save",
                 **{f"{axis}_range": factors for axis, factors in ranges.items()})
    points = fig.scatter("x", "y", source=ColumnDataSource(frame), size=11, alpha=0.85,
                         fill_color="color", line_color="black")
    fig.add_tools(HoverTool(renderers=[points],
                            tooltips=[("run", "@run"), (xname, "@x"), (yname, "@y")]))
    return fig
