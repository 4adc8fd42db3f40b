"""No rights granted by looking: the Registry page and ``Registry(...)`` write nothing; the
first admin is an explicit action (``init_admin``, ``workbench registry init-admin``)."""

from __future__ import annotations

import pytest

import workbench as wb
from workbench.cli import main
from workbench.errors import PermissionDeniedError


def test_opening_the_registry_page_grants_nothing(store):
    from workbench.ui.registry.model import RegistryModel
    from workbench.ui.registry.view import RegistryView

    model = RegistryModel(store, user="visitor")
    assert model.role == "viewer" and model.users.empty
    view = RegistryView(store, user="visitor2")
    assert view._no_admin.visible  # the page says how to make the first admin
    reg = wb.Registry(store, user="someone")
    assert reg.users().empty and reg.audit_log().empty


def test_the_page_hides_the_no_admin_note_once_there_is_an_admin(store):
    from workbench.ui.registry.view import RegistryView

    wb.Registry(store, user="alice").init_admin()
    assert not RegistryView(store, user="visitor")._no_admin.visible


def test_cli_init_admin(store, capsys):
    store.close()
    assert main(["registry", "init-admin", "--store", str(store.path), "--user", "alice"]) == 0
    assert "alice is now the admin" in capsys.readouterr().out
    assert main(["registry", "init-admin", "--store", str(store.path), "--user", "bob"]) == 2
    assert "already has users (alice (admin))" in capsys.readouterr().err
    reg = wb.Registry(wb.Store(store.path), user="bob")
    assert reg.role_of("alice") == "admin" and reg.role == "viewer"
    entry = reg.audit_log().iloc[0]
    assert entry["user"] == "alice" and entry["details"]["reason"] == "init-admin"


def test_init_admin_refused_after_a_first_write(store, make_run):
    reg = wb.Registry(store, user="alice")
    reg.register_model("churn", run_id=make_run())  # the first writer becomes admin (audited)
    assert reg.role == "admin"
    assert reg.audit_log()["action"].tolist() == ["grant", "register"]
    with pytest.raises(PermissionDeniedError, match="already has users"):
        wb.Registry(store, user="bob").init_admin()


def test_single_user_can_switch_self_approval_in_the_app(store, make_run):
    from workbench.ui.registry.model import RegistryModel
    from workbench.ui.registry.view import RegistryView

    reg = wb.Registry(store, user="solo")
    reg.init_admin()
    version = reg.register_model("churn", run_id=make_run()).version
    req = reg.request_transition("churn", version, "Staging", comment="mine")
    m = RegistryModel(store, user="solo")
    m.request_id, m.comment = req.id, "checked"
    assert m.approve() is False
    assert "Users & roles tab" in m.error and "Python" not in m.error
    view = RegistryView(store, user="solo")
    assert not view._self_approval.disabled
    view._self_approval.value = True  # what an admin's click does
    assert view.model.allow_self_approval and reg.settings()["allow_self_approval"] is True
    assert reg.audit_log()["action"].tolist()[-1] == "setting"
    m.refresh()
    m.request_id, m.comment = req.id, "checked alone"
    assert m.approve() is True, m.error
    entry = reg.audit_log().query("action == 'approve'").iloc[-1]
    assert entry["details"]["self_approval"] is True
    # a non-admin sees the setting but cannot switch it
    assert RegistryView(store, user="viewer1")._self_approval.disabled
