"""Take the README's tour screenshots of the app on the demo store.

    python docs/screenshots/take.py [--store PATH]

Serves the app with ``workbench app`` on a free localhost port, drives Debian's Chromium
(headless) through Playwright and writes ``docs/screenshots/<page>.png``. The store defaults
to the demo store (``workbench demo --if-missing`` builds it).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def _settle(page) -> None:
    # Bokeh has rendered, and the template's busy indicator has stopped (as the browser tests)
    page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length > 0",
                           timeout=60_000)
    page.wait_for_function("() => document.querySelector('.pn-busy-container .spin') === null",
                           timeout=60_000)
    page.wait_for_timeout(1500)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=None)
    args = parser.parse_args()
    exe = Path(sys.executable).with_name("workbench")
    store_args = ["--store", args.store] if args.store else []
    subprocess.run([str(exe), "demo", "--if-missing", *store_args], check=True)
    port = _free_port()
    server = subprocess.Popen([str(exe), "app", "--port", str(port), *store_args])
    base = f"http://localhost:{port}/"
    try:
        _wait_http(base)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(base + "?page=runs&experiment=churn")  # child runs nested, collapsed
            _settle(page)
            page.screenshot(path=HERE / "runs.png")
            # compare the five best runs of the experiment
            boxes = page.locator(".tabulator-row input[type=checkbox]")
            for i in range(min(4, boxes.count())):
                boxes.nth(i).click()
            page.locator(".wb-compare button").click()
            page.wait_for_url("**page=compare**")
            page.set_viewport_size({"width": 1400, "height": 720})
            page.locator(".wb-echart[data-drawn-series]").wait_for()
            _settle(page)
            page.screenshot(path=HERE / "compare.png")
            page.set_viewport_size({"width": 1400, "height": 1100})
            page.goto(base + "?page=pipelines")
            _settle(page)
            page.screenshot(path=HERE / "pipelines.png")
            # the demo's finished sweep, reopened from "Show a recent sweep"
            page.goto(base + "?page=training")
            _settle(page)
            recent = page.locator(".wb-recent-sweeps select")
            recent.select_option(index=1)
            _settle(page)
            page.screenshot(path=HERE / "training.png")
            # the demo's pending request, selected in the approval inbox
            page.goto(base + "?page=registry")
            _settle(page)
            page.locator(".bk-tab", has_text="Approval inbox").first.click()
            _settle(page)
            page.locator(".wb-inbox .tabulator-row").locator("visible=true").first.click()
            _settle(page)
            page.screenshot(path=HERE / "registry.png")
            # the demo's drift reports on the churn sample: the newest opens, drifted columns first
            page.goto(base + "?page=monitoring")
            _settle(page)
            page.locator(".wb-drift-columns .tabulator-row").first.wait_for()
            page.locator(".wb-drift-hist .wb-echart[data-drawn-series]").first.wait_for()
            _settle(page)
            page.screenshot(path=HERE / "monitoring.png")
            # the demo's checkout experiment
            page.goto(base + "?page=abtests")
            _settle(page)
            page.screenshot(path=HERE / "abtests.png")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print("\n".join(str(p) for p in sorted(HERE.glob("*.png"))))


if __name__ == "__main__":
    main()
