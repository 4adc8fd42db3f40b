"""A drift report as one self-contained offline HTML file: inline CSS and SVG, no script, no CDN.

Only aggregated bins travel into the file (20 display bins per numerical
column, the top 20 categories per categorical one), never raw rows, so a
25-column report is a few hundred kilobytes and opens at once.

>>> svg_bars([1, 2], [2, 1]).startswith("<svg")
True
"""

from __future__ import annotations

import html
import math
import time
from typing import Any

STYLE = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.verdict{display:inline-block;padding:4px 10px;border-radius:4px;color:#fff;font-weight:600}
.drift{background:#c0392b}.nodrift{background:#27ae60}.muted{color:#777}
table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;
text-align:left;vertical-align:middle}th{background:#fafafa}
tr.d td:first-child{border-left:3px solid #c0392b}.num{text-align:right;font-variant-numeric:tabular-nums}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
"""
REF, CUR = "#4c78a8", "#f58518"


def _e(x: Any) -> str:
    return html.escape(str(x))


def _fmt(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        if math.isnan(x):
            return ""
        return f"{x:.4g}"
    return _e(x)


def svg_bars(ref: list[float], cur: list[float], width: int = 160, height: int = 36,
             labels: list[str] | None = None) -> str:
    """Reference and current shares as paired bars in an inline SVG."""
    rt, ct = float(sum(ref)) or 1.0, float(sum(cur)) or 1.0
    rs = [v / rt for v in ref]
    cs = [v / ct for v in cur]
    top = max(rs + cs + [1e-12])
    n = max(len(rs), 1)
    w = width / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">']
    for i, (a, b) in enumerate(zip(rs, cs)):
        x = i * w
        ha, hb = a / top * (height - 2), b / top * (height - 2)
        tip = f"{labels[i]}: " if labels else ""
        parts.append(f'<rect x="{x:.2f}" y="{height - ha:.2f}" width="{w * 0.48:.2f}" height="{ha:.2f}" '
                     f'fill="{REF}"><title>{_e(tip)}reference {a:.3f}</title></rect>')
        parts.append(f'<rect x="{x + w * 0.5:.2f}" y="{height - hb:.2f}" width="{w * 0.48:.2f}" '
                     f'height="{hb:.2f}" fill="{CUR}"><title>{_e(tip)}current {b:.3f}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def _hist_svg(h: dict[str, Any], width: int = 160, height: int = 36) -> str:
    if not h:
        return ""
    if h.get("kind") in ("numerical", "text"):  # text: its lengths' histogram
        e = h["edges"]
        labels = [f"[{e[i]:.4g}, {e[i + 1]:.4g})" for i in range(len(e) - 1)]
        return svg_bars(h["reference"], h["current"], width, height, labels)
    ref = list(h["reference"]) + [h.get("reference_other", 0)]
    cur = list(h["current"]) + [h.get("current_other", 0)]
    labels = list(h["keys"]) + ["other"]
    if not ref[-1] and not cur[-1]:
        ref, cur, labels = ref[:-1], cur[:-1], labels[:-1]
    return svg_bars(ref, cur, width, height, labels)


def summary_html(rep: Any) -> str:
    s = rep.summary()
    cls = "drift" if s["dataset_drift"] else "nodrift"
    word = "Dataset drift" if s["dataset_drift"] else "No dataset drift"
    return (f'<div><span class="verdict {cls}">{word}</span> '
            f'{s["n_drifted"]} of {s["n_tested"]} columns drifted ({s["share_drifted"]:.0%}; '
            f'verdict at share &ge; {s["drift_share"]:.0%}) '
            f'<span class="muted">reference: {_e(s["reference"])} &middot; current: {_e(s["current"])}'
            f'</span></div>')


def report_html(rep: Any) -> str:
    """The whole report as HTML text."""
    cols = rep.columns.copy()
    cols["_order"] = (~cols["drifted"]).astype(int)
    cols = cols.sort_values(["_order", "column"])
    rows = []
    for r in cols.itertuples():
        status = "drifted" if r.drifted else (r.status if r.status != "tested" else "ok")
        rows.append(
            f'<tr class="{"d" if r.drifted else ""}"><td>{_e(r.column)}</td><td>{_e(r.type)}</td>'
            f'<td>{_fmt(r.method)}</td><td class="num">{_fmt(r.statistic)}</td>'
            f'<td class="num">{_fmt(r.p_value)}</td><td class="num">{_fmt(r.threshold)}</td>'
            f'<td>{_e(r.rule or "")}</td><td>{_e(status)}</td>'
            f'<td class="num">{_fmt(r.missing_reference)}</td><td class="num">{_fmt(r.missing_current)}</td>'
            f'<td>{_hist_svg(rep.histograms.get(r.column, {}))}</td></tr>')
    head = ("<tr><th>column</th><th>type</th><th>method</th><th>statistic</th><th>p-value</th>"
            "<th>threshold</th><th>rule</th><th>status</th><th>missing ref</th><th>missing cur</th>"
            "<th>reference vs current</th></tr>")
    qcols = [c for c in rep.quality.columns if c not in ("new_category_examples",)]
    qrows = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in rec) + "</tr>"
                    for rec in rep.quality[qcols].itertuples(index=False)) if len(rep.quality) else ""
    tq = "".join(f"<tr><th>{_e(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in rep.table_quality.items())
    mv = ""
    if rep.multivariate is not None:
        m = rep.multivariate
        imp = "".join(f"<tr><td>{_e(i['column'])}</td><td class='num'>{i['importance']:.4f}</td></tr>"
                      for i in m.importance[:15])
        mv = (f"<h2>Multivariate (domain classifier)</h2><p>ROC AUC {m.roc_auc:.4f} "
              f"(drift if &gt; {m.threshold}): <b>{'drift' if m.drifted else 'no drift'}</b>; "
              f"{m.n_reference:,} + {m.n_current:,} rows sampled.</p>"
              f"<table><tr><th>feature</th><th>permutation importance</th></tr>{imp}</table>")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(rep.created_at))
    title = _e(rep.name or "Drift report")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{STYLE}</style></head><body><h1>{title}</h1>"
            f"<p class='muted'>{when} &middot; report {rep.id}</p>{summary_html(rep)}"
            f"<p class='legend'><span style='background:{REF}'></span>reference"
            f"<span style='background:{CUR}'></span>current</p>"
            f"<h2>Columns</h2><table>{head}{''.join(rows)}</table>{mv}"
            f"<h2>Data quality</h2><table>{tq}</table>"
            f"<table><tr>{''.join(f'<th>{_e(c)}</th>' for c in qcols)}</tr>{qrows}</table>"
            f"<p class='muted'>Options: {_e(rep.options)}</p></body></html>")
