"""The Registry screen's view-model: models, versions, requests, gates, cards and audit.

No Panel here: the view (``workbench.ui.registry.view``) lays it out; tests drive it directly.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import param

from workbench.errors import GateFailedError, PermissionDeniedError
from workbench.registry import Registry
from workbench.registry.cards import ModelCard
from workbench.registry.stages import STAGES
from workbench.store.store import Store
from workbench.ui.components.format import badge, error_message
from workbench.ui.registry.acting import _Acting

_GATE_COLUMNS = ["rule", "kind", "passed", "value", "message"]

#: Badge background of each stage in tables (light, readable with black text).
STAGE_COLOURS: dict[str, str] = {
    "None": "#e9ecef",
    "Staging": "#fff3cd",
    "Production": "#d1e7dd",
    "Archived": "#dee2e6",
}
#: Bar colour of each stage in the stage-history timeline.
TIMELINE_COLOURS: dict[str, str] = {
    "None": "#adb5bd",
    "Staging": "#f0ad4e",
    "Production": "#198754",
    "Archived": "#495057",
}
#: Stages a request can ask for (a version never goes back to None).
TARGET_STAGES: tuple[str, ...] = ("Staging", "Production", "Archived")
_MAX_METRICS = 8


def stage_badge(stage: Any) -> str:
    """An HTML badge for a model version's stage."""
    return badge(stage, STAGE_COLOURS, "stage")


def _compact(value: Any, limit: int = 160) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(ts: Any) -> str:
    if ts is None or (not isinstance(ts, str) and pd.isna(ts)):
        return ""
    return pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


class RegistryModel(_Acting, param.Parameterized):
    """State and actions of the Registry screen."""

    store = param.ClassSelector(class_=Store, allow_refs=False)
    user = param.String(default="")
    user_source = param.String(default="", doc="where the acting user comes from")
    signed_in = param.String(default="", doc="who operates the screen (the configured user)")
    can_act_as = param.Boolean(default=False, doc="no authentication: may act as another user")
    role = param.String(default="")
    models = param.DataFrame(default=None, doc="registered models with their versions per stage")
    model_name = param.String(default="", doc="the registered model shown")
    model_info = param.Dict(default={}, doc="description, tags and aliases of the model shown")
    versions = param.DataFrame(default=None, doc="versions with lineage and metrics side by side")
    version = param.Integer(default=None, allow_None=True, doc="the version selected")
    card = param.ClassSelector(class_=ModelCard, default=None, allow_None=True)
    history = param.DataFrame(default=None, doc="stage periods of the model's versions")
    audit = param.DataFrame(default=None, doc="audit entries of the model, newest first")
    gate_list = param.DataFrame(default=None, doc="the gates of the model shown")
    users = param.DataFrame(default=None, doc="users with a granted role")
    inbox = param.DataFrame(default=None, doc="pending requests of every model, oldest first")
    request_id = param.Integer(default=None, allow_None=True, doc="the request selected")
    evidence = param.Dict(default={}, doc="Registry.request_evidence of the selected request")
    gates = param.DataFrame(default=None, doc="gate results of the selected request")
    gates_passed = param.Boolean(default=True)
    allow_self_approval = param.Boolean(default=False, doc="the single-user registry setting")
    decision = param.String(default="", doc="the result of the last Approve or Reject")
    comment = param.String(default="")
    override_reason = param.String(default="")
    message = param.String(default="")
    error = param.String(default="")

    def __init__(
        self, store: Store, user: str | None = None, *, authenticated: bool = False,
        **params: Any,
    ) -> None:
        super().__init__(store=store, **params)
        self.registry = Registry(store, user=user)
        self._stamp: int | None = None
        self.user = self.signed_in = self.registry.user
        self.can_act_as = not authenticated
        self._own_source = self.user_source = self._source(user, authenticated)
        self.refresh()

    # -- loading ---------------------------------------------------------
    def refresh(self) -> None:
        """Reload the models, the inbox and the selected model and request."""
        try:
            self._stamp = self.registry.change_stamp()  # before reading: no change slips by
            self.role = self.registry.role
            self.users = self.registry.users()[["user", "role", "granted_by"]]
            self.models = self._models_frame()
            self.inbox = self.registry.pending_requests()
            self.allow_self_approval = bool(self.registry.settings()["allow_self_approval"])
        except Exception as exc:
            self.error = error_message(exc)
            return
        names = list(self.models["name"])
        if self.model_name not in names:
            self.model_name = names[0] if names else ""
        else:
            self._load_model()
        if self.request_id is not None and self.request_id not in set(self.inbox["request_id"]):
            self.request_id = None
        self._load_gates()

    def _models_frame(self) -> pd.DataFrame:
        models = self.registry.list_models()
        rows = []
        for rec in models.to_dict("records"):
            versions = self.registry.list_versions(rec["name"])
            row = {"name": rec["name"], "description": rec["description"] or ""}
            row["versions"] = int(rec["versions"])
            for stage in STAGES:
                numbers = versions.loc[versions["stage"] == stage, "version"].tolist()
                row[stage] = ", ".join(f"v{int(n)}" for n in numbers)
            rows.append(row)
        return pd.DataFrame(rows, columns=["name", "description", "versions", *STAGES])

    @param.depends("model_name", watch=True)
    def _load_model(self) -> None:
        if not self.model_name:
            self.versions = self.history = self.audit = pd.DataFrame()
            self.model_info, self.version = {}, None
            return
        try:
            model = self.registry.get_model(self.model_name)
            listing = self.registry.list_versions(self.model_name)
            details = [
                self.registry.get_version(self.model_name, int(v)) for v in listing["version"]
            ]
            history = self.registry.stage_history(self.model_name)
            audit = self.registry.audit_log(self.model_name).iloc[::-1].reset_index(drop=True)
            gates = self.registry.gates(self.model_name)
        except Exception as exc:
            self.error = error_message(exc)
            return
        self.model_info = {
            "name": model.name,
            "description": model.description or "",
            "tags": model.tags,
            "aliases": model.aliases,
        }
        self.versions = self._versions_frame(details)
        self.history = history
        self.audit = audit
        self.gate_list = pd.DataFrame(
            [
                {
                    "gate": g.gate_id,
                    "rule": g.rule,
                    "kind": g.kind,
                    "stages": ", ".join(g.stages),
                    "created_by": g.created_by,
                }
                for g in gates
            ],
            columns=["gate", "rule", "kind", "stages", "created_by"],
        )
        numbers = [v.version for v in details]
        if self.version in numbers:
            self._load_card()
        else:
            self.version = numbers[-1] if numbers else None

    @staticmethod
    def _versions_frame(details: list) -> pd.DataFrame:
        metric_keys: list[str] = []
        for v in details:
            metric_keys += [k for k in sorted(v.metrics) if k not in metric_keys]
        metric_keys = metric_keys[:_MAX_METRICS]
        rows = []
        for v in details:
            row: dict[str, Any] = {
                "version": v.version,
                "stage": v.stage,
                "aliases": ", ".join(sorted(v.aliases)),
            }
            for key in metric_keys:
                row[f"metrics.{key}"] = v.metrics.get(key)
            row.update(
                run_id=v.run_id or "",
                pipeline=v.pipeline_version or "",
                datasets=", ".join(
                    f"{d.get('name')} ({d.get('role')}, {str(d.get('digest'))[:10]})"
                    for d in v.datasets
                ),
                sha256=v.sha256[:12],
                stage_since=_when(v.stage_since),
                created_by=v.created_by or "",
            )
            rows.append(row)
        columns = [
            "version",
            "stage",
            "aliases",
            *(f"metrics.{k}" for k in metric_keys),
            "run_id",
            "pipeline",
            "datasets",
            "sha256",
            "stage_since",
            "created_by",
        ]
        return pd.DataFrame(rows, columns=columns)

    @param.depends("version", watch=True)
    def _load_card(self) -> None:
        if not self.model_name or self.version is None:
            self.card = None
            return
        try:
            self.card = self.registry.get_card(self.model_name, self.version)
        except Exception as exc:
            self.error = error_message(exc)

    @param.depends("request_id", watch=True)
    def _load_gates(self) -> None:
        if self.request_id is None:
            self.gates = pd.DataFrame(columns=_GATE_COLUMNS)
            self.gates_passed = True
            self.evidence = {}
            return
        try:
            evidence = self.registry.request_evidence(self.request_id)
        except Exception as exc:
            self.error = error_message(exc)
            return
        results = evidence["gates"]
        rows = [{k: getattr(r, k) for k in _GATE_COLUMNS} for r in results]
        for row in rows:
            row["value"] = str(row["value"])
        self.gates = pd.DataFrame(rows, columns=_GATE_COLUMNS)
        self.gates_passed = all(r.passed for r in results)
        self.evidence = evidence

    def select_model(self, name: str) -> None:
        """Show a registered model's page."""
        self.error = ""
        self.model_name = name

    def select_version(self, version: int | None) -> None:
        """Select a version of the shown model (its card, the request form)."""
        self.version = None if version is None else int(version)

    def select_request(self, request_id: int | None) -> None:
        """Show a request's evidence: metrics, gate results, signature diff (and its model)."""
        self.error = self.message = self.decision = ""
        self.comment = self.override_reason = ""
        if request_id is not None:
            match = self.inbox[self.inbox["request_id"] == request_id]
            if not match.empty:
                self.model_name = str(match["name"].iloc[0])
        self.request_id = None if request_id is None else int(request_id)

    def run_of(self, version: int) -> str | None:
        """The run a version was registered from (None for a version from a file)."""
        if self.versions is None or self.versions.empty:
            return None
        match = self.versions[self.versions["version"] == version]
        run_id = str(match["run_id"].iloc[0]) if len(match) else ""
        return run_id or None

    # -- actions ---------------------------------------------------------
    def _do(self, action: Callable[[], Any]) -> Any:
        self.error = self.message = ""
        try:
            return action()
        except Exception as exc:
            self.error = error_message(exc)
            return None

    def _apply(self, action: Callable[[], Any], message: str,
               *reloads: Callable[[], None]) -> bool:
        """Run a registry action; on success show ``message`` and reload what it changed."""
        self._do(action)
        if self.error:
            return False
        self.message = message
        for reload in reloads:
            reload()
        return True

    def _decide(self, verb: str) -> bool:
        if self.request_id is None:
            self.error = "Select a request in the inbox first."
            return False
        self.error = self.message = ""
        if not self.comment.strip():
            self.error = (
                f"Write a comment before you {verb}: it says why, and goes to the audit log."
            )
            return False
        request_id = self.request_id
        try:
            if verb == "approve":
                reason = self.override_reason.strip() or None
                req = self.registry.approve(
                    request_id, comment=self.comment, override_reason=reason
                )
            else:
                req = self.registry.reject(request_id, comment=self.comment)
        except GateFailedError as exc:
            self.error = (
                f"{error_message(exc).split(' (an approver may')[0]}. To approve anyway, write "
                "an override reason: it goes to the audit log."
            )
            return False
        except PermissionDeniedError as exc:
            text = error_message(exc)
            if "cannot approve it" in text:
                text = (
                    f"{text.split('; another approver')[0]}. Another approver must approve it: "
                    "they choose themselves in \"Act as\" at the top of this page (no login is "
                    "configured) or open it as themselves; or, if you work alone, an admin turns "
                    "on \"Allow self-approval (single-user)\" on the Users & roles tab (each such "
                    "approval is marked in the audit log)."
                )
            self.error = text
            return False
        except Exception as exc:
            self.error = error_message(exc)
            return False
        override = " (gates overridden)" if req.override_reason else ""
        moved = "is now in" if req.status == "APPROVED" else "stays out of"
        # shown in the inbox, where the Approve/Reject buttons were (not in the banner above)
        self.decision = (
            f"Request #{req.id} {req.status.lower()}{override}: {req.name} version {req.version} "
            f"{moved} {req.to_stage}."
        )
        self.comment = self.override_reason = ""
        self.request_id = None
        self.model_name = req.name
        self.version = req.version
        self.refresh()
        return True

    def approve(self) -> bool:
        """Approve the selected request with ``comment`` (and ``override_reason`` if gates fail)."""
        return self._decide("approve")

    def reject(self) -> bool:
        """Reject the selected request; ``comment`` says why."""
        return self._decide("reject")

    def request_transition(
        self, version: int, stage: str, comment: str = "", archive_existing: bool = True
    ) -> bool:
        """Ask for a version of the shown model to move to ``stage``."""
        if not self.model_name:
            self.error = "Select a registered model first."
            return False
        req = self._do(
            lambda: self.registry.request_transition(
                self.model_name,
                version,
                stage,
                comment=comment or None,
                archive_existing=archive_existing,
            )
        )
        if req is None:
            return False
        self.message = (
            f"Request #{req.id} created: {req.name} version {version} -> {req.to_stage}. "
            "It waits in the approval inbox."
        )
        self.refresh()
        return True

    def save_card(self, **sections: str) -> bool:
        """Save edited model-card sections of the selected version."""
        if self.version is None:
            self.error = "Select a version first."
            return False
        card = self._do(
            lambda: self.registry.update_card(self.model_name, self.version, **sections)
        )
        if card is None:
            return False
        self.card = card
        self.message = f"Model card of {self.model_name} version {self.version} saved."
        self._load_model()
        return True

    def set_alias(self, alias: str, version: int) -> bool:
        """Point an alias of the shown model at a version."""
        alias = (alias or "").strip()
        return self._apply(lambda: self.registry.set_alias(self.model_name, alias, version),
                           f"Alias {alias!r} -> version {version}.", self._load_model)

    def swap_aliases(self, first: str, second: str) -> bool:
        """Swap two aliases of the shown model in one action."""
        first, second = (first or "").strip(), (second or "").strip()
        return self._apply(lambda: self.registry.swap_aliases(self.model_name, first, second),
                           f"Aliases {first!r} and {second!r} swapped.", self._load_model)

    def cancel_request(self) -> bool:
        """Withdraw the selected request (its requester, or an admin)."""
        if self.request_id is None:
            self.error = "Select a request in the inbox first."
            return False
        req = self._do(lambda: self.registry.cancel_request(self.request_id, self.comment or None))
        if req is None:
            return False
        self.message = f"Request #{req.id} cancelled."
        self.comment = self.override_reason = ""
        self.request_id = None
        self.refresh()
        return True

    def register_version(self, name: str, run_id: str, artifact: str = "model") -> bool:
        """Register a run's logged model as a new version of ``name`` (created if new)."""
        name, run_id = (name or "").strip(), (run_id or "").strip()
        if not name or not run_id:
            self.error = "Give the model's name and the id of the run that logged the model."
            return False
        v = self._do(
            lambda: self.registry.register_model(
                name, run_id=run_id, artifact=(artifact or "model").strip()
            )
        )
        if v is None:
            return False
        self.message = f"Registered {v.name} version {v.version} from run {run_id[:8]}."
        self.refresh()
        self.model_name, self.version = v.name, v.version
        return True

    def add_gate(
        self, rule: str, stages: list[str] | tuple[str, ...] = ("Staging", "Production")
    ) -> bool:
        """Add a gate to the shown model (admin)."""
        gate = self._do(lambda: self.registry.set_gate(self.model_name, rule, stages=list(stages)))
        if gate is None:
            return False
        self.message = f"Gate #{gate.gate_id} added: {gate.rule}."
        self._load_model()
        self._load_gates()
        return True

    def delete_gate(self, gate_id: int) -> bool:
        """Remove a gate of the shown model (admin)."""
        return self._apply(lambda: self.registry.delete_gate(self.model_name, int(gate_id)),
                           f"Gate #{gate_id} deleted.", self._load_model, self._load_gates)

    def set_description(self, text: str) -> bool:
        """Change the shown model's description."""
        return self._apply(
            lambda: self.registry.set_model_description(self.model_name, text or None),
            f"Description of {self.model_name} saved.", self.refresh)

    def set_tag(self, key: str, value: str) -> bool:
        """Set a tag on the shown model."""
        key = (key or "").strip()
        return self._apply(lambda: self.registry.set_model_tag(self.model_name, key, value),
                           f"Tag {key!r} of {self.model_name} set.", self._load_model)

    def grant(self, user: str, role: str) -> bool:
        """Give a user a role (admin)."""
        user = (user or "").strip()
        return self._apply(lambda: self.registry.grant(user, role), f"{user!r} is now {role}.",
                           self.refresh)

    def set_self_approval(self, on: bool) -> bool:
        """Switch the single-user setting ``allow_self_approval`` (admin; audited)."""
        state = "on" if on else "off"
        return self._apply(
            lambda: self.registry.set_setting("allow_self_approval", bool(on)),
            f"Self-approval (single-user setting) is now {state}; it is recorded in the audit log.",
            self.refresh,
        )

    # -- derived views ---------------------------------------------------
    def card_markdown(self) -> str:
        return self.card.to_markdown() if self.card is not None else ""

    def card_html(self) -> str:
        """The card as a standalone HTML document."""
        if self.card is None:
            return ""
        title = html.escape(f"Model card: {self.card.name} version {self.card.version}")
        return (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body>{self.card.to_html()}</body></html>"
        )

    def audit_frame(self) -> pd.DataFrame:
        """The audit log for display: when, who, what, the version, before -> after, why."""
        cols = ["when", "user", "action", "version", "request", "comment", "before", "after"]
        audit = self.audit
        if audit is None or audit.empty:
            return pd.DataFrame(columns=cols)
        rows = []
        for rec in audit.to_dict("records"):
            details = rec["details"] if isinstance(rec["details"], dict) else {}
            why = [str(details[k]) for k in ("comment",) if details.get(k)]
            if details.get("override_reason"):
                why.append(f"override: {details['override_reason']}")
            if details.get("self_approval"):
                why.append("self-approval (allow_self_approval is on)")
            user = rec["user"]
            if details.get("acted_by"):
                user = f"{details['acted_by']} as {user}"
                why.append(f"{details['acted_by']} acted as {rec['user']} (no authentication)")
            if details.get("note", "").startswith("approved by the person who filed"):
                why.append("approved by the person who filed the request")
            version, request = rec["version"], rec["request_id"]
            rows.append(
                {
                    "when": _when(rec["ts"]),
                    "user": user,
                    "action": rec["action"],
                    "version": "" if version is None or pd.isna(version) else f"v{int(version)}",
                    "request": "" if request is None or pd.isna(request) else f"#{int(request)}",
                    "before": _compact(rec["before"]),
                    "after": _compact(rec["after"]),
                    "comment": "; ".join(why),
                }
            )
        return pd.DataFrame(rows, columns=cols)

    def timeline(self) -> Any:
        """The stage history as a HoloViews timeline: one bar per stage period, a row per version."""
        import holoviews as hv
        import holoviews.plotting.bokeh  # noqa: F401 - registers the backend the options are for

        history = self.history
        if history is None or history.empty:
            return hv.Text(0, 0, "no versions yet").opts(
                responsive=True, height=160, xaxis=None, yaxis=None, toolbar=None
            )
        df = history.copy()
        now = pd.Timestamp.now(tz="UTC")
        df["end"] = df["end"].fillna(now)
        for col in ("start", "end"):
            df[col] = pd.to_datetime(df[col], utc=True).dt.tz_localize(None)
        df["version"] = df["version"].astype(int)
        df["until"] = ["now" if pd.isna(e) else _when(e) for e in history["end"]]
        df["from"] = [_when(s) for s in history["start"]]
        df["y"] = df["version"]
        df["colour"] = df["stage"].map(TIMELINE_COLOURS).fillna("#6c757d")
        versions = sorted(df["version"].unique())
        segments = hv.Segments(
            df, kdims=["start", "y", "end", "version"], vdims=["stage", "from", "until", "colour"]
        ).opts(
            color="colour",
            line_width=16,
            tools=["hover"],
            hover_tooltips=[
                ("version", "@version"),
                ("stage", "@stage"),
                ("from", "@from"),
                ("until", "@until"),
            ],
        )
        starts = hv.Scatter(df, "start", ["y", "stage", "colour"]).opts(
            color="colour", size=9, marker="diamond"
        )
        return (segments * starts).opts(
            responsive=True,
            height=max(160, 60 + 40 * len(versions)),
            xlabel="time (UTC)",
            ylabel="version",
            yticks=[(v, f"v{v}") for v in versions],
            ylim=(min(versions) - 0.6, max(versions) + 0.6),
            title=f"Stage history of {self.model_name}",
            show_legend=False,
        )


