"""Page-open times of the app in headless Chromium; prints its figures.

    python benchmarks/bench_ui_pages.py [--store PATH] [--repeat 3] [--pages runs,registry]

Uses a copy of the demo store (``--store``, else builds one with ``workbench demo --scale
0.3`` under /tmp), serves ``apps/workbench_app.py`` with ``panel serve`` and measures, for
each page, navigation -> the page's main content is visible (Runs: the first table row;
Registry: the registered-models table's first row and the inbox tab label). The first load of
a fresh server (imports in the server) is reported separately as "cold"; then the median of
``--repeat`` warm loads (min and max in brackets). Goal: Registry < 2 s warm.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_ui_runs import serve  # noqa: E402 - the same panel serve launcher

CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
READY = {
    "runs": ".tabulator-row",
    "registry": ".wb-registry .tabulator-row",
    "pipelines": ".wb-pipelines, .bk-panel-models-layout-Column",
    "training": ".bk-panel-models-layout-Column",
}


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s [{min(values):.2f}-{max(values):.2f}]"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pages", default="runs,registry")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ui-pages-"))
    if args.store:
        src = Path(args.store)
        shutil.copy(src, work / "demo.duckdb")
        if src.with_suffix(".artifacts").exists():
            shutil.copytree(src.with_suffix(".artifacts"), work / "demo.artifacts")
    else:
        subprocess.run([sys.executable, "-m", "workbench.cli", "demo", "--scale", "0.3", "--quiet",
                        "--store", str(work / "demo.duckdb")], check=True)
    from playwright.sync_api import sync_playwright

    proc, url = serve(work / "demo.duckdb", work / "serve.log")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM)
            for name in args.pages.split(","):
                times = []
                for _ in range(args.repeat + 1):
                    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
                    page = ctx.new_page()
                    t0 = time.perf_counter()
                    page.goto(f"{url}?page={name}")
                    page.locator(READY[name]).first.wait_for(timeout=120_000)
                    times.append(time.perf_counter() - t0)
                    ctx.close()
                print(f"{name:<10} cold {times[0]:.2f} s   warm {summary(times[1:])}", flush=True)
            browser.close()
        # what following the store costs a served Registry page: one stamp query per 2 s tick
        import workbench as wb

        reg = wb.Registry(wb.Store(work / "demo.duckdb"), user="bench")
        ticks = []
        for _ in range(50):
            t0 = time.perf_counter()
            reg.change_stamp()
            ticks.append(time.perf_counter() - t0)
        print(f"registry live check (change_stamp, while served): median "
              f"{statistics.median(ticks) * 1000:.1f} ms, max {max(ticks) * 1000:.1f} ms "
              f"per 2 s tick, in a thread off the page's event loop", flush=True)
    finally:
        proc.terminate()
        proc.wait(15)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
