"""Registered models: create, describe, tag and delete a model.

A part of :class:`~workbench.registry.registry.Registry` (a mixin over
:class:`~workbench.registry.base._RegistryBase`); see ``docs/registry.md``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from workbench.errors import (
    InvalidInputError,
    NotFoundError,
    StageTransitionError,
)
from workbench.registry import stages as st
from workbench.registry.base import _Action, _RegistryBase
from workbench.registry.records import (
    RegisteredModel,
    _text,
    _ts,
)
from workbench.registry.uri import check_model_name
from workbench.store import registry_governance_store as rg
from workbench.store import registry_store as rs
from workbench.store.keys import check_key


class _ModelsMixin(_RegistryBase):
    """Registered models: create, describe, tag and delete a model."""

    def create_model(
        self, name: str, description: str | None = None, tags: dict[str, str] | None = None
    ) -> RegisteredModel:
        """Create a registered model with no versions yet (contributor)."""
        name = check_model_name(name)
        description = _text(description, "description")
        tags = {check_key(k, "tag"): str(v) for k, v in (tags or {}).items()}

        def body(a: _Action) -> None:
            self._require(a, "contributor", "creating a registered model")
            self._create_model_row(a, name, description, tags)
            a.audit("create", name, before=None, after={"description": description, "tags": tags})

        self._act(body)
        return self.get_model(name)

    def _create_model_row(self, a: _Action, name: str, description: str | None, tags: dict) -> None:
        existing = rs.model_row(a.con, name, include_deleted=True)
        if existing is not None and existing["deleted_at"] is None:
            raise InvalidInputError(f"a registered model named {name!r} already exists")
        if existing is not None:
            rs.revive_model(a.con, name, description, a.ts)
        else:
            rs.insert_model(a.con, name, description, self.user, a.ts)
        for key, value in tags.items():
            rs.set_model_tag(a.con, name, key, value)

    def get_model(self, name: str) -> RegisteredModel:
        """A registered model with its tags and aliases."""
        with rs.reading(self.store) as con:
            row = self._model(con, name)
            aliases = rs.aliases(con, name)
        return RegisteredModel(
            row["name"],
            row["description"],
            row["tags"],
            aliases,
            row["created_by"],
            _ts(row["created_at"]),
        )

    def list_models(self) -> pd.DataFrame:
        """Registered models with version counts and their Staging/Production versions."""
        with rs.reading(self.store) as con:
            df = rs.list_models(con)
        for col in ("created_at", "updated_at"):
            df[col] = pd.to_datetime(df[col], unit="ms", utc=True)
        return df

    def set_model_description(self, name: str, description: str | None) -> None:
        """Change a registered model's description (contributor)."""
        description = _text(description, "description")

        def body(a: _Action) -> None:
            self._require(a, "contributor", "describing a model")
            row = self._model(a.con, name)
            rs.set_model_description(a.con, name, description, a.ts)
            a.audit(
                "describe",
                name,
                before={"description": row["description"]},
                after={"description": description},
            )

        self._act(body)

    def set_model_tag(self, name: str, key: str, value: Any) -> None:
        """Set a tag on a registered model (contributor)."""
        key = check_key(key, "tag")

        def body(a: _Action) -> None:
            self._require(a, "contributor", "tagging a model")
            row = self._model(a.con, name)
            rs.set_model_tag(a.con, name, key, str(value))
            a.audit("tag", name, before={key: row["tags"].get(key)}, after={key: str(value)})

        self._act(body)

    def delete_model_tag(self, name: str, key: str) -> None:
        """Remove a tag from a registered model (contributor)."""

        def body(a: _Action) -> None:
            self._require(a, "contributor", "tagging a model")
            row = self._model(a.con, name)
            if key not in row["tags"]:
                raise NotFoundError(f"model {name!r} has no tag {key!r}")
            rs.delete_model_tag(a.con, name, key)
            a.audit("tag", name, before={key: row["tags"][key]}, after={key: None})

        self._act(body)

    def delete_model(self, name: str) -> None:
        """Delete a registered model and its versions (admin; refused while a version is in Production)."""

        def body(a: _Action) -> None:
            self._require(a, "admin", "deleting a model")
            self._model(a.con, name)
            current = rs.stages(a.con, name)
            live = [v for v, s in current.items() if s == st.PRODUCTION]
            if live:
                raise StageTransitionError(
                    f"model {name!r} has version(s) {live} in Production; archive them before deleting"
                )
            for version in current:
                rg.close_period(a.con, name, version, a.ts)
            rs.delete_model(a.con, name, a.ts)
            a.audit("delete", name, before={"stages": current}, after=None)

        self._act(body)
