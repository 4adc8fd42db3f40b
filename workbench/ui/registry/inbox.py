"""The Registry screen's approval inbox: pending requests, their evidence, Approve and Reject.

A part of :class:`~workbench.ui.registry.view.RegistryView` (a mixin: it builds its widgets
on the view and keeps them in sync with the shared :class:`RegistryModel`).
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import panel as pn

from workbench.ui.components.format import format_value
from workbench.ui.components.widgets import wrapping_row
from workbench.ui.registry.model import (
    _GATE_COLUMNS,
    RegistryModel,
    _when,
)

_SCROLL_TO_TOP_JS = """
if (!source.visible) { return; }
setTimeout(function () {
  var main = document.querySelector('#main');
  if (main) { main.scrollTo({top: 0}); }
  window.scrollTo({top: 0});
}, 100);
"""


class _Inbox:
    """Pending requests; for the selected one its evidence and the decision."""

    model: RegistryModel

    def _build_inbox(self, m: RegistryModel, table: dict[str, Any]) -> None:
        self._inbox_title = pn.pane.Markdown("", css_classes=["wb-inbox-title"])
        self._inbox = pn.widgets.Tabulator(
            pd.DataFrame(), selectable=1, css_classes=["wb-inbox"], **table
        )
        self._inbox.on_click(self._on_inbox_click)
        self._request_info = pn.pane.Markdown(
            "", css_classes=["wb-request-info"], sizing_mode="stretch_width"
        )
        fit = {**table, "layout": "fit_columns"}
        self._metrics = pn.widgets.Tabulator(
            pd.DataFrame(), css_classes=["wb-evidence-metrics"], **fit
        )
        self._sigdiff = pn.widgets.Tabulator(
            pd.DataFrame(), css_classes=["wb-signature-diff"], **fit
        )
        self._gates = pn.widgets.Tabulator(
            pd.DataFrame(), css_classes=["wb-gates"], formatters={"passed": {"type": "html"}}, **fit
        )
        self._decision_feedback = pn.pane.Alert(
            "",
            alert_type="danger",
            visible=False,
            sizing_mode="stretch_width",
            css_classes=["wb-decision-feedback"],
        )
        m.param.watch(self._sync_feedback, ["error", "message"])
        self._comment = pn.widgets.TextAreaInput(
            label="Comment (required: why you approve or reject)",
            height=70,
            sizing_mode="stretch_width",
            css_classes=["wb-decision-comment"],
        )
        self._comment.link(m, value="comment", bidirectional=True)
        self._override = pn.widgets.TextInput(
            label="Override reason (required to approve with failed gates; goes to the audit log)",
            sizing_mode="stretch_width",
            css_classes=["wb-override"],
        )
        self._override.link(m, value="override_reason", bidirectional=True)
        self._approve = pn.widgets.Button(
            label="Approve", color="success", width=110, css_classes=["wb-approve"]
        )
        self._approve.on_click(lambda e: self._after_decision(m.approve()))
        self._reject = pn.widgets.Button(
            label="Reject", color="danger", width=110, css_classes=["wb-reject"]
        )
        self._reject.on_click(lambda e: self._after_decision(m.reject()))
        self._cancel = pn.widgets.Button(
            label="Cancel request", width=140, css_classes=["wb-cancel-request"]
        )
        self._cancel.on_click(lambda e: m.cancel_request())
        self._decision_result = pn.pane.Alert(
            "", alert_type="success", sizing_mode="stretch_width",
            css_classes=["wb-decision-result"], margin=(10, 0, 0, 0),
        )
        self._open_decided = pn.widgets.Button(
            label="Open the model's page", width=200, css_classes=["wb-open-decided"]
        )
        self._open_decided.on_click(lambda e: self._show_model_page())
        self._decided = pn.Column(
            self._decision_result, self._open_decided, visible=False, sizing_mode="stretch_width"
        )
        m.param.watch(self._sync_decision, "decision")
        # the evidence above the buttons goes away, so the page scrolls back up to the result
        self._decided.jscallback(visible=_SCROLL_TO_TOP_JS)
        self._evidence = pn.Column(
            self._request_info,
            pn.pane.Markdown("##### Metrics: candidate vs Production"),
            self._metrics,
            pn.pane.Markdown("##### Signature diff (inputs and output)"),
            self._sigdiff,
            pn.pane.Markdown("##### Gates"),
            self._gates,
            self._comment,
            self._override,
            wrapping_row(self._approve, self._reject, pn.Spacer(width=40), self._cancel),
            self._decision_feedback,
            sizing_mode="stretch_width",
            css_classes=["wb-evidence"],
        )

    def _sync_feedback(self, *events: Any) -> None:
        # the error of an action, next to the buttons that caused it (the banner is far above)
        m = self.model
        self._decision_feedback.object = html.escape(m.error)
        self._decision_feedback.visible = bool(m.error) and m.request_id is not None

    def _on_inbox_click(self, event: Any) -> None:
        inbox = self.model.inbox
        if inbox is not None and event.row is not None and 0 <= event.row < len(inbox):
            self.model.select_request(int(inbox["request_id"].iloc[event.row]))

    def _after_decision(self, done: bool) -> None:
        # the result replaces the evidence, under the inbox: where the user looks after the click
        self._sync_decision()

    def _sync_decision(self, *events: Any) -> None:
        decision = self.model.decision
        self._decision_result.object = html.escape(decision)
        self._decision_result.alert_type = "info" if " rejected" in decision else "success"
        self._decided.visible = bool(decision)

    def _show_model_page(self) -> None:
        self._tabs.active = 0
        self._model_tabs.active = 0

    def _sync_inbox(self) -> None:
        m = self.model
        inbox = m.inbox if m.inbox is not None else pd.DataFrame()
        n = len(inbox)
        self._inbox_title.object = f"##### {n} pending request{'s' if n != 1 else ''}" + (
            " — click one to see its evidence and decide" if n else ""
        )
        if n:
            shown = pd.DataFrame(
                {
                    "request": [f"#{int(r)}" for r in inbox["request_id"]],
                    "model": list(inbox["name"]),
                    "version": [f"v{int(v)}" for v in inbox["version"]],
                    "move": [f"{a} → {b}" for a, b in zip(inbox["from_stage"], inbox["to_stage"])],
                    "requested_by": list(inbox["requested_by"]),
                    "requested_at": [_when(t) for t in inbox["requested_at"]],
                    "comment": list(inbox["comment"].fillna("")),
                }
            )
        else:
            shown = pd.DataFrame(
                columns=[
                    "request",
                    "model",
                    "version",
                    "move",
                    "requested_by",
                    "requested_at",
                    "comment",
                ]
            )
        self._inbox.value = shown
        ev = m.evidence or {}
        selected = m.request_id is not None and bool(ev)
        self._evidence.visible = selected
        self._approve.disabled = self._reject.disabled = not selected
        self._override.visible = selected and not m.gates_passed
        if not selected:
            return
        req, cand, prod = ev["request"], ev["candidate"], ev["production"]
        self._request_info.object = (
            f"#### Request #{req.id}: {html.escape(req.name)} version {req.version} "
            f"{req.from_stage} → **{req.to_stage}**\n\n"
            f"Requested by **{html.escape(req.requested_by)}** at {_when(req.requested_at)}"
            + (f": “{html.escape(req.comment)}”" if req.comment else "")
            + (
                ""
                if req.archive_existing or req.to_stage != "Production"
                else " — keeps the current Production version"
            )
            + f"\n\nCurrent Production version: {f'v{prod.version}' if prod else 'none'}"
        )
        metrics = ev["metrics"].rename(
            columns={
                "candidate": f"candidate v{cand.version}",
                "production": f"Production v{prod.version}" if prod else "Production (none)",
            }
        )
        for col in metrics.columns[1:]:
            metrics[col] = [format_value(v) or "—" for v in metrics[col]]
        self._metrics.value = metrics
        self._sigdiff.value = ev["signature_diff"].fillna("—")
        gates = m.gates.copy() if m.gates is not None else pd.DataFrame(columns=_GATE_COLUMNS)
        if len(gates):
            gates["passed"] = [
                "<span class='wb-gate-passed' style='color:#198754'>✓ passed</span>"
                if p
                else "<span class='wb-gate-failed' style='color:#dc3545'>✗ failed</span>"
                for p in gates["passed"]
            ]
        else:
            gates = pd.DataFrame(
                {
                    "rule": ["—"],
                    "kind": [""],
                    "passed": [""],
                    "value": [""],
                    "message": ["no gates apply to this stage"],
                }
            )
        self._gates.value = gates
