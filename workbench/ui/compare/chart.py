"""The Compare screen's metrics chart: one ECharts option, a grid per metric, from a CompareModel.

A metric with several steps is a **history** grid (one line per run); a metric with at most
one point in every run (a final accuracy, AUC, F1) is a **bar** grid (one bar per run, the
best one highlighted), since a one-point history is a lone dot on an empty step axis. The
view-model (:class:`~workbench.ui.compare.model.CompareModel`) holds the data and the
directions; this module only lays them out (no Panel, no store query of its own).

One canvas for all metrics is what keeps Compare fast: a Bokeh figure per metric cost the
browser about 0.2 s each to lay out (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# the functions take the CompareModel (not imported: it imports this module)
CompareModel = Any

CHART_COLUMNS = 2  # metric charts per row
CHART_ROW_HEIGHT = 320  # pixels per row of metric charts (title, grid, x axis name)
LEGEND_HEIGHT = 40  # pixels above the first row: the runs' legend and the toolbox
SYMBOLS_UP_TO = 30  # histories of at most this many points are drawn with point markers
BAR_HEIGHT = 22  # pixels per run in a bar grid (a metric with one value per run)


def format_bar_value(value: float) -> str:
    """The label of a bar: 4 decimals (as the Latest values table) below 1000, else 6
    significant digits; 4 significant digits for tiny values.

    >>> format_bar_value(0.93125), format_bar_value(1234.5), format_bar_value(2.5e-6)
    ('0.9313', '1234.5', '2.5e-06')
    """
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.4g}"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:.6g}"


def chart_layout(model: CompareModel) -> list[dict[str, Any]]:
    """Where each charted metric goes: ``{"key", "kind" ("history" | "bars"), "top",
    "left", "height"}`` (grid top and height in pixels, left in percent).

    Histories first, then the single-value metrics, two per row; a bar grid is
    :data:`BAR_HEIGHT` pixels per run (at least as tall as a history grid), and the next
    row starts below the taller grid of a row.
    """
    if model.runs is None:
        return []
    single = set(model.single_value_metrics)
    chosen = list(model.chart_metrics)
    keys = ([(k, "history") for k in chosen if k not in single]
            + [(k, "bars") for k in chosen if k in single])
    grid_height = CHART_ROW_HEIGHT - 100
    bar_height = max(grid_height, BAR_HEIGHT * len(model.runs))
    out, top = [], LEGEND_HEIGHT
    for start in range(0, len(keys), CHART_COLUMNS):
        row = keys[start:start + CHART_COLUMNS]
        heights = [bar_height if kind == "bars" else grid_height for _k, kind in row]
        for col, ((key, kind), height) in enumerate(zip(row, heights, strict=True)):
            out.append({"key": key, "kind": kind, "top": top + 36, "left": col * 50 + 6,
                        "height": height})
        top += max(heights) + 100
    return out


def metrics_chart(model: CompareModel) -> dict[str, Any]:
    """One ECharts option drawing every metric of ``chart_metrics``: a grid per metric.

    A metric with several steps gets a history grid: one line per run having the
    metric, in the run's colour (the same in every grid, so one legend serves all and
    clicking a run there hides it everywhere); the best run's line is drawn thicker and
    named in the grid's title. The history x axes zoom together (mouse wheel, or the
    toolbox's box zoom) and share one crosshair. Points go as flat ``[x0, y0, x1, y1,
    ...]`` float arrays, which Bokeh ships as binary buffers.

    A metric with one value per run (``model.single_value_metrics``) gets a bar grid
    instead: one horizontal bar per run (a series named after the run, in its colour),
    runs top to bottom in their order, each bar labelled with its value. The best run
    (by ``model.direction``, when ``model.direction_known``; else the highest value, and the
    title says so) is drawn opaque with a dark border and a star; the others paler.

    >>> import tempfile, os, workbench as wb
    >>> from workbench.ui.compare.model import CompareModel
    >>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> ids = []
    >>> for name, auc in (("a", 0.91), ("b", 0.87)):
    ...     with wb.start_run(experiment="e", run_name=name, store=store) as run:
    ...         run.log_metric("auc", auc)
    ...     ids.append(run.id)
    >>> option = metrics_chart(CompareModel(store=store, run_ids=ids))
    >>> option["title"][0]["text"], [s["type"] for s in option["series"]]
    ('auc (higher is better) · best: a', ['bar', 'bar'])
    >>> [b["label"] for b in chart_bars(option, 0)]
    ['0.9100 ★', '0.8700']
    """
    layout = chart_layout(model)
    labels = dict(zip(model.runs["run_id"], model.runs["label"], strict=True)) if layout else {}
    best = model.best_runs() if layout else {}
    grids, x_axes, y_axes, titles, series = [], [], [], [], []
    for i, place in enumerate(layout):
        key, left = place["key"], f"{place['left']}%"
        if place["kind"] == "bars":
            winner, mode = model.bar_highlight(key)
        else:
            winner, mode = best.get(key), "best"
        if mode == "best":
            title = f"{key} ({'higher' if model.direction(key) == 'max' else 'lower'} is better)"
        else:
            title = f"{key} (which way is better is not known)"
        if winner is not None:
            title += f" · {mode}: {labels[winner]}"
        titles.append({"text": title, "left": left, "top": place["top"] - 36,
                       "textStyle": {"fontSize": 13, "fontWeight": "normal"}})
        grid = {"left": left, "width": "40%", "top": place["top"], "height": place["height"]}
        if place["kind"] == "bars":  # narrower: room on the right for the longest bar's label
            grids.append({**grid, "width": "36%", "containLabel": True})
            x, y, bars = _bar_grid(model, i, key, winner, mode)
            x_axes.append(x)
            y_axes.append(y)
            series += bars
        else:
            grids.append(grid)
            x, y, lines = _history_grid(model, i, key, winner)
            x_axes.append(x)
            y_axes.append(y)
            series += lines
    zoomed = [i for i, place in enumerate(layout) if place["kind"] == "history"]
    features: dict[str, Any] = {
        "restore": {"title": "Reset"}, "saveAsImage": {"title": "Save as PNG"}}
    if zoomed:
        features = {"dataZoom": {"xAxisIndex": zoomed, "yAxisIndex": "none",
                                 "title": {"zoom": "Box zoom (x)", "back": "Undo zoom"}},
                    **features}
    return {
        "animation": False,
        "title": titles, "grid": grids, "xAxis": x_axes, "yAxis": y_axes, "series": series,
        "legend": {"type": "scroll", "top": 0, "left": 0, "width": "82%",
                   "data": [labels[r] for r in labels],
                   # the runs' plain colours (not the outline or paleness of a bar)
                   "itemStyle": {"opacity": 1, "borderWidth": 0}},
        "tooltip": {"trigger": "axis", "order": "valueDesc", "confine": True},
        "axisPointer": {"link": [{"xAxisIndex": zoomed}] if zoomed else []},
        "toolbox": {"right": 10, "top": 0, "feature": features},
        "dataZoom": [{"type": "inside", "xAxisIndex": zoomed}] if zoomed else [],
    }


def _history_grid(model: CompareModel, i: int, key: str, winner: str | None
                  ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The x axis, y axis and line series of history grid ``i``."""
    time_axis = model.x_axis == "wall time"
    labels = dict(zip(model.runs["run_id"], model.runs["label"], strict=True))
    colors = dict(zip(model.runs["run_id"], model.runs["color"], strict=True))
    x_axis = {"gridIndex": i, "type": "time" if time_axis else "value",
              "name": model.x_label(), "nameLocation": "middle", "nameGap": 26,
              "scale": not time_axis}
    y_axis = {"gridIndex": i, "type": "log" if model.log_y else "value",
              "scale": True, "axisLabel": {"hideOverlap": True}}
    lines = []
    for run_id, x, y, _values in model._curves(key):
        if time_axis:  # ECharts' time axis takes epoch milliseconds
            x = x.astype("datetime64[ms]").astype(np.int64)
        points = np.column_stack([x.astype(float), y])
        if model.log_y:
            points = points[points[:, 1] > 0]
        lines.append({
            "type": "line", "name": labels[run_id], "xAxisIndex": i, "yAxisIndex": i,
            "data": points.ravel(), "color": colors[run_id],
            # markers on short histories: a line of one point draws nothing
            "showSymbol": len(points) <= SYMBOLS_UP_TO, "symbolSize": 5,
            "lineStyle": {"width": 3.2 if run_id == winner else 1.6},
            "z": 3 if run_id == winner else 2, "emphasis": {"focus": "series"},
            "sampling": "lttb", "animation": False,
        })
    return x_axis, y_axis, lines


def _bar_grid(model: CompareModel, i: int, key: str, winner: str | None, mode: str
              ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The value axis, run axis and bar series (one per run having a value) of grid ``i``."""
    frame = model.bar_frame(key)
    x_axis = {"gridIndex": i, "type": "value", "name": "value (one per run)",
              "nameLocation": "middle", "nameGap": 26, "scale": False,
              "axisLabel": {"hideOverlap": True}}
    y_axis = {"gridIndex": i, "type": "category", "data": frame["run"].tolist(),
              "inverse": True, "axisTick": {"alignWithLabel": True},
              "axisLabel": {"width": 130, "overflow": "truncate", "interval": 0}}
    bars = []
    star = " ★" if mode == "best" else " ▲"
    for position, row in enumerate(frame.itertuples(index=False)):
        if not np.isfinite(row.value):
            continue
        top = row.run_id == winner
        text = format_bar_value(float(row.value)) + (star if top else "")
        bars.append({
            "type": "bar", "name": row.run, "xAxisIndex": i, "yAxisIndex": i,
            # 12 significant digits: the tooltip shows 0.73, not 0.7299999999999999
            "data": [[float(f"{row.value:.12g}"), position]], "color": row.color,
            "encode": {"x": 0, "y": 1, "tooltip": 0},  # the tooltip shows the value only
            # every run's bar in its own row: the series overlap instead of sharing the row
            "barGap": "-100%", "barWidth": "70%", "barMaxWidth": 28,
            "itemStyle": {"opacity": 1.0 if top else 0.55,
                          "borderColor": "#212529" if top else row.color,
                          "borderWidth": 2 if top else 0},
            # a negative bar's label sits inside it, by zero: to its left are the run names
            "label": {"show": True, "position": "insideRight" if row.value < 0 else "right",
                      "formatter": text, "fontWeight": "bold" if top else "normal",
                      "color": "#212529"},
            "z": 3 if top else 2, "emphasis": {"focus": "series"}, "animation": False,
        })
    return x_axis, y_axis, bars


def chart_height(model: CompareModel) -> int:
    """Pixels the :func:`metrics_chart` needs (its grids, their titles and x axes)."""
    layout = chart_layout(model)
    if not layout:
        return LEGEND_HEIGHT + CHART_ROW_HEIGHT
    last = max(place["top"] + place["height"] for place in layout)
    return last + 64


def chart_lines(option: dict[str, Any], key_index: int) -> list[dict[str, Any]]:
    """The lines of grid ``key_index`` of a :func:`metrics_chart` option: name, colour, x, y."""
    return [{"run": s["name"], "color": s["color"], "x": s["data"][0::2], "y": s["data"][1::2]}
            for s in option["series"] if s["xAxisIndex"] == key_index and s["type"] == "line"]


def chart_bars(option: dict[str, Any], key_index: int) -> list[dict[str, Any]]:
    """The bars of grid ``key_index`` of a :func:`metrics_chart` option: run, colour,
    value, row (its position on the run axis), label and whether it is highlighted."""
    return [{"run": s["name"], "color": s["color"], "value": s["data"][0][0],
             "row": s["data"][0][1], "label": s["label"]["formatter"],
             "highlighted": s["itemStyle"]["borderWidth"] > 0}
            for s in option["series"] if s["xAxisIndex"] == key_index and s["type"] == "bar"]
