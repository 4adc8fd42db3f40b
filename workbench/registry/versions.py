"""Model versions and aliases: register a version from a run or a file, tag it, point aliases at it.

A part of :class:`~workbench.registry.registry.Registry` (a mixin over
:class:`~workbench.registry.base._RegistryBase`); see ``docs/registry.md``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import (
    ArtifactIntegrityError,
    InvalidInputError,
    NotFoundError,
    StageTransitionError,
)
from workbench.registry import stages as st
from workbench.registry.base import _Action, _RegistryBase
from workbench.registry.records import (
    ModelVersion,
    _text,
)
from workbench.registry.uri import check_alias, check_model_name
from workbench.store import registry_governance_store as rg
from workbench.store import registry_store as rs
from workbench.store.keys import check_key


class _VersionsMixin(_RegistryBase):
    """Model versions and aliases: register a version from a run or a file, tag it, point aliases at it."""

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
            if row["run_id"] is not None and not rg.run_exists(a.con, row["run_id"]):
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
            rg.open_period(a.con, name, version, st.NONE, a.ts, None, self.user)
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
            for request_id in rg.pending_request_ids(a.con, name, row["version"]):
                rg.decide_request(
                    a.con, request_id, st.CANCELLED, self.user, a.ts, "version deleted"
                )
            rg.close_period(a.con, name, row["version"], a.ts)
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
