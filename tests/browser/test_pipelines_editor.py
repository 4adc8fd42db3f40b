"""The Pipelines editor in headless Chromium: build a pipeline by clicking, refuse a cycle,
save, run, and watch every step turn green.

One server (``apps/workbench_app.py``) over a fresh store per test. Screenshots go to
``test-artifacts/screenshots/pipelines-*.png``.
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

import workbench as wb

APP = "apps/workbench_app.py"


@pytest.fixture
def app(serve_app, tmp_path):
    path = tmp_path / "pl.duckdb"
    wb.Store(path).close()
    return serve_app(APP, env={"WORKBENCH_STORE": str(path)}), path


def _open(page, url):
    page.goto(url)
    wait_for_panel(page)
    wait_for_idle(page)


def _fill(page, css, text):
    box = page.locator(f".{css} input").first
    box.fill(text)
    box.press("Tab")  # commits the value (a change event) before the next click


def _select(page, css, value):
    page.locator(f".{css} select").select_option(value)


def _click(page, css):
    page.locator(f".{css} button").first.click()
    wait_for_idle(page)


def _add_step(page, name, builtin="identity"):
    _fill(page, "wb-pl-add-name", name)
    _select(page, "wb-pl-add-builtin", builtin)
    _click(page, "wb-pl-add")
    page.locator(".wb-message").get_by_text(f"Added step '{name}'").wait_for()


def _connect(page, src, dst, ok=True):
    _select(page, "wb-pl-from", src)
    _select(page, "wb-pl-to", dst)
    _click(page, "wb-pl-connect")
    if ok:
        page.locator(".wb-message").get_by_text(f"Connected {src} -> {dst}.").wait_for()


def test_build_refuse_cycle_save_run_and_turn_green(app, page):
    served, path = app
    _open(page, f"{served}?page=pipelines")
    page.locator(".wb-pl-none").get_by_text("No pipeline saved").wait_for()
    screenshot(page, "pipelines-empty-store")

    _fill(page, "wb-pl-new-name", "demo")
    _click(page, "wb-pl-new")
    page.locator(".wb-pl-summary").get_by_text("not saved yet").wait_for()
    for name in ("a", "b", "c"):
        _add_step(page, name)
    _connect(page, "a", "b")
    _connect(page, "b", "c")
    edges = page.locator(".wb-pl-edges")
    edges.get_by_text("a → b, b → c").wait_for()

    # a parameter from the generated form
    _select(page, "wb-pl-step", "a")
    page.locator(".wb-pl-form-step[data-step='a']").wait_for()
    _fill(page, "wb-pl-param-value", "41")
    _click(page, "wb-pl-apply")
    page.locator(".wb-message").get_by_text("Updated the parameters of step 'a'").wait_for()
    screenshot(page, "pipelines-built")

    # a cycle is refused in place, naming its steps; the graph is unchanged
    _connect(page, "c", "a", ok=False)
    error = page.locator(".wb-error").filter(has_text="dependency cycle")
    error.wait_for()
    text = error.locator("pre").inner_text()
    assert "Refused" in text and re.search(r"a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c", text), text
    assert edges.inner_text() == "a → b, b → c"  # the graph is unchanged
    screenshot(page, "pipelines-cycle-refused")

    # a slow last step, so the run can be watched
    _add_step(page, "nap", "sleep")
    _connect(page, "c", "nap")
    page.locator(".wb-pl-form-step[data-step='nap']").wait_for()
    _fill(page, "wb-pl-param-seconds", "2.5")
    _click(page, "wb-pl-apply")
    page.locator(".wb-message").get_by_text("Updated the parameters of step 'nap'").wait_for()

    # save, then run and watch every step turn green
    _fill(page, "wb-pl-save-message", "first version")
    _click(page, "wb-pl-save")
    page.locator(".wb-message").get_by_text("as version 1").wait_for()
    assert page.locator(".wb-error").filter(has_text="cycle").is_visible() is False
    page.locator(".wb-pl-run button").click()
    # the colours change while it runs (the first step starts the worker processes)
    running = page.locator(".wb-pl-strip .wb-step-running")
    expect(running.filter(has_text="nap: RUNNING")).to_have_count(1, timeout=30_000)
    expect(page.locator(".wb-pl-strip .wb-step-succeeded")).to_have_count(3)
    assert running.count() == 1
    screenshot(page, "pipelines-running")
    expect(page.locator(".wb-pl-strip .wb-step-succeeded")).to_have_count(4, timeout=60_000)
    page.locator(".wb-message").get_by_text("finished in").wait_for(timeout=30_000)
    wait_for_idle(page)
    assert page.locator(".wb-pl-strip .wb-step-status").count() == 4
    screenshot(page, "pipelines-run-finished")

    # clicking a step's box in the graph selects it (x range -0.6..4.4, steps at x = 0..3)
    canvas = page.locator(".wb-pl-graph canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box and box["width"] > 500 and box["height"] > 150
    inner = box["width"] - 10  # min_border 5 px each side, no axes
    page.mouse.click(box["x"] + 5 + inner * (1 + 0.6) / 5.0, box["y"] + box["height"] / 2)
    expect(page.locator(".wb-pl-detail-table td").first).to_have_text("b")
    page.locator(".wb-pl-form-step[data-step='b']").wait_for()

    # a step's output and log a click away; the run history has a duration per step
    _select(page, "wb-pl-step", "c")
    page.locator(".wb-pl-form-step[data-step='c']").wait_for()
    expect(page.locator(".wb-pl-detail-table td").first).to_have_text("c")
    page.locator(".wb-pl-detail-table td", has_text="SUCCEEDED").wait_for()
    page.locator(".wb-pl-output").get_by_text("41").wait_for()
    page.locator(".wb-pl-open-step button").wait_for()
    wait_for_idle(page)
    page.locator(".wb-pl-log").scroll_into_view_if_needed()
    screenshot(page, "pipelines-step-detail")
    page.locator(".bk-tab", has_text="Run history").click()
    page.locator(".wb-pl-history .tabulator-col-title", has_text="nap (s)").wait_for()
    assert page.locator(".wb-pl-history .tabulator-row").count() == 1
    wait_for_idle(page)
    page.locator(".wb-pl-history").scroll_into_view_if_needed()
    screenshot(page, "pipelines-history")

    # re-run from a step: the steps before it come from the cache
    _select(page, "wb-pl-from-step", "b")
    _click(page, "wb-pl-run")
    expect(page.locator(".wb-pl-strip .wb-step-cached")).to_have_count(1, timeout=60_000)
    expect(page.locator(".wb-pl-strip .wb-step-succeeded")).to_have_count(3, timeout=60_000)
    assert page.locator(".wb-pl-strip .wb-step-cached").inner_text() == "a: CACHED"
    page.locator(".wb-pl-history .tabulator-row").nth(1).wait_for()

    # the step's nested run opens in the Run detail page
    page.locator(".bk-tab", has_text="Step log & output").click()
    page.locator(".wb-pl-open-step button").click()
    page.wait_for_url("**page=run**")
    page.locator(".wb-run-header").get_by_text("c").first.wait_for()

    store = wb.Store(path)
    saved = wb.pipelines.load_pipeline(store, "demo")
    assert saved.version == 1 and saved.edges() == [("a", "b"), ("b", "c"), ("c", "nap")]
    assert saved.step("a").params == {"value": 41}
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(served)


def test_template_edit_save_and_diff_versions(app, page):
    served, _ = app
    _open(page, f"{served}?page=pipelines")
    _click(page, "wb-pl-template")
    page.locator(".wb-message").get_by_text("from the churn template").wait_for()
    expect(page.locator(".wb-pl-strip .wb-step-status")).to_have_count(8)
    page.locator(".wb-pl-edges").get_by_text("extract → clean").wait_for()
    wait_for_idle(page)
    screenshot(page, "pipelines-template")

    # edit train's model in the form generated from its signature, then save version 2
    _select(page, "wb-pl-step", "train")
    page.locator(".wb-pl-form-step[data-step='train']").wait_for()
    _fill(page, "wb-pl-param-model", "random_forest")
    _fill(page, "wb-pl-param-n_estimators", "many")  # refused: not an integer
    _click(page, "wb-pl-apply")
    page.locator(".wb-error pre").get_by_text("must be an integer, got 'many'").wait_for()
    _fill(page, "wb-pl-param-n_estimators", "50")
    _click(page, "wb-pl-apply")
    page.locator(".wb-message").get_by_text("Updated the parameters of step 'train'").wait_for()
    page.locator(".wb-pl-summary").get_by_text("unsaved changes").wait_for()
    _fill(page, "wb-pl-save-message", "random forest")
    _click(page, "wb-pl-save")
    page.locator(".wb-message").get_by_text("as version 2").wait_for()

    page.locator(".bk-tab", has_text="Versions & diff").click()
    _select(page, "wb-pl-va", "1")
    _select(page, "wb-pl-vb", "2")
    _click(page, "wb-pl-diff")
    diff = page.locator(".wb-pl-diff-text")
    diff.get_by_text("train.params.model").wait_for()
    assert "'<absent>' -> 'random_forest'" in diff.inner_text()
    assert "train.params.n_estimators: '<absent>' -> 50" in diff.inner_text()
    assert page.locator(".wb-pl-versions .tabulator-row").count() == 2
    wait_for_idle(page)
    page.locator(".wb-pl-diff-text").scroll_into_view_if_needed()
    screenshot(page, "pipelines-diff")
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(served)


def _slow_store(path):
    store = wb.Store(path)
    wb.Pipeline("other", [wb.Step("x", "identity", params={"value": 1})]).save(store)
    wb.Pipeline("slowpipe", [
        wb.Step("a", "identity", params={"value": 1}),
        wb.Step("nap", "sleep", inputs=["a"], params={"seconds": 60}),
        wb.Step("after", "identity", inputs=["nap"]),
    ]).save(store)
    store.close()


def test_url_drafts_live_updates_and_cancel(app, page):
    served, path = app
    _slow_store(path)
    # the pipeline named in the URL is the one shown; picking another updates the URL
    _open(page, f"{served}?page=pipelines&pipeline=other")
    page.locator(".wb-pl-summary").get_by_text("other").wait_for()
    _select(page, "wb-pl-pick", "slowpipe")
    page.locator(".wb-pl-summary").get_by_text("slowpipe").wait_for()
    page.wait_for_url("**pipeline=slowpipe**")

    # a value typed but not applied survives editing (and applying) another step
    _select(page, "wb-pl-step", "nap")
    page.locator(".wb-pl-form-step[data-step='nap']").wait_for()
    page.locator(".wb-pl-param-seconds input").first.fill("3")  # typed, never applied
    _select(page, "wb-pl-step", "a")
    page.locator(".wb-pl-form-step[data-step='a']").wait_for()
    _fill(page, "wb-pl-param-value", "5")
    _click(page, "wb-pl-apply")
    page.locator(".wb-message").get_by_text("Updated the parameters of step 'a'").wait_for()
    _select(page, "wb-pl-step", "nap")
    page.locator(".wb-pl-form-step[data-step='nap']").wait_for()
    expect(page.locator(".wb-pl-param-seconds input").first).to_have_value("3")
    _fill(page, "wb-pl-param-seconds", "60")  # back to the saved value, so the run is slow

    # another process saves a pipeline: it appears in the picker without a Refresh click
    store = wb.Store(path)
    wb.Pipeline("from-notebook", [wb.Step("n", "identity")]).save(store)
    store.close()
    expect(page.locator(".wb-pl-pick select option", has_text="from-notebook")).to_have_count(
        1, timeout=15_000)

    # run, then cancel while the slow step runs on its worker (no wait for idle: it polls)
    page.locator(".wb-pl-run button").click()
    expect(page.locator(".wb-pl-strip .wb-step-running").filter(has_text="nap: RUNNING")
           ).to_have_count(1, timeout=60_000)
    cancel = page.locator(".wb-pl-cancel button")
    expect(cancel).to_be_visible()
    screenshot(page, "pipelines-cancel-running")
    cancel.click()
    page.locator(".wb-message").get_by_text("was cancelled").wait_for(timeout=30_000)
    expect(page.locator(".wb-pl-strip .wb-step-cancelled")).to_have_count(2)
    expect(cancel).to_be_hidden()
    wait_for_idle(page)
    screenshot(page, "pipelines-cancelled")
    runs = wb.Store(path).search_runs("pipeline/slowpipe", run_view="all")
    assert "RUNNING" not in set(runs["status"])
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(served)


def test_pipelines_page_reflows_at_1024x700(app, open_page):
    served, path = app
    _slow_store(path)
    page = open_page(f"{served}?page=pipelines&pipeline=slowpipe", viewport=(1024, 700))
    wait_for_idle(page)
    page.locator(".wb-pl-summary").get_by_text("slowpipe").wait_for()
    wait_for_idle(page)
    screenshot(page, "pipelines-1024x700")
    sidebar = page.locator("#sidebar").bounding_box()
    sidebar_right = sidebar["x"] + sidebar["width"] if sidebar else 0
    # nothing wider than the window: no sideways scrolling to slide content under the sidebar
    widths = page.evaluate("""() => {
        const main = document.querySelector('#main') || document.body;
        return [document.documentElement.scrollWidth, document.documentElement.clientWidth,
                main.scrollWidth, main.clientWidth];
    }""")
    assert widths[0] <= widths[1] + 1 and widths[2] <= widths[3] + 1, widths
    for css in ("wb-pl-pick", "wb-pl-template", "wb-pl-new", "wb-pl-add-card",
                "wb-pl-connect-card", "wb-pl-step-card", "wb-pl-run-card", "wb-pl-graph",
                "wb-pl-tabs", "wb-pl-summary"):
        el = page.locator(f".{css}").first
        el.scroll_into_view_if_needed()
        box = el.bounding_box()
        assert box is not None, css
        assert box["x"] >= sidebar_right - 1, (css, box, sidebar_right)
        assert box["x"] + box["width"] <= 1024 + 1, (css, box)
    assert_no_console_errors(page)
    assert_no_server_errors(served)
