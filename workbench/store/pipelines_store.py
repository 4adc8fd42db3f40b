"""The pipelines' tables and every SQL statement the pipelines run.

The ``pipelines`` schema component (see
:func:`workbench.store.schema.register_component`):

- ``pipelines`` and ``pipeline_versions``: saved graphs, one row per version
  with the spec as JSON and its sha256;
- ``pipeline_runs``: a pipeline run (its id is the tracked parent run's id)
  -> pipeline name and version, backend and settings;
- ``pipeline_cache``: cache key (hash of code, params and input hashes) ->
  the sha256 of the step's output in the artifact store.

Step executions are tracked nested runs written through the spool (cheap,
and safe when the process is killed). Each successful one carries the tags
``pipeline.cache_key`` and ``pipeline.output_sha``; :func:`begin_run` folds
new ones into ``pipeline_cache`` at the start of every pipeline run, so the
cache also holds the steps finished by a run whose process was killed.

>>> "pipeline_cache" in " ".join(" ".join(m) for m in MIGRATIONS)
True
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from workbench.store.schema import register_component
from workbench.store.spool import now_ms

MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE pipelines (
            name VARCHAR PRIMARY KEY,
            description VARCHAR,
            created_by VARCHAR,
            created_at BIGINT NOT NULL,
            latest_version INTEGER NOT NULL
        )""",
        """CREATE TABLE pipeline_versions (
            name VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            spec JSON NOT NULL,
            spec_hash VARCHAR NOT NULL,
            message VARCHAR,
            created_by VARCHAR,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (name, version)
        )""",
        """CREATE TABLE pipeline_runs (
            run_id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            version INTEGER,
            backend VARCHAR,
            n_jobs INTEGER,
            from_step VARCHAR,
            force BOOLEAN,
            steps JSON,
            created_at BIGINT NOT NULL
        )""",
        """CREATE TABLE pipeline_cache (
            cache_key VARCHAR PRIMARY KEY,
            output_sha VARCHAR NOT NULL,
            code_hash VARCHAR,
            pipeline VARCHAR,
            step VARCHAR,
            run_id VARCHAR,
            created_at BIGINT
        )""",
    ],
]
register_component("pipelines", MIGRATIONS)

_STEP_TAGS = ("step", "status", "attempts", "cache_key", "code_hash", "output_sha", "inputs",
              "error", "cached_from")


def _ms_to_dt(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, unit="ms", utc=True)


# -- versions -----------------------------------------------------------------------------
def save_version(store, name: str, spec: dict[str, Any], spec_hash: str, user: str,
                 description: str | None, message: str | None) -> tuple[int, bool]:
    """Add a version unless the latest one has the same hash; returns (version, created)."""
    with store.transaction() as con:
        row = con.execute(
            "SELECT v.version, v.spec_hash FROM pipelines p JOIN pipeline_versions v "
            "ON v.name = p.name AND v.version = p.latest_version WHERE p.name = ?", [name]
        ).fetchone()
        if row is not None and row[1] == spec_hash:
            return int(row[0]), False
        version = 1 if row is None else int(row[0]) + 1
        ts = now_ms()
        if row is None:
            con.execute(
                "INSERT INTO pipelines (name, description, created_by, created_at, latest_version) "
                "VALUES (?, ?, ?, ?, ?)", [name, description, user, ts, version]
            )
        else:
            con.execute(
                "UPDATE pipelines SET latest_version = ?, description = coalesce(?, description) "
                "WHERE name = ?", [version, description, name]
            )
        con.execute(
            "INSERT INTO pipeline_versions VALUES (?, ?, ?, ?, ?, ?, ?)",
            [name, version, json.dumps(spec), spec_hash, message, user, ts],
        )
        return version, True


def get_version(store, name: str, version: int | None = None) -> tuple[int, dict[str, Any]] | None:
    """(version, spec) of a saved pipeline (the latest when ``version`` is None), or None."""
    with store.connection() as con:
        if version is None:
            row = con.execute(
                "SELECT v.version, v.spec FROM pipelines p JOIN pipeline_versions v "
                "ON v.name = p.name AND v.version = p.latest_version WHERE p.name = ?", [name]
            ).fetchone()
        else:
            row = con.execute(
                "SELECT version, spec FROM pipeline_versions WHERE name = ? AND version = ?",
                [name, int(version)],
            ).fetchone()
    if row is None:
        return None
    return int(row[0]), json.loads(row[1])


def version_of_hash(store, name: str, spec_hash: str) -> int | None:
    """The newest saved version of ``name`` with this spec hash, if any."""
    with store.connection() as con:
        row = con.execute(
            "SELECT max(version) FROM pipeline_versions WHERE name = ? AND spec_hash = ?",
            [name, spec_hash],
        ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def list_pipelines(store) -> pd.DataFrame:
    """Saved pipelines with their latest version, number of runs and last run time."""
    with store.connection() as con:
        df = con.execute(
            """SELECT p.name, p.latest_version, p.description, p.created_by, p.created_at,
                      count(pr.run_id) AS runs, max(pr.created_at) AS last_run
               FROM pipelines p LEFT JOIN pipeline_runs pr ON pr.name = p.name
               GROUP BY ALL ORDER BY p.name"""
        ).df()
    for col in ("created_at", "last_run"):
        df[col] = _ms_to_dt(df[col])
    return df


def list_versions(store, name: str) -> pd.DataFrame:
    """The versions of one pipeline: version, spec_hash, message, created_by, created_at, steps."""
    with store.connection() as con:
        df = con.execute(
            "SELECT version, spec_hash, message, created_by, created_at, "
            "json_array_length(spec -> '$.steps') AS steps "
            "FROM pipeline_versions WHERE name = ? ORDER BY version",
            [name],
        ).df()
    df["created_at"] = _ms_to_dt(df["created_at"])
    return df


# -- runs and the cache --------------------------------------------------------------------
_SYNC_CACHE_SQL = """
INSERT OR IGNORE INTO pipeline_cache
SELECT k.value, o.value, any_value(c.value), any_value(p.value), any_value(s.value),
       arg_min(r.run_id, r.start_time), min(coalesce(r.end_time, r.start_time))
FROM tags k
JOIN tags o ON o.run_id = k.run_id AND o.key = 'pipeline.output_sha'
JOIN runs r ON r.run_id = k.run_id
LEFT JOIN tags c ON c.run_id = k.run_id AND c.key = 'pipeline.code_hash'
LEFT JOIN tags s ON s.run_id = k.run_id AND s.key = 'pipeline.step'
LEFT JOIN tags p ON p.run_id = k.run_id AND p.key = 'pipeline.name'
WHERE k.key = 'pipeline.cache_key' AND r.status = 'FINISHED'
  AND NOT EXISTS (SELECT 1 FROM pipeline_cache pc WHERE pc.cache_key = k.value)
GROUP BY k.value, o.value
"""


def begin_run(store, run_id: str, name: str, version: int | None, backend: str, n_jobs: int,
              from_step: str | None, force: bool, steps: list[str],
              code_hashes: list[str]) -> dict[str, str]:
    """Record a pipeline run, fold new step results into the cache, and return the cache.

    Returns ``{cache_key: output_sha}`` for the given code hashes, in one
    transaction.
    """
    with store.transaction() as con:
        con.execute(_SYNC_CACHE_SQL)
        con.execute(
            "INSERT INTO pipeline_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, name, version, backend, n_jobs, from_step, force, json.dumps(steps), now_ms()],
        )
        rows = con.execute(
            "SELECT cache_key, output_sha FROM pipeline_cache WHERE list_contains(?, code_hash)",
            [sorted(set(code_hashes))],
        ).fetchall()
    return dict(rows)


def pipeline_run_info(store, run_id: str) -> dict[str, Any] | None:
    """The pipeline_runs row joined with the tracked run's status and times."""
    with store.connection() as con:
        df = con.execute(
            """SELECT pr.run_id, pr.name, pr.version, pr.backend, pr.n_jobs, pr.from_step, pr.force,
                      pr.steps, r.status, r.start_time, r.end_time
               FROM pipeline_runs pr LEFT JOIN runs r USING (run_id) WHERE pr.run_id = ?""",
            [run_id],
        ).df()
    if df.empty:
        return None
    rec = df.iloc[0].to_dict()
    rec["steps"] = json.loads(rec["steps"]) if rec["steps"] else []
    return rec


_STEP_ROWS_SQL = """
SELECT r.run_id, r.parent_run_id AS pipeline_run_id, r.status AS run_status,
       r.start_time, r.end_time,
       max(t.value) FILTER (WHERE t.key = 'pipeline.step') AS step,
       max(t.value) FILTER (WHERE t.key = 'pipeline.status') AS status,
       max(t.value) FILTER (WHERE t.key = 'pipeline.attempts') AS attempts,
       max(t.value) FILTER (WHERE t.key = 'pipeline.cache_key') AS cache_key,
       max(t.value) FILTER (WHERE t.key = 'pipeline.code_hash') AS code_hash,
       max(t.value) FILTER (WHERE t.key = 'pipeline.output_sha') AS output_sha,
       max(t.value) FILTER (WHERE t.key = 'pipeline.inputs') AS inputs,
       max(t.value) FILTER (WHERE t.key = 'pipeline.error') AS error,
       max(t.value) FILTER (WHERE t.key = 'pipeline.cached_from') AS cached_from,
       max(m.value) FILTER (WHERE m.key = 'duration_s') AS duration_s
FROM runs r
JOIN tags t ON t.run_id = r.run_id
LEFT JOIN latest_metrics m ON m.run_id = r.run_id AND m.key = 'duration_s'
WHERE list_contains(?, r.parent_run_id) AND t.key LIKE 'pipeline.%'
GROUP BY r.run_id, r.parent_run_id, r.status, r.start_time, r.end_time
ORDER BY r.start_time, step
"""


def step_rows(store, pipeline_run_ids: list[str]) -> pd.DataFrame:
    """One row per step execution of some pipeline runs (raw: ms times, JSON text)."""
    with store.connection() as con:
        return con.execute(_STEP_ROWS_SQL, [list(pipeline_run_ids)]).df()


def pipeline_runs(store, name: str, limit: int = 50) -> pd.DataFrame:
    """The latest runs of a pipeline, newest first: run_id, version, status, times, settings."""
    with store.connection() as con:
        df = con.execute(
            # a cancelled run ends KILLED (the tracking status) with tag pipeline.status CANCELLED
            """SELECT pr.run_id, pr.version,
                      CASE WHEN t.value = 'CANCELLED' THEN 'CANCELLED' ELSE r.status END AS status,
                      r.start_time, r.end_time, (r.end_time - r.start_time) / 1000.0 AS duration_s,
                      pr.backend, pr.n_jobs, pr.from_step, pr.force
               FROM pipeline_runs pr LEFT JOIN runs r USING (run_id)
               LEFT JOIN tags t ON t.run_id = pr.run_id AND t.key = 'pipeline.status'
               WHERE pr.name = ? ORDER BY pr.created_at DESC LIMIT ?""",
            [name, int(limit)],
        ).df()
    for col in ("start_time", "end_time"):
        df[col] = _ms_to_dt(df[col])
    return df


_STAMP_SQL = """
WITH latest AS (
    SELECT run_id FROM pipeline_runs WHERE name = ? ORDER BY created_at DESC LIMIT 1
)
SELECT (SELECT count(*) FROM pipelines) AS n_pipelines,
       (SELECT coalesce(sum(latest_version), 0) FROM pipelines) AS n_versions,
       (SELECT count(*) FROM pipeline_runs) AS n_runs,
       (SELECT run_id FROM latest) AS latest_run,
       (SELECT status FROM runs WHERE run_id = (SELECT run_id FROM latest)) AS latest_status,
       (SELECT count(*) FROM runs WHERE parent_run_id = (SELECT run_id FROM latest)) AS n_steps,
       (SELECT count(end_time) FROM runs WHERE parent_run_id = (SELECT run_id FROM latest))
           AS n_ended
"""


def change_stamp(store, name: str | None) -> tuple:
    """A few numbers that change whenever pipelines, versions or the latest run of ``name`` do.

    One small query (what a page polls to notice another process's changes).
    """
    with store.connection() as con:
        row = con.execute(_STAMP_SQL, [name or ""]).fetchone()
    return tuple(row)
