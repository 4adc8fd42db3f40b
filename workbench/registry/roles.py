"""Users, roles and settings of a registry: who may do what.

The role ladder is :data:`~workbench.registry.records.ROLES`; an admin grants roles and
changes :data:`~workbench.registry.records.SETTINGS`.

A part of :class:`~workbench.registry.registry.Registry` (a mixin over
:class:`~workbench.registry.base._RegistryBase`); see ``docs/registry.md``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from workbench.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from workbench.registry.base import _Action, _RegistryBase
from workbench.registry.records import (
    ROLES,
    SETTINGS,
    _text,
)
from workbench.store import registry_store as rs
from workbench.store.spool import now_ms


class _RolesMixin(_RegistryBase):
    """Users, roles and settings of a registry: who may do what."""

    @property
    def role(self) -> str:
        """The acting user's role."""
        with rs.reading(self.store) as con:
            return self._role(con, self.user)

    def role_of(self, user: str) -> str:
        """Any user's role (the ``default_role`` setting for users never granted one)."""
        with rs.reading(self.store) as con:
            return self._role(con, user)

    def init_admin(self) -> None:
        """Make the acting user the registry's first admin (an explicit, audited action).

        Refused when the registry already has users. Also ``workbench registry init-admin``.

        Example::

            >>> wb.Registry(store, user="alice").init_admin()    # doctest: +SKIP
        """
        with rs.transaction(self.store) as con:
            a = _Action(self, con, now_ms())
            if rs.count_users(con) > 0:
                users = rs.list_users(con)
                names = ", ".join(f"{u} ({r})" for u, r in zip(users.iloc[:, 0], users["role"]))
                raise PermissionDeniedError(
                    f"this registry already has users ({names}); an admin grants roles "
                    "with Registry.grant or on the Users & roles tab"
                )
            self._grant_first_admin(a, "init-admin")

    def grant(self, user: str, role: str) -> None:
        """Give ``user`` a role (admin only). ``reg.grant("bob", "approver")``."""
        user = _text(user, "user", required=True)
        if role not in ROLES:
            raise InvalidInputError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")

        def body(a: _Action) -> None:
            self._require(a, "admin", "granting roles")
            before = rs.get_role(a.con, user)
            if before == role:
                raise InvalidInputError(f"user {user!r} already has the role {role!r}")
            rs.set_role(a.con, user, role, self.user, a.ts)
            a.audit(
                "grant",
                None,
                before={"user": user, "role": before},
                after={"user": user, "role": role},
            )

        self._act(body)

    def revoke(self, user: str) -> None:
        """Remove ``user``'s role (admin only); the last admin cannot be removed."""

        def body(a: _Action) -> None:
            self._require(a, "admin", "revoking roles")
            before = rs.get_role(a.con, user)
            if before is None:
                raise NotFoundError(f"user {user!r} has no granted role")
            users = rs.list_users(a.con)
            if before == "admin" and (users["role"] == "admin").sum() == 1:
                raise PermissionDeniedError("cannot revoke the last admin of the registry")
            rs.delete_role(a.con, user)
            a.audit(
                "revoke",
                None,
                before={"user": user, "role": before},
                after={"user": user, "role": None},
            )

        self._act(body)

    def users(self) -> pd.DataFrame:
        """Users with a granted role: user, role, granted_by, granted_at."""
        with rs.reading(self.store) as con:
            df = rs.list_users(con)
        df["granted_at"] = pd.to_datetime(df["granted_at"], unit="ms", utc=True)
        return df

    def settings(self) -> dict[str, Any]:
        """The registry settings (see :data:`SETTINGS`), with defaults filled in."""
        with rs.reading(self.store) as con:
            return {**SETTINGS, **rs.all_settings(con)}

    def set_setting(self, key: str, value: Any) -> None:
        """Change a registry setting (admin only).

        ``reg.set_setting("allow_self_approval", True)`` is the single-user
        setting: it lets a user approve their own requests, and each such
        approval is marked in the audit log.
        """
        if key not in SETTINGS:
            raise InvalidInputError(f"unknown setting {key!r}; the settings are {sorted(SETTINGS)}")
        if key == "allow_self_approval" and not isinstance(value, bool):
            raise InvalidInputError(f"allow_self_approval is True or False, got {value!r}")
        if key == "default_role" and value not in ROLES:
            raise InvalidInputError(f"default_role must be one of {ROLES}, got {value!r}")

        def body(a: _Action) -> None:
            self._require(a, "admin", "changing settings")
            before = rs.get_setting(a.con, key, SETTINGS[key])
            rs.set_setting(a.con, key, value)
            a.audit("setting", None, before={key: before}, after={key: value})

        self._act(body)
