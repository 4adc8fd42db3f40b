"""The Monitoring screen in headless Chromium: run a report, open a drifted column, see over time.

One server (``apps/workbench_app.py``) over a small store with drift reports on the bundled
churn data (``workbench.ui.monitoring.fixtures``). Screenshots go to
``test-artifacts/screenshots/monitoring-*.png`` (1400x900 and 1024x700).
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
from playwright.sync_api import expect

from workbench.ui.monitoring.fixtures import build_monitoring_store

APP = "apps/workbench_app.py"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("monitoring-store")
    ids = build_monitoring_store(folder / "m.duckdb", multivariate=False)
    return folder / "m.duckdb", ids


@pytest.fixture(scope="module")
def app(serve_app_module, built):
    return serve_app_module(APP, env={"WORKBENCH_STORE": str(built[0])})


def _open(page, url):
    page.goto(url)
    wait_for_panel(page)
    wait_for_idle(page)
    page.locator(".wb-drift-summary").get_by_text(re.compile("tested columns drifted")).wait_for(
        timeout=30_000)


def _drawn(page, css, timeout=20_000):
    """Wait until the EChart under ``css`` finished drawing at least one series."""
    page.locator(f"{css} .wb-echart[data-drawn-series]").first.wait_for(timeout=timeout)
    n = page.locator(f"{css} .wb-echart").first.get_attribute("data-drawn-series")
    assert int(n) >= 1, (css, n)


def _tab(page, label):
    page.locator(".bk-tab", has_text=re.compile(rf"^{label}$")).first.click()
    wait_for_idle(page)


def test_run_a_report_open_a_drifted_column_and_see_over_time(app, built, open_page):
    _path, ids = built
    page = open_page(viewport=(1400, 900))
    _open(page, f"{app}?page=monitoring")
    # the newest saved report opens
    page.locator(".wb-drift-summary").get_by_text(ids["q4"]).wait_for()

    # run a new report: the saved profile against a Parquet file, in the background
    page.locator(".wb-drift-form select").first.select_option(label="saved profile")
    wait_for_idle(page)
    kinds = page.locator(".wb-drift-form select")
    kinds.nth(2).select_option(label="Parquet file")
    wait_for_idle(page)
    box = page.locator(".wb-drift-cur-file input")
    box.fill(ids["files"]["q4"])
    box.press("Enter")
    page.locator(".wb-drift-form input").last.fill("from-the-browser")
    page.locator(".wb-drift-form input").last.press("Enter")
    wait_for_idle(page)
    page.locator(".wb-drift-run button").click()
    page.locator(".wb-drift-status").get_by_text(re.compile("report saved in")).wait_for(timeout=60_000)
    wait_for_idle(page)
    page.locator(".wb-drift-summary").get_by_text("from-the-browser").wait_for()
    assert f"report={ids['q4']}" not in page.url and "report=" in page.url
    new_id = re.search(r"report=(\w+)", page.url).group(1)

    # the per-column table: sorted by score, small histograms, the top row drifted
    rows = page.locator(".wb-drift-columns .tabulator-row")
    rows.first.wait_for()
    assert rows.first.locator(".tabulator-cell[tabulator-field='distribution'] svg rect").count() >= 10
    counted = page.locator(".wb-drift-summary span", has_text=re.compile(r"^\d+ drifted$")).inner_text()
    n_drifted = int(counted.split()[0])
    assert 2 <= n_drifted < 12
    page.locator(".wb-drift-only input").check()
    wait_for_idle(page)
    expect(rows).to_have_count(n_drifted)
    # open a drifted column: its overlaid histogram, ECDF with the gap, score over time
    rows.filter(has_text="monthly_charges").first.locator(
        ".tabulator-cell[tabulator-field='column']").click()
    wait_for_idle(page)
    page.locator(".wb-drift-column").get_by_text("monthly_charges").wait_for()
    page.locator(".wb-drift-column").get_by_text("drifted").first.wait_for()
    for css in (".wb-drift-hist", ".wb-drift-ecdf", ".wb-drift-col-time"):
        _drawn(page, css)
    screenshot(page, "monitoring-column-1400x900")
    page.locator(".wb-drift-column").scroll_into_view_if_needed()
    screenshot(page, "monitoring-column-detail-1400x900")
    page.locator(".wb-drift-col-time").scroll_into_view_if_needed()
    screenshot(page, "monitoring-column-time-1400x900")

    # over time: the heatmap and a column's score line with its change point
    _tab(page, "Over time")
    _drawn(page, ".wb-drift-heatmap")
    _drawn(page, ".wb-drift-score-line")
    screenshot(page, "monitoring-over-time-1400x900")
    page.locator(".wb-drift-score-line").scroll_into_view_if_needed()
    screenshot(page, "monitoring-score-line-1400x900")
    _tab(page, "Data quality")
    page.locator(".wb-drift-quality .tabulator-row").first.wait_for()
    screenshot(page, "monitoring-quality-1400x900")

    # the bookmark reopens the new report; a small window still shows the page
    small = open_page(viewport=(1024, 700))
    _open(small, f"{app}?page=monitoring&report={new_id}")
    small.locator(".wb-drift-summary").get_by_text("from-the-browser").wait_for()
    expect(small.locator(".wb-drift-columns .tabulator-row").first).to_be_visible()
    _drawn(small, ".wb-drift-hist")
    screenshot(small, "monitoring-1024x700")
    small.locator(".wb-drift-hist").scroll_into_view_if_needed()
    screenshot(small, "monitoring-detail-1024x700")

    for p in (page, small):
        assert p.get_by_text("Traceback").count() == 0
        assert p.get_by_text("could not be shown").count() == 0
        assert_no_console_errors(p)
        assert_offline(p)
    assert_no_server_errors(app)


def test_a_text_column_shows_its_domain_classifier_and_typical_words(app, built, open_page):
    _path, ids = built
    page = open_page(viewport=(1400, 900))
    _open(page, f"{app}?page=monitoring&report={ids['tickets']}")
    page.locator(".wb-drift-summary").get_by_text("support-tickets").wait_for()
    row = page.locator(".wb-drift-columns .tabulator-row").filter(has_text="note").first
    expect(row).to_contain_text("abs_text_content_drift")
    assert row.locator(".tabulator-cell[tabulator-field='distribution'] svg rect").count() >= 10
    row.locator(".tabulator-cell[tabulator-field='column']").click()
    wait_for_idle(page)
    detail = page.locator(".wb-drift-column")
    detail.get_by_text("abs_text_content_drift").first.wait_for()
    words = detail.locator(".wb-mon-words-current")
    expect(words).to_contain_text("typical of current")
    assert any(w in words.inner_text() for w in ("refund", "invoice", "payment", "charge", "dispute"))
    _drawn(page, ".wb-drift-hist")
    detail.scroll_into_view_if_needed()
    screenshot(page, "monitoring-text-column-1400x900")
    assert page.get_by_text("Traceback").count() == 0
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(app)


def test_add_an_alert_rule_and_see_it_fire(app, built, open_page):
    _path, ids = built
    page = open_page(viewport=(1400, 900))
    _open(page, f"{app}?page=monitoring")
    _tab(page, "Alerts")
    page.locator(".wb-alert-name input").fill("any-column-drifted")
    page.locator(".wb-alert-kind select").select_option(label="a column flagged drifted")
    wait_for_idle(page)
    page.locator(".wb-alert-add button").click()
    page.locator(".wb-alert-feedback").get_by_text(re.compile("any-column-drifted' saved")).wait_for()
    page.locator(".wb-alert-rules .tabulator-cell").filter(
        has_text="any column flagged drifted, in a report").wait_for()

    # a report with drifted columns, run from the form: the rule fires
    kinds = page.locator(".wb-drift-form select")
    kinds.first.select_option(label="saved profile")
    wait_for_idle(page)
    kinds.nth(2).select_option(label="Parquet file")
    wait_for_idle(page)
    box = page.locator(".wb-drift-cur-file input")
    box.fill(ids["files"]["q4"])
    box.press("Enter")
    wait_for_idle(page)
    page.locator(".wb-drift-run button").click()
    page.locator(".wb-drift-status").get_by_text(re.compile("report saved in")).wait_for(timeout=60_000)
    wait_for_idle(page)
    _tab(page, "Alerts")
    page.locator(".wb-alert-events .tabulator-cell").filter(has_text="any-column-drifted").first.wait_for(
        timeout=20_000)
    screenshot(page, "monitoring-alerts-1400x900")
    assert page.get_by_text("Traceback").count() == 0
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(app)
