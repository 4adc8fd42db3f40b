"""The Registry screen's view-model and view, without a browser."""

from __future__ import annotations

import holoviews as hv
import panel as pn

import workbench as wb
from workbench.ui.registry.model import RegistryModel
from workbench.ui.registry.view import RegistryView


def _setup(store, reg, make_run, auc=0.8):
    reg.grant("bob", "approver")
    reg.register_model("churn", run_id=make_run(auc=auc))
    reg.set_gate("churn", "metrics.auc >= 0.85")
    return reg.request_transition("churn", 1, "Staging", comment="please")


def test_inbox_gate_results_and_override(store, reg, make_run):
    req = _setup(store, reg, make_run)
    m = RegistryModel(store, user="bob")
    assert m.inbox["request_id"].tolist() == [req.id] and m.model_name == "churn"
    m.select_request(req.id)
    assert m.gates["passed"].tolist() == [False] and m.gates["value"].tolist() == ["0.8"]
    assert not m.gates_passed
    assert m.evidence["candidate"].version == 1 and m.evidence["production"] is None
    # no comment: refused by the screen before the registry is asked
    assert m.approve() is False and "Write a comment" in m.error
    m.comment = "looks fine"
    assert m.approve() is False and "gate(s) failed" in m.error
    assert wb.Registry(store).get_version("churn", 1).stage == "None"
    m.comment, m.override_reason = "ok", "holdout is harder"
    assert m.approve() is True and m.error == ""
    assert "gates overridden" in m.decision and "churn version 1 is now in Staging" in m.decision
    assert m.inbox.empty and m.request_id is None
    assert m.versions["stage"].tolist() == ["Staging"]
    assert m.audit["action"].iloc[0] == "override"  # newest first
    audit = m.audit_frame()
    assert audit["action"].iloc[0] == "override"
    assert "override: holdout is harder" in audit["comment"].iloc[0]
    assert set(m.history["stage"]) == {"None", "Staging"}


def test_requester_cannot_approve_and_reject_needs_comment(store, reg, make_run):
    req = _setup(store, reg, make_run, auc=0.9)
    mine = RegistryModel(store)  # tester: admin and the requester
    mine.select_request(req.id)
    mine.comment = "mine"
    assert mine.approve() is False and "cannot approve" in mine.error
    bob = RegistryModel(store, user="bob")
    bob.select_request(req.id)
    assert bob.reject() is False and "comment" in bob.error
    bob.comment = "not yet"
    assert bob.reject() is True and "rejected" in bob.decision
    assert mine.request_transition(1, "Staging", "again") is True
    assert len(mine.inbox) == 1
    assert mine.request_transition(1, "Production", "skip") is False  # illegal: readable error
    assert "cannot move a version from None to Production" in mine.error


def test_models_list_versions_lineage_card_and_aliases(store, reg, make_run):
    _setup(store, reg, make_run)
    reg.register_model("churn", run_id=make_run(auc=0.95))
    m = RegistryModel(store)
    assert m.models.set_index("name").loc["churn", "None"] == "v1, v2"
    assert m.versions["version"].tolist() == [1, 2] and m.version == 2
    assert m.versions["metrics.auc"].tolist() == [0.8, 0.95]
    assert "customers (train" in m.versions["datasets"].iloc[0]
    assert m.run_of(1) == reg.get_version("churn", 1).run_id
    m.select_version(1)
    assert m.card.version == 1 and "auc" in m.card.metrics
    assert m.save_card(limitations="only EU customers") is True
    assert wb.Registry(store).get_card("churn", 1).limitations == "only EU customers"
    assert "only EU customers" in m.card_markdown()
    assert m.card_html().startswith("<!DOCTYPE html>") and "only EU customers" in m.card_html()
    assert m.audit["action"].iloc[0] == "card"
    assert m.set_alias("champion", 1) and m.set_alias("challenger", 2)
    assert m.swap_aliases("champion", "challenger") is True
    assert reg.aliases("churn") == {"champion": 2, "challenger": 1}
    assert m.model_info["aliases"] == {"champion": 2, "challenger": 1}
    assert m.set_alias("latest", 1) is False and "reserved" in m.error


def test_timeline_has_a_bar_per_stage_period(store, reg, reg_bob, make_run):
    reg.register_model("churn", run_id=make_run())
    reg_bob.approve(reg.request_transition("churn", 1, "Staging").id, comment="ok")
    m = RegistryModel(store)
    plot = m.timeline()
    segments = [el for el in plot if isinstance(el, hv.Segments)][0]
    assert len(segments) == 2 and set(segments.dframe()["stage"]) == {"None", "Staging"}
    assert isinstance(
        RegistryModel(wb.Store(store.path.parent / "empty.duckdb")).timeline(), hv.Text
    )


def test_view_builds_and_follows_the_model(store, reg, make_run):
    req = _setup(store, reg, make_run)
    opened, compared = [], []
    view = RegistryView(store, user="bob", on_open=opened.append, on_compare=compared.append)
    assert isinstance(view.__panel__(), pn.Column)
    assert "Acting as **bob**" in view._header.object and "approver" in view._header.object
    assert len(view._inbox.value) == 1 and view._approve.disabled
    assert not view._evidence.visible
    view.model.select_request(req.id)
    assert view._evidence.visible and not view._approve.disabled and view._override.visible
    assert view._gates.value["rule"].tolist() == ["metrics.auc >= 0.85"]
    assert "failed" in view._gates.value["passed"].iloc[0]
    view._override.value = "accepted risk"
    view._approve.clicks += 1
    assert "Write a comment" in view._errors.message and view._approve.disabled is False
    view._comment.value = "fine for staging"
    view._tabs.active = 1
    view._approve.clicks += 1
    # the result shows in the inbox, where the buttons were, with a way to the model's page
    assert view.model.decision.startswith(f"Request #{req.id} approved")
    assert view._decided.visible and not view._evidence.visible
    assert view._decision_result.object.startswith(f"Request #{req.id} approved")
    assert view._inbox.value.empty and view._tabs.active == 1
    view._open_decided.clicks += 1
    assert view._tabs.active == 0  # the model's page, which shows the new stage
    assert "Staging" in view._versions.value["stage"].iloc[0]
    view.model.select_request(None)
    assert not view._decided.visible

    # clicking a version's run link opens the run through the app's navigation
    event = type("E", (), {"row": 0, "column": "run"})()
    view._on_version_click(event)
    assert opened == [wb.Registry(store).get_version("churn", 1).run_id]
    view._on_compare_click(None)  # nothing ticked: a message, no navigation
    assert compared == [] and "at least two" in view.model.error


def test_request_form_in_the_view(store, reg, make_run):
    reg.register_model("churn", run_id=make_run())
    view = RegistryView(store)
    view._req_version.value, view._req_stage.value = 1, "Staging"
    view._req_comment.value = "first try"
    view._req_button.clicks += 1
    assert view.model.message.startswith("Request #1 created")
    assert view._req_comment.value == ""
    assert "1 pending request" in view._inbox_title.object
    assert reg.get_request(1).comment == "first try"


def test_governance_from_the_screen(store, reg, make_run):
    run_id = make_run(auc=0.9)
    m = RegistryModel(store)  # tester: the admin
    assert m.model_name == "" and m.register_version("", run_id) is False
    assert m.register_version("churn", "no-such-run") is False and "no-such-run" in m.error
    assert m.register_version("churn", run_id) is True
    assert m.model_name == "churn" and m.versions["version"].tolist() == [1]
    assert m.add_gate("metrics.auc >= 0.95", ["Production"]) is True
    assert m.gate_list["rule"].tolist() == ["metrics.auc >= 0.95"]
    assert m.gate_list["stages"].tolist() == ["Production"]
    assert m.add_gate("metrics.auc >>= 1") is False and m.error  # a bad rule: a message
    assert m.set_description("Who churns next month") and m.set_tag("team", "growth")
    assert m.model_info["description"] == "Who churns next month"
    assert m.model_info["tags"] == {"team": "growth"}
    assert m.grant("bob", "approver") and reg.role_of("bob") == "approver"
    assert set(m.users["user"]) >= {"tester", "bob"}
    gate_id = int(m.gate_list["gate"].iloc[0])
    assert m.delete_gate(gate_id) is True and m.gate_list.empty
    # a viewer is refused with a readable message, and nothing changes
    viewer = RegistryModel(store, user="vera")
    assert viewer.role == "viewer"
    assert viewer.add_gate("metrics.auc > 0") is False and "admin role" in viewer.error
    assert viewer.request_transition(1, "Staging") is False and "contributor" in viewer.error
    # the requester withdraws a request
    assert m.request_transition(1, "Staging", "try") is True
    m.select_request(int(m.inbox["request_id"].iloc[0]))
    assert m.cancel_request() is True and m.inbox.empty
    actions = reg.audit_log("churn")["action"].tolist()
    assert actions == ["register", "gate", "describe", "tag", "gate", "request", "cancel"]


def test_header_says_who_acts_and_why(store, reg, monkeypatch):
    monkeypatch.setenv("WORKBENCH_USER", "carol")
    view = RegistryView(store)
    assert "Acting as **carol** (role: **viewer**)" in view._header.object
    assert "from WORKBENCH_USER" in view._header.object
    monkeypatch.delenv("WORKBENCH_USER")
    assert "operating-system user" in RegistryView(store)._header.object
    assert "given to the screen" in RegistryView(store, user="bob")._header.object


def test_compare_checked_versions_and_keep_production(store, reg, reg_bob, make_run):
    runs = [make_run(auc=0.9), make_run(auc=0.92)]
    for run_id in runs:
        reg.register_model("churn", run_id=run_id)
    compared = []
    view = RegistryView(store, on_compare=compared.append)
    view._versions.selection = [0, 1]
    view._on_compare_click(None)
    assert compared == [runs]
    # promote both; the second request keeps the first in Production
    m = view.model
    bob = RegistryModel(store, user="bob")
    for version, keep in ((1, False), (2, True)):
        for stage in ("Staging", "Production"):
            archive = not (keep and stage == "Production")
            assert m.request_transition(version, stage, "go", archive_existing=archive)
            bob.refresh()
            bob.select_request(int(bob.inbox["request_id"].iloc[0]))
            bob.comment = "ok"
            assert bob.approve(), bob.error
    assert reg.list_versions("churn")["stage"].tolist() == ["Production", "Production"]
    assert bob.models.set_index("name").loc["churn", "Production"] == "v1, v2"


def test_refresh_shows_what_other_users_did(store, reg, make_run):
    reg.register_model("churn", run_id=make_run())
    reg.grant("bob", "approver")
    view = RegistryView(store, user="bob")
    assert view._inbox.value.empty
    reg.request_transition("churn", 1, "Staging", comment="from another session")
    assert view._inbox.value.empty  # nothing changes by itself ...
    view._refresh.clicks += 1  # ... until Refresh
    assert view._inbox.value["comment"].tolist() == ["from another session"]


def test_act_as_another_user_without_a_login(store, reg, make_run):
    """No authentication: the screen may act as a user who holds a role, audited as such."""
    req = _setup(store, reg, make_run, auc=0.9)  # tester (admin) asked; bob approves
    view = RegistryView(store)  # tester, as configured
    m = view.model
    assert view._act_as.visible and view._act_as.options == ["tester", "bob"]
    m.select_request(req.id)
    m.comment = "mine"
    assert m.approve() is False and "Act as" in m.error  # the refusal says what to do here
    assert m.act_as("mallory") is False and "holds no role" in m.error and m.user == "tester"
    view._act_as.value = "bob"
    assert m.user == "bob" and m.role == "approver" and "acting as bob" in m.user_source
    assert "tester acting as bob" in view._header.object
    m.select_request(req.id)
    m.comment = "checked the holdout"
    assert m.approve() is True, m.error
    entry = reg.audit_log("churn").iloc[-1]
    assert entry["user"] == "bob" and entry["action"] == "approve"
    assert entry["details"]["acted_by"] == "tester"
    assert entry["details"]["authentication"] == "none"
    assert "approved by the person who filed the request: tester" in entry["details"]["note"]
    shown = m.audit_frame().iloc[0]
    assert shown["user"] == "tester as bob" and "no authentication" in shown["comment"]
    assert m.act_as("tester") is True and m.user == "tester" and m.role == "admin"
    assert wb.Registry(store, user="bob").acted_by is None


def test_act_as_is_refused_with_a_login(store, reg):
    reg.grant("bob", "approver")
    view = RegistryView(store, user="alice", authenticated=True)
    assert not view._act_as.visible and view.model.act_as_options == ["alice"]
    assert view.model.act_as("bob") is False and "login" in view.model.error
    assert view.model.user == "alice" and "signed in" in view._header.object


def test_the_model_notices_changes_made_elsewhere(store, reg, make_run):
    reg.register_model("churn", run_id=make_run())
    m = RegistryModel(store)
    assert m.live_changed() is False  # nothing happened since it loaded
    other = wb.Registry(store, user="tester")  # another process would do the same
    other.request_transition("churn", 1, "Staging", comment="from a notebook")
    assert m.inbox.empty
    assert m.live_changed() is True and m.live_changed() is False  # once per change
    view = RegistryView(store, model=m)
    m.comment = "half typed"
    view._on_live_change()
    assert len(m.inbox) == 1 and "1 pending request" in view._inbox_title.object
    assert m.comment == "half typed"
    assert wb.Registry(store).change_stamp() == int(reg.audit_log()["entry_id"].max())
