"""Resolving ``models:/`` URIs to versions and loading the model they point at.

A part of :class:`~workbench.registry.registry.Registry` (a mixin over
:class:`~workbench.registry.base._RegistryBase`); see ``docs/registry.md``.
"""

from __future__ import annotations

from typing import Any

from workbench.errors import (
    ArtifactIntegrityError,
    NotFoundError,
)
from workbench.registry.base import _RegistryBase
from workbench.registry.records import (
    ModelVersion,
)
from workbench.registry.uri import ModelRef, parse_model_uri
from workbench.store import registry_store as rs


class _LoadingMixin(_RegistryBase):
    """Resolving ``models:/`` URIs to versions and loading the model they point at."""

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
