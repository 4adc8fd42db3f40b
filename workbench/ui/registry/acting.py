"""Who the Registry screen acts as, and noticing changes made elsewhere.

A mixin of :class:`~workbench.ui.registry.model.RegistryModel` (no Panel):

- **Act as** (:meth:`act_as`): in an app without a login, the screen may act as another
  user who holds a role; every action is then audited with ``details.acted_by`` (the
  configured user) through ``Registry(store, user=..., acted_by=...)``.
- **Live** (:meth:`live_changed`): one small query (``Registry.change_stamp``, the newest
  audit entry's id) tells whether another process changed the registry since the last look.
"""

from __future__ import annotations

import os

from workbench.registry.registry import Registry


class _Acting:
    """Act as another user (no login), and the live check."""

    registry: Registry
    _stamp: int | None = None

    @staticmethod
    def _source(user: str | None, authenticated: bool) -> str:
        if authenticated:
            return "signed in"
        if user is not None:
            return "given to the screen"
        if os.environ.get("WORKBENCH_USER"):
            return "from WORKBENCH_USER"
        return "the operating-system user; set WORKBENCH_USER to act as another"

    @property
    def act_as_options(self) -> list[str]:
        """Who this screen may act as: the signed-in user and every user holding a role."""
        if not self.can_act_as:
            return [self.signed_in]
        granted = [] if self.users is None else [u for u in self.users["user"] if u != self.signed_in]
        return [self.signed_in, *sorted(granted)]

    def act_as(self, name: str) -> bool:
        """Act as ``name``, a user who holds a role: only in an app without authentication,
        and every action is audited as done by the signed-in user acting as ``name``
        (``details.acted_by``). ``act_as(model.signed_in)`` goes back to yourself."""
        self.error = self.message = ""
        if not self.can_act_as:
            self.error = "This app has a login: you act as the user you signed in as."
            return False
        name = (name or "").strip() or self.signed_in
        if name not in self.act_as_options:
            self.error = (f"{name!r} holds no role in this registry; grant one on the Users & "
                          "roles tab first (admin).")
            return False
        acted_by = None if name == self.signed_in else self.signed_in
        self.registry = Registry(self.store, user=name, acted_by=acted_by)
        self.user = name
        self.request_id = None
        self.comment = self.override_reason = ""
        if acted_by is None:
            self.user_source = self._own_source
            self.message = f"Acting as yourself ({name}) again."
        else:
            self.user_source = (f"{acted_by} acting as {name}: no authentication is configured, "
                                f"so each action is audited as done by {acted_by} as {name}")
            self.message = (f"Acting as {name}. Each action is audited as done by {acted_by} "
                            f"acting as {name}.")
        self.refresh()
        return True

    # -- following the store -------------------------------------------------
    def live_changed(self) -> bool:
        """Whether another process (or session) changed the registry since the last look:
        one small query (``Registry.change_stamp``), safe to run in a thread."""
        try:
            stamp = self.registry.change_stamp()
        except Exception:  # busy or gone for a moment: look again at the next tick
            return False
        changed = self._stamp is not None and stamp != self._stamp
        self._stamp = stamp
        return changed
