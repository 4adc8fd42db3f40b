"""The model registry: registered models, versions, stages, requests, gates, roles and audit.

>>> import tempfile, os, numpy as np, workbench as wb
>>> from sklearn.linear_model import LogisticRegression
>>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
>>> X, y = np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2
>>> with wb.start_run(experiment="churn", store=store) as run:
...     _ = wb.log_model(LogisticRegression().fit(X, y), input_example=X[:3])
>>> reg = Registry(store, user="alice")          # the first user of a store's registry is admin
>>> v = reg.register_model("churn", run_id=run.id)
>>> v.version, v.stage
(1, 'None')
>>> reg.grant("bob", "approver")
>>> req = reg.request_transition("churn", 1, "Staging", comment="ready")
>>> Registry(store, user="bob").approve(req.id, comment="ok").status
'APPROVED'
>>> reg.get_version("churn", 1).stage
'Staging'
>>> type(reg.load_model("models:/churn/Staging")).__name__
'LogisticRegression'
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.config import current_user
from workbench.errors import (
    ArtifactIntegrityError,
    GateFailedError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    StageTransitionError,
)
from workbench.registry import cards as _cards
from workbench.registry import stages as st
from workbench.registry import webhooks as _hooks
from workbench.registry.gates import (
    Gate,
    GateResult,
    evaluate_expression,
    parse_gate,
    signature_diff,
    signature_inputs,
)
from workbench.registry.uri import ModelRef, check_alias, check_model_name, parse_model_uri
from workbench.store import registry_store as rs
from workbench.store.spool import now_ms
from workbench.tracking.validation import check_key

#: Roles from least to most powerful; each role may do everything the ones before it may.
ROLES: tuple[str, ...] = ("viewer", "contributor", "approver", "admin")

#: Registry settings an admin can change, with their defaults.
SETTINGS: dict[str, Any] = {
    # Single-user setting: let a user approve their own requests. Each such
    # approval says so in the audit log (details.self_approval = true).
    "allow_self_approval": False,
    # The role of a user who was never granted one.
    "default_role": "viewer",
}


def _ts(ms: Any) -> pd.Timestamp | None:
    if ms is None or (isinstance(ms, float) and pd.isna(ms)):
        return None
    return pd.Timestamp(int(ms), unit="ms", tz="UTC")


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model: a name, a description, tags and its versions' aliases."""

    name: str
    description: str | None
    tags: dict[str, str]
    aliases: dict[str, int]
    created_by: str | None
    created_at: pd.Timestamp | None


@dataclass(frozen=True)
class ModelVersion:
    """One version of a registered model, with its artifact, checksum, signature and lineage."""

    name: str
    version: int
    stage: str
    run_id: str | None
    artifact: str | None
    source: str | None
    sha256: str
    size: int | None
    flavor: str | None
    model_class: str | None
    signature: dict[str, Any]
    requirements: dict[str, str]
    metrics: dict[str, float]
    datasets: list[dict[str, Any]]
    pipeline_version: str | None
    description: str | None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    created_by: str | None = None
    created_at: pd.Timestamp | None = None
    stage_since: pd.Timestamp | None = None

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``."""
        return f"models:/{self.name}/{self.version}"

    @classmethod
    def _from_row(cls, row: dict[str, Any]) -> ModelVersion:
        return cls(
            name=row["name"],
            version=int(row["version"]),
            stage=row["stage"],
            run_id=row["run_id"],
            artifact=row["artifact"],
            source=row["source"],
            sha256=row["model_sha256"],
            size=row["size"],
            flavor=row["flavor"],
            model_class=row["model_class"],
            signature=row["signature"] or {},
            requirements=row["requirements"] or {},
            metrics=row["metrics"] or {},
            datasets=row["datasets"] or [],
            pipeline_version=row["pipeline_version"],
            description=row["description"],
            tags=row.get("tags", {}),
            aliases=row.get("aliases", []),
            created_by=row["created_by"],
            created_at=_ts(row["created_at"]),
            stage_since=_ts(row["stage_since"]),
        )


@dataclass(frozen=True)
class TransitionRequest:
    """A request to move a version to another stage, and its decision."""

    id: int
    name: str
    version: int
    from_stage: str
    to_stage: str
    archive_existing: bool
    comment: str | None
    requested_by: str
    requested_at: pd.Timestamp | None
    status: str
    decided_by: str | None = None
    decided_at: pd.Timestamp | None = None
    decision_comment: str | None = None
    override_reason: str | None = None
    gate_results: list[dict[str, Any]] | None = None

    @classmethod
    def _from_row(cls, row: dict[str, Any]) -> TransitionRequest:
        return cls(
            id=int(row["request_id"]),
            name=row["name"],
            version=int(row["version"]),
            from_stage=row["from_stage"],
            to_stage=row["to_stage"],
            archive_existing=bool(row["archive_existing"]),
            comment=row["comment"],
            requested_by=row["requested_by"],
            requested_at=_ts(row["requested_at"]),
            status=row["status"],
            decided_by=row["decided_by"],
            decided_at=_ts(row["decided_at"]),
            decision_comment=row["decision_comment"],
            override_reason=row["override_reason"],
            gate_results=row["gate_results"],
        )


def _text(value: Any, what: str, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise InvalidInputError(f"{what} is required")
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise InvalidInputError(f"{what} must not be empty")
    return value


def _version_number(version: Any) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        if isinstance(version, str) and version.isdigit():
            return int(version)
        raise InvalidInputError(f"a version number is a positive int, got {version!r}")
    return version


class _Action:
    """What one action collects inside its transaction: the audit entries it wrote."""

    def __init__(self, reg: Registry, con: Any, ts: int) -> None:
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
        entry_id = rs.append_audit(
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


class Registry:
    """The model registry of a store, acting as ``user`` (default: the configured user).

    Every action checks the user's role, does its read-check-write inside one
    :meth:`Store.transaction` and appends exactly one audit entry; a refused
    action changes nothing and writes nothing. See ``docs/registry.md``.

    The first user to use the registry of a store becomes its admin.
    """

    def __init__(self, store: Any = None, user: str | None = None) -> None:
        from workbench.tracking.fluent import resolve_store

        self.store = resolve_store(store)
        self.user = _text(user, "user", required=True) if user is not None else current_user()
        self._bootstrap()

    def __repr__(self) -> str:
        return f"Registry({self.store!r}, user={self.user!r})"

    # -- plumbing --------------------------------------------------------
    def _act(self, body: Callable[[_Action], Any]) -> Any:
        with rs.transaction(self.store) as con:
            action = _Action(self, con, now_ms())
            result = body(action)
            hooks = rs.webhooks(con) if action.entries else []
        if action.entries:
            _hooks.dispatch(str(self.store.path), action.entries, hooks)
        return result

    def _bootstrap(self) -> None:
        def body(a: _Action) -> None:
            if rs.count_users(a.con) == 0:
                rs.set_role(a.con, self.user, "admin", self.user, a.ts)
                a.audit(
                    "grant",
                    None,
                    before={"user": self.user, "role": None},
                    after={"user": self.user, "role": "admin"},
                    details={"reason": "first user of this store's registry"},
                )

        with rs.reading(self.store) as con:
            if rs.count_users(con) > 0:
                return
        self._act(body)

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
        rs.close_period(a.con, name, version, a.ts)
        rs.set_stage(a.con, name, version, stage, a.ts)
        rs.open_period(a.con, name, version, stage, a.ts, request_id, self.user)

    # -- users and roles -------------------------------------------------
    @property
    def role(self) -> str:
        """The acting user's role."""
        with rs.reading(self.store) as con:
            return self._role(con, self.user)

    def role_of(self, user: str) -> str:
        """Any user's role (the ``default_role`` setting for users never granted one)."""
        with rs.reading(self.store) as con:
            return self._role(con, user)

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

    # -- registered models -----------------------------------------------
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
                rs.close_period(a.con, name, version, a.ts)
            rs.delete_model(a.con, name, a.ts)
            a.audit("delete", name, before={"stages": current}, after=None)

        self._act(body)

    # -- versions --------------------------------------------------------
    def register_model(
        self,
        name: str,
        run_id: str | None = None,
        artifact: str = "model",
        *,
        path: str | os.PathLike | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        pipeline_version: str | None = None,
        signature: dict[str, Any] | None = None,
        requirements: dict[str, str] | None = None,
    ) -> ModelVersion:
        """Register a new version of ``name`` (created if new) from a run's logged model or a file.

        From a run (``run_id``, and ``artifact``, the name given to
        ``log_model``): the model file, its sha256, signature and
        requirements come from the logged model; the run's latest metrics and
        datasets (with their digests) are recorded as lineage. When the logged
        signature has no inputs, they are taken from the run's training
        dataset schema. From a file (``path``, a joblib file): the file is
        stored in the artifact store; ``signature`` and ``requirements`` may
        be given. ``pipeline_version`` records the pipeline it came from; by default it
        is read from the run's ``pipeline.*`` tags (a pipeline step's run, or a
        run nested in a pipeline run) as ``"<pipeline> v<version>"``.
        """
        name = check_model_name(name)
        description = _text(description, "description")
        pipeline_version = _text(pipeline_version, "pipeline_version")
        tags = {check_key(k, "tag"): str(v) for k, v in (tags or {}).items()}
        if (run_id is None) == (path is None):
            raise InvalidInputError("register a model from exactly one of run_id= or path=")
        if run_id is not None:
            row = self._version_from_run(run_id, artifact)
        else:
            row = self._version_from_file(path)
        if pipeline_version is None and row["run_id"] is not None:
            pipeline_version = row.pop("pipeline_version", None)
        row.pop("pipeline_version", None)
        if signature is not None:
            row["signature"] = dict(signature)
        if requirements is not None:
            row["requirements"] = {str(k): str(v) for k, v in requirements.items()}
        row.update(description=description, pipeline_version=pipeline_version, created_by=self.user)

        def body(a: _Action) -> int:
            self._require(a, "contributor", "registering a model")
            created = rs.model_row(a.con, name) is None
            if created:
                self._create_model_row(a, name, None, {})
            if row["run_id"] is not None and not rs.run_exists(a.con, row["run_id"]):
                raise NotFoundError(f"no run with id {row['run_id']!r}")
            version = rs.next_version(a.con, name)
            rs.insert_version(
                a.con,
                {
                    **row,
                    "name": name,
                    "version": version,
                    "stage": st.NONE,
                    "stage_since": a.ts,
                    "created_at": a.ts,
                },
            )
            for key, value in tags.items():
                rs.set_version_tag(a.con, name, version, key, value)
            rs.open_period(a.con, name, version, st.NONE, a.ts, None, self.user)
            a.audit(
                "register",
                name,
                version,
                before=None,
                after={
                    "version": version,
                    "stage": st.NONE,
                    "sha256": row["model_sha256"],
                    "run_id": row["run_id"],
                    "source": row["source"],
                },
                details={"model_created": created},
            )
            return version

        version = self._act(body)
        return self.get_version(name, version)

    def _version_from_run(self, run_id: str, artifact: str) -> dict[str, Any]:
        from workbench.tracking.models import MODEL_FILE, logged_model_meta

        self.store.get_run(run_id)  # NotFoundError for an unknown run
        meta = logged_model_meta(self.store, run_id, artifact)
        sha = self.store._artifact_sha(run_id, f"{artifact}/{MODEL_FILE}")
        if sha != meta.get("sha256"):
            raise ArtifactIntegrityError(
                f"run {run_id}: the model file's sha256 {sha} differs from the one in its "
                f"MLmodel.json ({meta.get('sha256')}); refusing to register it"
            )
        self.store.artifacts.verify(sha)
        datasets = self.store.run_datasets(run_id)
        lineage = [
            {
                "name": d["name"],
                "digest": d["digest"],
                "role": d["role"],
                "n_rows": None if pd.isna(d["n_rows"]) else int(d["n_rows"]),
                "n_cols": None if pd.isna(d["n_cols"]) else int(d["n_cols"]),
            }
            for d in datasets.to_dict("records")
        ]
        signature = dict(meta.get("signature") or {})
        train = [d for d in datasets.to_dict("records") if d["role"] in ("train", "training")]
        if train:
            signature["training_dataset"] = {"name": train[0]["name"], "digest": train[0]["digest"]}
            if not signature.get("inputs") and isinstance(train[0]["schema"], dict):
                signature["inputs"] = {
                    "kind": "dataframe",
                    "columns": [{"name": c, "type": t} for c, t in train[0]["schema"].items()],
                }
        return {
            "pipeline_version": self._pipeline_of_run(run_id),
            "run_id": run_id,
            "artifact": artifact,
            "source": f"runs:/{run_id}/{artifact}",
            "model_sha256": sha,
            "size": meta.get("size"),
            "flavor": meta.get("flavor"),
            "model_class": meta.get("model_class"),
            "signature": signature,
            "requirements": meta.get("requirements") or {},
            "metrics": self.store.get_run(run_id)["metrics"],
            "datasets": lineage,
        }

    def _pipeline_of_run(self, run_id: str) -> str | None:
        """``"<pipeline> v<version>"`` when the run (or its parent) was run by a pipeline.

        A pipeline's step runs carry ``pipeline.name`` and ``pipeline.step`` tags and are
        children of the pipeline run, which carries ``pipeline.version``.
        """
        run = self.store.get_run(run_id)
        tags = run["tags"]
        name, version = tags.get("pipeline.name"), tags.get("pipeline.version")
        if not version and run["parent_run_id"]:
            try:
                parent_tags = self.store.get_run(run["parent_run_id"])["tags"]
            except NotFoundError:
                parent_tags = {}
            if parent_tags.get("pipeline.name") and parent_tags.get("pipeline.name") == (
                name or parent_tags.get("pipeline.name")
            ):
                name = parent_tags["pipeline.name"]
                version = parent_tags.get("pipeline.version")
        if not name:
            return None
        return f"{name} v{version}" if version else str(name)

    def _version_from_file(self, path: str | os.PathLike) -> dict[str, Any]:
        path = Path(path)
        sha, size = self.store.artifacts.put_file(path)
        return {
            "run_id": None,
            "artifact": None,
            "source": str(path.resolve()),
            "model_sha256": sha,
            "size": size,
            "flavor": "python",
            "model_class": None,
            "signature": {},
            "requirements": {},
            "metrics": {},
            "datasets": [],
        }

    def get_version(self, name: str, version: int) -> ModelVersion:
        """One version of a registered model."""
        with rs.reading(self.store) as con:
            return ModelVersion._from_row(self._version(con, name, version))

    def list_versions(self, name: str) -> pd.DataFrame:
        """The live versions of a model: version, stage, run, sha256, aliases, ..."""
        with rs.reading(self.store) as con:
            self._model(con, name)
            df = rs.list_versions(con, name)
        for col in ("stage_since", "created_at"):
            df[col] = pd.to_datetime(df[col], unit="ms", utc=True)
        return df

    def set_version_description(self, name: str, version: int, description: str | None) -> None:
        """Change a version's description (contributor)."""
        description = _text(description, "description")

        def body(a: _Action) -> None:
            self._require(a, "contributor", "describing a version")
            row = self._version(a.con, name, version)
            rs.set_version_description(a.con, name, row["version"], description)
            a.audit(
                "describe",
                name,
                row["version"],
                before={"description": row["description"]},
                after={"description": description},
            )

        self._act(body)

    def set_version_tag(self, name: str, version: int, key: str, value: Any) -> None:
        """Set a tag on a version (contributor)."""
        key = check_key(key, "tag")

        def body(a: _Action) -> None:
            self._require(a, "contributor", "tagging a version")
            row = self._version(a.con, name, version)
            rs.set_version_tag(a.con, name, row["version"], key, str(value))
            a.audit(
                "tag",
                name,
                row["version"],
                before={key: row["tags"].get(key)},
                after={key: str(value)},
            )

        self._act(body)

    def delete_version_tag(self, name: str, version: int, key: str) -> None:
        """Remove a tag from a version (contributor)."""

        def body(a: _Action) -> None:
            self._require(a, "contributor", "tagging a version")
            row = self._version(a.con, name, version)
            if key not in row["tags"]:
                raise NotFoundError(f"version {row['version']} of {name!r} has no tag {key!r}")
            rs.delete_version_tag(a.con, name, row["version"], key)
            a.audit("tag", name, row["version"], before={key: row["tags"][key]}, after={key: None})

        self._act(body)

    def delete_version(self, name: str, version: int) -> None:
        """Delete a version (admin; refused while it is in Production). Its aliases go with it."""

        def body(a: _Action) -> None:
            self._require(a, "admin", "deleting a version")
            row = self._version(a.con, name, version)
            if row["stage"] == st.PRODUCTION:
                raise StageTransitionError(
                    f"version {row['version']} of {name!r} is in Production; archive it before deleting"
                )
            for request_id in rs.pending_request_ids(a.con, name, row["version"]):
                rs.decide_request(
                    a.con, request_id, st.CANCELLED, self.user, a.ts, "version deleted"
                )
            rs.close_period(a.con, name, row["version"], a.ts)
            rs.delete_version(a.con, name, row["version"], a.ts)
            a.audit(
                "delete",
                name,
                row["version"],
                before={"stage": row["stage"], "aliases": row["aliases"]},
                after=None,
            )

        self._act(body)

    # -- aliases ---------------------------------------------------------
    def aliases(self, name: str) -> dict[str, int]:
        """``{alias: version}`` of a registered model."""
        with rs.reading(self.store) as con:
            self._model(con, name)
            return rs.aliases(con, name)

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``alias`` at a version (approver); it moves if it pointed elsewhere."""
        alias = check_alias(alias)

        def body(a: _Action) -> None:
            self._require(a, "approver", "setting an alias")
            row = self._version(a.con, name, version)
            before = rs.aliases(a.con, name).get(alias)
            if before == row["version"]:
                raise InvalidInputError(f"alias {alias!r} already points at version {before}")
            rs.set_alias(a.con, name, alias, row["version"])
            a.audit(
                "alias", name, row["version"], before={alias: before}, after={alias: row["version"]}
            )

        self._act(body)

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias (approver)."""

        def body(a: _Action) -> None:
            self._require(a, "approver", "deleting an alias")
            self._model(a.con, name)
            before = rs.aliases(a.con, name).get(alias)
            if before is None:
                raise NotFoundError(f"model {name!r} has no alias {alias!r}")
            rs.delete_alias(a.con, name, alias)
            a.audit("alias", name, before, before={alias: before}, after={alias: None})

        self._act(body)

    def swap_aliases(self, name: str, first: str, second: str) -> None:
        """Swap two aliases in one atomic action (``champion`` <-> ``challenger``)."""
        first, second = check_alias(first), check_alias(second)
        if first == second:
            raise InvalidInputError("swap two different aliases")

        def body(a: _Action) -> None:
            self._require(a, "approver", "swapping aliases")
            self._model(a.con, name)
            current = rs.aliases(a.con, name)
            missing = [x for x in (first, second) if x not in current]
            if missing:
                raise NotFoundError(f"model {name!r} has no alias {missing[0]!r}")
            rs.set_alias(a.con, name, first, current[second])
            rs.set_alias(a.con, name, second, current[first])
            a.audit(
                "alias",
                name,
                before={first: current[first], second: current[second]},
                after={first: current[second], second: current[first]},
                details={"swap": [first, second]},
            )

        self._act(body)

    # -- transition requests ---------------------------------------------
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
            pending = rs.pending_request_ids(a.con, name, row["version"])
            if pending:
                raise StageTransitionError(
                    f"version {row['version']} of {name!r} already has a pending request "
                    f"#{pending[0]}; approve, reject or cancel it first"
                )
            request_id = rs.insert_request(
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
            row = rs.request_row(con, int(request_id))
        if row is None:
            raise NotFoundError(f"no transition request #{request_id}")
        return TransitionRequest._from_row(row)

    def list_requests(self, name: str | None = None, status: str | None = None) -> pd.DataFrame:
        """Transition requests (of one model, with one status), oldest first."""
        if status is not None and status not in st.REQUEST_STATUSES:
            raise InvalidInputError(f"status must be one of {st.REQUEST_STATUSES}, got {status!r}")
        with rs.reading(self.store) as con:
            df = rs.list_requests(con, name, status)
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
            req = rs.request_row(con, int(request_id))
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
        for gate in rs.gates(con, row["name"]):
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
                live = rs.run_values(con, row["run_id"])
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

        Refused when the request is not pending, when the move is no longer
        legal from the version's current stage, when the approver made the
        request (unless the ``allow_self_approval`` setting is on), and when a
        gate fails, unless ``override_reason`` says why it is approved anyway;
        the reason and the failed gates go to the audit log (action
        ``override``). Approving into Production archives the versions in
        Production unless the request had ``archive_existing=False``.
        """
        comment = _text(comment, "comment")
        override_reason = _text(override_reason, "override_reason")
        if override_reason is not None and not override_reason.strip():
            raise InvalidInputError("an override needs a written reason")

        def body(a: _Action) -> None:
            self._require(a, "approver", "approving a request")
            req = rs.request_row(a.con, int(request_id))
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
            rs.decide_request(
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
        comment = _text(comment, "comment", required=True)

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
            req = rs.request_row(a.con, int(request_id))
            authorize(a, req)
            if req is None:
                raise NotFoundError(f"no transition request #{request_id}")
            st.check_pending(req["status"], req["request_id"])
            rs.decide_request(a.con, req["request_id"], status, self.user, a.ts, comment)
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

    # -- gates -----------------------------------------------------------
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
            gate_id = rs.insert_gate(
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
            rows = rs.gates(con, name)
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
            match = [g for g in rs.gates(a.con, name) if g["gate_id"] == gate_id]
            if not match:
                raise NotFoundError(f"model {name!r} has no gate #{gate_id}")
            rs.delete_gate(a.con, gate_id, a.ts)
            a.audit("gate", name, before={"gate_id": gate_id, "rule": match[0]["rule"]}, after=None)

        self._act(body)

    # -- model cards -----------------------------------------------------
    def _card(self, con: Any, row: dict[str, Any]) -> _cards.ModelCard:
        model = rs.model_row(con, row["name"])
        sections = _cards.generate_sections(row, model["description"] if model else None)
        saved = rs.card_row(con, row["name"], row["version"])
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
            saved = rs.card_row(a.con, name, row["version"])
            old = dict(saved["sections"]) if saved else {}
            rs.save_card(a.con, name, row["version"], {**old, **sections}, self.user, a.ts)
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
            df = rs.history_frame(con, name)
        df["start"] = pd.to_datetime(df.pop("entered_at"), unit="ms", utc=True)
        df["end"] = pd.to_datetime(df.pop("left_at"), unit="ms", utc=True)
        return df[["model", "version", "stage", "start", "end", "request_id", "changed_by"]]

    def audit_log(self, name: str | None = None) -> pd.DataFrame:
        """Registry actions, oldest first: entry_id, ts, user, action, model, version,
        request_id, before, after, details (of one model when ``name`` is given)."""
        with rs.reading(self.store) as con:
            df = rs.audit_frame(con, name)
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

    # -- resolving and loading -------------------------------------------
    def resolve(self, uri: str | ModelRef) -> ModelVersion:
        """The version a ``models:/`` URI points at (stage: the latest arrival in that stage)."""
        ref = parse_model_uri(uri) if isinstance(uri, str) else uri
        with rs.reading(self.store) as con:
            self._model(con, ref.name)
            if ref.version is not None:
                number = ref.version
            elif ref.alias is not None:
                number = rs.aliases(con, ref.name).get(ref.alias)
                if number is None:
                    raise NotFoundError(f"model {ref.name!r} has no alias {ref.alias!r}")
            elif ref.stage is not None:
                found = rs.versions_in_stage(con, ref.name, ref.stage)
                if not found:
                    raise NotFoundError(f"model {ref.name!r} has no version in {ref.stage}")
                number = found[0]
            else:
                number = rs.latest_version(con, ref.name)
                if number is None:
                    raise NotFoundError(f"model {ref.name!r} has no versions")
            return ModelVersion._from_row(self._version(con, ref.name, number))

    def load_model(self, uri: str) -> Any:
        """Load the model a URI points at, refusing it if its bytes no longer match its sha256."""
        from workbench.tracking.models import check_requirements, load_model_bytes

        version = self.resolve(uri)
        path = self.store.artifacts.path_for(version.sha256)
        if not path.exists():
            raise NotFoundError(f"{uri}: the model file {path} is missing from the artifact store")
        check_requirements(version.requirements)
        try:
            return load_model_bytes(path.read_bytes(), version.sha256)
        except ArtifactIntegrityError as exc:
            raise ArtifactIntegrityError(
                f"{uri} (version {version.version} of {version.name!r}) was tampered with or "
                f"corrupted: {exc}"
            ) from None


def load_model(uri: str, store: Any = None) -> Any:
    """Load a registered model: ``wb.load_model("models:/churn/Production")``.

    Also ``"models:/churn/3"``, ``"models:/churn@champion"`` and
    ``"models:/churn/latest"``. The default store is used unless ``store`` is
    given. The sha256 is checked before unpickling; a mismatch raises
    :class:`~workbench.errors.ArtifactIntegrityError` and loads nothing.
    """
    return _Loader(store).load_model(uri)


class _Loader(Registry):
    """A registry view for loading only: no user bootstrap (loading is not a registry action)."""

    def __init__(self, store: Any) -> None:
        from workbench.tracking.fluent import resolve_store

        self.store = resolve_store(store)
        self.user = current_user()
