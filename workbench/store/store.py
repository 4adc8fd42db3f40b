"""``Store``: one DuckDB file plus a content-addressed artifact folder beside it.

>>> import tempfile, os
>>> store = Store(os.path.join(tempfile.mkdtemp(), "demo.duckdb"))
>>> store.create_experiment("churn")
1
>>> store.list_experiments()["name"].tolist()
['churn']
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from workbench.config import default_store_path
from workbench.store.artifact_queries import _ArtifactQueries
from workbench.store.artifacts import ArtifactStore
from workbench.store.handle import StoreHandle, get_handle
from workbench.store.metric_queries import _MetricQueries
from workbench.store.run_queries import RUN_STATUSES, RUN_VIEWS, _RunQueries
from workbench.store.schema import SCHEMA_VERSION, schema_version

__all__ = ["RUN_STATUSES", "RUN_VIEWS", "Store"]


class Store(_RunQueries, _MetricQueries, _ArtifactQueries):
    """A workbench store: experiments, runs, metrics, artifacts and more.

    ``Store(path)`` opens ``path`` (creating it and upgrading its schema if
    needed); with no path, ``$WORKBENCH_STORE`` or ``~/.workbench/workbench.duckdb``.
    Artifacts live in ``<stem>.artifacts/`` and waiting writes in
    ``<stem>.spool/`` beside the file. Any number of ``Store`` objects and
    processes may use one path at the same time.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        db_path = Path(path).expanduser() if path is not None else default_store_path()
        if db_path.is_dir():
            db_path = db_path / "workbench.duckdb"
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.path = db_path.resolve()
        stem = self.path.with_suffix("") if self.path.suffix else self.path
        self.artifact_root = Path(f"{stem}.artifacts")
        self.spool_dir = Path(f"{stem}.spool")
        self.spool_dir.mkdir(exist_ok=True)
        self.artifacts = ArtifactStore(self.artifact_root)
        self._handle: StoreHandle = get_handle(self.path, self.spool_dir)
        # Create, upgrade or refuse (newer schema) now if the file is free; if
        # another process holds it, that check happens at first real use, so
        # that opening a store to log never waits.
        self._handle.check_schema()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Store) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    # -- plumbing --------------------------------------------------------
    def _db(self):
        """The connection context (ingests waiting spool files first)."""
        return self._handle.connect()

    @property
    def writer(self):
        """This process's spool writer for this store (the write path)."""
        return self._handle.writer

    def flush(self) -> None:
        """Write this process's buffered records to spool files now."""
        self._handle.flush()

    def sync(self) -> None:
        """Flush, then ingest every waiting spool file into the database."""
        with self._db():
            pass

    def close(self) -> None:
        """Flush and release the database file (it reopens on next use)."""
        self._handle.flush()
        self._handle.close()

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The open connection for a block of reads, after ingesting waiting spool files.

        For modules inside ``workbench.store`` only: everything else calls
        the typed methods. Other processes wait while the block runs, so keep
        it short.
        """
        with self._db() as con:
            yield con

    @contextmanager
    def transaction(self, ingest: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside BEGIN ... COMMIT (ROLLBACK on any error).

        The database file is held exclusively for the block, so a
        read-check-write inside it cannot race another process. ``ingest=False``
        skips ingesting waiting spool files and prediction-log segments first
        (for a caller that ingests segments itself and reports what it did).
        """
        with self._handle.connect(ingest=ingest) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def _query_df(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self._db() as con:
            return con.execute(sql, params or []).df()

    def _query_one(self, sql: str, params: list | None = None) -> tuple | None:
        with self._db() as con:
            return con.execute(sql, params or []).fetchone()

    # -- information -----------------------------------------------------
    @property
    def schema_version(self) -> int:
        with self._handle.connect(ingest=False) as con:
            return schema_version(con)

    def info(self) -> dict[str, Any]:
        """Path, schema version and row counts, as ``workbench info`` prints them."""
        counts: dict[str, Any] = {}
        with self._db() as con:
            for table in ("experiments", "runs", "params", "metrics", "tags", "artifacts", "datasets"):
                counts[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            version = schema_version(con)
        return {
            "path": str(self.path),
            "artifact_root": str(self.artifact_root),
            "schema_version": version,
            "package_schema_version": SCHEMA_VERSION,
            **counts,
        }
