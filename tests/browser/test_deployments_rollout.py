"""The Deployments screen's "New rollout" card in headless Chromium: strategies started from the page.

The store holds model ``churn`` v1, v2 (C=0.01: agrees with v1 on about 85 % of rows) and v3 (the
same pipeline fitted on the opposite labels: it disagrees with v1 on every row), and a deployment
``churn-api`` serving v1. The test starts the server from the page, then from the card: a canary of
v3 with the agreement gate (``min_agreement`` 0.7), traffic from httpx, and the page shows the
canary rolled back by the agreement gate; a refused rollout (steps out of order) shows its reason in
the card; a canary of v2 with the same gate advances a step on the page; a shadow of v3 is refused while
that canary runs, and starts after a Rollback. Screenshots
at 1400x900 and 1024x700 go to ``test-artifacts/screenshots/deployments-rollout-*.png``.
"""

from __future__ import annotations

import re

import pytest
from browser_harness import (
    assert_no_console_errors,
    assert_no_server_errors,
    assert_offline,
    screenshot,
    wait_for_idle,
    wait_for_panel,
)
from deployment_store import build_deployment_store, kill_page_server, send
from playwright.sync_api import expect

APP = "apps/workbench_app.py"


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return build_deployment_store(tmp_path_factory.mktemp("rollout") / "s.duckdb",
                                  [(1.0, False), (0.01, False), (1.0, True)])


@pytest.fixture(scope="module")
def app(serve_app_module, store_path):
    yield serve_app_module(APP, env={"WORKBENCH_STORE": str(store_path)})
    kill_page_server(store_path)


def _type(page, key: str, text: str) -> None:
    box = page.locator(f".wb-dep-r-{key} input")
    box.fill(text)
    box.press("Enter")


def _canary_form(page, version: str, steps: str, agreement: str) -> None:
    page.locator(".wb-dep-r-strategy").get_by_role("button", name="Canary").click()
    page.locator(".wb-dep-r-version select").select_option(label=version)
    _type(page, "steps", steps)
    _type(page, "interval", "1s")
    _type(page, "min-samples", "15")
    _type(page, "failure-limit", "0")
    _type(page, "max-wait", "60s")
    _type(page, "slo-ms", "10000")
    _type(page, "min-agreement", agreement)
    wait_for_idle(page)


def _start_rollout(page, expect_text: str) -> None:
    page.locator(".wb-dep-rollout-start button").click()
    expect(page.locator(".wb-dep-rollout-confirm-text")).to_contain_text(expect_text, timeout=15_000)


def test_rollouts_from_the_card(app, store_path, page, open_page):
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{app}?page=deployments")
    wait_for_panel(page)
    wait_for_idle(page)
    header = page.locator(".wb-dep-header")
    expect(header).to_contain_text("churn-api", timeout=30_000)
    page.locator(".wb-dep-start button").click()
    expect(header).to_contain_text("serving at", timeout=90_000)
    url = header.locator("code").inner_text()
    canary = page.locator(".wb-dep-canary-line")
    steps = page.locator(".wb-dep-steps")

    # a canary of v3 (the opposite labels) with the agreement gate: rolled back by that gate
    _canary_form(page, "v3", "50, 100", "0.7")
    _start_rollout(page, "agreement with the champion >= 70%")
    expect(page.locator(".wb-dep-rollout-confirm-text")).to_contain_text("min_agreement=0.7")
    screenshot(page, "deployments-rollout-confirm-1400x900")
    page.locator(".wb-dep-rollout-confirm-yes button").click()
    expect(page.locator(".wb-dep-variants")).to_contain_text("challenger", timeout=30_000)
    expect(canary).to_contain_text("canary running: step 1 of 2", timeout=30_000)
    send(url, 80, "a")
    expect(canary).to_contain_text("canary rolled_back", timeout=30_000)
    expect(steps).to_contain_text("rollback", timeout=30_000)
    expect(steps).to_contain_text("agreement: FAIL 0 (>= 0.7)")
    expect(steps).to_contain_text("error_rate: pass")
    wait_for_idle(page)
    page.locator(".wb-dep-header").scroll_into_view_if_needed()
    screenshot(page, "deployments-rollout-gate-rollback-1400x900")

    # a refused rollout: the reason shows in the card, nothing changes
    _type(page, "steps", "50, 10")
    page.locator(".wb-dep-rollout-start button").click()
    expect(page.locator(".wb-dep-rollout-error")).to_contain_text("increasing percentages", timeout=15_000)
    expect(page.locator(".wb-dep-rollout-confirm")).to_be_hidden()

    # a canary of v2 (agrees on ~85 % of rows): its first step passes every gate and it advances
    _canary_form(page, "v2", "30, 60, 100", "0.7")
    _start_rollout(page, "Start a canary of v2")
    expect(page.locator(".wb-dep-rollout-error")).to_be_hidden()
    page.locator(".wb-dep-rollout-confirm-yes button").click()
    expect(canary).to_contain_text("canary running: step 1 of 3", timeout=30_000)
    send(url, 100, "b")
    expect(canary).to_contain_text(re.compile(r"running: step [23] of 3"), timeout=30_000)
    expect(steps).to_contain_text("advance", timeout=30_000)
    expect(steps).to_contain_text(re.compile(r"agreement: pass 0\.\d+ \(>= 0\.7\)"))
    wait_for_idle(page)
    page.locator(".wb-dep-header").scroll_into_view_if_needed()
    screenshot(page, "deployments-rollout-canary-1400x900")

    small = open_page(f"{app}?page=deployments", viewport=(1024, 700))
    expect(small.locator(".wb-dep-header")).to_contain_text("serving at", timeout=30_000)
    expect(small.locator(".wb-dep-canary-line")).to_contain_text("canary running", timeout=30_000)
    wait_for_idle(small)
    screenshot(small, "deployments-rollout-1024x700")
    small.locator(".wb-dep-rollout-start").scroll_into_view_if_needed()
    screenshot(small, "deployments-rollout-card-1024x700")

    # shadow v3 from the card: refused while the canary runs (with the way out), then after a Rollback
    page.locator(".wb-dep-r-strategy").get_by_role("button", name="Shadow").click()
    page.locator(".wb-dep-r-version select").select_option(label="v3")
    wait_for_idle(page)
    _start_rollout(page, "Mirror 100 % of requests to v3")
    page.locator(".wb-dep-rollout-confirm-yes button").click()
    expect(page.locator(".wb-dep-rollout-error")).to_contain_text("roll it back or promote it", timeout=30_000)
    page.locator(".wb-dep-rollback button").click()
    page.locator(".wb-dep-confirm-yes button").click()
    expect(canary).to_contain_text("canary rolled_back", timeout=30_000)
    _start_rollout(page, "Mirror 100 % of requests to v3")
    page.locator(".wb-dep-rollout-confirm-yes button").click()
    expect(page.locator(".wb-dep-rollout-error")).to_be_hidden(timeout=30_000)
    expect(page.locator(".wb-dep-strategy")).to_contain_text("shadow", timeout=30_000)
    expect(page.locator(".wb-dep-variants")).to_contain_text("shadow")
    send(url, 20, "c")
    expect(page.locator(".wb-dep-shadow")).to_contain_text("v3", timeout=30_000)
    screenshot(page, "deployments-rollout-shadow-1400x900")

    page.locator(".wb-dep-stop button").click()
    page.locator(".wb-dep-confirm-yes button").click()
    expect(header).to_contain_text("no server running", timeout=60_000)
    for p in (page, small):
        assert p.get_by_text("Traceback").count() == 0
        assert_no_console_errors(p)
        assert_offline(p)
    assert_no_server_errors(app)
