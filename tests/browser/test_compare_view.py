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

# The metric history chart (one ECharts instance, a grid per metric) as the browser drew it:
# per grid its title, axis types and the number of points of each line. ``box`` is the
# chart's div.wb-echart (Playwright's locators find it inside Panel's shadow roots).
_CHART_JS = """
(box) => {
  const chart = box && window.echarts && window.echarts.getInstanceByDom(box);
  if (!chart) return null;
  const o = chart.getOption();
  const points = (d) => ArrayBuffer.isView(d) ? d.length / 2 : d.length;
  return o.title.map((t, i) => ({
    title: t.text, x: o.xAxis[i].name, x_type: o.xAxis[i].type, y_type: o.yAxis[i].type,
    lines: o.series.filter((s) => s.xAxisIndex === i).map((s) => points(s.data)),
  }));
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
    """Four runs: 3 log a long 'loss' history (one of 1,000,000 points), all 4 log 'accuracy'."""
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

    assert list(charts) == ["accuracy", "loss"]
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
    page.locator(".bk-tab").filter(has_text="Metric history").click()
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
