"""The Registry screen's view-model and view, without a browser."""

from __future__ import annotations

import panel as pn

import workbench as wb
from workbench.ui.registry import RegistryModel, RegistryView


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
    assert m.approve() is False and "gate(s) failed" in m.error
    assert wb.Registry(store).get_version("churn", 1).stage == "None"
    m.comment, m.override_reason = "ok", "holdout is harder"
    assert m.approve() is True and m.error == ""
    assert m.inbox.empty and m.request_id is None
    assert m.versions["stage"].tolist() == ["Staging"]
    assert m.audit["action"].iloc[0] == "override"  # newest first
    assert set(m.history["stage"]) == {"None", "Staging"}


def test_requester_cannot_approve_and_reject_needs_comment(store, reg, make_run):
    req = _setup(store, reg, make_run, auc=0.9)
    mine = RegistryModel(store)  # tester: admin and the requester
    mine.select_request(req.id)
    assert mine.approve() is False and "cannot approve" in mine.error
    bob = RegistryModel(store, user="bob")
    bob.select_request(req.id)
    assert bob.reject() is False and "comment" in bob.error
    bob.comment = "not yet"
    assert bob.reject() is True and "rejected" in bob.message
    assert mine.request_transition(1, "Staging", "again") is True
    assert len(mine.inbox) == 1


def test_view_builds_and_follows_the_model(store, reg, make_run):
    req = _setup(store, reg, make_run)
    view = RegistryView(store, user="bob")
    assert isinstance(view.__panel__(), pn.Column)
    assert len(view._inbox.value) == 1 and view._approve.disabled
    view.model.select_request(req.id)
    assert not view._approve.disabled and view._override.visible
    assert view._gates.value["rule"].tolist() == ["metrics.auc >= 0.85"]
    view._override.value = "accepted risk"
    view._approve.clicks += 1
    assert view.model.message.startswith(f"Request #{req.id} approved")
    assert view._inbox.value.empty and view._message.visible
