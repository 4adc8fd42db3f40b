"""The registry's Python API: versions, lineage, loading, roles, requests, gates, aliases, cards."""

from __future__ import annotations

import os

import joblib
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import workbench as wb
from workbench.errors import (
    ArtifactIntegrityError,
    GateFailedError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    StageTransitionError,
)


def _snapshot(reg: wb.Registry, name: str = "churn") -> tuple:
    versions = reg.list_versions(name)[["version", "stage", "aliases"]].to_dict("records")
    requests = reg.list_requests(name)[["request_id", "status"]].to_dict("records")
    return versions, requests, len(reg.audit_log()), len(reg.stage_history(name))


def test_issue_example_end_to_end(store, reg, reg_bob, make_run):
    run_id = make_run(auc=0.91)
    v = reg.register_model("churn", run_id=run_id, artifact="model")
    assert (v.version, v.stage) == (1, "None")
    req = reg.request_transition("churn", v.version, "Staging", comment="ready for staging")
    approved = reg_bob.approve(req.id, comment="metrics look right")
    assert approved.status == "APPROVED" and approved.decided_by == "bob"
    reg.set_gate("churn", "metrics.auc >= 0.85")
    reg.set_alias("churn", "champion", v.version)
    assert reg.get_version("churn", v.version).stage == "Staging"
    log = reg.audit_log("churn")
    assert log["entry_id"].is_monotonic_increasing
    assert list(log["action"]) == ["register", "request", "approve", "gate", "alias"]
    wb.set_store(store)
    for uri in (
        "models:/churn/Staging",
        "models:/churn/1",
        "models:/churn@champion",
        "models:/churn/latest",
    ):
        assert isinstance(wb.load_model(uri), LogisticRegression)


def test_version_records_artifact_signature_requirements_metrics_lineage(store, reg, make_run):
    run_id = make_run(auc=0.88)
    v = reg.register_model("churn", run_id=run_id, pipeline_version=None)
    assert len(v.sha256) == 64 and v.size > 0
    assert store.artifacts.path_for(v.sha256).exists()
    assert [c["name"] for c in v.signature["inputs"]["columns"]] == ["tenure", "spend"]
    assert v.signature["outputs"]["type"].startswith("int")
    assert v.signature["training_dataset"]["name"] == "customers"
    assert "scikit-learn" in v.requirements and "python" in v.requirements
    assert v.metrics == {"auc": 0.88}
    assert v.datasets[0]["name"] == "customers" and len(v.datasets[0]["digest"]) == 64
    assert v.datasets[0]["digest"] == store.run_datasets(run_id)["digest"][0]
    assert v.run_id == run_id and v.pipeline_version is None
    assert v.uri == "models:/churn/1"


def test_signature_falls_back_to_training_dataset_schema(reg, make_run):
    v = reg.register_model("churn", run_id=make_run(example=False))
    cols = {c["name"]: c["type"] for c in v.signature["inputs"]["columns"]}
    assert cols == {"tenure": "float64", "spend": "float64", "churned": "int64"}


def test_register_from_file_and_versions_count_up(store, reg, tmp_path, make_run):
    path = tmp_path / "m.joblib"
    joblib.dump(LogisticRegression(), path)
    v1 = reg.register_model("churn", path=path, requirements={"scikit-learn": "1.0"})
    v2 = reg.register_model("churn", run_id=make_run())
    assert (v1.version, v2.version) == (1, 2)
    assert v1.run_id is None and v1.source == str(path.resolve())
    with pytest.warns(UserWarning, match="saved with 1.0"):  # requirements are checked on load
        assert isinstance(reg.load_model("models:/churn/1"), LogisticRegression)
    with pytest.raises(InvalidInputError):
        reg.register_model("churn")
    with pytest.raises(NotFoundError):
        reg.register_model("churn", run_id="nope")
    with pytest.raises(InvalidInputError):
        reg.register_model("bad/name", path=path)


def test_tampered_model_is_refused(store, reg, make_run):
    v = reg.register_model("churn", run_id=make_run())
    obj = store.artifacts.path_for(v.sha256)
    os.chmod(obj, 0o644)
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0xFF
    obj.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="tampered with or corrupted"):
        wb.load_model("models:/churn/1", store=store)


def test_uri_errors(store, reg, make_run):
    reg.register_model("churn", run_id=make_run())
    for bad in ("churn/1", "models:/churn", "models:/churn/Prod", "models:/churn/1/2"):
        with pytest.raises(InvalidInputError):
            wb.load_model(bad, store=store)
    with pytest.raises(NotFoundError, match="no version in Production"):
        wb.load_model("models:/churn/Production", store=store)
    with pytest.raises(NotFoundError, match="no alias"):
        wb.load_model("models:/churn@champion", store=store)
    with pytest.raises(NotFoundError):
        wb.load_model("models:/other/1", store=store)


def test_looking_grants_nothing_and_init_admin_is_explicit(store, make_run):
    """Constructing a Registry (what opening the Registry page does) writes nothing."""
    reg = wb.Registry(store, user="tester")
    assert reg.role == "viewer" and reg.users().empty and reg.audit_log().empty
    wb.Registry(store, user="mallory")
    assert reg.users().empty and reg.audit_log().empty
    reg.init_admin()
    assert reg.role == "admin"
    log = reg.audit_log()
    assert log["action"].tolist() == ["grant"] and log["details"].iloc[0]["reason"] == "init-admin"
    with pytest.raises(PermissionDeniedError, match=r"already has users \(tester \(admin\)\)"):
        wb.Registry(store, user="mallory").init_admin()
    assert dict(zip(reg.users()["user"], reg.users()["role"])) == {"tester": "admin"}


def test_a_refused_first_action_grants_nothing(store):
    reg = wb.Registry(store, user="tester")
    with pytest.raises(NotFoundError):
        reg.set_alias("nope", "champion", 1)
    assert reg.users().empty and reg.audit_log().empty


def test_first_user_is_admin_and_roles_are_enforced(store, reg, make_run):
    assert reg.role == "admin"
    assert reg.audit_log()["action"].tolist() == ["grant"]
    carol = wb.Registry(store, user="carol")
    assert carol.role == "viewer"
    run_id = make_run()
    with pytest.raises(PermissionDeniedError, match="viewer"):
        carol.register_model("churn", run_id=run_id)
    reg.grant("carol", "contributor")
    v = carol.register_model("churn", run_id=run_id)
    req = carol.request_transition("churn", v.version, "Staging")
    with pytest.raises(PermissionDeniedError):
        carol.approve(req.id, comment="checked")
    with pytest.raises(PermissionDeniedError):
        carol.grant("carol", "admin")
    with pytest.raises(PermissionDeniedError, match="last admin"):
        reg.revoke("tester")
    users = reg.users()
    assert dict(zip(users["user"], users["role"])) == {"carol": "contributor", "tester": "admin"}
    with pytest.raises(InvalidInputError):
        reg.grant("dan", "superuser")


def test_nobody_approves_their_own_request_unless_single_user_setting(reg, make_run):
    v = reg.register_model("churn", run_id=make_run())
    req = reg.request_transition("churn", v.version, "Staging")
    before = _snapshot(reg)
    with pytest.raises(PermissionDeniedError, match="cannot approve it"):
        reg.approve(req.id, comment="checked")
    assert _snapshot(reg) == before
    reg.set_setting("allow_self_approval", True)
    reg.approve(req.id, comment="single-user store")
    entry = reg.audit_log("churn").iloc[-1]
    assert entry["action"] == "approve" and entry["details"]["self_approval"] is True
    assert "allow_self_approval" in entry["details"]["note"]


def test_acting_as_another_user_marks_every_audit_entry(store, reg, make_run):
    reg.grant("bob", "contributor")
    as_bob = wb.Registry(store, user="bob", acted_by="tester")
    assert "acted_by='tester'" in repr(as_bob)
    v = as_bob.register_model("churn", run_id=make_run())
    as_bob.set_model_tag("churn", "team", "growth")
    entries = reg.audit_log("churn")
    assert entries["user"].tolist() == ["bob", "bob"]
    for details in entries["details"]:
        assert details["acted_by"] == "tester" and details["authentication"] == "none"
    assert entries["after"].iloc[1] == {"team": "growth"}
    register_details = entries["details"].iloc[0]
    assert register_details["model_created"] is True  # the action's own details are kept
    assert reg.get_version("churn", v.version).created_by == "bob"
    # acting as yourself is not acting as another
    assert wb.Registry(store, user="tester", acted_by="tester").acted_by is None
    with pytest.raises(InvalidInputError):
        wb.Registry(store, user="bob", acted_by=3)


def test_an_approval_by_whoever_filed_the_request_under_another_name_is_marked(store, reg, make_run):
    """tester files a request acting as bob, then approves it as tester: allowed without a login, but the
    approval's audit entry says the same person filed and approved it."""
    reg.grant("bob", "contributor")
    v = reg.register_model("churn", run_id=make_run())
    req = wb.Registry(store, user="bob", acted_by="tester").request_transition("churn", v.version, "Staging")
    assert req.requested_by == "bob"
    reg.approve(req.id, comment="looks fine")
    entry = reg.audit_log("churn").iloc[-1]
    assert entry["action"] == "approve" and entry["user"] == "tester" and "acted_by" not in entry["details"]
    assert entry["details"]["note"].startswith("approved by the person who filed the request: tester")
    # a real second person approving carries no such note
    req2 = reg.request_transition("churn", v.version, "Production")
    reg.grant("carol", "approver")
    wb.Registry(store, user="carol").approve(req2.id, comment="second pair of eyes")
    assert "note" not in reg.audit_log("churn").iloc[-1]["details"]


def test_production_approval_archives_previous_unless_kept(reg, reg_bob, make_run):
    for _ in range(3):
        reg.register_model("churn", run_id=make_run())
    for version in (1, 2, 3):
        reg_bob.approve(reg.request_transition("churn", version, "Staging").id, comment="checked")
    reg_bob.approve(reg.request_transition("churn", 1, "Production").id, comment="checked")
    reg_bob.approve(reg.request_transition("churn", 2, "Production").id, comment="checked")
    assert reg.list_versions("churn")["stage"].tolist() == ["Archived", "Production", "Staging"]
    entry = reg.audit_log("churn").iloc[-1]
    assert entry["details"]["archived_versions"] == [1]
    assert entry["before"]["stages"] == {"1": "Production", "2": "Staging"}
    assert entry["after"]["stages"] == {"1": "Archived", "2": "Production"}
    reg_bob.approve(reg.request_transition("churn", 3, "Production", archive_existing=False).id, comment="checked")
    assert reg.list_versions("churn")["stage"].tolist() == ["Archived", "Production", "Production"]
    assert reg.resolve("models:/churn/Production").version == 3  # the latest arrival


def test_illegal_transitions_raise_and_change_nothing(reg, reg_bob, make_run):
    reg.register_model("churn", run_id=make_run())
    before = _snapshot(reg)
    with pytest.raises(StageTransitionError, match="from None to Production"):
        reg.request_transition("churn", 1, "Production")
    assert _snapshot(reg) == before
    reg_bob.approve(reg.request_transition("churn", 1, "Archived").id, comment="checked")
    before = _snapshot(reg)
    with pytest.raises(StageTransitionError, match="from Archived to Production"):
        reg.request_transition("churn", 1, "Production")
    assert _snapshot(reg) == before
    req = reg.request_transition("churn", 1, "Staging")
    with pytest.raises(StageTransitionError, match="pending request"):
        reg.request_transition("churn", 1, "Staging")
    reg_bob.approve(req.id, comment="checked")
    before = _snapshot(reg)
    with pytest.raises(StageTransitionError, match="already APPROVED"):
        reg_bob.approve(req.id, comment="checked")
    with pytest.raises(StageTransitionError, match="already APPROVED"):
        reg_bob.reject(req.id, comment="too late")
    assert _snapshot(reg) == before
    with pytest.raises(InvalidInputError):
        reg.request_transition("churn", 1, "Prod")


def test_reject_and_cancel(reg, reg_bob, make_run):
    reg.register_model("churn", run_id=make_run())
    req = reg.request_transition("churn", 1, "Staging", comment="please")
    with pytest.raises(InvalidInputError):
        reg_bob.reject(req.id, comment="")
    rejected = reg_bob.reject(req.id, comment="needs more data")
    assert (rejected.status, rejected.decision_comment) == ("REJECTED", "needs more data")
    assert reg.get_version("churn", 1).stage == "None"
    req2 = reg.request_transition("churn", 1, "Staging")
    assert reg.pending_requests("churn")["request_id"].tolist() == [req2.id]
    assert reg.cancel_request(req2.id).status == "CANCELLED"
    assert reg.pending_requests().empty


def test_expression_gate_fails_then_override_goes_to_audit(reg, reg_bob, make_run):
    reg.register_model("churn", run_id=make_run(auc=0.8))
    reg.set_gate("churn", "metrics.auc >= 0.85")
    req = reg.request_transition("churn", 1, "Staging")
    results = reg.gate_results(req.id)
    assert [(r.rule, r.passed, r.value) for r in results] == [("metrics.auc >= 0.85", False, 0.8)]
    before = _snapshot(reg)
    with pytest.raises(GateFailedError, match="metrics.auc >= 0.85") as info:
        reg_bob.approve(req.id, comment="checked")
    assert info.value.results[0].value == 0.8
    assert _snapshot(reg) == before
    with pytest.raises(InvalidInputError):
        reg_bob.approve(req.id, override_reason="  ", comment="checked")
    done = reg_bob.approve(req.id, override_reason="auc measured on a harder holdout", comment="checked")
    assert done.override_reason == "auc measured on a harder holdout"
    entry = reg.audit_log("churn").iloc[-1]
    assert entry["action"] == "override"
    assert entry["details"]["override_reason"] == "auc measured on a harder holdout"
    assert entry["details"]["failed_gates"] == ["metrics.auc >= 0.85"]
    assert reg.gate_results(req.id)[0].passed is False  # recorded at the decision


def test_expression_gate_passes_and_bad_rules_are_refused(reg, reg_bob, make_run):
    reg.register_model("churn", run_id=make_run(auc=0.9))
    gate = reg.set_gate("churn", "metrics.auc >= 0.85 and metrics.missing IS NULL")
    assert gate.kind == "expression" and [g.gate_id for g in reg.gates("churn")] == [gate.gate_id]
    req = reg.request_transition("churn", 1, "Staging")
    assert reg.gate_results(req.id)[0].value == {"metrics.auc": 0.9, "metrics.missing": None}
    reg_bob.approve(req.id, comment="checked")
    for bad in ("attributes.status = 'FINISHED'", "metrics.auc >>= 1", ""):
        with pytest.raises(InvalidInputError):
            reg.set_gate("churn", bad)
    with pytest.raises(InvalidInputError):
        reg.set_gate("churn", "metrics.auc > 0", stages=["Archived"])
    reg.delete_gate("churn", gate.gate_id)
    assert reg.gates("churn") == []


def test_signature_and_card_gates(reg, reg_bob, make_run):
    reg.register_model("churn", run_id=make_run())
    reg_bob.approve(reg.request_transition("churn", 1, "Staging").id, comment="checked")
    reg_bob.approve(reg.request_transition("churn", 1, "Production").id, comment="checked")
    reg.register_model("churn", run_id=make_run(columns=("tenure", "spend", "age")))
    reg.set_gate(
        "churn", "the signature matches the current Production version", stages=["Production"]
    )
    reg.set_gate("churn", "a model card is complete")
    req = reg.request_transition("churn", 2, "Staging")
    assert [r.kind for r in reg.gate_results(req.id)] == [
        "card"
    ]  # signature guards Production only
    with pytest.raises(GateFailedError, match="limitations"):
        reg_bob.approve(req.id, comment="checked")
    reg.update_card(
        "churn",
        2,
        intended_use="Churn ranking.",
        limitations="Trained on one region.",
        ethical_considerations="No protected attributes used.",
    )
    reg_bob.approve(req.id, comment="checked")
    req = reg.request_transition("churn", 2, "Production")
    results = {r.kind: r for r in reg.gate_results(req.id)}
    assert results["signature"].passed is False and results["card"].passed is True
    with pytest.raises(GateFailedError, match="differs from Production version 1"):
        reg_bob.approve(req.id, comment="checked")


def test_aliases_set_move_swap_delete(reg, reg_bob, make_run):
    for _ in range(2):
        reg.register_model("churn", run_id=make_run())
    reg.set_alias("churn", "champion", 1)
    reg.set_alias("churn", "challenger", 2)
    n = len(reg.audit_log())
    reg.swap_aliases("churn", "champion", "challenger")
    assert reg.aliases("churn") == {"challenger": 1, "champion": 2}
    assert len(reg.audit_log()) == n + 1
    assert reg.resolve("models:/churn@champion").version == 2
    assert reg.get_version("churn", 1).aliases == ["challenger"]
    for bad in ("Production", "3x!", "latest"):
        with pytest.raises(InvalidInputError):
            reg.set_alias("churn", bad, 1)
    with pytest.raises(NotFoundError):
        reg.swap_aliases("churn", "champion", "nobody")
    reg.delete_alias("churn", "challenger")
    assert reg.aliases("churn") == {"champion": 2}
    with pytest.raises(PermissionDeniedError):
        wb.Registry(reg.store, user="viewer1").set_alias("churn", "x", 1)


def test_stage_history_periods(reg, reg_bob, make_run):
    for _ in range(2):
        reg.register_model("churn", run_id=make_run())
    for version in (1, 2):
        reg_bob.approve(reg.request_transition("churn", version, "Staging").id, comment="checked")
        reg_bob.approve(reg.request_transition("churn", version, "Production").id, comment="checked")
    hist = reg.stage_history("churn")
    assert list(hist.columns) == [
        "model",
        "version",
        "stage",
        "start",
        "end",
        "request_id",
        "changed_by",
    ]
    v1 = hist[hist["version"] == 1]
    assert v1["stage"].tolist() == ["None", "Staging", "Production", "Archived"]
    assert v1["end"].iloc[:-1].notna().all() and pd.isna(v1["end"].iloc[-1])
    assert (v1["start"].iloc[1:].to_numpy() == v1["end"].iloc[:-1].to_numpy()).all()
    open_periods = hist[hist["end"].isna()]
    assert dict(zip(open_periods["version"], open_periods["stage"])) == {
        1: "Archived",
        2: "Production",
    }


def test_model_card_generated_editable_exported(reg, make_run):
    reg.create_model(
        "churn", description="Predict which customers leave next month.", tags={"team": "growth"}
    )
    reg.register_model("churn", run_id=make_run(auc=0.9))
    card = reg.get_card("churn", 1)
    assert card.intended_use == "Predict which customers leave next month."
    assert "customers (train)" in card.training_data and "auc: 0.9" in card.metrics
    assert card.missing_sections() == ["limitations", "ethical_considerations"]
    card = reg.update_card(
        "churn",
        1,
        limitations="<b>Not</b> for enterprise accounts.",
        ethical_considerations="Reviewed.",
    )
    assert card.is_complete and card.updated_by == "tester"
    md = card.to_markdown()
    assert "## Limitations" in md and "<b>Not</b> for enterprise accounts." in md
    html = card.to_html()
    assert "&lt;b&gt;Not&lt;/b&gt;" in html and "<h2>Ethical considerations</h2>" in html
    with pytest.raises(InvalidInputError):
        reg.update_card("churn", 1, summary="x")


def test_models_tags_descriptions_and_delete(reg, reg_bob, make_run):
    reg.create_model("churn", description="first")
    with pytest.raises(InvalidInputError, match="already exists"):
        reg.create_model("churn")
    reg.set_model_description("churn", "second")
    reg.set_model_tag("churn", "team", "growth")
    reg.register_model("churn", run_id=make_run(), tags={"candidate": "yes"})
    reg.set_version_tag("churn", 1, "reviewed", "no")
    reg.set_version_description("churn", 1, "baseline")
    m = reg.get_model("churn")
    assert (m.description, m.tags) == ("second", {"team": "growth"})
    v = reg.get_version("churn", 1)
    assert v.tags == {"candidate": "yes", "reviewed": "no"} and v.description == "baseline"
    reg.delete_version_tag("churn", 1, "reviewed")
    reg.delete_model_tag("churn", "team")
    models = reg.list_models()
    assert models["name"].tolist() == ["churn"] and models["versions"].tolist() == [1]
    reg_bob.approve(reg.request_transition("churn", 1, "Staging").id, comment="checked")
    reg_bob.approve(reg.request_transition("churn", 1, "Production").id, comment="checked")
    with pytest.raises(StageTransitionError, match="archive it"):
        reg.delete_version("churn", 1)
    reg.register_model("churn", run_id=make_run())
    reg.set_alias("churn", "challenger", 2)
    reg.delete_version("churn", 2)
    with pytest.raises(NotFoundError):
        reg.get_version("churn", 2)
    assert reg.aliases("churn") == {}
    with pytest.raises(PermissionDeniedError):
        reg_bob.delete_model("churn")
    actions = reg.audit_log("churn")["action"].tolist()
    assert actions.count("delete") == 1 and actions.count("tag") == 4


@pytest.mark.parametrize("comment", [None, "", "   "])
def test_approve_and_reject_need_a_comment_in_python_too(reg, reg_bob, make_run, comment):
    version = reg.register_model("churn", run_id=make_run()).version
    req = reg.request_transition("churn", version, "Staging")
    with pytest.raises(InvalidInputError, match="approving a request needs a comment"):
        reg_bob.approve(req.id, comment=comment)
    with pytest.raises(InvalidInputError, match="rejecting a request needs a comment"):
        reg_bob.reject(req.id, comment)
    assert reg.get_request(req.id).status == "PENDING"
    assert reg_bob.approve(req.id, comment="checked the holdout").status == "APPROVED"
