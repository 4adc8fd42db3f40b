"""Benchmark of the Runs screens in headless Chromium; prints its figures.

    python benchmarks/bench_ui_runs.py [--runs 10000] [--repeat 3] [--keep DIR]

Builds (through the tracking API) a store with one experiment of 10,000 runs (3 params,
5 metrics each) and experiments of 20 and of 50 runs with 5 metrics of 1,000 steps each, serves
``apps/workbench_app.py`` with ``panel serve`` and measures, in Debian's Chromium:

* navigation -> the run table shows its first rows (goal < 2 s); the first load of a fresh
  server (which imports Panel/HoloViews in the server) is reported separately as "cold";
* pressing Enter in the filter box -> the table shows the new count (goal < 300 ms), timed
  in the page from the Enter keydown to the frame showing it; also as the harness sees it;
* clicking Compare with 20 runs selected -> the comparison's chart has drawn its 100 lines
  (goal < 1 s), timed in the page from the click event to the chart's end of drawing
  (``data-drawn-at``); also as the harness sees it (Python, from before Playwright's click
  to noticing the drawn chart: adds Playwright's actionability checks and polling) and
  until the server is idle again (busy indicator off). The same for 50 runs (no goal).

Each figure is the median of ``--repeat`` tries (min and max in brackets).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.store.store import Store  # noqa: E402
from workbench.tracking.run import Run  # noqa: E402
from workbench.ui._fixtures import build_big_store  # noqa: E402

CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")


COMPARE_SIZES = (20, 50)  # runs compared, each with 5 metrics of 1,000 steps


def build(path: Path, n_runs: int) -> None:
    started = time.perf_counter()
    build_big_store(path, n_runs=n_runs, n_metrics=5, experiment="big")
    print(f"built the store ({n_runs:,} runs) in {time.perf_counter() - started:.1f} s")


def compare_runs(store: Store, n: int) -> list[str]:
    """The ids of experiment ``compare<n>``: n runs with 5 metrics of 1,000 steps (made once)."""
    name = f"compare{n}"
    if name not in set(store.list_experiments()["name"]):
        steps = np.arange(1000)
        for i in range(n):
            run = Run.create(store, name, run_name=f"c{i:02d}")
            run.log_params({"lr": 0.001 * (i + 1), "model": ("rf", "gbm")[i % 2]})
            for k in range(5):
                run.log_metric_history(f"metric_{k}", np.exp(-steps / (200 + 10 * i)) + 0.01 * k
                                       + 0.002 * np.sin(steps / 7.0))
            run.end()
        store.sync()
    return list(store.search_runs(name, max_results=n)["run_id"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(store_path: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOKEH_", "PANEL_"))}
    env["WORKBENCH_STORE"] = str(store_path)
    cmd = [sys.executable, "-m", "panel", "serve", str(ROOT / "apps" / "workbench_app.py"),
           "--port", str(port), "--address", "127.0.0.1",
           "--allow-websocket-origin", f"127.0.0.1:{port}"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}/workbench_app"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=30):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"panel serve did not start; see {log_path}")


def summary(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"{statistics.median(ms):7.0f} ms  [{min(ms):.0f}–{max(ms):.0f}]"


# In the page: note when Enter goes down in the filter box, and poll (each frame) the page
# info line (``info``: Playwright's locators find it inside Panel's shadow roots) until it
# shows the awaited text.
_WATCH_COUNT_JS = """
(info) => {
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') window.__wbEnterAt = performance.now();
  }, true);
  window.__wbWatch = (text) => {
    window.__wbShownAt = null;
    const poll = () => {
      const shown = (info.shadowRoot || info).textContent.replace(/\\s+/g, ' ');
      if (shown.includes(text)) window.__wbShownAt = performance.now();
      else requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
  };
}
"""


def wait_total(page, total: int, timeout: float = 60_000) -> None:
    page.get_by_text(re.compile(rf"of {total:,} · page")).wait_for(timeout=timeout)


def compare_figures(n: int) -> tuple[str, str, str]:
    """The names of the three Compare figures for ``n`` runs."""
    return (f"Compare {n} runs x 5 metrics x 1000 steps", f"Compare {n}, seen by the harness",
            f"Compare {n}: until the server is idle")


def measure_compare(page, url: str, n: int, ids: list[str], results: dict) -> None:
    """Open the run table with ``ids`` selected, click Compare, time until the chart is drawn."""
    in_page, harness, idle = compare_figures(n)
    page.goto(f"{url}?experiment=compare{n}&runs={','.join(ids)}")
    wait_total(page, n)
    page.wait_for_function("() => document.querySelector('.pn-busy-container .spin') === null")
    from playwright.sync_api import expect

    button = page.locator(".wb-compare button")
    expect(button).to_be_enabled(timeout=30_000)
    page.evaluate("document.addEventListener('click', "
                  "() => { window.__clickedAt = performance.now(); }, true)")
    t0 = time.perf_counter()
    button.click()
    # drawn: the chart finished drawing all its lines (n runs x 5 metrics)
    chart = page.locator(f".wb-echart[data-drawn-series='{5 * n}']")
    chart.wait_for(timeout=60_000)
    results[harness].append(time.perf_counter() - t0)
    drawn_at = float(chart.get_attribute("data-drawn-at"))
    results[in_page].append((drawn_at - page.evaluate("window.__clickedAt")) / 1000)
    page.get_by_text(f"Compare {n} runs").first.wait_for(timeout=60_000)
    page.wait_for_function(
        "() => document.querySelector('.pn-busy-container .spin') === null", timeout=60_000)
    results[idle].append(time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", default=None, help="build/keep the store in this folder")
    args = parser.parse_args()

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-ui-"))
    folder.mkdir(parents=True, exist_ok=True)
    store_path = folder / "bench.duckdb"
    if not store_path.exists():
        build(store_path, args.runs)
    store = Store(store_path)
    compare_ids = {n: compare_runs(store, n) for n in COMPARE_SIZES}
    filters = []
    for i in range(args.repeat):
        expr = f"metrics.m0000 > {0.1 + 0.2 * i:.1f} and params.model = 'rf'"
        filters.append((expr, store.count_runs("big", expr)))
    store.close()

    from playwright.sync_api import sync_playwright

    proc, url = serve(store_path, folder / "serve.log")
    results: dict[str, list[float]] = {"first rows (cold server)": [], "first rows": [],
                                       "filter -> table updated": [],
                                       "filter, seen by the harness": [],
                                       **{k: [] for n in COMPARE_SIZES for k in compare_figures(n)}}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])

            def new_page():
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                context.route(lambda u: "127.0.0.1" not in u and not u.startswith(("data:", "blob:")),
                              lambda route: route.abort())
                return context, context.new_page()

            # 1. navigation -> first rows
            for attempt in range(args.repeat + 1):
                context, page = new_page()
                t0 = time.perf_counter()
                page.goto(f"{url}?experiment=big")
                page.locator(".tabulator-row").first.wait_for(timeout=120_000)
                elapsed = time.perf_counter() - t0
                results["first rows (cold server)" if attempt == 0 else "first rows"].append(elapsed)
                wait_total(page, args.runs)
                if attempt < args.repeat:
                    context.close()

            # 2. filter -> table updated (page from the last load), timed in the page: from the
            # Enter keydown to the frame where the page info shows the new count
            box = page.locator(".wb-filter input")
            page.locator(".wb-page-info").evaluate(_WATCH_COUNT_JS)
            for expr, expected in filters:
                box.fill(expr)
                page.evaluate("(text) => window.__wbWatch(text)", f"of {expected:,} · page")
                t0 = time.perf_counter()
                box.press("Enter")
                wait_total(page, expected)
                results["filter, seen by the harness"].append(time.perf_counter() - t0)
                shown = page.wait_for_function("() => window.__wbShownAt", timeout=10_000)
                results["filter -> table updated"].append(
                    (shown.json_value() - page.evaluate("window.__wbEnterAt")) / 1000)
                box.fill("")
                box.press("Enter")
                wait_total(page, args.runs)
            context.close()

            # 3. Compare with 20 (and 50) runs selected
            for n, ids in compare_ids.items():
                for _ in range(args.repeat):
                    context, page = new_page()
                    measure_compare(page, url, n, ids, results)
                    context.close()
            browser.close()
    finally:
        try:
            os.killpg(proc.pid, 15)
        except ProcessLookupError:
            pass
        proc.wait(10)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    goals = {"first rows": 2.0, "filter -> table updated": 0.3,
             "Compare 20 runs x 5 metrics x 1000 steps": 1.0}
    print(f"\nRuns screens, {args.runs:,} runs in one experiment, headless Chromium "
          f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}):")
    for name, values in results.items():
        goal = goals.get(name)
        verdict = "" if goal is None else (
            f"  goal < {goal * 1000:.0f} ms: {'met' if statistics.median(values) < goal else 'MISSED'}")
        print(f"  {name:<44} {summary(values)}{verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
