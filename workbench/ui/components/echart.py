"""``EChart``: an Apache ECharts chart that draws once at its laid-out size.

Panel's own ``pn.pane.ECharts`` draws as soon as it is created (at a 100 px
placeholder width) and again on every layout pass of the page, even when its size
did not change: four full redraws of Compare's 100-line chart per page load. This
component waits until its box has a size, then redraws only when the option or the
size changes::

    from workbench.ui.components.echart import EChart
    EChart(option={"xAxis": {}, "yAxis": {}, "series": [{"type": "line", "data": [[0, 1], [1, 3]]}]},
           height=300, sizing_mode="stretch_width")

ECharts itself is the copy bundled with Panel, served by ``panel serve`` itself and
loaded on first use (``EChart.preload()`` fetches it as an async script once the page
is idle after its first render), so it does not delay a page's first render. In a
notebook, ``pn.extension("echarts")`` loads it; nothing ever comes from a CDN.

numpy arrays anywhere in ``option`` travel as binary buffers and reach ECharts as typed
arrays (a line series takes a flat ``[x0, y0, x1, y1, ...]`` Float64Array). When an
option has finished drawing, the chart's ``div.wb-echart`` carries ``data-drawn-series``
(its number of series) and ``data-drawn-at`` (``performance.now()``), which browser tests
and the benchmark wait for.
"""

from __future__ import annotations

from typing import Any

import param
from panel.custom import JSComponent


def echarts_url() -> str:
    """Where this server serves Panel's bundled ``echarts.min.js`` ("" if only a CDN has it)."""
    from panel.io.resources import bundled_files
    from panel.models.echarts import ECharts

    url = next((u for u in bundled_files(ECharts) if "echarts.min.js" in u), "")
    return "" if url.startswith(("http:", "https:", "//")) else url


class EChart(JSComponent):
    """An ECharts ``option`` drawn in the browser; set ``option`` to redraw it."""

    option = param.Dict(default={}, doc="The ECharts option (setOption with notMerge).")
    echarts_src = param.String(default="", doc="URL of echarts.min.js, if not yet loaded.")
    preload_only = param.Boolean(default=False, doc="Draw nothing; just load ECharts.")

    def __init__(self, **params: Any) -> None:
        params.setdefault("echarts_src", echarts_url())
        super().__init__(**params)

    @classmethod
    def preload(cls) -> EChart:
        """An invisible component that loads ECharts (async) once the page is idle."""
        return cls(preload_only=True, width=0, height=0, margin=0)

    _esm = """
function loadECharts(src) {
  if (window.echarts) return Promise.resolve(window.echarts);
  if (!window.__wbECharts) {
    if (!src) return Promise.reject(new Error("ECharts is not loaded: call pn.extension('echarts') first"));
    window.__wbECharts = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.onload = () => resolve(window.echarts);
      script.onerror = () => {
        window.__wbECharts = null;
        reject(new Error("could not load ECharts from " + src + " (in a notebook, call pn.extension('echarts') first)"));
      };
      document.head.appendChild(script);
    });
  }
  return window.__wbECharts;
}

// Draw a small chart like Compare's off-screen once: the first real chart of a page
// then runs JIT-compiled code (measured: 280 ms -> 160 ms for 100 lines of 1,000 points).
function warmUp(echarts) {
  const div = document.createElement("div");
  div.style.cssText = "position:absolute;left:-10000px;top:0;width:400px;height:300px";
  document.body.appendChild(div);
  const chart = echarts.init(div, null, {width: 400, height: 300});
  const grids = [0, 1].map((i) => ({left: (5 + 50 * i) + "%", width: "40%", top: 40, height: 200}));
  const series = [];
  for (let g = 0; g < 2; g++) {
    for (let r = 0; r < 3; r++) {
      const data = new Float64Array(200);
      for (let k = 0; k < 100; k++) { data[2 * k] = k; data[2 * k + 1] = Math.exp(-k / (20 + r)) + g; }
      series.push({type: "line", name: "r" + r, xAxisIndex: g, yAxisIndex: g, data,
                   showSymbol: false, sampling: "lttb", emphasis: {focus: "series"}});
    }
  }
  chart.setOption({
    animation: false, grid: grids, series,
    title: [0, 1].map((g) => ({text: "m" + g, left: (5 + 50 * g) + "%", top: 10})),
    xAxis: [0, 1].map((g) => ({gridIndex: g, type: "value", name: "step", scale: true})),
    yAxis: [0, 1].map((g) => ({gridIndex: g, type: g ? "log" : "value", scale: true})),
    legend: {type: "scroll", top: 0}, tooltip: {trigger: "axis"},
    axisPointer: {link: [{xAxisIndex: "all"}]}, dataZoom: [{type: "inside", xAxisIndex: [0, 1]}],
    toolbox: {feature: {dataZoom: {}, restore: {}, saveAsImage: {}}},
  }, {notMerge: true});
  chart.dispose();
  div.remove();
}

export function render({ model, el }) {
  if (model.preload_only) {
    // Once the page is idle (its first render done), load ECharts as an async script (the
    // browser compiles it off the main thread), then warm it up at the next idle moment.
    const idle = window.requestIdleCallback || ((f) => setTimeout(f, 300));
    idle(() => loadECharts(model.echarts_src).then((echarts) => {
      idle(() => { try { warmUp(echarts); } catch (err) { /* only an optimisation */ } });
    }).catch(() => {}));
    return;
  }
  const box = document.createElement("div");
  box.className = "wb-echart";
  box.style.width = "100%";
  box.style.height = "100%";
  el.appendChild(box);
  let chart = null;
  let size = [0, 0];
  let removed = false;
  let pending = false;  // an option set but not yet finished drawing
  const draw = () => {
    if (chart === null) return;
    pending = true;
    chart.setOption(model.option, {notMerge: true});
  };
  const fit = () => {
    const w = box.clientWidth, h = box.clientHeight;
    if (removed || w < 2 || h < 2 || (w === size[0] && h === size[1])) return;  // not laid out / unchanged
    size = [w, h];
    if (chart !== null) { chart.resize({width: w, height: h}); return; }
    loadECharts(model.echarts_src).then((echarts) => {
      if (removed || chart !== null) return;
      chart = echarts.init(box, null, {width: size[0], height: size[1]});
      // tests and benchmarks wait for these: the series count of the last option drawn,
      // and when it finished drawing (performance.now())
      chart.on("finished", () => {
        if (!pending) return;  // a redraw on hover, not a new option
        pending = false;
        box.dataset.drawnSeries = String(((model.option || {}).series || []).length);
        box.dataset.drawnAt = String(performance.now());
      });
      draw();
    }).catch((err) => {
      box.textContent = "The chart could not be drawn: " + err.message;
      box.style.color = "#842029";
    });
  };
  const observer = new ResizeObserver(fit);
  observer.observe(box);
  // Panel sizes this element once, when it renders: follow a later height (Compare's chart
  // grows when metrics are picked), and the observer refits the chart
  model.on("height", () => {
    if (model.height != null) el.style.height = model.height + "px";
  });
  model.on("option", draw);
  model.on("remove", () => {
    removed = true;
    observer.disconnect();
    if (chart !== null) chart.dispose();
  });
}
"""
