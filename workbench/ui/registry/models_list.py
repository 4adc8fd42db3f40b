"""The Registry screen's models list, the register form and the Users & roles tab.

A part of :class:`~workbench.ui.registry.view.RegistryView` (a mixin: it builds its widgets
on the view and keeps them in sync with the shared :class:`RegistryModel`).
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import panel as pn

from workbench.registry import ROLES
from workbench.ui.registry.model import (
    RegistryModel,
)


class _ModelsList:
    """Registered models (click one to open its page), registering, users and roles."""

    model: RegistryModel

    def _build_models_list(self, m: RegistryModel, table: dict[str, Any]) -> None:
        self._models = pn.widgets.Tabulator(pd.DataFrame(), css_classes=["wb-models"], **table)
        self._models.on_click(self._on_model_click)
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

    def _on_model_click(self, event: Any) -> None:
        models = self.model.models
        if models is not None and event.row is not None and 0 <= event.row < len(models):
            self.model.select_model(str(models["name"].iloc[event.row]))

    def _sync_models(self) -> None:
        m = self.model
        self._header.object = (
            f"Acting as **{html.escape(m.user)}** (role: **{m.role}**) — "
            f"{html.escape(m.user_source)}."
        )
        self._sync_act_as()
        self._models.value = m.models if m.models is not None else pd.DataFrame()
        self._users.value = m.users if m.users is not None else pd.DataFrame()
        if not self._reg_name.value and m.model_name:
            self._reg_name.value = m.model_name
