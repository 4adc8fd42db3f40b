"""The Registry screen: the approval inbox, gate results, versions, stage history and audit log.

``RegistryModel`` holds the state and the actions (drive it directly in tests);
``RegistryView`` lays it out::

    wb.ui.registry.RegistryView(store)              # acts as the configured user
    RegistryView(store, user="bob")                 # ... or as another user

Everything goes through :class:`workbench.registry.Registry`, so roles, gates
and the audit log apply exactly as in the Python API.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
import param

from workbench.registry import Registry
from workbench.store.store import Store
from workbench.ui.widgets import ErrorBanner, error_message

_GATE_COLUMNS = ["rule", "kind", "passed", "value", "message"]


class RegistryModel(param.Parameterized):
    """State and actions of the Registry screen."""

    store = param.ClassSelector(class_=Store, allow_refs=False)
    user = param.String(default="")
    models = param.DataFrame(default=None, doc="list_models()")
    model_name = param.String(default="", doc="the registered model shown")
    versions = param.DataFrame(default=None)
    history = param.DataFrame(default=None, doc="stage periods of the model's versions")
    audit = param.DataFrame(default=None, doc="audit entries of the model, newest first")
    inbox = param.DataFrame(default=None, doc="pending requests of every model, oldest first")
    request_id = param.Integer(default=None, allow_None=True, doc="the request selected")
    gates = param.DataFrame(default=None, doc="gate results of the selected request")
    gates_passed = param.Boolean(default=True)
    comment = param.String(default="")
    override_reason = param.String(default="")
    message = param.String(default="")
    error = param.String(default="")

    def __init__(self, store: Store, user: str | None = None, **params: Any) -> None:
        super().__init__(store=store, **params)
        self.registry = Registry(store, user=user)
        self.user = self.registry.user
        self.refresh()

    # -- loading ---------------------------------------------------------
    def refresh(self) -> None:
        """Reload the models, the inbox and the selected model and request."""
        try:
            self.models = self.registry.list_models()
            self.inbox = self.registry.pending_requests()
        except Exception as exc:
            self.error = error_message(exc)
            return
        names = list(self.models["name"])
        if self.model_name not in names:
            self.model_name = names[0] if names else ""
        self._load_model()
        if self.request_id is not None and self.request_id not in set(self.inbox["request_id"]):
            self.request_id = None
        self._load_gates()

    @param.depends("model_name", watch=True)
    def _load_model(self) -> None:
        if not self.model_name:
            self.versions = self.history = self.audit = pd.DataFrame()
            return
        try:
            self.versions = self.registry.list_versions(self.model_name)
            self.history = self.registry.stage_history(self.model_name)
            self.audit = self.registry.audit_log(self.model_name).iloc[::-1].reset_index(drop=True)
        except Exception as exc:
            self.error = error_message(exc)

    @param.depends("request_id", watch=True)
    def _load_gates(self) -> None:
        if self.request_id is None:
            self.gates = pd.DataFrame(columns=_GATE_COLUMNS)
            self.gates_passed = True
            return
        try:
            results = self.registry.gate_results(self.request_id)
        except Exception as exc:
            self.error = error_message(exc)
            return
        rows = [{k: getattr(r, k) for k in _GATE_COLUMNS} for r in results]
        for row in rows:
            row["value"] = str(row["value"])
        self.gates = pd.DataFrame(rows, columns=_GATE_COLUMNS)
        self.gates_passed = all(r.passed for r in results)

    def select_request(self, request_id: int | None) -> None:
        """Show a request's gate results (and its model)."""
        self.error = self.message = ""
        self.comment = self.override_reason = ""
        if request_id is not None:
            match = self.inbox[self.inbox["request_id"] == request_id]
            if not match.empty:
                self.model_name = str(match["name"].iloc[0])
        self.request_id = None if request_id is None else int(request_id)

    # -- actions ---------------------------------------------------------
    def _decide(self, verb: str) -> bool:
        if self.request_id is None:
            self.error = "select a request in the inbox first"
            return False
        self.error = self.message = ""
        request_id = self.request_id
        try:
            if verb == "approve":
                reason = self.override_reason.strip() or None
                req = self.registry.approve(
                    request_id, comment=self.comment or None, override_reason=reason
                )
            else:
                req = self.registry.reject(request_id, comment=self.comment)
        except Exception as exc:
            self.error = error_message(exc)
            return False
        self.message = (
            f"Request #{req.id} {req.status.lower()}: {req.name} version {req.version} "
            f"-> {req.to_stage}."
        )
        self.comment = self.override_reason = ""
        self.request_id = None
        self.refresh()
        return True

    def approve(self) -> bool:
        """Approve the selected request with ``comment`` (and ``override_reason`` if gates fail)."""
        return self._decide("approve")

    def reject(self) -> bool:
        """Reject the selected request; ``comment`` says why."""
        return self._decide("reject")

    def request_transition(self, version: int, stage: str, comment: str = "") -> bool:
        """Ask for a version of the shown model to move to ``stage``."""
        self.error = self.message = ""
        try:
            req = self.registry.request_transition(
                self.model_name, version, stage, comment=comment or None
            )
        except Exception as exc:
            self.error = error_message(exc)
            return False
        self.message = f"Request #{req.id} created: version {version} -> {req.to_stage}."
        self.refresh()
        return True


class RegistryView(pn.viewable.Viewer):
    """The Registry screen: inbox with gate results and approve/reject, then the model's
    versions, stage history and audit log."""

    def __init__(
        self,
        store: Store | None = None,
        user: str | None = None,
        *,
        model: RegistryModel | None = None,
    ) -> None:
        super().__init__()
        if model is None:
            if store is None:
                raise TypeError("RegistryView needs a store (or a model)")
            model = RegistryModel(store, user=user)
        self.model = model
        self._build()

    def _build(self) -> None:
        m = self.model
        self._errors = ErrorBanner(message=m.error)
        m.param.watch(lambda e: setattr(self._errors, "message", e.new), "error")
        self._message = pn.pane.Alert(
            "",
            alert_type="success",
            visible=False,
            sizing_mode="stretch_width",
            css_classes=["wb-message"],
        )
        m.param.watch(self._sync_message, "message")
        table = dict(
            disabled=True,
            show_index=False,
            sizing_mode="stretch_width",
            layout="fit_data_table",
            max_height=360,
        )
        self._inbox = pn.widgets.Tabulator(
            pd.DataFrame(), selectable=1, css_classes=["wb-inbox"], **table
        )
        self._inbox.on_click(self._on_inbox_click)
        self._gates = pn.widgets.Tabulator(pd.DataFrame(), css_classes=["wb-gates"], **table)
        self._comment = pn.widgets.TextAreaInput(
            label="Comment", height=70, sizing_mode="stretch_width"
        )
        self._comment.link(m, value="comment", bidirectional=True)
        self._override = pn.widgets.TextInput(
            label="Override reason (required to approve with failed gates)",
            sizing_mode="stretch_width",
            css_classes=["wb-override"],
        )
        self._override.link(m, value="override_reason", bidirectional=True)
        self._approve = pn.widgets.Button(
            label="Approve", color="success", width=110, css_classes=["wb-approve"]
        )
        self._approve.on_click(lambda e: m.approve())
        self._reject = pn.widgets.Button(
            label="Reject", color="danger", width=110, css_classes=["wb-reject"]
        )
        self._reject.on_click(lambda e: m.reject())
        self._model_select = pn.widgets.Select(label="Registered model", options=[], width=260)
        self._model_select.link(m, value="model_name", bidirectional=True)
        self._versions = pn.widgets.Tabulator(pd.DataFrame(), css_classes=["wb-versions"], **table)
        self._history = pn.widgets.Tabulator(pd.DataFrame(), css_classes=["wb-history"], **table)
        self._audit = pn.widgets.Tabulator(pd.DataFrame(), css_classes=["wb-audit"], **table)
        self._header = pn.pane.Markdown("")
        for name in (
            "inbox",
            "gates",
            "versions",
            "history",
            "audit",
            "models",
            "request_id",
            "gates_passed",
        ):
            m.param.watch(lambda e: self._sync(), name)
        self._sync()

    def _sync_message(self, event: Any) -> None:
        self._message.object = event.new
        self._message.visible = bool(event.new)

    def _on_inbox_click(self, event: Any) -> None:
        inbox = self.model.inbox
        if inbox is not None and 0 <= event.row < len(inbox):
            self.model.select_request(int(inbox["request_id"].iloc[event.row]))

    def _sync(self) -> None:
        m = self.model
        self._header.object = f"Acting as **{m.user}** ({m.registry.role})"
        self._inbox.value = m.inbox if m.inbox is not None else pd.DataFrame()
        self._gates.value = m.gates if m.gates is not None else pd.DataFrame()
        names = list(m.models["name"]) if m.models is not None and len(m.models) else []
        self._model_select.options = names
        if m.model_name in names:
            self._model_select.value = m.model_name
        self._versions.value = m.versions if m.versions is not None else pd.DataFrame()
        self._history.value = m.history if m.history is not None else pd.DataFrame()
        audit = m.audit if m.audit is not None else pd.DataFrame()
        if len(audit):
            audit = audit.assign(**{c: audit[c].map(str) for c in ("before", "after", "details")})
        self._audit.value = audit
        selected = m.request_id is not None
        self._approve.disabled = self._reject.disabled = not selected
        self._override.visible = selected and not m.gates_passed

    def __panel__(self) -> pn.viewable.Viewable:
        decision = pn.Column(
            pn.pane.Markdown("### Gate results"),
            self._gates,
            self._comment,
            self._override,
            pn.Row(self._approve, self._reject),
            sizing_mode="stretch_width",
        )
        return pn.Column(
            self._header,
            self._errors,
            self._message,
            pn.pane.Markdown("## Approval inbox"),
            self._inbox,
            decision,
            pn.pane.Markdown("## Model"),
            self._model_select,
            pn.Tabs(
                ("Versions", self._versions),
                ("Stage history", self._history),
                ("Audit log", self._audit),
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
            css_classes=["wb-registry"],
        )
