"""The Compare screen in a real browser: lines per chart, offline, no console errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
from browser_harness import (
    assert_no_console_errors,
    assert_no_server_errors,
    assert_offline,
    screenshot,
    wait_for_idle,
)

import workbench as wb

APP = "apps/compare_app.py"

# The metrics chart (one ECharts instance, a grid per metric) as the browser drew it: per
# grid its title, axis types, the number of points of each line and, for a metric logged
# once per run, its bars (run, colour, value, row, border width, opacity, label). ``box`` is
# the chart's div.wb-echart (Playwright's locators find it inside Panel's shadow roots).
_CHART_JS = """
(box) => {
  const chart = box && window.echarts && window.echarts.getInstanceByDom(box);
  if (!chart) return null;
  const o = chart.getOption();
  const points = (d) => ArrayBuffer.isView(d) ? d.length / 2 : d.length;
  return o.title.map((t, i) => ({
    title: t.text, x: o.xAxis[i].name, x_type: o.xAxis[i].type, y_type: o.yAxis[i].type,
    runs: o.yAxis[i].data || null,
    lines: o.series.filter((s) => s.xAxisIndex === i && s.type === "line").map((s) => points(s.data)),
    bars: o.series.filter((s) => s.xAxisIndex === i && s.type === "bar").map((s) => ({
      run: s.name, color: s.color, value: s.data[0][0], row: s.data[0][1],
      border: s.itemStyle.borderWidth, opacity: s.itemStyle.opacity, label: s.label.formatter,
    })),
  }));
}
"""

# What ECharts laid out for the bars (not just the option): per bar grid, the drawn
# rectangles' widths and fill colours, from the chart's series data layouts.
_BARS_DRAWN_JS = """
(box) => {
  const chart = window.echarts.getInstanceByDom(box);
  const out = {};
  chart.getModel().eachSeries((series) => {
    if (series.subType !== "bar") return;
    const i = series.get("xAxisIndex");
    const data = series.getData();
    for (let k = 0; k < data.count(); k++) {
      const layout = data.getItemLayout(k);
      (out[i] = out[i] || []).push({run: series.name, width: Math.abs(layout.width),
                                    x: Math.min(layout.x, layout.x + layout.width),
                                    y: Math.min(layout.y, layout.y + layout.height),
                                    height: Math.abs(layout.height),
                                    color: data.getItemVisual(k, "style").fill});
    }
  });
  return out;
}
"""

# Per Bokeh figure (parallel coordinates, scatter): its title, and the number of points of
# each line (a Line renderer, or one row of a MultiLine renderer).
_FIGURES_JS = """
() => {
  const doc = Bokeh.documents[0];
  const out = [];
  for (const m of doc.all_models) {
    if (m.constructor.__name__ !== "Figure") continue;
    const lines = [];
    let scatter = 0;
    for (const r of m.renderers) {
      if (r.constructor.__name__ !== "GlyphRenderer") continue;
      const g = r.glyph.constructor.__name__;
      const n = r.data_source.get_length();
      if (g === "Line") lines.push(n);
      else if (g === "MultiLine") for (const xs of r.data_source.data.xs) lines.push(xs.length);
      else if (g === "Scatter" || g === "Circle") scatter += n;
    }
    out.push({title: m.title ? m.title.text : "", lines, scatter});
  }
  return out;
}
"""


def _seed(path) -> tuple[wb.Store, list[str], str]:
    """Four runs: 3 log a long 'loss' history (one of 1,000,000 points), all 4 log 'accuracy'
    (20 steps) and a final 'test_auc' (once)."""
    store = wb.Store(path)
    rng = np.random.default_rng(0)
    t0 = int(time.time() * 1000) + 1000
    ids = []
    configs = [(0.1, "adam", 64), (0.03, "adam", 128), (0.01, "sgd", 64), (0.003, "sgd", 32)]
    for i, (lr, opt, batch) in enumerate(configs):
        with wb.start_run(experiment="compare-ui", run_name=f"{opt}-lr{lr}", store=store) as run:
            run.log_params({"lr": lr, "optimizer": opt, "batch_size": batch, "epochs": 20})
            if i < 3:
                n = 1_000_000 if i == 0 else 300
                t = np.arange(n) / n
                steps = np.linspace(0, 999_999, n).astype(np.int64)  # same span, fewer points
                # Timestamps spread over ~10 minutes so relative/wall time mean something.
                run.log_metric_history(
                    "loss", np.exp(-5 * t * (i + 1)) + 0.02 * rng.random(n), steps=steps,
                    timestamps=t0 + (t * 600_000 * (i + 1)).astype(np.int64),
                )
            for step in range(20):
                run.log_metric("accuracy", 0.6 + 0.3 * (1 - np.exp(-step * lr * 10)) - 0.01 * i,
                               step=step, timestamp=t0 + step * 30_000 * (i + 1))
            run.log_metric("test_auc", 0.8 + 0.03 * i - 0.02 * i * i)
        ids.append(run.id)
    store.sync()
    big = ids[0]
    store.close()
    return store, ids, big


def _figures(page) -> dict[str, dict]:
    return {f["title"]: f for f in page.evaluate(_FIGURES_JS)}


def _charts(page, n_series: int) -> dict[str, dict]:
    """The history chart's grids by metric, once it has drawn ``n_series`` lines."""
    chart = page.locator(f".wb-echart[data-drawn-series='{n_series}']")
    chart.wait_for(timeout=60_000)
    return {c["title"].split(" (")[0]: c for c in chart.evaluate(_CHART_JS)}


def _wait_for_chart(page, condition: str) -> None:
    """Wait until every grid of the history chart meets ``condition`` (JS, on ``c``)."""
    box = page.locator(".wb-echart").element_handle(timeout=30_000)
    page.wait_for_function(f"(box) => ({_CHART_JS})(box).every(c => {condition})", arg=box,
                           timeout=30_000)


def _open_tab(page, name: str, figures: int) -> None:
    """Open a tab of the comparison; wait for the page to hold ``figures`` Bokeh figures."""
    page.locator(".bk-tab").filter(has_text=name).click()
    page.wait_for_function(
        "(n) => [...Bokeh.documents[0].all_models].filter("
        "m => m.constructor.__name__ === 'Figure').length >= n", arg=figures, timeout=30_000)


@pytest.fixture
def seeded(tmp_path):
    return _seed(tmp_path / "compare.duckdb")


def test_compare_view_draws_one_line_per_run(serve_app, page, seeded):
    store, ids, _big = seeded
    app = serve_app(APP, "--store", str(store.path), "--runs", ",".join(ids))
    page.goto(app)
    charts = _charts(page, 3 + 4)  # loss: 3 runs (the 4th has none), accuracy: all 4
    wait_for_idle(page)
    shot = screenshot(page, "compare-view")

    # the default charts are the metrics with histories; test_auc (once per run) is not one
    assert list(charts) == ["accuracy", "loss"]
    assert all(not c["bars"] for c in charts.values())
    assert len(charts["loss"]["lines"]) == 3, charts  # the 4th run has no loss
    assert len(charts["accuracy"]["lines"]) == 4, charts
    # The 1,000,000-point history reaches the browser downsampled (default 2000 per curve).
    assert max(charts["loss"]["lines"]) <= 2000 and min(charts["loss"]["lines"]) >= 2, charts
    assert all(n == 20 for n in charts["accuracy"]["lines"]), charts
    assert charts["loss"]["x"] == "step" and charts["loss"]["y_type"] == "value"

    # The other sections are built when their tab opens.
    page.locator(".bk-tab").filter(has_text="Latest values").click()
    page.locator(".wb-compare-tabs .tabulator-row").nth(3).wait_for()
    assert page.locator(".wb-compare-tabs .tabulator-row").count() == 4  # one per run
    _open_tab(page, "Parallel coordinates", 1)
    parallel = next(f for t, f in _figures(page).items() if t.startswith("Parameters against"))
    # batch_size, lr, optimizer, accuracy
    assert parallel["lines"] == [4] * 4, parallel  # one line per run through the 4 axes
    _open_tab(page, "Scatter", 2)
    scatter = next(f for t, f in _figures(page).items() if " vs " in t)
    assert scatter["scatter"] == 4, scatter
    _open_tab(page, "Parameters", 2)
    page.get_by_text("optimizer").first.wait_for()
    screenshot(page, "compare-view-parameters")
    # Back on the first tab the chart is drawn again (a tab's content is rebuilt when shown).
    page.locator(".bk-tab").filter(has_text="Metrics").click()
    assert _charts(page, 3 + 4)["loss"]["lines"] == charts["loss"]["lines"]

    # Panel renders into shadow roots: locators pierce them, inner_text("body") does not.
    assert page.get_by_text("Compare 4 runs").count() >= 1
    assert page.get_by_text("Traceback").count() == 0
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(app)
    assert shot.exists()


def test_compare_view_x_axis_and_log_controls(serve_app, page, seeded):
    store, ids, _big = seeded
    app = serve_app(APP, "--store", str(store.path), "--runs", ",".join(ids[1:]))
    page.goto(app)
    _charts(page, 2 + 3)
    page.get_by_role("button", name="relative time").click()
    _wait_for_chart(page, "c.x === 'relative time (s)'")
    page.locator(".wb-log-y input[type=checkbox]").check()
    _wait_for_chart(page, "c.y_type === 'log'")
    charts = _charts(page, 2 + 3)
    wait_for_idle(page)
    screenshot(page, "compare-view-relative-log")
    assert len(charts["loss"]["lines"]) == 2, charts
    page.get_by_role("button", name="wall time").click()
    _wait_for_chart(page, "c.x_type === 'time'")
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(app)


def test_compare_view_shows_errors_as_messages(serve_app, page, seeded):
    store, ids, _big = seeded
    app = serve_app(APP, "--store", str(store.path), "--runs", f"{ids[0]},no-such-run")
    page.goto(app)
    page.wait_for_selector("text=Unknown run id: no-such-run", timeout=30_000)
    screenshot(page, "compare-view-error")
    assert page.get_by_text("Traceback").count() == 0
    assert_no_console_errors(page)
    assert_no_server_errors(app)


def test_compare_view_fifty_runs(serve_app, page, tmp_path):
    store = wb.Store(tmp_path / "fifty.duckdb")
    ids = []
    for i in range(50):
        with wb.start_run(experiment="sweep", run_name=f"trial-{i:02d}", store=store) as run:
            lr = 10 ** -(1 + i % 4)
            run.log_params({"lr": lr, "layers": 1 + i % 3, "activation": ["relu", "tanh"][i % 2]})
            steps = np.arange(500)
            run.log_metric_history("train_loss", np.exp(-steps / (50 + 5 * i)) + 0.05)
            run.log_metric_history("val_accuracy", 0.9 - 0.4 * np.exp(-steps / (40 + 3 * i)))
        ids.append(run.id)
    store.sync()
    store.close()
    app = serve_app(APP, "--store", str(store.path), "--runs", ",".join(ids))
    started = time.monotonic()
    page.goto(app)
    charts = _charts(page, 100)
    elapsed = time.monotonic() - started
    wait_for_idle(page)
    screenshot(page, "compare-view-50-runs")
    for key in ("train_loss", "val_accuracy"):
        assert charts[key]["lines"] == [500] * 50, (key, charts[key])
    assert elapsed < 60, f"50 runs took {elapsed:.1f}s to show"
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(app)


def _seed_finals(path) -> tuple[wb.Store, list[str]]:
    """Five runs that each log their final metrics once: the usual end of a training script."""
    store = wb.Store(path)
    ids = []
    finals = [("rf-100", 0.861, 0.912, 0.41), ("rf-300", 0.874, 0.925, 0.38),
              ("gbm-a", 0.902, 0.951, 0.29), ("gbm-b", 0.889, 0.957, 0.31),
              ("logreg", 0.812, 0.874, 0.47)]
    for name, accuracy, auc, log_loss in finals:
        with wb.start_run(experiment="finals", run_name=name, store=store) as run:
            run.log_params({"model": name.split("-")[0]})
            run.log_metrics({"accuracy": accuracy, "auc": auc, "log_loss": log_loss})
        ids.append(run.id)
    store.sync()
    store.close()
    return store, ids


def test_compare_view_single_value_metrics_are_bars_by_run(serve_app, page, tmp_path):
    store, ids = _seed_finals(tmp_path / "finals.duckdb")
    app = serve_app(APP, "--store", str(store.path), "--runs", ",".join(ids))
    page.goto(app)
    charts = _charts(page, 3 * 5)  # no metric has a history: the three finals, a bar per run
    wait_for_idle(page)
    shot = screenshot(page, "compare-view-single-values")

    assert list(charts) == ["accuracy", "auc", "log_loss"]
    names = ["rf-100", "rf-300", "gbm-a", "gbm-b", "logreg"]
    best = {"accuracy": "gbm-a", "auc": "gbm-b", "log_loss": "gbm-a"}  # log_loss: lower is better
    colours = None
    for key, chart in charts.items():
        assert chart["lines"] == [], chart  # not dots on an empty step axis
        assert chart["y_type"] == "category" and chart["runs"] == names, chart
        bars = chart["bars"]
        assert [b["run"] for b in bars] == names and [b["row"] for b in bars] == list(range(5))
        colours = colours or [b["color"] for b in bars]
        assert [b["color"] for b in bars] == colours and len(set(colours)) == 5  # runs' colours
        highlighted = [b["run"] for b in bars if b["border"] > 0 and b["opacity"] == 1]
        assert highlighted == [best[key]], (key, bars)
        assert chart["title"].endswith(f"best: {best[key]}"), chart["title"]
        assert all(b["label"].startswith(f"{b['value']:.4f}") for b in bars)  # values labelled
        assert next(b for b in bars if b["run"] == best[key])["label"].endswith("★")
    assert "higher is better" in charts["auc"]["title"]
    assert "lower is better" in charts["log_loss"]["title"]
    # ECharts laid the bars out: five rectangles per grid, longer for larger values
    box = page.locator(".wb-echart").element_handle()
    drawn = box.evaluate(_BARS_DRAWN_JS)
    assert sorted(drawn) == ["0", "1", "2"], drawn
    for i, key in enumerate(charts):
        rects = drawn[str(i)]
        assert [r["run"] for r in rects] == names and all(r["height"] > 5 for r in rects), rects
        widths = [r["width"] for r in rects]
        values = [b["value"] for b in charts[key]["bars"]]
        assert sorted(range(5), key=widths.__getitem__) == sorted(range(5), key=values.__getitem__)
    # the history controls (x axis, smoothing) do not apply to bars: hidden
    assert page.locator(".wb-history-controls").is_hidden()
    page.get_by_text("Logged once per run, so drawn as one bar per run").wait_for()
    assert page.get_by_text("Traceback").count() == 0
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(app)
    assert shot.exists()


def test_compare_view_picking_a_final_metric_adds_its_bars(serve_app, page, tmp_path):
    """Histories by default; a single-value metric picked in "Metrics" is drawn as bars."""
    store = wb.Store(tmp_path / "mixed.duckdb")
    ids = []
    for i, name in enumerate(("small", "medium", "large")):
        with wb.start_run(experiment="mixed", run_name=name, store=store) as run:
            run.log_metric_history("train_loss", np.exp(-np.arange(40) / (5 + 5 * i)))
            run.log_metric("test_f1", 0.7 + 0.08 * i - 0.05 * i * i)
            run.log_metric("mystery", [3.0, -1.0, 2.0][i])
        ids.append(run.id)
    store.sync()
    store.close()
    app = serve_app(APP, "--store", str(store.path), "--runs", ",".join(ids))
    page.goto(app)
    assert list(_charts(page, 3)) == ["train_loss"]  # the default: the metric with a history
    for key in ("test_f1", "mystery"):
        box = page.locator(".choices input[type=search]").first
        box.click()
        box.fill(key)
        box.press("Enter")
    page.keyboard.press("Escape")
    charts = _charts(page, 3 + 3 + 3)
    wait_for_idle(page)
    # the chart grew to hold the new row of grids (Panel had sized it once, at render)
    page.wait_for_function("(b) => b.clientHeight >= 600", arg=page.locator(".wb-echart")
                           .element_handle(), timeout=10_000)
    screenshot(page, "compare-view-histories-and-bars")
    assert list(charts) == ["train_loss", "mystery", "test_f1"]  # histories first, then bars
    assert charts["train_loss"]["lines"] == [40] * 3 and not charts["train_loss"]["bars"]
    f1 = charts["test_f1"]
    assert [b["run"] for b in f1["bars"] if b["border"] > 0] == ["medium"]  # 0.73 is the best
    assert f1["title"] == "test_f1 (higher is better) · best: medium"
    mystery = charts["mystery"]  # a name that says neither way: the highest, said as such
    assert mystery["title"] == "mystery (which way is better is not known) · highest: small"
    assert [b["label"] for b in mystery["bars"]] == ["3.0000 ▲", "-1.0000", "2.0000"]
    # the history controls still apply (and are shown): a history is charted
    assert page.locator(".wb-history-controls").is_visible()
    # hovering a bar's row: the tooltip names the run and its value
    canvas = page.locator(".wb-echart canvas").first
    frame = canvas.bounding_box()
    drawn = page.locator(".wb-echart").element_handle().evaluate(_BARS_DRAWN_JS)
    medium = next(r for r in drawn["2"] if r["run"] == "medium")  # test_f1 is grid 2
    page.mouse.move(frame["x"] + medium["x"] + medium["width"] / 2,
                    frame["y"] + medium["y"] + medium["height"] / 2)
    tooltip = page.locator(".wb-echart div").filter(has_text="medium").filter(has_text="0.73")
    tooltip.last.wait_for(timeout=10_000)
    screenshot(page, "compare-view-bar-tooltip")
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(app)
