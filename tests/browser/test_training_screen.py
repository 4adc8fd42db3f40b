"""The Training screen in headless Chromium: launch a sweep, watch it, open the best run; reopen a
running sweep from a new tab and cancel it.

One server (``apps/workbench_app.py``) over a fresh store serves the module. Screenshots go to
``test-artifacts/screenshots/training-*.png``.
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

APP = "apps/workbench_app.py"


@pytest.fixture(scope="module")
def app(serve_app_module, tmp_path_factory):
    folder = tmp_path_factory.mktemp("training-store")
    return serve_app_module(APP, env={"WORKBENCH_STORE": str(folder / "train.duckdb")})


def _open_training(page, app):
    page.goto(f"{app}?page=training")
    wait_for_panel(page)
    wait_for_idle(page)
    page.locator(".wb-launch button").wait_for()


def _choose(page, css, label_pattern):
    select = page.locator(f"{css} select")
    label = next(o for o in select.locator("option").all_inner_texts()
                 if re.search(label_pattern, o))
    select.select_option(label=label)
    wait_for_idle(page)


def _set_int(page, css, value):
    box = page.locator(f"{css} input")
    box.fill(str(value))
    box.press("Enter")
    wait_for_idle(page)


def _state(page, state):
    """The sweep's state badge (RUNNING, FINISHED, KILLED, FAILED) once it shows ``state``."""
    return page.locator(f".wb-sweep-status .wb-state-{state}")


def _status(page):
    return page.locator(".wb-sweep-status .wb-status-text")


def test_launch_watch_and_open_the_best_run(app, log_mark, page):
    page.set_viewport_size({"width": 1280, "height": 1300})
    _open_training(page, app)
    assert page.locator(".wb-training-intro").is_visible()
    screenshot(page, "training-empty")
    _choose(page, ".wb-dataset", r"^breast_cancer")
    # the target and task follow the dataset
    expect(page.locator(".wb-target select")).to_have_value("target")
    page.locator(".wb-task").get_by_text("classification").wait_for()
    _choose(page, ".wb-family", r"^Logistic")
    page.locator(".wb-dim-C").wait_for()  # the search space form follows the family
    assert page.locator(".wb-dim-n_estimators").count() == 0
    _set_int(page, ".wb-n-trials", 4)
    _set_int(page, ".wb-n-jobs", 2)
    page.locator(".wb-launch button").click()

    _state(page, "running").wait_for(timeout=30_000)
    expect(page.locator(".wb-cancel-sweep button")).to_be_enabled()
    _state(page, "finished").wait_for(timeout=120_000)
    wait_for_idle(page)
    status = _status(page).inner_text()
    assert re.search(r"4\s+of 4 done", status), status
    assert "0 failed" in status and "best roc_auc" in status
    page.locator(".wb-sweep-chart canvas").first.wait_for()
    rows = page.locator(".wb-best-trials .tabulator-row")
    rows.first.wait_for()
    expect(rows).to_have_count(4, timeout=20_000)
    expect(page.locator(".wb-progress progress")).to_have_attribute("value", "100")
    expect(page.locator(".wb-cancel-sweep button")).to_be_disabled()
    screenshot(page, "training-finished")

    # register the best model: the registry answers in the message bar
    page.locator(".wb-register-best button").click()
    page.locator(".wb-message").get_by_text("Registered breast-cancer-logistic-regression version 1").wait_for()
    screenshot(page, "training-registered")

    # compare the best trials
    page.locator(".wb-compare-best button").click()
    page.wait_for_url("**page=compare**")
    runs = re.search(r"runs=([\w%]+)", page.url).group(1).split("%2C")
    assert len(runs) == 4
    page.get_by_text("Compare 4 runs").first.wait_for(timeout=20_000)

    # back on Training, the results are still there; clicking the best trial opens its run
    page.locator(".wb-nav button", has_text=re.compile(r"^Training$")).first.click()
    page.wait_for_url("**page=training**")
    wait_for_idle(page)
    rows = page.locator(".wb-best-trials .tabulator-row:visible")
    rows.first.wait_for()
    expect(rows).to_have_count(4, timeout=20_000)
    rows.first.locator(".tabulator-cell[tabulator-field='trial']").click()
    page.wait_for_url(f"**run={runs[0]}**")
    assert "page=run" in page.url
    page.locator(".wb-run-header").get_by_text(re.compile(r"trial-\d")).first.wait_for()
    wait_for_idle(page)
    screenshot(page, "training-best-run")
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(app, log_mark)


def test_a_running_sweep_survives_its_tab_and_can_be_cancelled(app, log_mark, page, open_page):
    _open_training(page, app)
    _choose(page, ".wb-dataset", r"^wine")
    _choose(page, ".wb-family", r"^Random forest")
    _set_int(page, ".wb-n-trials", 200)
    _set_int(page, ".wb-n-jobs", 1)
    page.locator(".wb-launch button").click()
    _state(page, "running").wait_for(timeout=30_000)
    sweep_id = re.search(r"sweep (\w{8})", _status(page).inner_text()).group(1)
    page.close()  # closing the tab does not stop the sweep

    again = open_page(viewport=(1280, 1300))
    _open_training(again, app)
    status = _status(again)
    status.get_by_text(sweep_id).wait_for(timeout=20_000)
    _state(again, "running").wait_for()
    # the form shows the followed sweep's settings
    expect(again.locator(".wb-dataset select")).to_have_value("wine (sample)")
    expect(again.locator(".wb-family select")).to_have_value("Random forest")
    expect(again.locator(".wb-n-trials input")).to_have_value("200")
    expect(again.locator(".wb-launch button")).to_be_disabled()
    screenshot(again, "training-reopened")
    again.locator(".wb-cancel-sweep button").click()
    _state(again, "killed").wait_for(timeout=60_000)
    wait_for_idle(again)
    text = status.inner_text()
    killed = int(re.search(r"(\d+) killed", text).group(1))
    assert killed >= 150, text
    assert "0 pending" in text
    expect(again.locator(".wb-launch button")).to_be_enabled()
    done = int(re.search(r"(\d+)\s+of 200 done", text).group(1))
    if done:  # the trials that finished before the cancel are the best trials
        expect(again.locator(".wb-best-trials .tabulator-row:visible")).to_have_count(done)
    else:
        again.get_by_text("No trial finished with a value for roc_auc").wait_for()
    screenshot(again, "training-cancelled")
    # the recent-sweeps list shows both sweeps of this store, the cancelled one as KILLED
    options = again.locator(".wb-recent-sweeps option").all_inner_texts()
    assert any(sweep_id in o and "KILLED" in o for o in options), options
    assert any("FINISHED" in o and "training-breast_cancer" in o for o in options), options
    assert_no_console_errors(again)
    assert_offline(again)
    assert_no_server_errors(app, log_mark)
