"""The Registry screen: models, a model's page, and the approval inbox.

``RegistryModel`` holds the state and the actions (drive it directly in tests);
``RegistryView`` lays it out::

    wb.ui.registry.RegistryView(store)              # acts as the configured user ($WORKBENCH_USER)
    RegistryView(store, user="bob")                 # ... or as another user
    RegistryView(store, on_open=open_run, on_compare=compare_runs)   # the app's navigation

One module per panel: :mod:`.models_list`, :mod:`.model_page`, :mod:`.card` and
:mod:`.inbox` (mixins that build their widgets on the view); this module lays them out.

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

import asyncio
from collections.abc import Callable
from typing import Any

import panel as pn

from workbench.store.store import Store
from workbench.ui.components.notebook import NotebookScreen
from workbench.ui.components.widgets import ErrorBanner, lazy_tabs, wrapping_row
from workbench.ui.registry.card import _CardPanel
from workbench.ui.registry.inbox import _Inbox
from workbench.ui.registry.model import RegistryModel
from workbench.ui.registry.model_page import _ModelPage
from workbench.ui.registry.models_list import _ModelsList

#: How often a served Registry page looks for changes made elsewhere (milliseconds).
LIVE_MS = 2000

__all__ = ["RegistryModel", "RegistryView"]


class RegistryView(_ModelsList, _ModelPage, _CardPanel, _Inbox, NotebookScreen):
    """The Registry screen. ``on_open(run_id)`` opens a run's page and ``on_compare(run_ids)``
    compares runs (the app passes its navigation); ``user`` acts as another user than the
    configured one (``$WORKBENCH_USER``). Without ``authenticated`` (an app with no login),
    the header offers to act as another user who holds a role, audited as such."""

    def __init__(
        self,
        store: Store | None = None,
        user: str | None = None,
        *,
        authenticated: bool = False,
        model: RegistryModel | None = None,
        on_open: Callable[[str], None] | None = None,
        on_compare: Callable[[list[str]], None] | None = None,
    ) -> None:
        super().__init__()
        if model is None:
            if store is None:
                raise TypeError("RegistryView needs a store (or a model)")
            model = RegistryModel(store, user=user, authenticated=authenticated)
        self.model = model
        self.on_open = on_open
        self.on_compare = on_compare
        self._build()
        self._start_live()

    # -- following the store ---------------------------------------------
    def _start_live(self) -> None:
        self._live_poller = None
        if pn.state.curdoc is None or pn.state.curdoc.session_context is None:
            return  # not served (a notebook or a static render): Refresh reloads
        self._live_poller = pn.state.add_periodic_callback(self._live_tick, period=LIVE_MS)

    async def _live_tick(self) -> None:
        # the stamp query runs in a thread, so the page's event loop never waits for it;
        # only a reload after a real change (a request filed from a notebook...) runs on it
        if await asyncio.to_thread(self.model.live_changed):
            self._on_live_change()

    def _on_live_change(self) -> None:
        self.model.refresh()
        self._shown_history = None
        self._sync()

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
        # the header wraps in what the Act as picker and Refresh leave (1024 px windows)
        self._header = pn.pane.Markdown("", css_classes=["wb-acting"], margin=(0, 10),
                                        sizing_mode="stretch_width", min_width=240)
        self._refresh = pn.widgets.Button(
            label="Refresh", width=90, css_classes=["wb-refresh"], align="center"
        )
        self._refresh.on_click(lambda e: self._on_refresh())
        # no login configured: act as another user who holds a role (audited as such)
        self._act_as = pn.widgets.Select(
            label="Act as", options=m.act_as_options, value=m.user, width=170,
            visible=m.can_act_as, css_classes=["wb-act-as"],
        )
        self._act_as.param.watch(self._on_act_as, "value")
        table = dict(
            disabled=True,
            show_index=False,
            sizing_mode="stretch_width",
            layout="fit_data_table",
            max_height=320,
        )

        # one panel at a time; each builds its widgets on the view
        self._build_models_list(m, table)
        self._build_card(m)  # before the model page, whose tabs hold the card's
        self._build_model_page(m, table)
        self._build_inbox(m, table)
        self._below = pn.Column(sizing_mode="stretch_width")

        self._shown_history: Any = None
        self._no_admin = pn.pane.Alert(
            "**No one administers this registry yet.** Opening this page grants nothing, but the "
            "first change made here (e.g. Register) makes the user making it the admin. To choose "
            "the admin instead: `workbench registry init-admin --user NAME` in a terminal, or "
            "`wb.Registry(store, user=NAME).init_admin()` in Python.",
            alert_type="warning", css_classes=["wb-no-admin"], sizing_mode="stretch_width",
        )
        m.param.watch(lambda *e: self._sync_models(), ["models", "role", "users"])
        m.param.watch(lambda *e: self._sync_no_admin(), ["users"])
        self._self_approval = pn.widgets.Checkbox(
            label="Allow self-approval (single-user): a requester may approve their own request; "
            "each such approval is marked in the audit log", value=m.allow_self_approval,
            css_classes=["wb-self-approval"], sizing_mode="stretch_width",
        )
        self._self_approval.param.watch(self._on_self_approval, "value")
        m.param.watch(lambda *e: self._sync_self_approval(), ["allow_self_approval", "role"])
        self._sync_no_admin()
        self._sync_self_approval()
        m.param.watch(
            lambda *e: self._sync_model_page(),
            ["model_info", "versions", "version", "card", "history", "audit", "gate_list"],
        )
        m.param.watch(
            lambda *e: self._sync_inbox(),
            ["inbox", "request_id", "gates", "gates_passed", "evidence"],
        )

        self._tabs = lazy_tabs(
            (
                "Models",
                pn.Column(
                    pn.pane.Markdown("##### Registered models (click one to open its page)"),
                    self._models,
                    pn.pane.Markdown("##### Register a version from a run's logged model"),
                    wrapping_row(self._reg_name, self._reg_run, self._reg_artifact, self._reg_button),
                    self._model_header,
                    self._model_tabs,
                    self._below,
                    sizing_mode="stretch_width",
                ),
            ),
            (
                "Approval inbox",
                pn.Column(
                    self._inbox_title, self._inbox, self._decided, self._evidence,
                    sizing_mode="stretch_width",
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
                    self._no_admin,
                    self._users,
                    wrapping_row(self._grant_user, self._grant_role, self._grant),
                    pn.pane.Markdown("##### Settings (admin)"),
                    self._self_approval,
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

    def _on_act_as(self, event: Any) -> None:
        if getattr(self, "_syncing_act_as", False) or event.new == self.model.user:
            return
        self.model.act_as(event.new)
        self._sync_act_as()  # back to who acts if it was refused
        self._sync()

    # -- syncing ---------------------------------------------------------
    def _sync_act_as(self) -> None:
        m = self.model
        self._syncing_act_as = True
        try:
            self._act_as.param.update(options=m.act_as_options, value=m.user)
        finally:
            self._syncing_act_as = False

    def _on_self_approval(self, event: Any) -> None:
        if event.new != self.model.allow_self_approval:
            self.model.set_self_approval(event.new)
            self._sync_self_approval()  # back to the stored value if it was refused

    def _sync_self_approval(self) -> None:
        m = self.model
        self._self_approval.value = m.allow_self_approval
        self._self_approval.disabled = m.role != "admin"

    def _sync_no_admin(self) -> None:
        users = self.model.users
        self._no_admin.visible = users is not None and users.empty

    def _sync(self) -> None:
        self._sync_models()
        self._sync_model_page()
        self._sync_inbox()

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(self._header, self._act_as, self._refresh, sizing_mode="stretch_width"),
            self._errors,
            self._message,
            self._tabs,
            sizing_mode="stretch_width",
            css_classes=["wb-registry"],
        )
