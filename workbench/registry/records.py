"""What the registry returns: registered models, versions and transition requests, and its constants.

>>> ROLES
('viewer', 'contributor', 'approver', 'admin')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from workbench.errors import (
    InvalidInputError,
)

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
