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
from playwright.sync_api import expect

import workbench as wb
from workbench.ui._fixtures import build_ui_store

APP = "apps/workbench_app.py"
# runs of experiment "alpha" in build_ui_store: 30 + a parent with 2 children, which the
# table nests under their parent, so it pages over 31 top-level runs
TOTAL = 31


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("app-store")
    store = build_ui_store(folder / "ui.duckdb")
    # experiment "gamma": a sweep with three trials, and a lone run
    with wb.start_run(experiment="gamma", run_name="sweep", store=store):
        wb.log_param("model", "rf")
        for k in range(3):
            with wb.start_run(run_name=f"sweep/trial-{k}", nested=True):
                wb.log_param("lr", 0.1 * (k + 1))
                wb.log_metric("auc", 0.8 + 0.01 * k)
    with wb.start_run(experiment="gamma", run_name="lone-run", store=store):
        wb.log_param("model", "gbm")
    store.sync()
    ids = {
        name: store.search_runs(filter=f"attributes.run_name = '{name}'")["run_id"].iloc[0]
        for name in ("run-000", "cv-parent", "cv-parent/fold-1", "sweep/trial-1")
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
    scripts = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    _open(page, app)
    # no page renders TeX or asks for WebGL: Bokeh's MathJax (1.8 MB) and GL bundles are not sent,
    # the rest of Bokeh is
    assert not [u for u in scripts if "mathjax" in u or "bokeh-gl" in u], scripts
    assert any("bokeh.min.js" in u for u in scripts) and any("panel.min.js" in u for u in scripts)
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
    # Monitoring and A/B are real screens now: no page is the "coming later" placeholder.
    assert page.get_by_text("What the store holds").count() == 0
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
    # cv-parent logged its auc once: a value in a table, not a dot on an empty step axis
    page.locator(".bk-tab", has_text="Metrics").click()
    single = page.locator(".wb-single-values")
    single.locator(".tabulator-cell", has_text="auc").first.wait_for()
    single.locator(".tabulator-cell", has_text="0.9").first.wait_for()
    page.get_by_text("This run logged no metric histories").wait_for()
    # the previous run's plots go once the page has switched runs
    expect(page.locator(".wb-plots canvas")).to_have_count(0, timeout=20_000)
    wait_for_idle(page)
    screenshot(page, "app-run-detail-single-values")
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


def test_switching_experiments_shows_the_new_experiments_default_columns(app, log_mark, page):
    """Issue 13: after a switch the table showed "Columns: 0 of N" and no param/metric column."""
    _open(page, app)
    _wait_rows(page, TOTAL)
    page.locator(".wb-experiments").get_by_text("beta (", exact=False).click()
    _wait_rows(page, 3)
    for field in ("params.model", "metrics.acc"):
        page.locator(f".tabulator-col[tabulator-field='{field}']").first.wait_for(timeout=10_000)
    assert page.get_by_text(re.compile(r"Columns: 2 of 2 ")).count() == 1
    titles = page.locator(".wb-run-table .tabulator-col-title").all_inner_texts()
    assert {"params.model", "metrics.acc"} <= set(titles) and "params.depth" not in titles
    screenshot(page, "app-runs-switched-experiment")
    page.locator(".wb-experiments").get_by_text("alpha (", exact=False).click()
    _wait_rows(page, TOTAL)
    page.locator(".tabulator-col[tabulator-field='metrics.auc']").first.wait_for(timeout=10_000)
    assert page.get_by_text(re.compile(r"Columns: 6 of 7 ")).count() == 1
    assert_no_console_errors(page)
    assert_no_server_errors(app, log_mark)


def _names(page):
    """The run names shown, top to bottom (the links, without indent marks or badges)."""
    return [t.strip() for t in page.locator(
        ".wb-run-table .tabulator-row .tabulator-cell[tabulator-field='run_name'] .wb-run-link"
    ).all_inner_texts()]


def _wait_names(page, expected, timeout=20):
    import time

    deadline = time.monotonic() + timeout
    while _names(page) != expected:
        assert time.monotonic() < deadline, f"rows {_names(page)}, expected {expected}"
        page.wait_for_timeout(200)
    wait_for_idle(page)


def test_child_runs_nested_under_their_parent(app, log_mark, page, store_path):
    """Issue 13: child runs sit under their parent, collapsed; "▸ 3" shows them, indented;
    the flat list shows every run; a header click sorts and keeps children under the parent."""
    _, ids = store_path
    _open(page, f"{app}?experiment=gamma")
    _wait_rows(page, 2)
    assert sorted(_names(page)) == ["lone-run", "sweep"]  # collapsed by default
    toggle = page.locator(".wb-run-table .wb-toggle")
    assert toggle.count() == 1 and toggle.inner_text().replace("\xa0", " ") == "▸ 3"
    assert page.get_by_text("5 runs in all, child runs included").count() == 1
    screenshot(page, "app-runs-nested-collapsed")

    # sort by name (in the store): the children will follow the same order under the parent
    page.locator(".wb-run-table .tabulator-col[tabulator-field='run_name'] "
                 ".tabulator-col-title").click()
    _wait_names(page, ["lone-run", "sweep"])
    toggle.click()
    expanded = ["lone-run", "sweep", "sweep/trial-0", "sweep/trial-1", "sweep/trial-2"]
    _wait_names(page, expanded)
    assert toggle.inner_text().replace("\xa0", " ") == "▾ 3"
    links = page.locator(".wb-run-table .wb-run-link")
    parent_x = links.nth(1).bounding_box()["x"]
    for i in (2, 3, 4):  # indented under the parent
        assert links.nth(i).bounding_box()["x"] >= parent_x + 15
    assert page.locator(".wb-run-table .wb-depth-1").count() == 3
    assert page.get_by_text(re.compile(r"of 2 · page 1 of 1")).count() == 1  # pages count parents
    screenshot(page, "app-runs-nested-expanded")

    # a child is selectable like any run (the selection is in the URL)
    page.locator(".wb-run-table .tabulator-row").nth(3).locator("input[type=checkbox]").click()
    page.wait_for_url(f"**runs={ids['sweep/trial-1']}**")
    assert page.get_by_text("1 selected").count() == 1

    # a second click collapses the parent again
    toggle.click()
    _wait_names(page, ["lone-run", "sweep"])

    # the flat list: every run, no toggle
    page.locator(".wb-child-runs select").select_option(label="flat list")
    _wait_names(page, ["lone-run", "sweep", "sweep/trial-0", "sweep/trial-1", "sweep/trial-2"])
    assert page.locator(".wb-run-table .wb-toggle").count() == 0
    assert page.locator(".wb-run-table .wb-depth-1").count() == 0
    page.get_by_text(re.compile(r"Runs 1–5 of 5 · page")).wait_for()
    screenshot(page, "app-runs-flat")
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(app, log_mark)


def test_filter_shows_matching_children_under_their_parent(app, log_mark, page):
    """Only two trials match: they are shown under their parent, which is marked "context"."""
    _open(page, f"{app}?experiment=gamma&filter=metrics.auc+%3E+0.805")
    _wait_rows(page, 1)
    names = _names(page)
    assert names[0] == "sweep" and sorted(names[1:]) == ["sweep/trial-1", "sweep/trial-2"]
    context = page.locator(".wb-run-table .wb-context")
    assert context.count() == 1 and context.inner_text() == "context"
    assert page.get_by_text("2 runs matching the filter").count() == 1
    screenshot(page, "app-runs-nested-filtered")
    page.locator(".wb-page-info").scroll_into_view_if_needed()
    screenshot(page, "app-runs-nested-filtered-pager")
    assert_no_console_errors(page)
    assert_no_server_errors(app, log_mark)
