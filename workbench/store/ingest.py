"""Ingesting spool files into the database, and finding runs whose process died.

Runs in whichever process holds the database. All waiting spool files are
applied in one transaction together with their names in ``spool_ingested``.
A file is deleted only when a *later* open sees its name recorded (so its
commit is known to be in the file); a crash at any point, or a commit that
was lost, either leaves it to be ingested again or skips it as already
ingested. Nothing is applied twice and nothing is lost. Each file is read and
validated in full before it joins a batch; a damaged one is quarantined in
``spool/corrupt/`` with a warning and never blocks the others.

>>> import duckdb, tempfile
>>> from workbench.store.schema import migrate
>>> from workbench.store.spool import SpoolWriter
>>> con = duckdb.connect(); _ = migrate(con)
>>> writer = SpoolWriter(tempfile.mkdtemp(), start_thread=False)
>>> writer.add({"kind": "params", "run_id": "r1", "items": [["lr", "0.1"]]})
>>> _ = writer.flush()
>>> ingest_pending(con, writer.spool_dir)
1
>>> con.execute("SELECT key, value_num FROM params").fetchall()
[('lr', 0.1)]
"""

from __future__ import annotations

import json
import os
import socket
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import psutil
import pyarrow as pa
import pyarrow.compute as pc

from workbench.store.spool import (
    METRIC_SCHEMA,
    TMP_PREFIX,
    gc_paused,
    now_ms,
    read_spool_file,
    spool_files,
)

# Bounds one transaction's memory when a long backlog waits.
_MAX_FILES_PER_TRANSACTION = 2000
_MAX_POINTS_PER_TRANSACTION = 5_000_000

RUN_COLUMNS = [
    ("run_id", pa.string()),
    ("experiment_id", pa.int64()),
    ("run_name", pa.string()),
    ("parent_run_id", pa.string()),
    ("status", pa.string()),
    ("start_time", pa.int64()),
    ("end_time", pa.int64()),
    ("user_name", pa.string()),
    ("source", pa.string()),
    ("git_commit", pa.string()),
    ("git_dirty", pa.bool_()),
    ("env_id", pa.string()),
    ("host", pa.string()),
    ("pid", pa.int32()),
    ("proc_start", pa.float64()),
    ("description", pa.string()),
]
_UPDATE_FIELDS = ("status", "end_time", "run_name", "description", "last_heartbeat")
_FOLDED_FIELDS = ("status", "end_time", "run_name", "description")
_LATEST_COLUMNS = "run_id, key, step, ts, value, min_value, max_value, n_points"


def ingest_pending(
    con: duckdb.DuckDBPyConnection,
    spool_dir: str | os.PathLike,
    unconfirmed: set[str] | None = None,
) -> int:
    """Apply every complete spool file waiting in ``spool_dir``; returns how many.

    ``unconfirmed`` holds the names of the files that *this connection*
    committed (the caller keeps one set per open connection and adds to it);
    those are kept on disk until a later open sees their names recorded.
    """
    unconfirmed = set() if unconfirmed is None else unconfirmed
    files = spool_files(spool_dir)
    total = 0
    while files:
        batch, points = [], 0
        for path in files[:_MAX_FILES_PER_TRANSACTION]:
            batch.append(path)
            points += max(0, path.stat().st_size // 40) if path.exists() else 0
            if points > _MAX_POINTS_PER_TRANSACTION:
                break
        with gc_paused():
            total += _ingest_batch(con, batch, Path(spool_dir), unconfirmed)
        files = files[len(batch):]
    return total


def _ingest_batch(
    con: duckdb.DuckDBPyConnection, files: list[Path], spool_dir: Path, unconfirmed: set[str]
) -> int:
    names = [p.name for p in files]
    done = {
        row[0]
        for row in con.execute(
            "SELECT file_name FROM spool_ingested WHERE list_contains(?, file_name)", [names]
        ).fetchall()
    }
    # Two-phase deletion: a file is deleted only once an open that began after
    # its committing connection closed sees its name, i.e. once its commit is
    # known to be in the file. Until then a lost commit is simply re-ingested.
    confirmed = [p for p in files if p.name in done and p.name not in unconfirmed]
    for path in confirmed:
        path.unlink(missing_ok=True)
    valid: list[tuple[Path, list[dict[str, Any]], pa.Table]] = []
    for path in files:
        if path.name in done:
            continue
        try:
            recs, table = read_spool_file(path, validate=True)
        except FileNotFoundError:
            continue
        except Exception as exc:
            _quarantine(path, spool_dir, exc)
            continue
        valid.append((path, recs, table))
    if valid:
        try:
            _commit(con, valid)
        except Exception as batch_error:
            # One file the checks let through still failed: apply the files one
            # at a time so that it alone is quarantined and the others go in.
            applied = []
            for item in valid:
                try:
                    _commit(con, [item])
                    applied.append(item)
                except Exception as exc:
                    _quarantine(item[0], spool_dir, exc)
            if not applied:
                raise batch_error
            valid = applied
        unconfirmed.update(path.name for path, _, _ in valid)
    if confirmed:
        # A name is only needed while its file might still exist.
        remaining = [p.name for p in spool_files(spool_dir)]
        con.execute("DELETE FROM spool_ingested WHERE NOT list_contains(?, file_name)", [remaining])
    return len(valid)


def _commit(
    con: duckdb.DuckDBPyConnection, items: list[tuple[Path, list[dict[str, Any]], pa.Table]]
) -> None:
    """Apply spool files and record their names, in one transaction."""
    records = [r for _, recs, _ in items for r in recs]
    tables = [t for _, _, t in items if t.num_rows]
    con.execute("BEGIN TRANSACTION")
    try:
        apply_records(con, records, tables)
        con.execute(
            "INSERT OR IGNORE INTO spool_ingested SELECT unnest(?), ?",
            [[p.name for p, _, _ in items], now_ms()],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _quarantine(path: Path, spool_dir: Path, exc: Exception) -> None:
    bad = spool_dir / "corrupt"
    bad.mkdir(exist_ok=True)
    os.replace(path, bad / path.name)
    warnings.warn(
        f"workbench: spool file {path.name} could not be read ({exc}); moved to {bad}",
        stacklevel=3,
    )


def apply_records(
    con: duckdb.DuckDBPyConnection, records: list[dict[str, Any]], tables: list[pa.Table]
) -> None:
    """Apply decoded records and metric tables inside the caller's transaction.

    Each batch is registered as a named Arrow view for the SQL that reads it.
    """
    try:
        _apply(con, records, tables)
    finally:
        for name in _VIEWS:
            con.unregister(name)


_VIEWS = ("env", "starts", "upd", "prm", "prm_new", "tg", "tg_new", "pts", "agg", "agg_new",
          "art", "ds", "rd")


def _apply(con, records, tables) -> None:
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_kind[record["kind"]].append(record)
    _apply_environments(con, by_kind["env"])
    # Runs first inserted by this batch have no rows anywhere yet, so their
    # updates, params, tags and latest metrics skip the joins against the
    # whole tables that rows of older runs need (most of a burst's ingest).
    fresh = _apply_run_starts(con, by_kind["run_start"], by_kind["run_update"])
    _apply_run_updates(
        con, [u for u in by_kind["run_update"] if u["run_id"] not in fresh], by_kind["heartbeat"]
    )
    _apply_params(con, by_kind["params"], fresh)
    _apply_tags(con, [r for r in records if r["kind"] in ("tags", "tag_delete")], fresh)
    _apply_metrics(con, tables, fresh)
    _apply_artifacts(con, by_kind["artifact"])
    _apply_datasets(con, by_kind["dataset"], by_kind["run_dataset"])


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, pa.DataType]]) -> pa.Table:
    return pa.table(
        [pa.array([r.get(c) for r in rows], t) for c, t in columns], schema=pa.schema(columns)
    )


def _key_table(pairs: dict[tuple[str, str], str | None]) -> pa.Table:
    """A (run_id, key, value) table from ``{(run_id, key): value}``."""
    return pa.table(
        {
            "run_id": pa.array([k[0] for k in pairs], pa.string()),
            "key": pa.array([k[1] for k in pairs], pa.string()),
            "value": pa.array(list(pairs.values()), pa.string()),
        }
    )


def _split_fresh(pairs: dict[tuple[str, str], Any], fresh: set[str]) -> tuple[dict, dict]:
    new = {k: v for k, v in pairs.items() if k[0] in fresh}
    return new, {k: v for k, v in pairs.items() if k[0] not in fresh}


def _apply_environments(con, rows) -> None:
    if not rows:
        return
    unique = {r["env_id"]: r for r in rows}
    env = _table(
        [{**r, "packages": json.dumps(r.get("packages") or {})} for r in unique.values()],
        [("env_id", pa.string()), ("python_version", pa.string()), ("platform", pa.string()),
         ("packages", pa.string())],
    )
    con.register("env", env)
    con.execute(
        "INSERT OR IGNORE INTO environments SELECT env_id, python_version, platform, "
        "packages::JSON FROM env"
    )


def _apply_run_starts(con, rows, updates) -> set[str]:
    """Insert the runs not yet in the table, with ``updates`` to them folded in; their ids."""
    if not rows:
        return set()
    unique = list({r["run_id"]: r for r in rows}.values())
    con.register("starts", pa.table({"run_id": pa.array([r["run_id"] for r in unique], pa.string())}))
    there = {
        row[0]
        for row in con.execute(
            "SELECT run_id FROM runs WHERE run_id IN (SELECT run_id FROM starts)"
        ).fetchall()
    }
    con.unregister("starts")
    unique = [dict(r) for r in unique if r["run_id"] not in there]
    if not unique:
        return set()
    by_id = {r["run_id"]: r for r in unique}
    for u in updates:  # in order: later non-null values win, as in _apply_run_updates
        start = by_id.get(u["run_id"])
        if start is not None:
            start.update({k: v for k, v in u.items() if k in _FOLDED_FIELDS and v is not None})
    known = {row[0] for row in con.execute("SELECT experiment_id FROM experiments").fetchall()}
    unnamed = [r for r in unique if r.get("experiment_id") is None or r["experiment_id"] not in known]
    names = sorted({r.get("experiment_name") or "Default" for r in unnamed})
    if names:
        ids = dict(_experiment_ids(con, names))
        for name in (n for n in names if n not in ids):
            # Not ON CONFLICT: that would use up a sequence number per run.
            con.execute("INSERT INTO experiments (name, created_at) VALUES (?, ?)", [name, now_ms()])
        if len(ids) < len(names):
            ids = dict(_experiment_ids(con, names))
        for r in unnamed:
            r["experiment_id"] = ids[r.get("experiment_name") or "Default"]
    starts = _table(unique, RUN_COLUMNS)
    cols = ", ".join(c for c, _ in RUN_COLUMNS)
    con.register("starts", starts)
    con.execute(f"INSERT INTO runs ({cols}) SELECT {cols} FROM starts")
    return set(by_id)


def _experiment_ids(con, names: list[str]) -> list[tuple[str, int]]:
    return con.execute(
        "SELECT name, experiment_id FROM experiments WHERE list_contains(?, name)", [names]
    ).fetchall()


def _apply_run_updates(con, updates, heartbeats) -> None:
    merged: dict[str, dict[str, Any]] = {}
    for u in updates:  # in order: later values win
        merged.setdefault(u["run_id"], {"run_id": u["run_id"]}).update(
            {k: v for k, v in u.items() if k in _UPDATE_FIELDS}
        )
    for hb in heartbeats:
        for run_id in hb["run_ids"]:
            entry = merged.setdefault(run_id, {"run_id": run_id})
            entry["last_heartbeat"] = max(entry.get("last_heartbeat") or 0, hb["ts"])
    if not merged:
        return
    upd = _table(
        list(merged.values()),
        [("run_id", pa.string()), ("status", pa.string()), ("end_time", pa.int64()),
         ("run_name", pa.string()), ("description", pa.string()), ("last_heartbeat", pa.int64())],
    )
    con.register("upd", upd)
    con.execute(
        """UPDATE runs SET
             status = coalesce(upd.status, runs.status),
             end_time = coalesce(upd.end_time, runs.end_time),
             run_name = coalesce(upd.run_name, runs.run_name),
             description = coalesce(upd.description, runs.description),
             last_heartbeat = greatest(upd.last_heartbeat, runs.last_heartbeat)
           FROM upd WHERE runs.run_id = upd.run_id"""
    )


def _apply_params(con, rows, fresh: set[str]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for r in rows:
        for key, value in r["items"]:
            seen.setdefault((r["run_id"], key), value)  # params are write-once
    new, old = _split_fresh(seen, fresh)
    if new:
        con.register("prm_new", _key_table(new))
        con.execute("INSERT INTO params SELECT run_id, key, value, TRY_CAST(value AS DOUBLE) FROM prm_new")
    if old:
        con.register("prm", _key_table(old))
        # No index keeps (run_id, key) unique (schema v3): an anti-join does, and
        # the first value wins.
        con.execute(
            """INSERT INTO params SELECT run_id, key, value, TRY_CAST(value AS DOUBLE) FROM prm
               WHERE NOT EXISTS (SELECT 1 FROM params p
                                 WHERE p.run_id = prm.run_id AND p.key = prm.key)"""
        )


def _apply_tags(con, rows, fresh: set[str]) -> None:
    final: dict[tuple[str, str], str | None] = {}
    for r in rows:
        if r["kind"] == "tag_delete":
            final[(r["run_id"], r["key"])] = None
        else:
            for key, value in r["items"]:
                final[(r["run_id"], key)] = value
    new, old = _split_fresh(final, fresh)
    new = {k: v for k, v in new.items() if v is not None}
    if new:
        con.register("tg_new", _key_table(new))
        con.execute("INSERT INTO tags SELECT run_id, key, value FROM tg_new")
    if old:
        con.register("tg", _key_table(old))
        con.execute("DELETE FROM tags USING tg WHERE tags.run_id = tg.run_id AND tags.key = tg.key")
        con.execute("INSERT INTO tags SELECT run_id, key, value FROM tg WHERE value IS NOT NULL")


def _apply_metrics(con, tables: list[pa.Table], fresh: set[str]) -> None:
    if not tables:
        return
    pts = pa.concat_tables([t.cast(METRIC_SCHEMA) for t in tables])
    # Sorted so that one run's history of one key sits together on disk.
    con.register("pts", pts)
    con.execute(
        "INSERT INTO metrics SELECT run_id, key, step, ts, value FROM pts ORDER BY run_id, key, step"
    )
    agg_sql = """SELECT run_id, key,
                  max(step) AS step,
                  arg_max(ts, struct_pack(s := step, t := ts)) AS ts,
                  arg_max(value, struct_pack(s := step, t := ts)) AS value,
                  min(value) FILTER (WHERE NOT isnan(value)) AS min_value,
                  max(value) FILTER (WHERE NOT isnan(value)) AS max_value,
                  count(*) AS n_points
           FROM pts GROUP BY run_id, key"""
    fresh_ids = pa.array(sorted(fresh), pa.string())
    if fresh and pc.all(pc.is_in(pts["run_id"], value_set=fresh_ids)).as_py():
        # A burst of new runs: their latest values go straight in.
        con.execute(f"INSERT INTO latest_metrics ({_LATEST_COLUMNS}) {agg_sql}")
        return
    agg = con.sql(agg_sql).to_arrow_table()
    is_new = pc.is_in(agg["run_id"], value_set=fresh_ids)
    agg_new, agg = agg.filter(is_new), agg.filter(pc.invert(is_new))
    if agg_new.num_rows:
        con.register("agg_new", agg_new)
        con.execute(f"INSERT INTO latest_metrics SELECT {_LATEST_COLUMNS} FROM agg_new")
    if not agg.num_rows:
        return
    con.register("agg", agg)
    # An update of the keys already there, then an insert of the new ones
    # (no index on latest_metrics since schema v3, so no ON CONFLICT).
    con.execute(
        """UPDATE latest_metrics AS cur SET
             value = CASE WHEN agg.step > cur.step OR (agg.step = cur.step AND agg.ts >= cur.ts)
                          THEN agg.value ELSE cur.value END,
             ts = CASE WHEN agg.step > cur.step OR (agg.step = cur.step AND agg.ts >= cur.ts)
                       THEN agg.ts ELSE cur.ts END,
             step = greatest(agg.step, cur.step),
             min_value = least(agg.min_value, cur.min_value),
             max_value = greatest(agg.max_value, cur.max_value),
             n_points = cur.n_points + agg.n_points
           FROM agg WHERE cur.run_id = agg.run_id AND cur.key = agg.key"""
    )
    con.execute(
        f"""INSERT INTO latest_metrics
           SELECT {_LATEST_COLUMNS} FROM agg
           WHERE NOT EXISTS (SELECT 1 FROM latest_metrics lm
                             WHERE lm.run_id = agg.run_id AND lm.key = agg.key)"""
    )


def _apply_artifacts(con, rows) -> None:
    if not rows:
        return
    unique = list({(r["run_id"], r["path"]): r for r in rows}.values())
    art = _table(
        unique,
        [("run_id", pa.string()), ("path", pa.string()), ("sha256", pa.string()),
         ("size", pa.int64()), ("ts", pa.int64())],
    )
    con.register("art", art)
    con.execute(
        "INSERT OR REPLACE INTO artifacts SELECT run_id, path, sha256, size, ts FROM art"
    )


def _apply_datasets(con, datasets, links) -> None:
    if datasets:
        unique = list({(r["digest"], r["name"]): r for r in datasets}.values())
        ds = _table(
            [{**r, "schema": json.dumps(r.get("schema"))} for r in unique],
            [("digest", pa.string()), ("name", pa.string()), ("schema", pa.string()),
             ("n_rows", pa.int64()), ("n_cols", pa.int64()), ("source", pa.string()),
             ("artifact_sha256", pa.string()), ("ts", pa.int64())],
        )
        con.register("ds", ds)
        con.execute(
            "INSERT OR IGNORE INTO datasets SELECT digest, name, schema::JSON, n_rows, n_cols, "
            "source, artifact_sha256, ts FROM ds"
        )
    if links:
        unique = list({(r["run_id"], r["digest"], r["name"], r["role"]): r for r in links}.values())
        rd = _table(
            unique,
            [("run_id", pa.string()), ("digest", pa.string()), ("name", pa.string()),
             ("role", pa.string())],
        )
        con.register("rd", rd)
        con.execute("INSERT OR IGNORE INTO run_datasets SELECT run_id, digest, name, role FROM rd")


def process_alive(pid: int, started: float | None) -> bool:
    """Whether the process ``pid`` that started at ``started`` (epoch seconds) still runs."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        # A recycled pid belongs to a process that started later.
        return started is None or abs(proc.create_time() - started) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return False


def mark_dead_runs(con: duckdb.DuckDBPyConnection, spool_dir: str | os.PathLike) -> int:
    """Mark RUNNING runs of dead processes on this host as KILLED; returns how many.

    Call after :func:`ingest_pending`, so that everything the dead process
    acknowledged is already in. The end time is the run's last heartbeat.
    """
    host = socket.gethostname()
    owners = con.execute(
        "SELECT DISTINCT pid, proc_start FROM runs WHERE status = 'RUNNING' AND host = ?", [host]
    ).fetchall()
    dead = [(pid, start) for pid, start in owners if pid is not None and not process_alive(pid, start)]
    if not dead:
        return 0
    # A dead process may have left a spool file that it never finished writing.
    for path in Path(spool_dir).glob(TMP_PREFIX + "*"):
        parts = path.name[len(TMP_PREFIX):].split("-")
        if len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) in {d[0] for d in dead}:
            path.unlink(missing_ok=True)
    count = 0
    for pid, start in dead:
        n = con.execute(
            """UPDATE runs SET status = 'KILLED',
                   end_time = coalesce(last_heartbeat, start_time)
               WHERE status = 'RUNNING' AND host = ? AND pid = ? AND proc_start IS NOT DISTINCT FROM ?""",
            [host, pid, start],
        ).fetchone()[0]
        count += n
    return count
