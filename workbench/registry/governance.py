"""Gates, model cards, stage history, the audit log and webhooks of a registry.

A part of :class:`~workbench.registry.registry.Registry` (a mixin over
:class:`~workbench.registry.base._RegistryBase`); see ``docs/registry.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from workbench.errors import (
    InvalidInputError,
    NotFoundError,
)
from workbench.registry import cards as _cards
from workbench.registry import stages as st
from workbench.registry import webhooks as _hooks
from workbench.registry.base import _Action, _RegistryBase
from workbench.registry.gates import (
    Gate,
    parse_gate,
)
from workbench.registry.records import (
    _ts,
)
from workbench.registry.uri import check_model_name
from workbench.store import registry_governance_store as rg
from workbench.store import registry_store as rs


class _GovernanceMixin(_RegistryBase):
    """Gates, model cards, stage history, the audit log and webhooks of a registry."""

    def set_gate(
        self,
        name: str,
        rule: str,
        stages: tuple[str, ...] | list[str] = (st.STAGING, st.PRODUCTION),
    ) -> Gate:
        """Add a gate to a model (admin): ``reg.set_gate("churn", "metrics.auc >= 0.85")``.

        ``stages`` are the target stages it guards (Staging and/or Production).
        """
        parsed = parse_gate(rule)
        stage_list = [
            st.normalize_stage(s) for s in ([stages] if isinstance(stages, str) else stages)
        ]
        bad = [s for s in stage_list if s not in st.GATED]
        if bad or not stage_list:
            raise InvalidInputError(f"gates guard requests to Staging or Production, not {bad}")

        def body(a: _Action) -> int:
            self._require(a, "admin", "setting a gate")
            self._model(a.con, name)
            gate_id = rg.insert_gate(
                a.con, name, parsed.rule, parsed.kind, stage_list, self.user, a.ts
            )
            a.audit(
                "gate",
                name,
                before=None,
                after={
                    "gate_id": gate_id,
                    "rule": parsed.rule,
                    "kind": parsed.kind,
                    "stages": stage_list,
                },
            )
            return gate_id

        gate_id = self._act(body)
        return Gate(gate_id, name, parsed.rule, parsed.kind, tuple(stage_list), self.user)

    def gates(self, name: str) -> list[Gate]:
        """The gates of a model."""
        with rs.reading(self.store) as con:
            self._model(con, name)
            rows = rg.gates(con, name)
        return [
            Gate(
                int(r["gate_id"]),
                r["name"],
                r["rule"],
                r["kind"],
                tuple(r["stages"]),
                r["created_by"],
            )
            for r in rows
        ]

    def delete_gate(self, name: str, gate_id: int) -> None:
        """Remove a gate (admin)."""

        def body(a: _Action) -> None:
            self._require(a, "admin", "deleting a gate")
            self._model(a.con, name)
            match = [g for g in rg.gates(a.con, name) if g["gate_id"] == gate_id]
            if not match:
                raise NotFoundError(f"model {name!r} has no gate #{gate_id}")
            rg.delete_gate(a.con, gate_id, a.ts)
            a.audit("gate", name, before={"gate_id": gate_id, "rule": match[0]["rule"]}, after=None)

        self._act(body)

    # -- model cards -----------------------------------------------------
    def _card(self, con: Any, row: dict[str, Any]) -> _cards.ModelCard:
        model = rs.model_row(con, row["name"])
        sections = _cards.generate_sections(row, model["description"] if model else None)
        saved = rg.card_row(con, row["name"], row["version"])
        if saved is None:
            return _cards.ModelCard(row["name"], row["version"], sections)
        sections.update(saved["sections"])
        return _cards.ModelCard(
            row["name"], row["version"], sections, saved["updated_by"], _ts(saved["updated_at"])
        )

    def get_card(self, name: str, version: int) -> _cards.ModelCard:
        """A version's model card: generated sections overlaid with the user's edits."""
        with rs.reading(self.store) as con:
            return self._card(con, self._version(con, name, version))

    def update_card(self, name: str, version: int, **sections: str) -> _cards.ModelCard:
        """Edit card sections (contributor): ``reg.update_card("churn", 1, limitations="...")``."""
        sections = _cards.check_sections(sections)

        def body(a: _Action) -> None:
            self._require(a, "contributor", "editing a model card")
            row = self._version(a.con, name, version)
            saved = rg.card_row(a.con, name, row["version"])
            old = dict(saved["sections"]) if saved else {}
            rg.save_card(a.con, name, row["version"], {**old, **sections}, self.user, a.ts)
            a.audit(
                "card",
                name,
                row["version"],
                before={k: old.get(k) for k in sections},
                after=sections,
            )

        self._act(body)
        return self.get_card(name, version)

    # -- history and audit -----------------------------------------------
    def stage_history(self, name: str) -> pd.DataFrame:
        """Which version was in which stage when: model, version, stage, start, end (NaT: now)."""
        with rs.reading(self.store) as con:
            if rs.model_row(con, check_model_name(name), include_deleted=True) is None:
                raise NotFoundError(f"no registered model named {name!r}")
            df = rg.history_frame(con, name)
        df["start"] = pd.to_datetime(df.pop("entered_at"), unit="ms", utc=True)
        df["end"] = pd.to_datetime(df.pop("left_at"), unit="ms", utc=True)
        return df[["model", "version", "stage", "start", "end", "request_id", "changed_by"]]

    def change_stamp(self) -> int:
        """A number that changes whenever the registry changes (the newest audit entry's id:
        every action writes exactly one); one small query, for pages that follow the store.

        >>> reg.change_stamp() < (reg.grant("eve", "viewer") or reg.change_stamp())  # doctest: +SKIP
        True
        """
        with rs.reading(self.store) as con:
            return rg.last_audit_id(con)

    def audit_log(self, name: str | None = None) -> pd.DataFrame:
        """Registry actions, oldest first: entry_id, ts, user, action, model, version,
        request_id, before, after, details (of one model when ``name`` is given)."""
        with rs.reading(self.store) as con:
            df = rg.audit_frame(con, name)
        df["ts"] = pd.to_datetime(df["ts"], unit="ms", utc=True)
        return df

    # -- webhooks --------------------------------------------------------
    def on(self, event: str, callback: Callable[[dict[str, Any]], Any]) -> None:
        """Call ``callback(entry)`` in this process after each ``event`` (an audit action, or ``"*"``)."""
        _hooks.add_callback(str(self.store.path), event, callback)

    def off(self, event: str, callback: Callable[[dict[str, Any]], Any]) -> None:
        """Stop calling a callback registered with :meth:`on`."""
        _hooks.remove_callback(str(self.store.path), event, callback)

    def add_webhook(
        self, url: str, events: list[str] | None = None, model: str | None = None
    ) -> int:
        """POST each matching event as JSON to a local ``url`` (admin); returns the hook's id."""
        url = _hooks.check_webhook_url(url)
        event_list = list(events) if events else ["*"]

        def body(a: _Action) -> int:
            self._require(a, "admin", "adding a webhook")
            if model is not None:
                self._model(a.con, model)
            hook_id = rs.insert_webhook(a.con, url, event_list, model, self.user, a.ts)
            a.audit(
                "webhook",
                model,
                before=None,
                after={"webhook_id": hook_id, "url": url, "events": event_list},
            )
            return hook_id

        return self._act(body)

    def webhooks(self) -> pd.DataFrame:
        """The configured webhooks."""
        with rs.reading(self.store) as con:
            return pd.DataFrame(rs.webhooks(con))

    def delete_webhook(self, webhook_id: int) -> None:
        """Remove a webhook (admin)."""

        def body(a: _Action) -> None:
            self._require(a, "admin", "deleting a webhook")
            if not rs.delete_webhook(a.con, webhook_id, a.ts):
                raise NotFoundError(f"no webhook #{webhook_id}")
            a.audit("webhook", None, before={"webhook_id": webhook_id}, after=None)

        self._act(body)
