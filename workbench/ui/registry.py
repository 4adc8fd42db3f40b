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
import json
import os
from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn
import param

from workbench.errors import GateFailedError
from workbench.registry import ROLES, Registry
from workbench.registry.cards import SECTIONS, TITLES, ModelCard
from workbench.registry.stages import STAGES
from workbench.store.store import Store
from workbench.ui.widgets import ErrorBanner, error_message, format_value

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
    text = "" if stage is None or (isinstance(stage, float) and pd.isna(stage)) else str(stage)
    colour = STAGE_COLOURS.get(text, "#e9ecef")
    return (
        f'<span class="wb-stage wb-stage-{html.escape(text.lower())}" '
        f'style="background:{colour};padding:1px 6px;border-radius:4px">{html.escape(text)}</span>'
    )


def _compact(value: Any, limit: int = 160) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(ts: Any) -> str:
    if ts is None or (not isinstance(ts, str) and pd.isna(ts)):
        return ""
    return pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


class RegistryModel(param.Parameterized):
    """State and actions of the Registry screen."""

    store = param.ClassSelector(class_=Store, allow_refs=False)
    user = param.String(default="")
    user_source = param.String(default="", doc="where the acting user comes from")
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
    comment = param.String(default="")
    override_reason = param.String(default="")
    message = param.String(default="")
    error = param.String(default="")

    def __init__(self, store: Store, user: str | None = None, **params: Any) -> None:
        super().__init__(store=store, **params)
        self.registry = Registry(store, user=user)
        self.user = self.registry.user
        if user is not None:
            self.user_source = "given to the screen"
        elif os.environ.get("WORKBENCH_USER"):
            self.user_source = "from WORKBENCH_USER"
        else:
            self.user_source = "the operating-system user; set WORKBENCH_USER to act as another"
        self.refresh()

    # -- loading ---------------------------------------------------------
    def refresh(self) -> None:
        """Reload the models, the inbox and the selected model and request."""
        try:
            self.role = self.registry.role
            self.users = self.registry.users()[["user", "role", "granted_by"]]
            self.models = self._models_frame()
            self.inbox = self.registry.pending_requests()
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
        self.error = self.message = ""
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
        except Exception as exc:
            self.error = error_message(exc)
            return False
        override = " (gates overridden)" if req.override_reason else ""
        self.message = (
            f"Request #{req.id} {req.status.lower()}{override}: {req.name} version {req.version} "
            f"-> {req.to_stage}."
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
        self._do(lambda: self.registry.set_alias(self.model_name, (alias or "").strip(), version))
        if self.error:
            return False
        self.message = f"Alias {alias.strip()!r} -> version {version}."
        self._load_model()
        return True

    def swap_aliases(self, first: str, second: str) -> bool:
        """Swap two aliases of the shown model in one action."""
        self._do(lambda: self.registry.swap_aliases(self.model_name, first.strip(), second.strip()))
        if self.error:
            return False
        self.message = f"Aliases {first.strip()!r} and {second.strip()!r} swapped."
        self._load_model()
        return True

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
        self._do(lambda: self.registry.delete_gate(self.model_name, int(gate_id)))
        if self.error:
            return False
        self.message = f"Gate #{gate_id} deleted."
        self._load_model()
        self._load_gates()
        return True

    def set_description(self, text: str) -> bool:
        """Change the shown model's description."""
        self._do(lambda: self.registry.set_model_description(self.model_name, text or None))
        if self.error:
            return False
        self.message = f"Description of {self.model_name} saved."
        self.refresh()
        return True

    def set_tag(self, key: str, value: str) -> bool:
        """Set a tag on the shown model."""
        self._do(lambda: self.registry.set_model_tag(self.model_name, (key or "").strip(), value))
        if self.error:
            return False
        self.message = f"Tag {key.strip()!r} of {self.model_name} set."
        self._load_model()
        return True

    def grant(self, user: str, role: str) -> bool:
        """Give a user a role (admin)."""
        self._do(lambda: self.registry.grant((user or "").strip(), role))
        if self.error:
            return False
        self.message = f"{user.strip()!r} is now {role}."
        self.refresh()
        return True

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
            version, request = rec["version"], rec["request_id"]
            rows.append(
                {
                    "when": _when(rec["ts"]),
                    "user": rec["user"],
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
