"""The plumbing under every registry action: one transaction, the role check, the audit entries.

An action is a function of an :class:`_Action` (the connection inside
``BEGIN ... COMMIT``, the time, the audit entries it appended); :meth:`_RegistryBase._act`
runs it and dispatches the webhooks after the commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from workbench.config import current_user
from workbench.errors import (
    NotFoundError,
    PermissionDeniedError,
)
from workbench.registry import webhooks as _hooks
from workbench.registry.records import ROLES, SETTINGS, _text, _version_number
from workbench.registry.uri import check_model_name
from workbench.store import registry_governance_store as rg
from workbench.store import registry_store as rs
from workbench.store.spool import now_ms


class _Action:
    """What one action collects inside its transaction: the audit entries it wrote."""

    def __init__(self, reg: _RegistryBase, con: Any, ts: int) -> None:
        self.reg, self.con, self.ts = reg, con, ts
        self.entries: list[dict[str, Any]] = []

    def audit(
        self,
        action: str,
        name: str | None,
        version: int | None = None,
        *,
        before: Any = None,
        after: Any = None,
        details: Any = None,
        request_id: int | None = None,
    ) -> None:
        details = self.reg._acting_details(details)
        entry_id = rg.append_audit(
            self.con,
            self.ts,
            self.reg.user,
            action,
            name,
            version,
            request_id,
            before,
            after,
            details,
        )
        # The entry as callbacks and webhooks see it is the entry as stored (JSON round trip).
        before, after, details = json.loads(json.dumps([before, after, details], default=str))
        self.entries.append(
            {
                "entry_id": entry_id,
                "ts": self.ts,
                "user": self.reg.user,
                "action": action,
                "model": name,
                "version": version,
                "request_id": request_id,
                "before": before,
                "after": after,
                "details": details,
            }
        )


class _RegistryBase:
    """The registry's plumbing: who acts, one transaction per action, roles and row lookups.

    Every part of :class:`~workbench.registry.registry.Registry` builds on these.
    """

    def __init__(
        self, store: Any = None, user: str | None = None, *, acted_by: str | None = None
    ) -> None:
        from workbench.tracking.fluent import resolve_store

        self.store = resolve_store(store)
        self.user = _text(user, "user", required=True) if user is not None else current_user()
        # Who really operates when an unauthenticated app acts as another user: every audit
        # entry then says so (``details.acted_by``), so the log never passes one off as other.
        self.acted_by = _text(acted_by, "acted_by", required=True) if acted_by else None
        if self.acted_by == self.user:
            self.acted_by = None
        # Constructing a registry (or opening the Registry page) reads nothing and grants
        # nothing: no rights by looking. See ``init_admin`` and ``_act``.

    def __repr__(self) -> str:
        acting = f", acted_by={self.acted_by!r}" if self.acted_by else ""
        return f"Registry({self.store!r}, user={self.user!r}{acting})"

    def _acting_details(self, details: Any) -> Any:
        if not self.acted_by:
            return details
        marked = {"acted_by": self.acted_by, "authentication": "none"}
        if details is None:
            return marked
        if isinstance(details, dict):
            return {**details, **marked}
        return {"details": details, **marked}

    # -- plumbing --------------------------------------------------------
    def _act(self, body: Callable[[_Action], Any]) -> Any:
        with rs.transaction(self.store) as con:
            action = _Action(self, con, now_ms())
            if rs.count_users(con) == 0:
                # A registry nobody administers yet: the first user who *acts* on it (asks
                # for a write, e.g. registers a model) becomes its admin, in the same
                # transaction and audited; a refused action rolls the grant back too.
                self._grant_first_admin(action, "first registry action on this store")
            result = body(action)
            hooks = rs.webhooks(con) if action.entries else []
        if action.entries:
            _hooks.dispatch(str(self.store.path), action.entries, hooks)
        return result

    def _grant_first_admin(self, a: _Action, reason: str) -> None:
        rs.set_role(a.con, self.user, "admin", self.user, a.ts)
        a.audit(
            "grant",
            None,
            before={"user": self.user, "role": None},
            after={"user": self.user, "role": "admin"},
            details={"reason": reason},
        )

    def _role(self, con: Any, user: str) -> str:
        role = rs.get_role(con, user)
        if role is None:
            role = rs.get_setting(con, "default_role", SETTINGS["default_role"])
        return role

    def _require(self, a: _Action, role: str, what: str) -> None:
        have = self._role(a.con, self.user)
        if ROLES.index(have) < ROLES.index(role):
            raise PermissionDeniedError(
                f"user {self.user!r} is a {have}; {what} needs the {role} role "
                f"(an admin can grant it with Registry.grant)"
            )

    def _model(self, con: Any, name: str) -> dict[str, Any]:
        row = rs.model_row(con, check_model_name(name))
        if row is None:
            raise NotFoundError(f"no registered model named {name!r}")
        return row

    def _version(self, con: Any, name: str, version: Any) -> dict[str, Any]:
        self._model(con, name)
        number = _version_number(version)
        row = rs.version_row(con, name, number)
        if row is None:
            raise NotFoundError(f"registered model {name!r} has no version {number}")
        return row

    def _change_stage(
        self, a: _Action, name: str, version: int, stage: str, request_id: int | None
    ) -> None:
        rg.close_period(a.con, name, version, a.ts)
        rs.set_stage(a.con, name, version, stage, a.ts)
        rg.open_period(a.con, name, version, stage, a.ts, request_id, self.user)
