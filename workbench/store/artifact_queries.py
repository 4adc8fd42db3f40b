"""Artifacts, datasets and environments of runs: list, read and download.

A part of :class:`~workbench.store.store.Store` (a mixin: it uses the store's
connection plumbing, ``_db``, ``_query_df`` and ``_query_one``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import NotFoundError
from workbench.store.artifacts import check_logical_path
from workbench.store.run_queries import _to_datetime


class _ArtifactQueries:
    """Artifacts, datasets and environments of a :class:`~workbench.store.store.Store`."""

    # -- artifacts -------------------------------------------------------
    def list_artifacts(self, run_id: str) -> pd.DataFrame:
        """A run's artifacts: logical ``path``, ``sha256``, ``size``, ``created_at``."""
        with self._db() as con:
            self._require_run(con, run_id)
            df = con.execute(
                "SELECT path, sha256, size, created_at FROM artifacts WHERE run_id = ? ORDER BY path",
                [run_id],
            ).df()
        df["created_at"] = _to_datetime(df["created_at"])
        return df

    def _artifact_sha(self, run_id: str, path: str) -> str:
        path = check_logical_path(path)
        row = self._query_one(
            "SELECT sha256 FROM artifacts WHERE run_id = ? AND path = ?", [run_id, path]
        )
        if row is None:
            raise NotFoundError(f"run {run_id} has no artifact {path!r}")
        return row[0]

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """An artifact's bytes, after checking them against the recorded sha256."""
        return self.artifacts.read(self._artifact_sha(run_id, path))

    def artifact_file(self, run_id: str, path: str) -> Path:
        """The (read-only) stored file of an artifact, after checking its sha256."""
        return self.artifacts.verify(self._artifact_sha(run_id, path))

    def download_artifact(self, run_id: str, path: str, dest: str | os.PathLike) -> Path:
        """Copy an artifact to ``dest`` (a file path or a folder), verified."""
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / Path(path).name
        return self.artifacts.copy_to(self._artifact_sha(run_id, path), dest)

    # -- datasets and environment ---------------------------------------
    def run_datasets(self, run_id: str) -> pd.DataFrame:
        """Datasets a run used: name, digest, role, rows, columns, schema, source."""
        df = self._query_df(
            """SELECT rd.name, rd.digest, rd.role, d.n_rows, d.n_cols, d.schema, d.source,
                      d.artifact_sha256
               FROM run_datasets rd JOIN datasets d USING (digest, name)
               WHERE rd.run_id = ? ORDER BY rd.role, rd.name""",
            [run_id],
        )
        df["schema"] = df["schema"].map(lambda s: json.loads(s) if isinstance(s, str) else s)
        return df

    def list_datasets(self) -> pd.DataFrame:
        """Every dataset version logged, with how many runs used it."""
        df = self._query_df(
            """SELECT d.name, d.digest, d.n_rows, d.n_cols, d.source, d.created_at,
                      count(DISTINCT rd.run_id) AS runs
               FROM datasets d LEFT JOIN run_datasets rd USING (digest, name)
               GROUP BY ALL ORDER BY d.name, d.created_at"""
        )
        df["created_at"] = _to_datetime(df["created_at"])
        return df

    def environment(self, run_id: str) -> dict[str, Any]:
        """Python version, platform and package versions recorded for a run."""
        row = self._query_one(
            """SELECT e.python_version, e.platform, e.packages, r.git_commit, r.git_dirty,
                      r.source, r.host, r.user_name
               FROM runs r LEFT JOIN environments e USING (env_id) WHERE r.run_id = ?""",
            [run_id],
        )
        if row is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        keys = ("python_version", "platform", "packages", "git_commit", "git_dirty", "source",
                "host", "user")
        env = dict(zip(keys, row))
        env["packages"] = json.loads(env["packages"]) if env["packages"] else {}
        return env
