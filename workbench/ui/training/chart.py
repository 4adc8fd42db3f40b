"""The Training screen's chart: each finished trial's metric, the best so far, failed trials marked.

Drawn with HoloViews from :meth:`TrainingModel.chart_frame` (the view-model stays free of
plotting libraries).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from workbench.ui.training.model import TrainingModel


def sweep_chart(m: TrainingModel) -> Any:
    """A HoloViews overlay: the metric of every finished trial and the best-so-far line.

    >>> sweep_chart(TrainingModel(store))  # doctest: +SKIP
    :Overlay ...
    """
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401 - registers the backend the options are for

    df = m.chart_frame()
    metric = m.metric or "value"
    finished = df[df["status"] == "FINISHED"].dropna(subset=["value"])
    kdim = hv.Dimension("trial", label="trial")
    vdim = hv.Dimension("value", label=metric)
    points = hv.Scatter(finished, kdim, [vdim, "status"], label=metric).opts(
        color="#0d6efd", size=7, tools=["hover"]
    )
    best = df.dropna(subset=["best"])
    line = hv.Curve(best, kdim, hv.Dimension("best", label=metric),
                    label=f"best so far ({m.mode})").opts(
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
    xmax = max(m.total - 1, int(df["trial"].max()) if len(df) else 0, 1)
    wanted = (xmax + 1) / 12
    step = next((k * 10**e for e in range(7) for k in (1, 2, 5) if k * 10**e >= wanted), 1)
    return overlay.opts(
        title=title, responsive=True, height=300, legend_position="bottom_right",
        xlim=(-0.5, xmax + 0.5), show_grid=True, xticks=list(range(0, xmax + 1, step)),
    )
