"""The Registry screen in headless Chromium: request, inbox, approve, gates, override.

Each test builds a small real store: runs that logged a model, registered by ``alice`` (the
store's registry admin), with ``bob`` granted the approver role. The app is served as a
user through ``WORKBENCH_USER``: ``alice`` requests a transition in her screen, ``bob``
decides in his. Screenshots go to ``test-artifacts/screenshots/registry-*.png``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
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
from sklearn.linear_model import LogisticRegression

import workbench as wb

APP = "apps/workbench_app.py"


def _log_run(store: wb.Store, auc: float) -> str:
    rng = np.random.default_rng(int(auc * 100))
    X = pd.DataFrame(rng.normal(size=(40, 2)), columns=["tenure", "spend"])
    y = (X["tenure"] > 0).astype(int)
    with wb.start_run(experiment="churn", store=store, run_name=f"auc-{auc}") as run:
        run.log_dataset(X.assign(churned=y), name="customers", role="train")
        run.log_metric("auc", auc)
        wb.log_model(LogisticRegression().fit(X, y), name="model", input_example=X.head(5))
    return run.id


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "reg.duckdb"
    store = wb.Store(path)
    reg = wb.Registry(store, user="alice")  # the first user of the registry: admin
    reg.grant("bob", "approver")
    reg.register_model("churn", run_id=_log_run(store, 0.91), description="Who will churn")
    reg.register_model("churn", run_id=_log_run(store, 0.80))
    store.close()
    return path


def _serve(serve_app, store_path, user: str):
    return serve_app(APP, env={"WORKBENCH_STORE": str(store_path), "WORKBENCH_USER": user})


def _open_registry(page, app) -> None:
    page.goto(f"{app}?page=registry")
    wait_for_panel(page)
    wait_for_idle(page)
    page.locator(".wb-acting").wait_for(timeout=20_000)


def _tab(page, label: str) -> None:
    page.locator(".bk-tab", has_text=re.compile(rf"^{label}$")).first.click()
    wait_for_idle(page)


def _visible(page, selector: str):
    return page.locator(selector).locator("visible=true")


def _check_page(page, served) -> None:
    assert page.get_by_text("Traceback").count() == 0
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(served)


def test_request_in_screen_then_approve_in_inbox(serve_app, open_page, store_path):
    alice_app = _serve(serve_app, store_path, "alice")
    page = open_page(viewport=(1280, 1500))
    _open_registry(page, alice_app)
    page.locator(".wb-acting").get_by_text("alice").wait_for()
    page.locator(".wb-acting").get_by_text("admin").wait_for()
    # the models list shows the versions in each stage
    page.locator(".wb-models .tabulator-cell", has_text="v1, v2").wait_for()
    screenshot(page, "registry-models")

    # request a transition from the model's page
    page.locator(".wb-request-version select").select_option("1")
    page.locator(".wb-request-stage select").select_option("Staging")
    page.locator(".wb-request-comment input").fill("ready for staging")
    page.locator(".wb-request button").click()
    page.locator(".wb-message").get_by_text("Request #1 created").wait_for()
    _tab(page, "Approval inbox")
    _visible(page, ".wb-inbox .tabulator-cell").filter(has_text="ready for staging").wait_for()
    page.get_by_text("1 pending request").wait_for()
    screenshot(page, "registry-inbox-requested")
    _check_page(page, alice_app)

    # bob, the approver, decides in his own screen
    bob_app = _serve(serve_app, store_path, "bob")
    page = open_page(viewport=(1280, 1500))
    _open_registry(page, bob_app)
    page.locator(".wb-acting").get_by_text("approver").wait_for()
    _tab(page, "Approval inbox")
    _visible(page, ".wb-inbox .tabulator-row").first.click()
    wait_for_idle(page)
    evidence = page.locator(".wb-evidence")
    evidence.get_by_text("Request #1").wait_for()
    # the evidence tables fill in after the header (each is its own Tabulator render)
    expect(evidence.locator(".wb-evidence-metrics .tabulator-cell", has_text="auc")).to_have_count(1, timeout=20_000)
    expect(evidence.locator(".wb-signature-diff .tabulator-cell", has_text="tenure")).to_have_count(1, timeout=20_000)
    screenshot(page, "registry-inbox-evidence")

    page.locator(".wb-approve button").click()  # no comment: refused, with a message
    page.locator(".wb-decision-feedback").get_by_text("Write a comment").wait_for()
    assert wb.Registry(wb.Store(store_path), user="bob").get_version("churn", 1).stage == "None"
    page.locator(".wb-decision-comment textarea").fill("metrics look right")
    page.locator(".wb-approve button").click()
    # the result shows where the buttons were, in view, with a way to the model's page
    result = page.locator(".wb-decision-result").get_by_text("Request #1 approved")
    result.wait_for()
    expect(result).to_be_in_viewport()
    screenshot(page, "registry-approved")
    page.locator(".wb-open-decided button").click()
    wait_for_idle(page)
    _visible(page, ".wb-versions .wb-stage-staging").first.wait_for()  # the new stage at once

    _tab(page, "Audit log")
    row = _visible(page, ".wb-audit .tabulator-row").first
    row.get_by_text("approve", exact=True).wait_for()
    assert "bob" in row.inner_text() and "metrics look right" in row.inner_text()
    screenshot(page, "registry-audit")
    _tab(page, "Stage history")
    _visible(page, ".wb-timeline canvas").first.wait_for()
    screenshot(page, "registry-timeline")
    _tab(page, "Model card")
    _visible(page, ".wb-card-view").get_by_text("Training data").wait_for()
    screenshot(page, "registry-card")

    store = wb.Store(store_path)
    reg = wb.Registry(store, user="bob")
    assert reg.get_version("churn", 1).stage == "Staging"
    last = reg.audit_log("churn").iloc[-1]
    assert (last["action"], last["user"], last["details"]["comment"]) == (
        "approve",
        "bob",
        "metrics look right",
    )
    store.close()

    # a version's run link opens the run's page
    _tab(page, "Versions")
    _visible(page, ".wb-versions .wb-run-link").first.click()
    page.wait_for_url("**page=run**")
    page.locator(".wb-run-header").wait_for(timeout=20_000)
    _check_page(page, bob_app)


def test_failed_gate_blocks_approval_until_override(serve_app, open_page, store_path):
    store = wb.Store(store_path)
    alice = wb.Registry(store, user="alice")
    alice.set_gate("churn", "metrics.auc >= 0.85")
    req = alice.request_transition("churn", 2, "Staging", comment="cheaper model")
    store.close()

    app = _serve(serve_app, store_path, "bob")
    page = open_page(viewport=(1280, 1500))
    _open_registry(page, app)
    _tab(page, "Approval inbox")
    _visible(page, ".wb-inbox .tabulator-row").first.click()
    wait_for_idle(page)
    gates = page.locator(".wb-gates")
    gates.locator(".wb-gate-failed").wait_for()
    assert gates.get_by_text("0.8", exact=True).count() == 1  # the value the gate saw
    assert page.locator(".wb-override input").is_visible()
    screenshot(page, "registry-gate-failed")

    page.locator(".wb-decision-comment textarea").fill("approving anyway?")
    page.locator(".wb-approve button").click()
    page.locator(".wb-decision-feedback").get_by_text("gate(s) failed").wait_for()
    screenshot(page, "registry-gate-refused")
    store = wb.Store(store_path)
    assert wb.Registry(store, user="bob").get_version("churn", 2).stage == "None"
    store.close()

    page.locator(".wb-decision-comment textarea").fill("staging only, to measure it live")
    page.locator(".wb-override input").fill("holdout set is harder than production")
    page.locator(".wb-override input").press("Enter")
    page.locator(".wb-approve button").click()
    page.locator(".wb-decision-result").get_by_text(
        f"Request #{req.id} approved (gates overridden)"
    ).wait_for()
    page.locator(".wb-open-decided button").click()
    wait_for_idle(page)
    _visible(page, ".wb-versions .wb-stage-staging").first.wait_for()
    _tab(page, "Audit log")
    row = _visible(page, ".wb-audit .tabulator-row").first
    row.get_by_text("override", exact=True).wait_for()
    assert "holdout set is harder" in row.inner_text()
    screenshot(page, "registry-override-audit")

    store = wb.Store(store_path)
    last = wb.Registry(store, user="bob").audit_log("churn").iloc[-1]
    assert last["action"] == "override"
    assert last["details"]["override_reason"] == "holdout set is harder than production"
    assert last["details"]["failed_gates"] == ["metrics.auc >= 0.85"]
    store.close()
    _check_page(page, app)


def test_the_page_follows_requests_filed_elsewhere(serve_app, open_page, store_path):
    """A request filed from another process (a notebook) appears in the inbox within a few
    seconds, without Refresh; so does its approval."""
    app = _serve(serve_app, store_path, "bob")
    page = open_page(viewport=(1280, 900))
    _open_registry(page, app)
    _tab(page, "Approval inbox")
    page.get_by_text("0 pending requests").wait_for()
    store = wb.Store(store_path)
    req = wb.Registry(store, user="alice").request_transition(
        "churn", 1, "Staging", comment="filed from a notebook")
    _visible(page, ".wb-inbox .tabulator-cell").filter(has_text="filed from a notebook").wait_for(
        timeout=10_000)
    page.get_by_text("1 pending request").wait_for()
    screenshot(page, "registry-live-inbox")
    wb.Registry(store, user="bob").approve(req.id, comment="approved from Python")
    page.get_by_text("0 pending requests").wait_for(timeout=10_000)
    store.close()
    _check_page(page, app)


def test_act_as_another_user_in_an_app_without_login(serve_app, open_page, store_path):
    """Alice asks; at the same app (no login configured) bob picks himself in "Act as" and
    approves: the audit log says alice's session acted as bob."""
    app = _serve(serve_app, store_path, "alice")
    page = open_page(viewport=(1024, 700))
    _open_registry(page, app)
    page.locator(".wb-request-version select").select_option("2")
    page.locator(".wb-request-stage select").select_option("Staging")
    page.locator(".wb-request-comment input").fill("v2 for staging")
    page.locator(".wb-request button").click()
    page.locator(".wb-message").get_by_text("Request #1 created").wait_for()
    _tab(page, "Approval inbox")
    _visible(page, ".wb-inbox .tabulator-row").first.click()
    page.locator(".wb-evidence").get_by_text("Request #1").wait_for()
    page.locator(".wb-decision-comment textarea").fill("mine")
    page.locator(".wb-approve button").click()
    feedback = page.locator(".wb-decision-feedback")
    feedback.get_by_text("cannot approve it").wait_for()
    feedback.get_by_text(re.compile(r'"Act as" at the top of this page')).wait_for()  # what to do

    page.locator(".wb-act-as select").select_option("bob")
    page.locator(".wb-acting").get_by_text("alice acting as bob").wait_for()
    _tab(page, "Approval inbox")
    _visible(page, ".wb-inbox .tabulator-row").first.click()
    page.locator(".wb-evidence").get_by_text("Request #1").wait_for()
    page.locator(".wb-decision-comment textarea").fill("looked at it with alice")
    page.locator(".wb-approve button").click()
    result = page.locator(".wb-decision-result").get_by_text("Request #1 approved")
    result.wait_for()
    expect(result).to_be_in_viewport()
    screenshot(page, "registry-act-as-approved-1024")
    page.locator(".wb-open-decided button").click()
    wait_for_idle(page)
    _tab(page, "Audit log")
    row = _visible(page, ".wb-audit .tabulator-row").first
    row.get_by_text("alice as bob").wait_for()
    screenshot(page, "registry-act-as-audit")

    store = wb.Store(store_path)
    last = wb.Registry(store, user="alice").audit_log("churn").iloc[-1]
    assert last["user"] == "bob" and last["details"]["acted_by"] == "alice"
    store.close()
    _check_page(page, app)


def test_single_user_edits_card_downloads_it_and_self_approves(serve_app, open_page, tmp_path):
    path = tmp_path / "solo.duckdb"
    store = wb.Store(path)
    solo = wb.Registry(store, user="solo")
    solo.set_setting("allow_self_approval", True)  # the documented single-user setting
    solo.register_model("churn", run_id=_log_run(store, 0.9), description="Rank churn risk")
    store.close()

    app = _serve(serve_app, path, "solo")
    page = open_page(viewport=(1280, 1500))
    _open_registry(page, app)
    _tab(page, "Gates & details")  # solo is the admin: gates are set from the screen
    page.locator(".wb-gate-rule input").fill("model card complete")
    page.locator(".wb-gate-add button").click()
    page.locator(".wb-message").get_by_text("Gate #1 added").wait_for()
    _visible(page, ".wb-gate-list .tabulator-cell").filter(
        has_text="model card complete"
    ).wait_for()
    screenshot(page, "registry-gates")
    _tab(page, "Model card")
    _visible(page, ".wb-card-view").get_by_text("Rank churn risk").wait_for()
    page.locator(".wb-card-limitations textarea").fill("Only EU customers of 2024.")
    page.locator(".wb-card-ethical_considerations textarea").fill("No protected attributes.")
    page.locator(".wb-card-save button").click()
    page.locator(".wb-message").get_by_text("Model card of churn version 1 saved").wait_for()
    _visible(page, ".wb-card-view").get_by_text("Only EU customers of 2024.").wait_for()
    screenshot(page, "registry-card-edited")
    with page.expect_download() as info:
        page.locator(".wb-card-md button").click()
    download = info.value
    assert download.suggested_filename == "churn-v1-card.md"
    text = Path(download.path()).read_text(encoding="utf-8")
    assert text.startswith("# Model card: churn version 1") and "Only EU customers" in text
    with page.expect_download() as info:
        page.locator(".wb-card-html button").click()
    assert "<h2>Limitations</h2>" in Path(info.value.path()).read_text(encoding="utf-8")

    _tab(page, "Versions")
    page.locator(".wb-request-stage select").select_option("Staging")
    page.locator(".wb-request-comment input").fill("card done")
    page.locator(".wb-request button").click()
    page.locator(".wb-message").get_by_text("Request #1 created").wait_for()
    _tab(page, "Approval inbox")
    _visible(page, ".wb-inbox .tabulator-row").first.click()
    page.locator(".wb-gates .wb-gate-passed").wait_for()  # the card gate passes now
    page.locator(".wb-decision-comment textarea").fill("single-user store")
    page.locator(".wb-approve button").click()
    page.locator(".wb-decision-result").get_by_text("Request #1 approved").wait_for()
    page.locator(".wb-open-decided button").click()
    wait_for_idle(page)
    _tab(page, "Audit log")
    row = _visible(page, ".wb-audit .tabulator-row").first
    row.get_by_text("self-approval", exact=False).wait_for()
    screenshot(page, "registry-self-approval")

    store = wb.Store(path)
    last = wb.Registry(store, user="solo").audit_log("churn").iloc[-1]
    assert last["action"] == "approve" and last["details"]["self_approval"] is True
    store.close()
    _check_page(page, app)


def test_empty_store_shows_how_to_start(serve_app, open_page, tmp_path):
    path = tmp_path / "empty.duckdb"
    wb.Store(path).close()
    app = _serve(serve_app, path, "newcomer")
    page = open_page()
    _open_registry(page, app)
    page.locator(".wb-model-header").get_by_text("No registered models yet").wait_for()
    screenshot(page, "registry-empty-models")
    _tab(page, "Approval inbox")
    page.get_by_text("0 pending requests").wait_for()
    screenshot(page, "registry-empty")
    _check_page(page, app)


def test_stage_history_timeline_shows_every_stage(serve_app, open_page, store_path):
    store = wb.Store(store_path)
    alice, bob = wb.Registry(store, user="alice"), wb.Registry(store, user="bob")
    for version in (1, 2):
        bob.approve(alice.request_transition("churn", version, "Staging").id, comment="ok")
    bob.approve(alice.request_transition("churn", 1, "Production").id, comment="go")
    bob.approve(alice.request_transition("churn", 2, "Production").id, comment="better")
    assert alice.get_version("churn", 1).stage == "Archived"  # archived by the approval
    store.close()

    app = _serve(serve_app, store_path, "alice")
    page = open_page(viewport=(1280, 1100))
    _open_registry(page, app)
    page.locator(".wb-models .tabulator-cell", has_text="v2").first.wait_for()
    _tab(page, "Stage history")
    _visible(page, ".wb-timeline canvas").first.wait_for()
    cells = _visible(page, ".wb-history .tabulator-cell[tabulator-field='stage']")
    cells.filter(has_text="Archived").first.wait_for()
    stages = set(cells.all_inner_texts())
    assert stages == {"None", "Staging", "Production", "Archived"}
    screenshot(page, "registry-timeline-all-stages")
    _check_page(page, app)


def test_no_rights_by_looking_and_self_approval_switch(serve_app, open_page, tmp_path):
    path = tmp_path / "fresh.duckdb"
    wb.Store(path).close()
    app = _serve(serve_app, path, "newcomer")
    page = open_page(viewport=(1024, 700))
    _open_registry(page, app)
    _tab(page, "Users & roles")
    _visible(page, ".wb-no-admin").get_by_text("No one administers this registry yet").wait_for()
    assert page.locator(".wb-self-approval input").is_disabled()  # a viewer cannot switch it
    screenshot(page, "registry-no-admin-1024")
    store = wb.Store(path)
    assert wb.Registry(store, user="x").users().empty  # opening the page granted nothing
    assert wb.Registry(store, user="x").audit_log().empty
    wb.Registry(store, user="newcomer").init_admin()
    store.close()

    page = open_page(viewport=(1400, 900))
    _open_registry(page, app)
    _tab(page, "Users & roles")
    assert page.locator(".wb-no-admin").locator("visible=true").count() == 0
    page.locator(".wb-self-approval input").check()
    page.locator(".wb-message").get_by_text("Self-approval (single-user setting) is now on").wait_for()
    screenshot(page, "registry-users-1400")
    store = wb.Store(path)
    assert wb.Registry(store).settings()["allow_self_approval"] is True
    store.close()
    _check_page(page, app)
