"""Experiments and runs: create, find, search (the filter language, compiled to bound SQL), delete, tag.

A part of :class:`~workbench.store.store.Store` (a mixin: it uses the store's
connection plumbing, ``_db``, ``_query_df`` and ``_query_one``).
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from workbench.errors import InvalidInputError, NotFoundError
from workbench.query import parse_filter, parse_order_by
from workbench.store.search_sql import compile_filter, compile_order_by
from workbench.store.spool import now_ms

RUN_STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")
RUN_VIEWS = ("active", "deleted", "all")
_INFO_COLUMNS = (
    "run_id, r.experiment_id, e.name AS experiment, run_name, parent_run_id, status, "
    "start_time, end_time, user_name AS user, source, git_commit, git_dirty, env_id, "
    "r.description, r.deleted_at"
)


def _to_datetime(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, unit="ms", utc=True)


class _RunQueries:
    """Experiments and runs of a :class:`~workbench.store.store.Store`."""

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
        rows = con.execute(
            "SELECT kind, run_id, key, text, num FROM ("
            + " UNION ALL ".join(f"({b})" for b in branches)
            + ") AS t(kind, run_id, key, text, num)",
            args,
        ).fetchall()
        # Long to wide in plain Python: a page is at most a few thousand cells,
        # where pandas' pivot costs more than the query.
        cells: dict[tuple[str, str], dict[str, Any]] = {}
        for kind, run_id, key, text, num in rows:
            cells.setdefault((kind, key), {})[run_id] = num if kind == "metrics" else text
        ordered = {"params": 1, "metrics": 2, "tags": 3}
        out = info.reset_index(drop=True)
        wide = {}
        for kind, key in sorted(cells, key=lambda c: (ordered[c[0]], c[1])):
            values = cells[(kind, key)]
            column = [values.get(i) for i in ids]
            wide[f"{kind}.{key}"] = (
                pd.Series(column, dtype="float64") if kind == "metrics" else pd.Series(column, dtype="str")
            )
        if wide:
            out = pd.concat([out, pd.DataFrame(wide)], axis=1)
        return out

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

    # -- runs as a tree (the run table's nested view) ---------------------
    def _tree_cte(self, experiment, filter_text, run_view) -> tuple[str, list]:
        """``WITH`` part defining ``node(node_id, tree_parent, is_match)`` and
        ``kids(kid_parent, n_children)`` over the runs of the nested view (see
        :meth:`search_top_level_runs`), and its parameters."""
        scope_where, scope_args = self._run_where(experiment, None, run_view)
        scope = f"scope AS MATERIALIZED (SELECT r.run_id, r.parent_run_id FROM runs r WHERE {scope_where})"
        if filter_text is None or not str(filter_text).strip():
            # no filter: the view is the scope itself, every run matches
            cte = f"""WITH {scope},
                node AS MATERIALIZED (
                    SELECT s.run_id AS node_id,
                           CASE WHEN p.run_id IS NOT NULL THEN s.parent_run_id END AS tree_parent,
                           TRUE AS is_match
                    FROM scope s LEFT JOIN scope p ON p.run_id = s.parent_run_id),
                kids AS MATERIALIZED (
                    SELECT tree_parent AS kid_parent, count(*) AS n_children FROM node
                    WHERE tree_parent IS NOT NULL GROUP BY tree_parent)
            """
            return cte, scope_args
        where, args = self._run_where(experiment, filter_text, run_view)
        # the matching runs and their ancestors in the scope (parents of parents, ...)
        cte = f"""WITH RECURSIVE {scope},
            matched AS MATERIALIZED (SELECT r.run_id FROM runs r WHERE {where}),
            tree(tree_id) AS (
                SELECT run_id FROM matched
                UNION
                SELECT p.run_id FROM tree t JOIN scope c ON c.run_id = t.tree_id
                                            JOIN scope p ON p.run_id = c.parent_run_id),
            treeset AS MATERIALIZED (SELECT DISTINCT tree_id FROM tree),
            node AS MATERIALIZED (
                SELECT s.run_id AS node_id,
                       CASE WHEN s.parent_run_id IN (SELECT tree_id FROM treeset)
                            THEN s.parent_run_id END AS tree_parent,
                       s.run_id IN (SELECT run_id FROM matched) AS is_match
                FROM scope s WHERE s.run_id IN (SELECT tree_id FROM treeset)),
            kids AS MATERIALIZED (
                SELECT tree_parent AS kid_parent, count(*) AS n_children FROM node
                WHERE tree_parent IS NOT NULL GROUP BY tree_parent)
        """
        return cte, [*scope_args, *args]

    _TREE_FROM = (
        "FROM runs r JOIN experiments e USING (experiment_id) "
        "JOIN node n ON n.node_id = r.run_id LEFT JOIN kids k ON k.kid_parent = r.run_id"
    )

    def count_top_level_runs(
        self,
        experiment: str | int | list[str | int] | None = None,
        filter: str | None = None,  # noqa: A002
        run_view: str = "active",
    ) -> int:
        """How many rows :meth:`search_top_level_runs` would find without paging.

        >>> store.count_top_level_runs("churn")  # doctest: +SKIP
        12
        """
        cte, args = self._tree_cte(experiment, filter, run_view)
        row = self._query_one(f"{cte} SELECT count(*) FROM node WHERE tree_parent IS NULL", args)
        return int(row[0])

    def search_top_level_runs(
        self,
        experiment: str | int | list[str | int] | None = None,
        filter: str | None = None,  # noqa: A002
        order_by: list[str] | str | None = None,
        max_results: int = 1000,
        offset: int = 0,
        run_view: str = "active",
        params: list[str] | None = None,
        metrics: list[str] | None = None,
        tags: list[str] | None = None,
    ) -> pd.DataFrame:
        """One page of the top-level runs of the nested view, with ``children`` and ``matched``.

        The nested view shows the runs that match ``filter`` together with their
        ancestors (parents, grandparents) among the runs of the same experiments and
        ``run_view``; an ancestor that does not match itself has ``matched = False`` (it is
        shown as context for its matching descendants). A top-level run is one whose parent
        is not in the view: no parent, a parent in another experiment, or (``run_view``)
        a parent that is deleted while the child is not, or the reverse. ``children`` counts
        a row's children in the view; :meth:`search_child_runs` returns them. Columns,
        sorting and paging are those of :meth:`search_runs`; paging counts top-level runs.

        >>> page = store.search_top_level_runs("churn", "params.fold = '2'")  # doctest: +SKIP
        >>> page[["run_name", "children", "matched"]]  # doctest: +SKIP
              run_name  children  matched
        0    cv-parent         1    False
        """
        cte, args = self._tree_cte(experiment, filter, run_view)
        order_sql, order_args = compile_order_by(parse_order_by(order_by))
        _check_paging(max_results, offset)
        with self._db() as con:
            info = con.execute(
                f"{cte} SELECT {_INFO_COLUMNS}, n.is_match AS matched, "
                f"coalesce(k.n_children, 0) AS children {self._TREE_FROM} "
                f"WHERE n.tree_parent IS NULL ORDER BY {order_sql} LIMIT ? OFFSET ?",
                [*args, *order_args, max_results, offset],
            ).df()
            return self._tree_frame(con, info, params, metrics, tags)

    def search_child_runs(
        self,
        parent_ids: list[str],
        experiment: str | int | list[str | int] | None = None,
        filter: str | None = None,  # noqa: A002
        order_by: list[str] | str | None = None,
        max_per_parent: int = 1000,
        run_view: str = "active",
        params: list[str] | None = None,
        metrics: list[str] | None = None,
        tags: list[str] | None = None,
    ) -> pd.DataFrame:
        """The children, in the nested view, of each run in ``parent_ids``.

        Same view and columns as :meth:`search_top_level_runs` (``matched``, ``children``),
        plus ``parent_run_id``; rows come grouped by parent (in the order of ``parent_ids``)
        and, inside a parent, in ``order_by`` order, at most ``max_per_parent`` each (the
        parent's ``children`` says how many there are).

        >>> store.search_child_runs([parent_id], "churn")["run_name"].tolist()  # doctest: +SKIP
        ['cv-parent/fold-0', 'cv-parent/fold-1']
        """
        ids = [str(p) for p in dict.fromkeys(parent_ids)]
        if not isinstance(max_per_parent, int) or isinstance(max_per_parent, bool) or max_per_parent < 0:
            raise InvalidInputError(
                f"max_per_parent must be a non-negative int, got {max_per_parent!r}"
            )
        cte, args = self._tree_cte(experiment, filter, run_view)
        order_sql, order_args = compile_order_by(parse_order_by(order_by))
        with self._db() as con:
            info = con.execute(
                f"{cte} SELECT {_INFO_COLUMNS}, n.is_match AS matched, "
                "coalesce(k.n_children, 0) AS children, "
                f"row_number() OVER (PARTITION BY n.tree_parent ORDER BY {order_sql}) AS _rank "
                f"{self._TREE_FROM} WHERE list_contains(?::VARCHAR[], n.tree_parent) "
                "QUALIFY _rank <= ?",
                [*args, *order_args, ids, max_per_parent],
            ).df()
            position = {p: i for i, p in enumerate(ids)}
            info = (
                info.assign(_parent_pos=info["parent_run_id"].map(position))
                .sort_values(["_parent_pos", "_rank"], kind="stable")
                .drop(columns=["_parent_pos", "_rank"])
                .reset_index(drop=True)
            )
            return self._tree_frame(con, info, params, metrics, tags)

    def _tree_frame(self, con, info, param_keys, metric_keys, tag_keys) -> pd.DataFrame:
        info["matched"] = info["matched"].astype(bool)
        info["children"] = info["children"].astype("int64")
        return self._runs_frame(con, info, param_keys, metric_keys, tag_keys)

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
        from workbench.store.keys import check_key

        key = check_key(key, "tag")
        with self.transaction() as con:
            self._require_run(con, run_id)
            # No index on tags (schema v3): replace by delete + insert, atomically.
            con.execute("DELETE FROM tags WHERE run_id = ? AND key = ?", [run_id, key])
            con.execute("INSERT INTO tags VALUES (?, ?, ?)", [run_id, key, str(value)])

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove one tag from a run; a missing tag is an error."""
        with self._db() as con:
            self._require_run(con, run_id)
            gone = con.execute(
                "DELETE FROM tags WHERE run_id = ? AND key = ? RETURNING key", [run_id, key]
            ).fetchall()
            if not gone:
                raise NotFoundError(f"run {run_id} has no tag {key!r}")


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str):
        raise InvalidInputError(f"{what} must be a string, got {type(name).__name__}")
    name = name.strip()
    if not name:
        raise InvalidInputError(f"{what} must not be empty")
    if len(name) > 250:
        raise InvalidInputError(f"{what} is {len(name)} characters long; the limit is 250")
    return name


def _check_paging(max_results: Any, offset: Any) -> None:
    if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 0:
        raise InvalidInputError(f"max_results must be a non-negative int, got {max_results!r}")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidInputError(f"offset must be a non-negative int, got {offset!r}")
