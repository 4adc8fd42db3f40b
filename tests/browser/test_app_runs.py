"""The workbench app in headless Chromium: shell, Runs table, Run detail, Compare, offline.

One server (``apps/workbench_app.py``) over one small real store serves the whole module;
the tests that delete runs restore them before they end. Screenshots of every screen go to
``test-artifacts/screenshots/app-*.png``.
"""

from __future__ import annotations

import re
import shutil

import pytest
from browser_harness import (
    assert_no_console_errors,
    assert_no_server_errors,
    assert_offline,
    screenshot,
    wait_for_idle,
    wait_for_panel,
)

from workbench.ui._fixtures import build_ui_store

APP = "apps/workbench_app.py"
TOTAL = 33  # runs of experiment "alpha" in build_ui_store


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("app-store")
    store = build_ui_store(folder / "ui.duckdb")
    ids = {
        name: store.search_runs(filter=f"attributes.run_name = '{name}'")["run_id"].iloc[0]
        for name in ("run-000", "cv-parent", "cv-parent/fold-1")
    }
    store.close()
    yield folder / "ui.duckdb", ids
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def app(serve_app_module, store_path):
    return serve_app_module(APP, env={"WORKBENCH_STORE": str(store_path[0])})


def _open(page, url):
    page.goto(url)
    wait_for_panel(page)
    wait_for_idle(page)


def _wait_rows(page, total):
    page.get_by_text(re.compile(rf"of {total:,} · page")).wait_for(timeout=20_000)
    wait_for_idle(page)


def _filter(page, text):
    box = page.locator(".wb-filter input")
    box.fill(text)
    box.press("Enter")


def test_app_loads_offline_without_errors(app, log_mark, page):
    _open(page, app)
    page.locator(".tabulator-row").first.wait_for()
    _wait_rows(page, TOTAL)
    for label in ("Runs", "Run detail", "Compare", "Pipelines", "Training", "Registry",
                  "Monitoring", "Experiments / A-B"):
        assert page.locator(".wb-nav button", has_text=label).count() >= 1, label
    assert page.locator(".wb-status-finished").count() > 0  # status colouring
    screenshot(page, "app-runs")
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(app, log_mark)


def test_every_page_renders_without_traceback(app, log_mark, page):
    _open(page, app)
    _wait_rows(page, TOTAL)
    for key, label in (("experiments", "Experiments"), ("datasets", "Datasets"),
                       ("pipelines", "Pipelines"), ("training", "Training"),
                       ("registry", "Registry"), ("monitoring", "Monitoring")):
        page.locator(".wb-nav button", has_text=re.compile(rf"^{label}$")).first.click()
        page.wait_for_url(f"**page={key}**")
        wait_for_idle(page)
        assert page.locator(".wb-error").filter(has_text="could not be shown").count() == 0
        screenshot(page, f"app-{key}")
    assert page.get_by_text("What the store holds").count() == 1
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(app, log_mark)


def test_filter_updates_table_and_bad_filter_shows_message(app, log_mark, page):
    _open(page, app)
    _wait_rows(page, TOTAL)
    _filter(page, "params.model = 'gbm'")
    _wait_rows(page, 10)
    assert "filter=params.model" in page.url  # the filter is in the URL
    cells = page.locator(".tabulator-cell[tabulator-field='params.model']")
    assert set(cells.all_inner_texts()) == {"gbm"}
    screenshot(page, "app-runs-filtered")

    _filter(page, "params.model = ")
    error = page.locator(".wb-filter-error")
    error.get_by_text("expected", exact=False).wait_for()
    assert "^" in error.locator("pre").inner_text()
    screenshot(page, "app-runs-bad-filter")
    _filter(page, "")
    _wait_rows(page, TOTAL)
    assert not page.locator(".wb-filter-error").is_visible()
    assert_no_console_errors(page)


def test_bookmarked_url_restores_the_view(app, log_mark, page):
    _open(page, f"{app}?experiment=beta&filter=metrics.acc+%3E+0.72")
    _wait_rows(page, 2)
    assert page.locator(".wb-filter input").input_value() == "metrics.acc > 0.72"
    assert_no_console_errors(page)


def test_select_runs_and_open_compare(app, log_mark, page):
    _open(page, app)
    _wait_rows(page, TOTAL)
    boxes = page.locator(".tabulator-row input[type=checkbox]")
    for i in range(3):
        boxes.nth(i).click()
    page.wait_for_url(re.compile(r"runs=(\w+%2C){2}\w+"))
    page.locator(".wb-compare button").click()
    page.wait_for_url("**page=compare**")
    wait_for_idle(page)
    runs = re.search(r"runs=([\w%]+)", page.url).group(1).split("%2C")
    assert len(runs) == 3
    page.get_by_text("Compare 3 runs").first.wait_for(timeout=20_000)
    wait_for_idle(page)
    screenshot(page, "app-compare")
    # the compare URL is a bookmark: reloading shows the same runs
    page.reload()
    wait_for_panel(page)
    page.get_by_text("Compare 3 runs").first.wait_for(timeout=20_000)
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(app, log_mark)


def test_run_detail_opens_with_plots_artifacts_and_parent(app, log_mark, page, open_page, store_path):
    _, ids = store_path
    _open(page, app)
    _wait_rows(page, TOTAL)
    _filter(page, "attributes.run_name = 'run-000'")
    _wait_rows(page, 1)
    page.locator(".wb-run-link", has_text="run-000").click()
    page.wait_for_url(f"**run={ids['run-000']}**")
    page.locator(".wb-run-header").get_by_text("run-000").wait_for()
    wait_for_idle(page)
    screenshot(page, "app-run-detail")
    page.locator(".bk-tab", has_text="Metrics").click()
    page.locator(".wb-plots canvas").first.wait_for()
    wait_for_idle(page)
    assert page.locator(".wb-plots .bk-Figure, .wb-plots canvas").count() >= 2
    screenshot(page, "app-run-detail-metrics")
    page.locator(".bk-tab", has_text="Artifacts").click()
    page.locator(".tabulator-cell", has_text="plots/confusion.png").click()
    page.locator(".wb-preview img").first.wait_for()
    screenshot(page, "app-run-detail-artifacts")
    page.locator(".tabulator-cell", has_text="data/predictions.csv").click()
    page.locator(".wb-preview").get_by_text("first 20 rows").wait_for()
    page.locator(".bk-tab", has_text="Datasets").click()
    page.get_by_text("train-set").first.wait_for()

    # a child run links to its parent (a fresh page: leaving a busy one can race the server)
    wait_for_idle(page)
    page = open_page()
    _open(page, f"{app}?page=run&run={ids['cv-parent/fold-1']}")
    page.locator(".wb-parent button").click()
    page.wait_for_url(f"**run={ids['cv-parent']}**")
    page.locator(".wb-run-header").get_by_text("cv-parent").wait_for()
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(app, log_mark)


def test_delete_and_restore_with_confirmation(app, log_mark, page):
    _open(page, app)
    _wait_rows(page, TOTAL)
    # a run without children ("cv-parent" would take its two folds along)
    childless = page.locator(".tabulator-row", has=page.locator(
        ".tabulator-cell[tabulator-field='run_name']", has_text=re.compile(r"^run-")))
    childless.first.locator("input[type=checkbox]").click()
    page.locator(".wb-delete button").click()
    bar = page.locator(".wb-confirm-bar")
    bar.get_by_text("Delete 1 selected run").wait_for()
    screenshot(page, "app-runs-confirm-delete")
    page.locator(".wb-cancel button").click()  # cancelling deletes nothing
    wait_for_idle(page)
    assert page.get_by_text(re.compile(rf"of {TOTAL} · page")).count() == 1
    page.locator(".wb-delete button").click()
    page.locator(".wb-confirm button").click()
    _wait_rows(page, TOTAL - 1)
    page.get_by_text("Deleted 1 run.").wait_for()

    page.locator("select").filter(has_text="deleted runs").select_option("deleted runs")
    _wait_rows(page, 1)
    page.locator(".tabulator-row input[type=checkbox]").first.click()
    page.locator(".wb-restore button").click()
    page.locator(".wb-confirm-bar").get_by_text("Restore 1 selected run").wait_for()
    page.locator(".wb-confirm button").click()
    _wait_rows(page, 0)
    page.locator("select").filter(has_text="deleted runs").select_option("active runs")
    _wait_rows(page, TOTAL)
    assert_no_console_errors(page)
    assert_no_server_errors(app, log_mark)
