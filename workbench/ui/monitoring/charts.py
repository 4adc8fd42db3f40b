"""ECharts options for the Monitoring screen (plain dicts: no Panel, tested without a browser).

Every chart is drawn from a report's aggregated bins (20 display bins per
numerical column, the top 20 categories per categorical one) or from a saved
drift-over-time result, never from raw rows::

    from workbench.ui.monitoring.charts import histogram_option
    opt = histogram_option({"kind": "numerical", "edges": [0, 1, 2], "reference": [3, 1],
                            "current": [1, 3]}, "x")
    opt["series"][0]["name"]   # 'reference'
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

REF, CUR = "#4c78a8", "#f58518"
DRIFT, OK = "#c0392b", "#27ae60"


def shares(counts: list[float]) -> list[float]:
    """Counts as shares of their total (all zeros when the total is 0)."""
    total = float(sum(counts))
    return [float(c) / total if total else 0.0 for c in counts]


def bin_labels(edges: list[float], open_ends: bool = True) -> list[str]:
    """``"[a, b)"`` labels of the display bins; with ``open_ends`` the first and last bins are
    open-ended (a profile's numerical bins), else the last is closed (``np.histogram``'s)."""
    n = len(edges) - 1
    out = []
    for i in range(n):
        lo = "-inf" if open_ends and i == 0 else f"{edges[i]:.4g}"
        hi = "+inf" if open_ends and i == n - 1 else f"{edges[i + 1]:.4g}"
        out.append(f"[{lo}, {hi}{']' if not open_ends and i == n - 1 else ')'}")
    return out


def binned_ecdf(hist: dict[str, Any]) -> tuple[list[float], list[float], list[float], int]:
    """ECDF of both sides at the display bins' upper edges, and the bin of their largest gap.

    Returns ``(x, F_reference, F_current, i_max)``; ``max |F_ref - F_cur|`` over these
    points is the KS distance computed on the bins (a lower bound of the exact one).
    """
    edges = list(hist["edges"])
    fr = np.cumsum(shares(hist["reference"]))
    fc = np.cumsum(shares(hist["current"]))
    x = edges[1:]
    i_max = int(np.argmax(np.abs(fr - fc))) if len(fr) else 0
    return x, fr.tolist(), fc.tolist(), i_max


def _base(title: str) -> dict[str, Any]:
    return {"animation": False, "title": {"text": title, "left": 0, "top": 0, "textStyle": {"fontSize": 13}},
            "tooltip": {"trigger": "axis"}, "legend": {"top": 20, "right": 10},
            "grid": {"left": 60, "right": 20, "top": 60, "bottom": 70}}


def histogram_option(hist: dict[str, Any], column: str) -> dict[str, Any]:
    """Reference and current shares overlaid: per display bin (numbers) or grouped bars (categories)."""
    if not hist:
        return {}
    if hist["kind"] == "categorical":
        keys = list(hist["keys"])
        ref, cur = list(hist["reference"]), list(hist["current"])
        if hist.get("reference_other") or hist.get("current_other"):
            keys.append("(other)")
            ref.append(hist.get("reference_other", 0))
            cur.append(hist.get("current_other", 0))
        labels = keys
        title = f"{column}: share per category"
        gap = "10%"
    else:
        labels = bin_labels(list(hist["edges"]), open_ends=hist["kind"] != "text")
        ref, cur = list(hist["reference"]), list(hist["current"])
        title = f"{column}: {hist['measure']}, share per bin" if hist.get("measure") else f"{column}: share per bin"
        gap = "-100%"  # overlaid
    opt = _base(title)
    opt["xAxis"] = {"type": "category", "data": labels, "axisLabel": {"rotate": 35, "fontSize": 10}}
    opt["yAxis"] = {"type": "value", "name": "share"}
    opt["series"] = [
        {"type": "bar", "name": "reference", "data": shares(ref), "barGap": gap,
         "itemStyle": {"color": REF, "opacity": 0.6}},
        {"type": "bar", "name": "current", "data": shares(cur),
         "itemStyle": {"color": CUR, "opacity": 0.6}},
    ]
    return opt


def ecdf_option(hist: dict[str, Any], column: str, ks: float | None = None) -> dict[str, Any]:
    """Both sides' ECDFs (at the display bins' edges) with their largest gap marked.

    ``ks`` is the exact KS statistic when the report tested the column with ``ks``;
    otherwise the gap on the bins is shown and labelled as such.
    """
    if not hist or hist.get("kind") != "numerical":
        return {}
    x, fr, fc, i = binned_ecdf(hist)
    gap = abs(fr[i] - fc[i]) if fr else 0.0
    label = f"KS distance {ks:.4f}" if ks is not None else f"largest gap on the bins {gap:.4f}"
    opt = _base(f"{column}: ECDF")
    opt["title"]["subtext"] = label
    opt["title"]["subtextStyle"] = {"color": DRIFT}
    opt["legend"] = {"bottom": 0, "left": "center"}
    opt["grid"] = {"left": 50, "right": 20, "top": 60, "bottom": 75}
    opt["tooltip"] = {"trigger": "axis"}
    opt["xAxis"] = {"type": "value", "scale": True, "name": column, "nameLocation": "middle", "nameGap": 25}
    opt["yAxis"] = {"type": "value", "min": 0, "max": 1, "name": "F(x)"}
    opt["series"] = [
        {"type": "line", "step": "end", "name": "reference", "data": [[a, b] for a, b in zip(x, fr)],
         "showSymbol": False, "lineStyle": {"color": REF}, "itemStyle": {"color": REF}},
        {"type": "line", "step": "end", "name": "current", "data": [[a, b] for a, b in zip(x, fc)],
         "showSymbol": False, "lineStyle": {"color": CUR}, "itemStyle": {"color": CUR}},
    ]
    if fr:
        opt["series"].append({
            "type": "line", "name": label, "data": [[x[i], fr[i]], [x[i], fc[i]]],
            "lineStyle": {"color": DRIFT, "width": 3}, "itemStyle": {"color": DRIFT}, "symbolSize": 6})
    return opt


def relative_score(score: float, threshold: float, kind: str) -> float:
    """Score relative to its threshold: >= 1 means drifted (distances: s/t; p-values: t/p)."""
    if score is None or threshold is None or _nan(score) or _nan(threshold):
        return math.nan
    if kind == "p_value":
        return threshold / score if score > 0 else math.inf
    return score / threshold if threshold else math.inf


def _nan(x: Any) -> bool:
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return True


def _win_label(x: Any) -> str:
    if isinstance(x, pd.Timestamp):
        return x.strftime("%Y-%m-%d")
    return str(x)


def heatmap_option(scores: pd.DataFrame, columns: list[str] | None = None) -> dict[str, Any]:
    """Windows x columns, colour = score relative to its threshold (capped at 3; >= 1 drifted).

    Windows that were too small to test are left blank.
    """
    if scores is None or scores.empty:
        return {}
    s = scores[scores["status"] == "tested"].copy()
    windows = sorted(scores["window_start"].unique())
    cols = columns or list(dict.fromkeys(scores["column"]))
    wi = {w: i for i, w in enumerate(windows)}
    ci = {c: i for i, c in enumerate(cols)}
    data = []
    for r in s.itertuples(index=False):
        if r.column not in ci:
            continue
        rel = relative_score(r.score, r.threshold, r.kind)
        if _nan(rel):
            continue
        data.append([wi[r.window_start], ci[r.column], round(min(rel, 3.0), 4)])
    return {
        "animation": False,
        "title": {"text": "score / threshold per window (>= 1: drifted)", "left": 0, "top": 0,
                  "textStyle": {"fontSize": 13}},
        "tooltip": {"position": "top"},
        "grid": {"left": 130, "right": 30, "top": 40, "bottom": 110},
        "xAxis": {"type": "category", "data": [_win_label(w) for w in windows],
                  "axisLabel": {"rotate": 45, "fontSize": 10}, "splitArea": {"show": True}},
        "yAxis": {"type": "category", "data": cols, "splitArea": {"show": True}},
        "visualMap": {"min": 0, "max": 3, "calculable": True, "orient": "horizontal", "left": "center",
                      "bottom": 0, "inRange": {"color": ["#f7fbff", "#fdd49e", "#d7301f", "#7f0000"]}},
        "series": [{"type": "heatmap", "name": "relative score", "data": data,
                    "emphasis": {"itemStyle": {"borderColor": "#333", "borderWidth": 1}}}],
    }


def score_line_option(scores: pd.DataFrame, column: str, change_points: list[Any] | None = None
                      ) -> dict[str, Any]:
    """One column's score per window, its threshold as a line and its change points marked."""
    s = scores[scores["column"] == column].sort_values("window_start") if scores is not None else None
    if s is None or s.empty:
        return {}
    labels = [_win_label(w) for w in s["window_start"]]
    tested = s["status"] == "tested"
    vals = [float(v) if t and not _nan(v) else None for v, t in zip(s["score"], tested)]
    kind = str(s["kind"].dropna().iloc[0]) if s["kind"].notna().any() else "distance"
    thr = float(s["threshold"].dropna().iloc[0]) if s["threshold"].notna().any() else None
    method = str(s["method"].dropna().iloc[0]) if s["method"].notna().any() else ""
    marks: list[dict[str, Any]] = []
    if thr is not None:
        marks.append({"yAxis": thr, "name": "threshold", "lineStyle": {"color": DRIFT, "type": "dashed"},
                      "label": {"formatter": f"threshold {thr:g}", "position": "insideEndTop"}})
    for cp in change_points or []:
        lab = _win_label(cp)
        if lab in labels:
            marks.append({"xAxis": lab, "name": "change point",
                          "lineStyle": {"color": "#6f42c1", "type": "solid", "width": 2},
                          "label": {"formatter": lab, "position": "end", "fontSize": 10}})
    drifted = [[lab, v] for lab, v, d in zip(labels, vals, s["drifted"]) if v is not None and bool(d)]
    opt = _base(f"{column}: {method} {'p-value' if kind == 'p_value' else 'score'} per window")
    opt["xAxis"] = {"type": "category", "data": labels, "axisLabel": {"rotate": 35, "fontSize": 10}}
    opt["yAxis"] = {"type": "value", "name": "p-value" if kind == "p_value" else "score",
                    **({"type": "log", "min": 1e-12} if kind == "p_value" else {})}
    opt["series"] = [
        {"type": "line", "name": "score", "data": vals, "connectNulls": False, "symbolSize": 6,
         "lineStyle": {"color": REF}, "itemStyle": {"color": REF},
         "markLine": {"symbol": "none", "silent": True, "data": marks}},
        {"type": "scatter", "name": "drifted", "data": drifted, "symbolSize": 10, "z": 5,
         "itemStyle": {"color": DRIFT}},
    ]
    return opt


def report_series_option(history: pd.DataFrame, column: str) -> dict[str, Any]:
    """A column's score across the saved reports of one series (same name), oldest first."""
    h = history[history["column_name"] == column].sort_values("created_at")
    if h.empty:
        return {}
    labels = [pd.Timestamp(int(t), unit="ms").strftime("%Y-%m-%d %H:%M:%S") for t in h["created_at"]]
    opt = _base(f"{column}: score in the saved reports of this series")
    opt["xAxis"] = {"type": "category", "data": labels, "axisLabel": {"rotate": 35, "fontSize": 10}}
    opt["yAxis"] = {"type": "value", "name": "score"}
    opt["series"] = [{"type": "line", "name": "score", "symbolSize": 6,
                      "data": [None if _nan(v) else float(v) for v in h["score"]],
                      "itemStyle": {"color": REF}}]
    return opt


def importance_option(importance: list[dict[str, Any]]) -> dict[str, Any]:
    """The domain classifier's permutation importances as horizontal bars (largest on top)."""
    if not importance:
        return {}
    imp = sorted(importance, key=lambda d: d["importance"])
    opt = _base("permutation importance (ROC AUC drop)")
    opt["legend"] = {"show": False}
    opt["grid"] = {"left": 130, "right": 30, "top": 40, "bottom": 30}
    opt["xAxis"] = {"type": "value"}
    opt["yAxis"] = {"type": "category", "data": [d["column"] for d in imp]}
    opt["series"] = [{"type": "bar", "name": "importance", "data": [float(d["importance"]) for d in imp],
                      "itemStyle": {"color": CUR}}]
    return opt
