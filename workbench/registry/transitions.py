"""Stage transitions: requests, their gates and evidence, approve, reject, cancel.

A version changes stage only through a request that an approver approves (and that passes
the model's gates); see :mod:`workbench.registry.stages` for the allowed moves.

A part of :class:`~workbench.registry.registry.Registry` (a mixin over
:class:`~workbench.registry.base._RegistryBase`); see ``docs/registry.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from workbench.errors import (
    GateFailedError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    StageTransitionError,
)
from workbench.registry import stages as st
from workbench.registry.base import _Action, _RegistryBase
from workbench.registry.gates import (
    GateResult,
    evaluate_expression,
    parse_gate,
    signature_diff,
    signature_inputs,
)
from workbench.registry.records import (
    ModelVersion,
    TransitionRequest,
    _text,
)
from workbench.store import registry_governance_store as rg
from workbench.store import registry_store as rs


class _TransitionsMixin(_RegistryBase):
    """Stage transitions: requests, their gates and evidence, approve, reject, cancel."""

    def request_transition(
        self,
        name: str,
        version: int,
        stage: str,
        comment: str | None = None,
        archive_existing: bool = True,
    ) -> TransitionRequest:
        """Ask for a version to move to ``stage`` (contributor).

        The move must be legal from the version's current stage and the
        version must have no other pending request. ``archive_existing=False``
        keeps the current Production version(s) in Production when this
        request to Production is approved.
        """
        target = st.normalize_stage(stage)
        comment = _text(comment, "comment")
        if not isinstance(archive_existing, bool):
            raise InvalidInputError(f"archive_existing is True or False, got {archive_existing!r}")

        def body(a: _Action) -> int:
            self._require(a, "contributor", "requesting a stage transition")
            row = self._version(a.con, name, version)
            st.check_transition(row["stage"], target)
            pending = rg.pending_request_ids(a.con, name, row["version"])
            if pending:
                raise StageTransitionError(
                    f"version {row['version']} of {name!r} already has a pending request "
                    f"#{pending[0]}; approve, reject or cancel it first"
                )
            request_id = rg.insert_request(
                a.con,
                name,
                row["version"],
                row["stage"],
                target,
                archive_existing,
                comment,
                self.user,
                a.ts,
            )
            a.audit(
                "request",
                name,
                row["version"],
                request_id=request_id,
                before={"stage": row["stage"]},
                after={"request": "PENDING", "to_stage": target},
                details={"comment": comment, "archive_existing": archive_existing},
            )
            return request_id

        return self.get_request(self._act(body))

    def get_request(self, request_id: int) -> TransitionRequest:
        """One transition request."""
        with rs.reading(self.store) as con:
            row = rg.request_row(con, int(request_id))
        if row is None:
            raise NotFoundError(f"no transition request #{request_id}")
        return TransitionRequest._from_row(row)

    def list_requests(self, name: str | None = None, status: str | None = None) -> pd.DataFrame:
        """Transition requests (of one model, with one status), oldest first."""
        if status is not None and status not in st.REQUEST_STATUSES:
            raise InvalidInputError(f"status must be one of {st.REQUEST_STATUSES}, got {status!r}")
        with rs.reading(self.store) as con:
            df = rg.list_requests(con, name, status)
        for col in ("requested_at", "decided_at"):
            df[col] = pd.to_datetime(df[col], unit="ms", utc=True)
        return df

    def pending_requests(self, name: str | None = None) -> pd.DataFrame:
        """The approval inbox: pending requests, oldest first."""
        return self.list_requests(name, st.PENDING)

    def gate_results(self, request_id: int) -> list[GateResult]:
        """Each gate of the request's model: passed or failed, with the value it saw.

        For a decided request, the results recorded at the decision.
        """
        with rs.reading(self.store) as con:
            req = rg.request_row(con, int(request_id))
            if req is None:
                raise NotFoundError(f"no transition request #{request_id}")
            if req["status"] != st.PENDING and req["gate_results"] is not None:
                return [GateResult(**g) for g in req["gate_results"]]
            row = self._version(con, req["name"], req["version"])
            return self._evaluate_gates(con, row, req["to_stage"])

    def request_evidence(self, request_id: int) -> dict[str, Any]:
        """What an approver needs to decide a request, in one read.

        ``request`` (:class:`TransitionRequest`), ``candidate`` (its
        :class:`ModelVersion`), ``production`` (the current Production version
        other than the candidate, or None), ``metrics`` (a DataFrame: metric,
        candidate, production), ``gates`` (list of :class:`GateResult`) and
        ``signature_diff`` (a DataFrame: column, candidate, production, change).
        """
        request = self.get_request(request_id)
        candidate = self.get_version(request.name, request.version)
        production = None
        with rs.reading(self.store) as con:
            prod = [
                v
                for v in rs.versions_in_stage(con, request.name, st.PRODUCTION)
                if v != request.version
            ]
            if prod:
                production = ModelVersion._from_row(self._version(con, request.name, prod[0]))
        mine, theirs = candidate.metrics, production.metrics if production else {}
        keys = sorted(set(mine) | set(theirs))
        metrics = pd.DataFrame(
            {
                "metric": keys,
                "candidate": [mine.get(k) for k in keys],
                "production": [theirs.get(k) for k in keys],
            },
            columns=["metric", "candidate", "production"],
        )
        diff = signature_diff(candidate.signature, production.signature if production else None)
        return {
            "request": request,
            "candidate": candidate,
            "production": production,
            "metrics": metrics,
            "gates": self.gate_results(request_id),
            "signature_diff": pd.DataFrame(
                diff, columns=["column", "candidate", "production", "change"]
            ),
        }

    def _evaluate_gates(self, con: Any, row: dict[str, Any], target: str) -> list[GateResult]:
        results = []
        for gate in rg.gates(con, row["name"]):
            if target not in gate["stages"]:
                continue
            results.append(self._evaluate_gate(con, gate, row))
        return results

    def _evaluate_gate(self, con: Any, gate: dict[str, Any], row: dict[str, Any]) -> GateResult:
        parsed = parse_gate(gate["rule"])
        common = {"gate_id": int(gate["gate_id"]), "rule": gate["rule"], "kind": parsed.kind}
        if parsed.kind == "expression":
            values = {"metrics": dict(row["metrics"] or {}), "params": {}, "tags": {}}
            if row["run_id"] is not None:
                live = rg.run_values(con, row["run_id"])
                values["metrics"].update(live["metrics"])
                values["params"] = live["params"]
                values["tags"] = live["tags"]
            values["tags"] = {**values["tags"], **row["tags"]}
            passed, seen = evaluate_expression(parsed.tree, values)
            value = next(iter(seen.values())) if len(seen) == 1 else seen
            return GateResult(
                **common,
                passed=passed,
                value=value,
                message=f"{gate['rule']}: {'passed' if passed else 'failed'} with {seen}",
            )
        if parsed.kind == "signature":
            prod = [
                v
                for v in rs.versions_in_stage(con, row["name"], st.PRODUCTION)
                if v != row["version"]
            ]
            if not prod:
                return GateResult(
                    **common, passed=True, value=None, message="no other version is in Production"
                )
            other = rs.version_row(con, row["name"], prod[0])
            mine, theirs = signature_inputs(row["signature"]), signature_inputs(other["signature"])
            passed = mine == theirs
            return GateResult(
                **common,
                passed=passed,
                value={"version": mine, "production": theirs},
                message=f"signature {'matches' if passed else 'differs from'} Production "
                f"version {prod[0]}",
            )
        card = self._card(con, row)
        missing = card.missing_sections()
        return GateResult(
            **common,
            passed=not missing,
            value=missing,
            message="model card complete"
            if not missing
            else f"model card sections still empty: {', '.join(missing)}",
        )

    def approve(
        self, request_id: int, comment: str | None = None, override_reason: str | None = None
    ) -> TransitionRequest:
        """Approve a pending request and move the version (approver).

        ``comment`` is required (as on the Registry screen): say what was checked,
        ``reg.approve(7, comment="evaluated on the held-out split")``.

        Refused when the request is not pending, when the move is no longer
        legal from the version's current stage, when the approver made the
        request (unless the ``allow_self_approval`` setting is on), and when a
        gate fails, unless ``override_reason`` says why it is approved anyway;
        the reason and the failed gates go to the audit log (action
        ``override``). Approving into Production archives the versions in
        Production unless the request had ``archive_existing=False``.
        """
        comment = _decision_comment(comment, "approving")
        override_reason = _text(override_reason, "override_reason")
        if override_reason is not None and not override_reason.strip():
            raise InvalidInputError("an override needs a written reason")

        def body(a: _Action) -> None:
            self._require(a, "approver", "approving a request")
            req = rg.request_row(a.con, int(request_id))
            if req is None:
                raise NotFoundError(f"no transition request #{request_id}")
            st.check_pending(req["status"], req["request_id"])
            self_approval = req["requested_by"] == self.user
            if self_approval and not rs.get_setting(a.con, "allow_self_approval", False):
                raise PermissionDeniedError(
                    f"{self.user!r} made request #{req['request_id']} and cannot approve it; another "
                    f"approver must (single-user stores: set_setting('allow_self_approval', True))"
                )
            name, target = req["name"], req["to_stage"]
            row = rs.version_row(a.con, name, req["version"])
            if row is None:
                raise StageTransitionError(f"version {req['version']} of {name!r} was deleted")
            st.check_transition(row["stage"], target)
            results = self._evaluate_gates(a.con, row, target) if target in st.GATED else []
            failed = [r for r in results if not r.passed]
            if failed and override_reason is None:
                raise GateFailedError(
                    f"request #{req['request_id']}: {len(failed)} gate(s) failed: "
                    + "; ".join(r.message for r in failed)
                    + " (an approver may approve anyway with override_reason='...')",
                    failed,
                )
            before = rs.stages(a.con, name)
            archived = []
            if target == st.PRODUCTION and req["archive_existing"]:
                for other in rs.versions_in_stage(a.con, name, st.PRODUCTION):
                    if other != row["version"]:
                        self._change_stage(a, name, other, st.ARCHIVED, req["request_id"])
                        archived.append(other)
            self._change_stage(a, name, row["version"], target, req["request_id"])
            gate_dicts = [r.to_dict() for r in results]
            rg.decide_request(
                a.con,
                req["request_id"],
                st.APPROVED,
                self.user,
                a.ts,
                comment,
                override_reason if failed else None,
                gate_dicts,
            )
            after = rs.stages(a.con, name)
            changed = sorted({row["version"], *archived})
            action = "override" if failed else ("archive" if target == st.ARCHIVED else "approve")
            details: dict[str, Any] = {
                "comment": comment,
                "to_stage": target,
                "archived_versions": archived,
                "gate_results": gate_dicts,
                "requested_by": req["requested_by"],
            }
            if failed:
                details["override_reason"] = override_reason
                details["failed_gates"] = [r.rule for r in failed]
            if self_approval:
                details["self_approval"] = True
                details["note"] = "approved by the requester (allow_self_approval is on)"
            elif (self.acted_by or self.user) == (rg.request_operator(a.con, req["request_id"])
                                                   or req["requested_by"]):
                # no login: the person who filed the request (as themselves or acting as
                # someone) approves it under another name; allowed (identity is declared, not
                # proven, without authentication) and marked, so the log never hides it
                operator = self.acted_by or self.user
                details["note"] = (f"approved by the person who filed the request: {operator}, "
                                   f"approving as {self.user}, filed as {req['requested_by']} "
                                   "(no authentication)")
            a.audit(
                action,
                name,
                row["version"],
                request_id=req["request_id"],
                before={"request": st.PENDING, "stages": {v: before.get(v) for v in changed}},
                after={"request": st.APPROVED, "stages": {v: after.get(v) for v in changed}},
                details=details,
            )

        self._act(body)
        return self.get_request(request_id)

    def reject(self, request_id: int, comment: str) -> TransitionRequest:
        """Reject a pending request with a comment saying why (approver)."""
        comment = _decision_comment(comment, "rejecting")

        def authorize(a: _Action, req: dict[str, Any] | None) -> None:
            self._require(a, "approver", "rejecting a request")

        return self._close_request(request_id, st.REJECTED, "reject", comment, authorize,
                                   with_stage=True)

    def cancel_request(self, request_id: int, comment: str | None = None) -> TransitionRequest:
        """Withdraw a pending request (its requester, or an admin)."""
        comment = _text(comment, "comment")

        def authorize(a: _Action, req: dict[str, Any] | None) -> None:
            if req is not None and req["requested_by"] != self.user:
                self._require(a, "admin", "cancelling another user's request")

        return self._close_request(request_id, st.CANCELLED, "cancel", comment, authorize)

    def _close_request(
        self,
        request_id: int,
        status: str,
        event: str,
        comment: str | None,
        authorize: Callable[[_Action, dict[str, Any] | None], None],
        with_stage: bool = False,
    ) -> TransitionRequest:
        """Close a pending request without a transition (rejected or cancelled), audited."""

        def body(a: _Action) -> None:
            req = rg.request_row(a.con, int(request_id))
            authorize(a, req)
            if req is None:
                raise NotFoundError(f"no transition request #{request_id}")
            st.check_pending(req["status"], req["request_id"])
            rg.decide_request(a.con, req["request_id"], status, self.user, a.ts, comment)
            details = {"comment": comment}
            if with_stage:
                details["to_stage"] = req["to_stage"]
            a.audit(
                event,
                req["name"],
                req["version"],
                request_id=req["request_id"],
                before={"request": st.PENDING},
                after={"request": status},
                details=details,
            )

        self._act(body)
        return self.get_request(request_id)


def _decision_comment(comment: Any, doing: str) -> str:
    """The comment an approval or rejection needs (the screen asks for it too)."""
    if comment is None or (isinstance(comment, str) and not comment.strip()):
        raise InvalidInputError(
            f"{doing} a request needs a comment saying why (comment='...'), got {comment!r}"
        )
    return _text(comment, "comment", required=True)  # type: ignore[return-value]
