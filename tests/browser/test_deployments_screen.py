"""The Deployments screen in headless Chromium: a real server started from the page, real traffic.

The store holds model ``churn`` v1 and v2 (scikit-learn pipelines, as in ``tests/serving``) and a
deployment ``churn-api`` serving v1. The test opens ``?page=deployments``, clicks Start (and
confirms nothing: starting is not destructive), sends requests with httpx, watches the
requests/s and latency charts fill, starts a canary of v2 through the server's admin API,
watches the page show its step advancing, clicks Rollback (with the confirmation) and sees the
canary rolled back; then a blue-green switch to v2 and a Rollback click that brings v1 back;
finally Stop. Screenshots at 1400x900 and 1024x700 go to ``test-artifacts/screenshots/deployments-*.png``.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest
from browser_harness import (
    assert_no_console_errors,
    assert_no_server_errors,
    assert_offline,
    screenshot,
    wait_for_idle,
    wait_for_panel,
)
from deployment_store import build_deployment_store, fx, kill_page_server, send
from playwright.sync_api import expect

import workbench as wb

APP = "apps/workbench_app.py"


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = build_deployment_store(tmp_path_factory.mktemp("deploy") / "s.duckdb", [(1.0, False), (0.01, False)])
    from workbench.serving.loading import resolve_spec

    store = wb.Store(path)
    specs = {v: resolve_spec(store, f"models:/churn/{v}").to_dict() for v in (1, 2)}
    store.close()
    return path, specs


@pytest.fixture(scope="module")
def app(serve_app_module, store_path):
    yield serve_app_module(APP, env={"WORKBENCH_STORE": str(store_path[0])})
    kill_page_server(store_path[0])


def _confirm(page, action: str) -> None:
    page.locator(f".wb-dep-{action} button").click()
    page.locator(".wb-dep-confirm-yes button").click()


_AXIS_JS = """
(box) => {
  const chart = box && window.echarts && window.echarts.getInstanceByDom(box);
  if (!chart) return null;
  const o = chart.getOption();
  return {min_interval: o.xAxis[0].minInterval, series: o.series.length};
}"""


def _drawn(page, css: str, series: int) -> None:
    chart = page.locator(f"{css} .wb-echart[data-drawn-series]")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if chart.count() and int(chart.first.get_attribute("data-drawn-series") or 0) >= series:
            return
        time.sleep(0.5)
    raise AssertionError(f"{css} did not draw {series} series within 60 s")


def test_deploy_traffic_canary_rollback(app, store_path, page, open_page):
    specs = store_path[1]
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{app}?page=deployments")
    wait_for_panel(page)
    wait_for_idle(page)
    header = page.locator(".wb-dep-header")
    expect(header).to_contain_text("churn-api", timeout=30_000)
    expect(header).to_contain_text("no server running")
    screenshot(page, "deployments-stopped-1400x900")

    page.locator(".wb-dep-start button").click()
    expect(header).to_contain_text("serving at", timeout=90_000)
    url = header.locator("code").inner_text()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), url
    send(url, 40)
    # the log is flushed by the server and ingested by the page's next read: the charts fill
    _drawn(page, ".wb-dep-chart-requests-per-s", 1)
    _drawn(page, ".wb-dep-chart-latency", 3)
    expect(page.locator(".wb-dep-breakers")).to_contain_text("closed")

    # a canary of v2 (30, 60, 100 %), analysed after 1 s on at least 15 canary requests
    with httpx.Client(base_url=url, timeout=60) as c:
        r = c.post("/admin/canary", json={"spec": specs[2], "config": {
            "steps": [30, 60, 100], "interval_s": 1.0, "min_samples": 15, "failure_limit": 1,
            "max_wait_s": 60.0}})
        assert r.status_code == 200, r.text
    send(url, 100)  # about 30 canary requests: the first step passes
    canary = page.locator(".wb-dep-canary-line")
    expect(page.locator(".wb-dep-variants")).to_contain_text("challenger", timeout=30_000)
    expect(canary).to_contain_text(re.compile(r"running: step [23] of 3"), timeout=30_000)
    expect(page.locator(".wb-dep-steps")).to_contain_text("advance")
    wait_for_idle(page)
    screenshot(page, "deployments-canary-1400x900")
    page.locator(".wb-dep-chart-latency").scroll_into_view_if_needed()
    screenshot(page, "deployments-charts-1400x900")
    # per 5 seconds: the same requests, redrawn with second ticks
    page.locator(".wb-dep-window button", has_text="per 5 s").click()
    box = page.locator(".wb-dep-chart-requests-per-s .wb-echart").first
    deadline = time.monotonic() + 30
    axis = None
    while time.monotonic() < deadline:
        axis = box.evaluate(_AXIS_JS)
        if axis and axis["min_interval"] == 5000:
            break
        time.sleep(0.3)
    assert axis and axis["min_interval"] == 5000 and axis["series"] >= 1, axis
    screenshot(page, "deployments-charts-5s-1400x900")
    page.locator(".wb-dep-window button", has_text="per minute").click()

    _confirm(page, "rollback")
    expect(canary).to_contain_text("canary rolled_back", timeout=30_000)
    expect(page.locator(".wb-dep-events")).to_contain_text("rollback", timeout=30_000)

    # blue-green: switch to v2 through the server, then Rollback on the page brings v1 back
    with httpx.Client(base_url=url, timeout=120) as c:
        r = c.post("/admin/switch", json={"spec": specs[2], "window_s": 600})
        assert r.status_code == 200, r.text
        assert c.post("/invocations", json=fx.columns_of(fx._data(1)[0])).headers["x-model-version"] == "2"
    variants = page.locator(".wb-dep-variants")
    expect(variants).not_to_contain_text("v1", timeout=30_000)
    expect(variants).to_contain_text("v2")
    _confirm(page, "rollback")
    expect(variants).not_to_contain_text("v2", timeout=30_000)
    expect(variants).to_contain_text("v1")
    expect(page.locator(".wb-dep-message")).to_contain_text("champion is v1", timeout=30_000)
    with httpx.Client(base_url=url, timeout=30) as c:
        assert c.post("/invocations", json=fx.columns_of(fx._data(1)[0])).headers["x-model-version"] == "1"

    small = open_page(f"{app}?page=deployments", viewport=(1024, 700))
    expect(small.locator(".wb-dep-header")).to_contain_text("serving at", timeout=30_000)
    _drawn(small, ".wb-dep-chart-requests-per-s", 1)
    screenshot(small, "deployments-1024x700")
    # the drift link opens Monitoring with the last 24 h of this deployment's logged inputs
    small.locator(".wb-dep-monitoring").click()
    small.wait_for_url("**page=monitoring**")
    wait_for_idle(small)
    picked = small.locator(".wb-drift-cur select")
    expect(picked).to_have_value("churn-api · last 24 hours", timeout=30_000)
    screenshot(small, "deployments-drift-link-1024x700")

    _confirm(page, "stop")
    expect(header).to_contain_text("no server running", timeout=60_000)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/ping", timeout=2)
    for p in (page, small):
        assert p.get_by_text("Traceback").count() == 0
        assert p.get_by_text("could not be shown").count() == 0
        assert_no_console_errors(p)
        assert_offline(p)
    assert_no_server_errors(app)
