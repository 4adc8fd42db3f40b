"""``Store``: one DuckDB file plus a content-addressed artifact folder beside it.

>>> import tempfile, os
>>> store = Store(os.path.join(tempfile.mkdtemp(), "demo.duckdb"))
>>> store.create_experiment("churn")
1
>>> store.list_experiments()["name"].tolist()
['churn']
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from workbench.config import default_store_path
from workbench.errors import InvalidInputError, NotFoundError
from workbench.store.artifacts import ArtifactStore, check_logical_path
from workbench.store.handle import StoreHandle, get_handle
from workbench.store.schema import SCHEMA_VERSION, schema_version
from workbench.store.search_sql import compile_filter, compile_order_by
from workbench.store.spool import now_ms
from workbench.tracking.filters import parse_filter, parse_order_by

RUN_STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")
RUN_VIEWS = ("active", "deleted", "all")
_INFO_COLUMNS = (
    "run_id, r.experiment_id, e.name AS experiment, run_name, parent_run_id, status, "
    "start_time, end_time, user_name AS user, source, git_commit, git_dirty, env_id, "
    "r.description, r.deleted_at"
)


def _to_datetime(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, unit="ms", utc=True)


class Store:
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
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside BEGIN ... COMMIT (ROLLBACK on any error).

        The database file is held exclusively for the block, so a
        read-check-write inside it cannot race another process.
        """
        with self._db() as con:
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

    # -- experiments -----------------------------------------------------
    def create_experiment(self, name: str, description: str | None = None) -> int:
        """Create an experiment; returns its id. The name must be new."""
        name = _check_name(name, "experiment name")
        with self._db() as con:
            if con.execute("SELECT 1 FROM experiments WHERE name = ?", [name]).fetchone():
                raise InvalidInputError(f"an experiment named {name!r} already exists")
            row = con.execute(
                "INSERT INTO experiments (name, created_at, description) VALUES (?, ?, ?) "
                "RETURNING experiment_id",
                [name, now_ms(), description],
            ).fetchone()
        self._handle.experiment_ids[name] = row[0]
        return int(row[0])

    def experiment_id(self, name: str, create: bool = True) -> int:
        """The id of the experiment called ``name`` (created if missing and ``create``)."""
        cached = self._handle.experiment_ids.get(name)
        if cached is not None:
            return cached
        name = _check_name(name, "experiment name")
        with self._db() as con:
            row = con.execute(
                "SELECT experiment_id FROM experiments WHERE name = ?", [name]
            ).fetchone()
            if row is None:
                if not create:
                    raise NotFoundError(f"no experiment named {name!r}")
                row = con.execute(
                    "INSERT INTO experiments (name, created_at) VALUES (?, ?) RETURNING experiment_id",
                    [name, now_ms()],
                ).fetchone()
        self._handle.experiment_ids[name] = int(row[0])
        return int(row[0])

    def get_experiment(self, name_or_id: str | int) -> dict[str, Any]:
        """One experiment as a dict (id, name, created_at, description, deleted_at)."""
        experiment_id = self._resolve_experiment(name_or_id)
        df = self._query_df(
            "SELECT experiment_id, name, created_at, description, deleted_at FROM experiments "
            "WHERE experiment_id = ?",
            [experiment_id],
        )
        return df.iloc[0].to_dict()

    def _resolve_experiment(self, name_or_id: str | int) -> int:
        if isinstance(name_or_id, bool) or not isinstance(name_or_id, (str, int)):
            raise InvalidInputError(
                f"experiment must be a name (str) or an id (int), got {type(name_or_id).__name__}"
            )
        if isinstance(name_or_id, int):
            row = self._query_one(
                "SELECT experiment_id FROM experiments WHERE experiment_id = ?", [name_or_id]
            )
            if row is None:
                raise NotFoundError(f"no experiment with id {name_or_id}")
            return int(row[0])
        row = self._query_one("SELECT experiment_id FROM experiments WHERE name = ?", [name_or_id])
        if row is None:
            raise NotFoundError(f"no experiment named {name_or_id!r}")
        return int(row[0])

    def list_experiments(self, include_deleted: bool = False) -> pd.DataFrame:
        """Experiments with their run counts, by name."""
        df = self._query_df(
            """SELECT e.experiment_id, e.name, e.description, e.created_at, e.deleted_at,
                      count(r.run_id) FILTER (WHERE r.deleted_at IS NULL) AS runs,
                      count(r.run_id) FILTER (WHERE r.status = 'RUNNING' AND r.deleted_at IS NULL)
                          AS running,
                      max(r.start_time) AS last_run
               FROM experiments e LEFT JOIN runs r USING (experiment_id)
               WHERE ? OR e.deleted_at IS NULL
               GROUP BY ALL ORDER BY e.name""",
            [include_deleted],
        )
        for col in ("created_at", "deleted_at", "last_run"):
            df[col] = _to_datetime(df[col])
        return df

    def rename_experiment(self, name_or_id: str | int, new_name: str) -> None:
        """Give an experiment a new (unused) name; its runs follow."""
        experiment_id = self._resolve_experiment(name_or_id)
        new_name = _check_name(new_name, "experiment name")
        with self._db() as con:
            clash = con.execute(
                "SELECT experiment_id FROM experiments WHERE name = ?", [new_name]
            ).fetchone()
            if clash and clash[0] != experiment_id:
                raise InvalidInputError(f"an experiment named {new_name!r} already exists")
            con.execute(
                "UPDATE experiments SET name = ? WHERE experiment_id = ?", [new_name, experiment_id]
            )
        self._handle.experiment_ids.clear()

    # -- runs ------------------------------------------------------------
    def get_run(self, run_id: str) -> dict[str, Any]:
        """A run's record with its ``params``, latest ``metrics`` and ``tags`` as dicts."""
        with self._db() as con:
            info = con.execute(
                f"SELECT {_INFO_COLUMNS} FROM runs r JOIN experiments e USING (experiment_id) "
                "WHERE run_id = ?",
                [run_id],
            ).df()
            if info.empty:
                raise NotFoundError(f"no run with id {run_id!r}")
            params = con.execute("SELECT key, value FROM params WHERE run_id = ?", [run_id]).fetchall()
            metrics = con.execute(
                "SELECT key, value FROM latest_metrics WHERE run_id = ? ORDER BY key", [run_id]
            ).fetchall()
            tags = con.execute("SELECT key, value FROM tags WHERE run_id = ?", [run_id]).fetchall()
        record = info.iloc[0].to_dict()
        for col in ("start_time", "end_time", "deleted_at"):
            record[col] = None if pd.isna(record[col]) else pd.Timestamp(record[col], unit="ms", tz="UTC")
        record["params"] = dict(sorted(params))
        record["metrics"] = dict(metrics)
        record["tags"] = dict(sorted(tags))
        return record

    def search_runs(
        self,
        experiment: str | int | list[str | int] | None = None,
        filter: str | None = None,  # noqa: A002 - the name MLflow users know
        order_by: list[str] | str | None = None,
        max_results: int = 1000,
        offset: int = 0,
        run_view: str = "active",
        params: list[str] | None = None,
        metrics: list[str] | None = None,
        tags: list[str] | None = None,
    ) -> pd.DataFrame:
        """Runs matching ``filter``, as a DataFrame with ``params.*``, ``metrics.*``, ``tags.*`` columns.

        ``filter`` uses MLflow's search syntax plus ``or``, parentheses and
        ``IS [NOT] NULL``; ``order_by`` entries look like ``"metrics.auc DESC"``.
        ``params``/``metrics``/``tags`` choose which keys become columns (all by
        default). Paging is done here, in SQL: ``offset`` and ``max_results``.

        >>> store.search_runs("churn", "metrics.auc > 0.85 and params.model = 'rf'")  # doctest: +SKIP
        """
        where, args = self._run_where(experiment, filter, run_view)
        order_sql, order_args = compile_order_by(parse_order_by(order_by))
        if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 0:
            raise InvalidInputError(f"max_results must be a non-negative int, got {max_results!r}")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise InvalidInputError(f"offset must be a non-negative int, got {offset!r}")
        with self._db() as con:
            info = con.execute(
                f"SELECT {_INFO_COLUMNS} FROM runs r JOIN experiments e USING (experiment_id) "
                f"WHERE {where} ORDER BY {order_sql} LIMIT ? OFFSET ?",
                [*args, *order_args, max_results, offset],
            ).df()
            return self._runs_frame(con, info, params, metrics, tags)

    def count_runs(
        self,
        experiment: str | int | list[str | int] | None = None,
        filter: str | None = None,  # noqa: A002
        run_view: str = "active",
    ) -> int:
        """How many runs ``search_runs`` would find without paging."""
        where, args = self._run_where(experiment, filter, run_view)
        row = self._query_one(f"SELECT count(*) FROM runs r WHERE {where}", args)
        return int(row[0])

    def _run_where(self, experiment, filter_text, run_view) -> tuple[str, list]:
        if run_view not in RUN_VIEWS:
            raise InvalidInputError(f"run_view must be one of {RUN_VIEWS}, got {run_view!r}")
        clauses, args = [], []
        if experiment is not None:
            items = experiment if isinstance(experiment, (list, tuple)) else [experiment]
            ids = [self._resolve_experiment(e) for e in items]
            clauses.append("list_contains(?, r.experiment_id)")
            args.append(ids)
        if run_view == "active":
            clauses.append("r.deleted_at IS NULL")
        elif run_view == "deleted":
            clauses.append("r.deleted_at IS NOT NULL")
        filter_sql, filter_args = compile_filter(parse_filter(filter_text))
        clauses.append(f"({filter_sql})")
        args.extend(filter_args)
        return " AND ".join(clauses), args

    def _runs_frame(self, con, info, param_keys, metric_keys, tag_keys) -> pd.DataFrame:
        """Widen a page of run rows with ``params.*``, ``metrics.*``, ``tags.*`` columns."""
        ids = info["run_id"].tolist()
        for col in ("start_time", "end_time", "deleted_at"):
            info[col] = _to_datetime(info[col])
        info["duration_s"] = (info["end_time"] - info["start_time"]).dt.total_seconds()
        # One query for all three kinds; IN (SELECT unnest(...)) is a hash
        # semi-join, measured faster than list_contains or a long IN list.
        branches, args = [], []
        for kind, table, value, keys in (
            ("params", "params", "value, NULL::DOUBLE", param_keys),
            ("metrics", "latest_metrics", "NULL::VARCHAR, value", metric_keys),
            ("tags", "tags", "value, NULL::DOUBLE", tag_keys),
        ):
            sql = (f"SELECT '{kind}' AS kind, run_id, key, {value} FROM {table} "
                   "WHERE run_id IN (SELECT unnest(?::VARCHAR[]))")
            args.append(ids)
            if keys is not None:
                sql += " AND list_contains(?::VARCHAR[], key)"
                args.append(list(keys))
            branches.append(sql)
        long = con.execute(
            "SELECT kind, run_id, key, text, num FROM ("
            + " UNION ALL ".join(f"({b})" for b in branches)
            + ") AS t(kind, run_id, key, text, num)",
            args,
        ).df()
        frames = [info.set_index("run_id")]
        for kind, part in long.groupby("kind", sort=False):
            column = "num" if kind == "metrics" else "text"
            wide = part.pivot(index="run_id", columns="key", values=column)
            wide = wide[sorted(wide.columns)]
            wide.columns = [f"{kind}.{k}" for k in wide.columns]
            frames.append(wide)
        ordered = {"params": 1, "metrics": 2, "tags": 3}
        frames[1:] = sorted(frames[1:], key=lambda f: ordered[f.columns[0].split(".")[0]])
        out = pd.concat(frames, axis=1).reindex(ids) if len(frames) > 1 else frames[0]
        out.index.name = "run_id"
        return out.reset_index()

    def child_runs(self, run_id: str) -> pd.DataFrame:
        """The runs nested directly under ``run_id``, oldest first (ties by name, so the order is stable)."""
        return self._query_df(
            "SELECT run_id, run_name, status, start_time, end_time FROM runs "
            "WHERE parent_run_id = ? AND deleted_at IS NULL ORDER BY start_time, run_name, run_id",
            [run_id],
        ).assign(
            start_time=lambda d: _to_datetime(d["start_time"]),
            end_time=lambda d: _to_datetime(d["end_time"]),
        )

    def _require_run(self, con: duckdb.DuckDBPyConnection, run_id: str) -> tuple:
        row = con.execute(
            "SELECT run_id, status, deleted_at FROM runs WHERE run_id = ?", [run_id]
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        return row

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run (and its nested runs); :meth:`restore_run` brings them back."""
        with self._db() as con:
            self._require_run(con, run_id)
            con.execute(
                """UPDATE runs SET deleted_at = ? WHERE deleted_at IS NULL AND run_id IN (
                     WITH RECURSIVE tree(id) AS (
                       SELECT ?::VARCHAR UNION SELECT r.run_id FROM runs r JOIN tree ON r.parent_run_id = tree.id)
                     SELECT id FROM tree)""",
                [now_ms(), run_id],
            )

    def restore_run(self, run_id: str) -> None:
        """Undo :meth:`delete_run` for a run and its nested runs."""
        with self._db() as con:
            self._require_run(con, run_id)
            con.execute(
                """UPDATE runs SET deleted_at = NULL WHERE run_id IN (
                     WITH RECURSIVE tree(id) AS (
                       SELECT ?::VARCHAR UNION SELECT r.run_id FROM runs r JOIN tree ON r.parent_run_id = tree.id)
                     SELECT id FROM tree)""",
                [run_id],
            )

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        """Set one tag on any run, now (the UI's tag editor uses this)."""
        from workbench.tracking.validation import check_key

        key = check_key(key, "tag")
        with self._db() as con:
            self._require_run(con, run_id)
            con.execute("INSERT OR REPLACE INTO tags VALUES (?, ?, ?)", [run_id, key, str(value)])

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove one tag from a run; a missing tag is an error."""
        with self._db() as con:
            self._require_run(con, run_id)
            gone = con.execute(
                "DELETE FROM tags WHERE run_id = ? AND key = ? RETURNING key", [run_id, key]
            ).fetchall()
            if not gone:
                raise NotFoundError(f"run {run_id} has no tag {key!r}")

    # -- metrics ---------------------------------------------------------
    def metric_history(self, run_id: str, key: str, max_points: int | None = None) -> pd.DataFrame:
        """The history of one metric: ``step``, ``timestamp``, ``value``, by step.

        With ``max_points``, long histories are cut into ``max_points // 2``
        buckets of steps and each bucket keeps its minimum and maximum point,
        so spikes survive downsampling.
        """
        if max_points is not None and (not isinstance(max_points, int) or max_points < 2):
            raise InvalidInputError(f"max_points must be an int >= 2, got {max_points!r}")
        with self._db() as con:
            n = con.execute(
                "SELECT n_points FROM latest_metrics WHERE run_id = ? AND key = ?", [run_id, key]
            ).fetchone()
            if n is None:
                self._require_run(con, run_id)
                return pd.DataFrame(
                    {"step": pd.Series(dtype="int64"), "timestamp": pd.Series(dtype="datetime64[ms, UTC]"),
                     "value": pd.Series(dtype="float64")}
                )
            if max_points is None or n[0] <= max_points:
                df = con.execute(
                    "SELECT step, ts, value FROM metrics WHERE run_id = ? AND key = ? ORDER BY step, ts",
                    [run_id, key],
                ).df()
            else:
                df = con.execute(_DOWNSAMPLE_SQL, [run_id, key, max_points // 2]).df()
        df["timestamp"] = _to_datetime(df.pop("ts"))
        return df[["step", "timestamp", "value"]]

    def metric_histories(
        self, run_ids: list[str], key: str, max_points: int | None = None
    ) -> pd.DataFrame:
        """The histories of one metric for several runs, in one query.

        Returns ``run_id``, ``step``, ``timestamp``, ``value``: each run's points
        together (runs in the order of ``run_ids``), by step. Each run is downsampled
        on its own exactly as :meth:`metric_history` does it (``max_points // 2``
        step buckets per run, each keeping its minimum and maximum point); runs with at most
        ``max_points`` points come back whole. Runs without the metric have no
        rows; an unknown run id raises :class:`~workbench.errors.NotFoundError`.

        >>> import tempfile, os, workbench as wb
        >>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
        >>> store.metric_histories([], "loss").columns.tolist()
        ['run_id', 'step', 'timestamp', 'value']
        """
        if not isinstance(key, str):
            raise InvalidInputError(f"key must be a metric name (str), got {key!r}")
        return self.metric_histories_by_key(run_ids, [key], max_points)[key]

    def metric_histories_by_key(
        self, run_ids: list[str], keys: list[str], max_points: int | None = None
    ) -> dict[str, pd.DataFrame]:
        """:meth:`metric_histories` of several metrics in one query: ``{key: DataFrame}``.

        Every key of ``keys`` is in the result (an empty frame when no run logged it).

        >>> import tempfile, os, workbench as wb
        >>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
        >>> with wb.start_run(experiment="e", store=store) as run:
        ...     run.log_metric_history("loss", [0.9, 0.5, 0.4])
        ...     run.log_metric_history("acc", [0.6, 0.7, 0.8])
        >>> h = store.metric_histories_by_key([run.id], ["loss", "acc", "f1"], max_points=2)
        >>> {k: len(df) for k, df in h.items()}
        {'loss': 2, 'acc': 2, 'f1': 0}
        """
        if max_points is not None and (
            not isinstance(max_points, int) or isinstance(max_points, bool) or max_points < 2
        ):
            raise InvalidInputError(f"max_points must be an int >= 2, got {max_points!r}")
        if isinstance(run_ids, str) or not all(isinstance(r, str) for r in run_ids):
            raise InvalidInputError(f"run_ids must be a list of run id strings, got {run_ids!r}")
        if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
            raise InvalidInputError(f"keys must be a list of metric names, got {keys!r}")
        ids = list(dict.fromkeys(run_ids))
        wanted = list(dict.fromkeys(keys))
        if not ids or not wanted:
            empty = pd.DataFrame(
                {"run_id": pd.Series(dtype="object"), "step": pd.Series(dtype="int64"),
                 "timestamp": pd.Series(dtype="datetime64[ms, UTC]"),
                 "value": pd.Series(dtype="float64")}
            )
            return {k: empty.copy() for k in wanted}
        limit = max_points if max_points is not None else 2**62
        with self._db() as con:
            found = {
                r[0] for r in con.execute(
                    "SELECT run_id FROM runs WHERE list_contains(?, run_id)", [ids]
                ).fetchall()
            }
            missing = [r for r in ids if r not in found]
            if missing:
                raise NotFoundError(
                    f"no run with id {missing[0]!r}"
                    + (f" (and {len(missing) - 1} more unknown ids)" if len(missing) > 1 else "")
                )
            # Keys and runs come back as their positions in ``wanted``/``ids``: 100k
            # strings per query cost more to sort and convert than the points themselves.
            arrays = con.execute(
                _DOWNSAMPLE_MANY_SQL, [wanted, ids, limit, limit, limit // 2, wanted, ids]
            ).fetchnumpy()
        key_pos = np.asarray(arrays["k"], dtype=np.int64)
        run_ids = np.asarray(ids, dtype=object)[np.asarray(arrays["r"], dtype=np.int64) - 1]
        frame = pd.DataFrame({"run_id": run_ids, "step": np.asarray(arrays["step"]),
                              "timestamp": _to_datetime(pd.Series(np.asarray(arrays["ts"]))),
                              "value": np.asarray(arrays["value"], dtype=float)})
        starts = np.searchsorted(key_pos, np.arange(1, len(wanted) + 2))
        return {k: frame.iloc[starts[i]:starts[i + 1]].reset_index(drop=True)
                for i, k in enumerate(wanted)}

    def _distinct_keys(self, table: str, run_ids: list[str] | None, experiment: str | int | None) -> list[str]:
        sql = f"SELECT DISTINCT key FROM {table} k"
        args: list[Any] = []
        if run_ids is not None:
            sql += " WHERE k.run_id IN (SELECT unnest(?::VARCHAR[]))"
            args.append(list(run_ids))
        elif experiment is not None:
            sql += " JOIN runs r USING (run_id) WHERE r.experiment_id = ? AND r.deleted_at IS NULL"
            args.append(self._resolve_experiment(experiment))
        with self._db() as con:
            return [row[0] for row in con.execute(sql + " ORDER BY key", args).fetchall()]

    def metric_keys(self, run_ids: list[str] | None = None, experiment: str | int | None = None) -> list[str]:
        """Distinct metric keys of some runs, of an experiment, or of the store; sorted."""
        return self._distinct_keys("latest_metrics", run_ids, experiment)

    def param_keys(self, experiment: str | int | None = None, run_ids: list[str] | None = None) -> list[str]:
        """Distinct param keys of an experiment, of some runs, or of the store; sorted."""
        return self._distinct_keys("params", run_ids, experiment)

    def tag_keys(self, experiment: str | int | None = None, run_ids: list[str] | None = None) -> list[str]:
        """Distinct tag keys of an experiment, of some runs, or of the store; sorted."""
        return self._distinct_keys("tags", run_ids, experiment)

    def latest_metrics(self, run_ids: list[str]) -> pd.DataFrame:
        """Latest, min and max value and point count of every metric of some runs (long form)."""
        return self._query_df(
            "SELECT run_id, key, value, step, min_value, max_value, n_points FROM latest_metrics "
            "WHERE list_contains(?, run_id) ORDER BY key, run_id",
            [list(run_ids)],
        )

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


_DOWNSAMPLE_SQL = """
WITH h AS (SELECT step, ts, value FROM metrics WHERE run_id = ? AND key = ?),
bounds AS (SELECT min(step) AS lo, max(step) AS hi FROM h),
b AS (
  SELECT least(floor((step - lo) * ?::DOUBLE / (hi - lo + 1)), 1e18)::BIGINT AS bucket,
         step, ts, value
  FROM h, bounds
),
agg AS (
  SELECT bucket,
         arg_min(struct_pack(step := step, ts := ts, value := value),
                 struct_pack(v := value, s := step)) AS lo_pt,
         arg_max(struct_pack(step := step, ts := ts, value := value),
                 struct_pack(v := value, s := -step)) AS hi_pt
  FROM b GROUP BY bucket
)
SELECT DISTINCT pt.step AS step, pt.ts AS ts, pt.value AS value FROM (
  SELECT lo_pt AS pt FROM agg UNION ALL SELECT hi_pt AS pt FROM agg
) ORDER BY step, ts
"""


# Ties (equal values in a bucket) go to the earliest step, so every query and every call
# keeps the same points. The same buckets as _DOWNSAMPLE_SQL, computed per run (a window of its own
# per run_id) for many runs in one pass; runs short enough come back whole.
# Parameters: key, run ids, key, max_points, max_points, buckets per run.
_DOWNSAMPLE_MANY_SQL = """
WITH sizes AS (
  SELECT run_id, key, n_points FROM latest_metrics
  WHERE list_contains(?, key) AND list_contains(?, run_id)
),
h AS (
  SELECT m.key, m.run_id, m.step, m.ts, m.value, s.n_points
  FROM metrics m JOIN sizes s USING (run_id, key)
),
whole AS (SELECT key, run_id, step, ts, value FROM h WHERE n_points <= ?),
big AS (
  SELECT key, run_id, step, ts, value,
         min(step) OVER (PARTITION BY key, run_id) AS lo,
         max(step) OVER (PARTITION BY key, run_id) AS hi
  FROM h WHERE n_points > ?
),
b AS (
  SELECT key, run_id,
         least(floor((step - lo) * ?::DOUBLE / (hi - lo + 1)), 1e18)::BIGINT AS bucket,
         step, ts, value
  FROM big
),
agg AS (
  SELECT key, run_id, bucket,
         arg_min(struct_pack(step := step, ts := ts, value := value),
                 struct_pack(v := value, s := step)) AS lo_pt,
         arg_max(struct_pack(step := step, ts := ts, value := value),
                 struct_pack(v := value, s := -step)) AS hi_pt
  FROM b GROUP BY key, run_id, bucket
),
sampled AS (
  SELECT DISTINCT key, run_id, pt.step AS step, pt.ts AS ts, pt.value AS value FROM (
    SELECT key, run_id, lo_pt AS pt FROM agg UNION ALL SELECT key, run_id, hi_pt AS pt FROM agg
  )
)
SELECT list_position(?, key) AS k, list_position(?, run_id) AS r, step, ts, value FROM (
  SELECT key, run_id, step, ts, value FROM whole
  UNION ALL
  SELECT key, run_id, step, ts, value FROM sampled
)
ORDER BY k, r, step, ts
"""


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str):
        raise InvalidInputError(f"{what} must be a string, got {type(name).__name__}")
    name = name.strip()
    if not name:
        raise InvalidInputError(f"{what} must not be empty")
    if len(name) > 250:
        raise InvalidInputError(f"{what} is {len(name)} characters long; the limit is 250")
    return name
