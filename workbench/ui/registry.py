"""The Registry screen: models, a model's page, and the approval inbox.

``RegistryModel`` holds the state and the actions (drive it directly in tests);
``RegistryView`` lays it out::

    wb.ui.registry.RegistryView(store)              # acts as the configured user ($WORKBENCH_USER)
    RegistryView(store, user="bob")                 # ... or as another user
    RegistryView(store, on_open=open_run, on_compare=compare_runs)   # the app's navigation

The screen has two tabs:

- **Models**: every registered model with the versions in each stage; below it
  the selected model's page: its versions (stage badges, aliases, metrics side
  by side, lineage: the run, the pipeline, the datasets), a form to request a
  transition, aliases, its model card (view, edit, download as Markdown or
  HTML), its stage history drawn as a timeline and its audit log.
- **Approval inbox**: pending requests; for the selected one the candidate's
  metrics next to the current Production version's, the gates' results, the
  signature diff, and Approve / Reject, which need a comment (and an override
  reason when a gate failed).

Everything goes through :class:`workbench.registry.Registry`, so roles, gates
and the audit log apply exactly as in the Python API.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn

from workbench.registry import ROLES
from workbench.registry.cards import SECTIONS, TITLES
from workbench.store.store import Store
from workbench.ui.registry_model import (
    _GATE_COLUMNS,
    TARGET_STAGES,
    TIMELINE_COLOURS,
    RegistryModel,
    _when,
    stage_badge,
)
from workbench.ui.widgets import ErrorBanner, format_value


def _timeline_legend() -> str:
    items = "".join(
        f"<span style='margin-right:14px'><span style='display:inline-block;width:14px;"
        f"height:10px;background:{c};margin-right:4px'></span>{html.escape(s)}</span>"
        for s, c in TIMELINE_COLOURS.items()
    )
    return f"<div class='wb-timeline-legend'>{items}</div>"


class RegistryView(pn.viewable.Viewer):
    """The Registry screen. ``on_open(run_id)`` opens a run's page and ``on_compare(run_ids)``
    compares runs (the app passes its navigation); ``user`` acts as another user than the
    configured one (``$WORKBENCH_USER``)."""

    def __init__(
        self,
        store: Store | None = None,
        user: str | None = None,
        *,
        model: RegistryModel | None = None,
        on_open: Callable[[str], None] | None = None,
        on_compare: Callable[[list[str]], None] | None = None,
    ) -> None:
        super().__init__()
        if model is None:
            if store is None:
                raise TypeError("RegistryView needs a store (or a model)")
            model = RegistryModel(store, user=user)
        self.model = model
        self.on_open = on_open
        self.on_compare = on_compare
        self._build()

    # -- building --------------------------------------------------------
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
        self._header = pn.pane.Markdown("", css_classes=["wb-acting"], margin=(0, 10))
        self._refresh = pn.widgets.Button(
            label="Refresh", width=90, css_classes=["wb-refresh"], align="center"
        )
        self._refresh.on_click(lambda e: self._on_refresh())
        table = dict(
            disabled=True,
            show_index=False,
            sizing_mode="stretch_width",
            layout="fit_data_table",
            max_height=320,
        )

        # models list and the model's page
        self._models = pn.widgets.Tabulator(pd.DataFrame(), css_classes=["wb-models"], **table)
        self._models.on_click(self._on_model_click)
        self._model_header = pn.pane.Markdown(
            "", css_classes=["wb-model-header"], sizing_mode="stretch_width"
        )
        self._versions = pn.widgets.Tabulator(
            pd.DataFrame(),
            css_classes=["wb-versions"],
            selectable="checkbox",
            formatters={"stage": {"type": "html"}, "run": {"type": "html"}},
            **table,
        )
        self._versions.on_click(self._on_version_click)
        self._open_run = pn.widgets.Button(
            label="Open run of selected version", width=230, css_classes=["wb-open-run"]
        )
        self._open_run.on_click(lambda e: self._open_version_run(m.version))
        self._compare = pn.widgets.Button(
            label="Compare runs of checked versions", width=250, css_classes=["wb-compare-versions"]
        )
        self._compare.on_click(self._on_compare_click)
        self._lineage = pn.pane.Markdown(
            "", css_classes=["wb-lineage"], sizing_mode="stretch_width"
        )

        self._req_version = pn.widgets.Select(
            label="Version", options=[], width=110, css_classes=["wb-request-version"]
        )
        self._req_stage = pn.widgets.Select(
            label="Target stage",
            options=list(TARGET_STAGES),
            width=140,
            css_classes=["wb-request-stage"],
        )
        self._req_comment = pn.widgets.TextInput(
            label="Comment",
            placeholder="why this move",
            sizing_mode="stretch_width",
            css_classes=["wb-request-comment"],
        )
        self._req_archive = pn.widgets.Checkbox(
            label="Archive the current Production version when approved",
            value=True,
            css_classes=["wb-archive-existing"],
        )
        self._req_button = pn.widgets.Button(
            label="Request transition", color="primary", width=170, css_classes=["wb-request"]
        )
        self._req_button.on_click(self._on_request_click)

        self._alias_name = pn.widgets.TextInput(
            label="Alias", placeholder="champion", width=150, css_classes=["wb-alias-name"]
        )
        self._alias_version = pn.widgets.Select(label="Version", options=[], width=100)
        self._alias_set = pn.widgets.Button(
            label="Set alias", width=100, align="end", css_classes=["wb-alias-set"]
        )
        self._alias_set.on_click(
            lambda e: (
                m.set_alias(self._alias_name.value, self._alias_version.value)
                if self._alias_version.value is not None
                else None
            )
        )
        self._swap_a = pn.widgets.TextInput(label="Swap alias", value="champion", width=130)
        self._swap_b = pn.widgets.TextInput(label="with", value="challenger", width=130)
        self._swap = pn.widgets.Button(
            label="Swap", width=80, align="end", css_classes=["wb-alias-swap"]
        )
        self._swap.on_click(lambda e: m.swap_aliases(self._swap_a.value, self._swap_b.value))

        # registering, gates, details, roles
        self._reg_name = pn.widgets.TextInput(
            label="Model name", width=180, css_classes=["wb-register-name"]
        )
        self._reg_run = pn.widgets.TextInput(
            label="Run id",
            placeholder="the run that logged it",
            width=300,
            css_classes=["wb-register-run"],
        )
        self._reg_artifact = pn.widgets.TextInput(label="Artifact", value="model", width=120)
        self._reg_button = pn.widgets.Button(
            label="Register version", width=150, align="end", css_classes=["wb-register"]
        )
        self._reg_button.on_click(
            lambda e: m.register_version(
                self._reg_name.value, self._reg_run.value, self._reg_artifact.value
            )
        )
        self._gate_table = pn.widgets.Tabulator(
            pd.DataFrame(), css_classes=["wb-gate-list"], **table
        )
        self._gate_rule = pn.widgets.TextInput(
            label="New gate rule",
            placeholder="metrics.auc >= 0.85 · signature matches production · model card complete",
            sizing_mode="stretch_width",
            css_classes=["wb-gate-rule"],
        )
        self._gate_stages = pn.widgets.CheckBoxGroup(
            options=["Staging", "Production"],
            value=["Staging", "Production"],
            inline=True,
            align="end",
            css_classes=["wb-gate-stages"],
        )
        self._gate_add = pn.widgets.Button(
            label="Add gate", width=100, align="end", css_classes=["wb-gate-add"]
        )
        self._gate_add.on_click(self._on_gate_add)
        self._gate_pick = pn.widgets.Select(label="Gate", options=[], width=100)
        self._gate_delete = pn.widgets.Button(
            label="Delete gate", width=110, align="end", css_classes=["wb-gate-delete"]
        )
        self._gate_delete.on_click(
            lambda e: m.delete_gate(self._gate_pick.value) if self._gate_pick.value else None
        )
        self._description = pn.widgets.TextInput(
            label="Description", sizing_mode="stretch_width", css_classes=["wb-description"]
        )
        self._description_save = pn.widgets.Button(label="Save description", width=150, align="end")
        self._description_save.on_click(lambda e: m.set_description(self._description.value))
        self._tag_key = pn.widgets.TextInput(label="Tag", width=150)
        self._tag_value = pn.widgets.TextInput(label="Value", width=200)
        self._tag_set = pn.widgets.Button(label="Set tag", width=90, align="end")
        self._tag_set.on_click(lambda e: m.set_tag(self._tag_key.value, self._tag_value.value))
        self._users = pn.widgets.Tabulator(pd.DataFrame(), css_classes=["wb-users"], **table)
        self._grant_user = pn.widgets.TextInput(
            label="User", width=180, css_classes=["wb-grant-user"]
        )
        self._grant_role = pn.widgets.Select(
            label="Role",
            options=list(ROLES),
            value="approver",
            width=140,
            css_classes=["wb-grant-role"],
        )
        self._grant = pn.widgets.Button(
            label="Grant role", width=110, align="end", css_classes=["wb-grant"]
        )
        self._grant.on_click(lambda e: m.grant(self._grant_user.value, self._grant_role.value))

        # model card
        self._card_version = pn.widgets.Select(
            label="Version", options=[], width=110, css_classes=["wb-card-version"]
        )
        self._card_version.param.watch(self._on_card_version, "value")
        self._card_view = pn.pane.Markdown(
            "", css_classes=["wb-card-view"], sizing_mode="stretch_width"
        )
        self._card_inputs = {
            key: pn.widgets.TextAreaInput(
                label=TITLES[key],
                height=80,
                sizing_mode="stretch_width",
                css_classes=[f"wb-card-{key}"],
            )
            for key in SECTIONS
        }
        self._card_save = pn.widgets.Button(
            label="Save card", color="primary", width=120, css_classes=["wb-card-save"]
        )
        self._card_save.on_click(
            lambda e: m.save_card(**{k: w.value for k, w in self._card_inputs.items()})
        )
        self._card_md = pn.widgets.FileDownload(
            callback=lambda: io.StringIO(m.card_markdown()),
            filename="model-card.md",
            label="Download Markdown",
            width=170,
            align="end",
            css_classes=["wb-card-md"],
        )
        self._card_html = pn.widgets.FileDownload(
            callback=lambda: io.StringIO(m.card_html()),
            filename="model-card.html",
            label="Download HTML",
            width=170,
            align="end",
            css_classes=["wb-card-html"],
        )

        # history and audit
        self._timeline = pn.pane.HoloViews(
            m.timeline(), sizing_mode="stretch_width", css_classes=["wb-timeline"]
        )
        self._history = pn.widgets.Tabulator(pd.DataFrame(), css_classes=["wb-history"], **table)
        self._audit = pn.widgets.Tabulator(pd.DataFrame(), css_classes=["wb-audit"], **table)

        # inbox
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
            pn.Row(self._approve, self._reject, pn.Spacer(width=40), self._cancel),
            self._decision_feedback,
            sizing_mode="stretch_width",
            css_classes=["wb-evidence"],
        )
        self._below = pn.Column(sizing_mode="stretch_width")

        self._shown_history: Any = None
        m.param.watch(lambda *e: self._sync_models(), ["models", "role", "users"])
        m.param.watch(
            lambda *e: self._sync_model_page(),
            ["model_info", "versions", "version", "card", "history", "audit", "gate_list"],
        )
        m.param.watch(
            lambda *e: self._sync_inbox(),
            ["inbox", "request_id", "gates", "gates_passed", "evidence"],
        )

        self._model_tabs = pn.Tabs(
            (
                "Versions",
                pn.Column(
                    self._versions,
                    pn.Row(self._open_run, self._compare),
                    self._lineage,
                    pn.pane.Markdown("##### Request a stage transition"),
                    pn.Row(
                        self._req_version,
                        self._req_stage,
                        self._req_comment,
                        sizing_mode="stretch_width",
                    ),
                    pn.Row(self._req_archive, self._req_button),
                    pn.pane.Markdown("##### Aliases"),
                    pn.Row(
                        self._alias_name,
                        self._alias_version,
                        self._alias_set,
                        pn.Spacer(width=30),
                        self._swap_a,
                        self._swap_b,
                        self._swap,
                    ),
                    sizing_mode="stretch_width",
                ),
            ),
            (
                "Model card",
                pn.Column(
                    pn.Row(self._card_version, self._card_md, self._card_html),
                    pn.Row(
                        pn.Column(
                            self._card_view,
                            sizing_mode="stretch_width",
                            styles={"border": "1px solid #dee2e6", "padding": "0 12px"},
                        ),
                        pn.Column(
                            *self._card_inputs.values(),
                            self._card_save,
                            sizing_mode="stretch_width",
                        ),
                        sizing_mode="stretch_width",
                    ),
                    sizing_mode="stretch_width",
                ),
            ),
            (
                "Gates & details",
                pn.Column(
                    pn.pane.Markdown(
                        "##### Gates (checked before a request to these stages is approved)"
                    ),
                    self._gate_table,
                    pn.Row(
                        self._gate_rule,
                        self._gate_stages,
                        self._gate_add,
                        sizing_mode="stretch_width",
                    ),
                    pn.Row(self._gate_pick, self._gate_delete),
                    pn.pane.Markdown("##### Description and tags"),
                    pn.Row(self._description, self._description_save, sizing_mode="stretch_width"),
                    pn.Row(self._tag_key, self._tag_value, self._tag_set),
                    sizing_mode="stretch_width",
                ),
            ),
            (
                "Stage history",
                pn.Column(
                    self._timeline,
                    pn.pane.HTML(_timeline_legend()),
                    self._history,
                    sizing_mode="stretch_width",
                ),
            ),
            ("Audit log", self._audit),
            sizing_mode="stretch_width",
            css_classes=["wb-model-tabs"],
        )
        self._tabs = pn.Tabs(
            (
                "Models",
                pn.Column(
                    pn.pane.Markdown("##### Registered models (click one to open its page)"),
                    self._models,
                    pn.pane.Markdown("##### Register a version from a run's logged model"),
                    pn.Row(self._reg_name, self._reg_run, self._reg_artifact, self._reg_button),
                    self._model_header,
                    self._model_tabs,
                    self._below,
                    sizing_mode="stretch_width",
                ),
            ),
            (
                "Approval inbox",
                pn.Column(
                    self._inbox_title, self._inbox, self._evidence, sizing_mode="stretch_width"
                ),
            ),
            (
                "Users & roles",
                pn.Column(
                    pn.pane.Markdown(
                        "##### Users and their roles\n\nviewer < contributor (register, request, "
                        "edit cards) < approver (approve, reject, aliases) < admin (roles, gates, "
                        "settings, deletes). Users never granted a role are viewers."
                    ),
                    self._users,
                    pn.Row(self._grant_user, self._grant_role, self._grant),
                    sizing_mode="stretch_width",
                ),
            ),
            sizing_mode="stretch_width",
            css_classes=["wb-registry-tabs"],
        )
        self._sync()

    # -- events ----------------------------------------------------------
    def _sync_message(self, event: Any) -> None:
        self._message.object = event.new
        self._message.visible = bool(event.new)

    def _on_refresh(self) -> None:
        # what other users did since the page was opened: new requests, decisions, versions
        m = self.model
        m.error = m.message = ""
        m.refresh()
        self._shown_history = None
        self._sync()

    def _sync_feedback(self, *events: Any) -> None:
        # the error of an action, next to the buttons that caused it (the banner is far above)
        m = self.model
        self._decision_feedback.object = html.escape(m.error)
        self._decision_feedback.visible = bool(m.error) and m.request_id is not None

    def _on_model_click(self, event: Any) -> None:
        models = self.model.models
        if models is not None and event.row is not None and 0 <= event.row < len(models):
            self.model.select_model(str(models["name"].iloc[event.row]))

    def _on_version_click(self, event: Any) -> None:
        versions = self.model.versions
        if versions is None or event.row is None or not 0 <= event.row < len(versions):
            return
        number = int(versions["version"].iloc[event.row])
        if event.column == "run":
            self._open_version_run(number)
        else:
            self.model.select_version(number)

    def _open_version_run(self, version: int | None) -> None:
        m = self.model
        run_id = m.run_of(version) if version is not None else None
        if run_id is None:
            m.error = "This version was registered from a file: it has no run to open."
            return
        if self.on_open is not None:
            self.on_open(run_id)
            return
        from workbench.ui.run_detail import RunDetail

        self._below[:] = [pn.pane.Markdown("### Run"), RunDetail(m.store, run_id=run_id)]

    def _on_compare_click(self, event: Any) -> None:
        m = self.model
        versions = m.versions
        chosen = [
            int(versions["version"].iloc[i])
            for i in self._versions.selection
            if versions is not None and i < len(versions)
        ]
        runs = [r for r in (m.run_of(v) for v in chosen) if r]
        runs = list(dict.fromkeys(runs))
        if len(runs) < 2:
            m.error = "Tick the boxes of at least two versions that came from runs to compare them."
            return
        if self.on_compare is not None:
            self.on_compare(runs)
            return
        from workbench.ui.compare import RunComparison

        self._below[:] = [RunComparison(m.store, run_ids=runs)]

    def _on_request_click(self, event: Any) -> None:
        if self._req_version.value is None:
            self.model.error = "Select the version to move."
            return
        if self.model.request_transition(
            int(self._req_version.value),
            self._req_stage.value,
            self._req_comment.value,
            archive_existing=bool(self._req_archive.value),
        ):
            self._req_comment.value = ""

    def _on_gate_add(self, event: Any) -> None:
        if self.model.add_gate(self._gate_rule.value, self._gate_stages.value):
            self._gate_rule.value = ""

    def _on_card_version(self, event: Any) -> None:
        if event.new is not None and event.new != self.model.version:
            self.model.select_version(int(event.new))

    def _on_inbox_click(self, event: Any) -> None:
        inbox = self.model.inbox
        if inbox is not None and event.row is not None and 0 <= event.row < len(inbox):
            self.model.select_request(int(inbox["request_id"].iloc[event.row]))

    def _after_decision(self, done: bool) -> None:
        if done:  # the result, on the model's page
            self._tabs.active = 0
            self._model_tabs.active = 0

    # -- syncing ---------------------------------------------------------
    def _sync(self) -> None:
        self._sync_models()
        self._sync_model_page()
        self._sync_inbox()

    def _sync_models(self) -> None:
        m = self.model
        self._header.object = (
            f"Acting as **{html.escape(m.user)}** (role: **{m.role}**) — "
            f"{html.escape(m.user_source)}."
        )
        self._models.value = m.models if m.models is not None else pd.DataFrame()
        self._users.value = m.users if m.users is not None else pd.DataFrame()
        if not self._reg_name.value and m.model_name:
            self._reg_name.value = m.model_name

    def _sync_model_page(self) -> None:
        m = self.model
        info = m.model_info or {}
        if not m.model_name:
            self._model_header.object = (
                "No registered models yet: register one from a run above (model name and "
                "run id), or in Python with `wb.Registry(store).register_model(name, "
                "run_id=...)`."
            )
        else:
            aliases = ", ".join(f"`{a}` → v{v}" for a, v in sorted(info.get("aliases", {}).items()))
            tags = ", ".join(f"`{k}={v}`" for k, v in sorted(info.get("tags", {}).items()))
            self._model_header.object = "\n\n".join(
                x
                for x in (
                    f"#### Model: {html.escape(m.model_name)}",
                    html.escape(info.get("description") or ""),
                    f"Aliases: {aliases}" if aliases else "",
                    f"Tags: {tags}" if tags else "",
                )
                if x
            )
        self._model_tabs.visible = bool(m.model_name)
        gates = m.gate_list if m.gate_list is not None else pd.DataFrame()
        self._gate_table.value = gates
        self._gate_pick.options = [int(g) for g in gates["gate"]] if len(gates) else []
        self._description.value = info.get("description") or ""
        versions = m.versions if m.versions is not None else pd.DataFrame()
        shown = versions.copy()
        if len(shown):
            shown["stage"] = shown["stage"].map(stage_badge)
            shown.insert(
                shown.columns.get_loc("run_id"),
                "run",
                [
                    f'<span class="wb-run-link" title="open run {html.escape(r)}" '
                    f'style="color:#0d6efd;cursor:pointer;text-decoration:underline">'
                    f"{html.escape(r[:8])}</span>"
                    if r
                    else ""
                    for r in shown["run_id"]
                ],
            )
            shown = shown.drop(columns=["run_id"])
            for col in [c for c in shown.columns if c.startswith("metrics.")]:
                shown[col] = shown[col].map(format_value)
        self._versions.value = shown
        numbers = [int(v) for v in versions["version"]] if len(versions) else []
        for select in (self._req_version, self._alias_version, self._card_version):
            select.options = numbers
            if m.version in numbers:
                select.value = m.version
        self._lineage.object = self._lineage_text()
        self._sync_card()
        history = m.history if m.history is not None else pd.DataFrame()
        if len(history):
            history = history.assign(
                start=history["start"].map(_when),
                end=[_when(e) if not pd.isna(e) else "now" for e in history["end"]],
            )
        self._history.value = history
        if m.history is not self._shown_history:  # redraw only when the history changed
            self._shown_history = m.history
            self._timeline.object = m.timeline()
        self._audit.value = m.audit_frame()

    def _lineage_text(self) -> str:
        m = self.model
        if m.version is None or m.versions is None or m.versions.empty:
            return ""
        match = m.versions[m.versions["version"] == m.version]
        if match.empty:
            return ""
        row = match.iloc[0]
        lines = [
            f"**Version {m.version}** · stage {row['stage']} since {row['stage_since']} · "
            f"sha256 `{row['sha256']}…`"
        ]
        lines.append(f"- run: `{row['run_id']}`" if row["run_id"] else "- registered from a file")
        if row["pipeline"]:
            lines.append(f"- pipeline: {html.escape(row['pipeline'])}")
        if row["datasets"]:
            lines.append(f"- datasets: {html.escape(row['datasets'])}")
        return "\n".join(lines)

    def _sync_card(self) -> None:
        m = self.model
        card = m.card
        if card is None:
            self._card_view.object = "_No version selected._"
            for w in self._card_inputs.values():
                w.value = ""
            return
        # the preview's headings one level down, so the card does not shout over the page
        self._card_view.object = "\n".join(
            "###" + line if line.startswith("#") else line
            for line in card.to_markdown().splitlines()
        )
        for key, widget in self._card_inputs.items():
            widget.value = card.sections.get(key) or ""
        stem = f"{card.name}-v{card.version}-card"
        self._card_md.filename, self._card_html.filename = f"{stem}.md", f"{stem}.html"

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

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(self._header, self._refresh, sizing_mode="stretch_width"),
            self._errors,
            self._message,
            self._tabs,
            sizing_mode="stretch_width",
            css_classes=["wb-registry"],
        )
