"""Deployments, their variants, state and events, and the prediction log: every SQL statement of serving.

The ``serving`` schema component. The prediction server never opens the
database: it writes Parquet segments (``<stem>.predictions/``) and event
files (``<stem>.deployments/``) that :func:`ingest_prediction_segments`
loads in bulk inside the caller's transaction, recording each file's name in
``serving_ingested`` in the same transaction. A file whose name is already
recorded is deleted when a later ingest sees it (so a crash between the
commit and the deletion never applies a file twice); a file that cannot be
read is moved to ``corrupt/`` beside it.

Times are epoch milliseconds. ``state`` is the deployment's whole state as
JSON (see :mod:`workbench.serving.router`), with a ``seq`` that only grows.

>>> "predictions" in " ".join(" ".join(m) for m in MIGRATIONS)
True
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from workbench.errors import InvalidInputError
from workbench.store.schema import register_component

PREDICTION_COLUMNS = (
    "request_id", "ts", "deployment", "variant", "role", "strategy", "bucket", "sticky", "fallback",
    "model_name", "model_version", "model_sha256", "protocol", "status", "http_status", "error_type",
    "error_msg", "total_ms", "queue_ms", "predict_ms", "n_rows", "batch_size", "inputs", "outputs", "pid",
    "unit",
)
FEEDBACK_COLUMNS = ("request_id", "ts", "deployment", "variant", "label", "label_num", "reward")

MIGRATIONS: list[list[str]] = [
    [
        "CREATE SEQUENCE serving_event_ids START 1",
        """CREATE TABLE deployments (
            name VARCHAR PRIMARY KEY,
            model_name VARCHAR NOT NULL,
            strategy VARCHAR NOT NULL,
            state JSON NOT NULL,
            seq BIGINT NOT NULL,
            created_by VARCHAR,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )""",
        """CREATE TABLE deployment_variants (
            deployment VARCHAR NOT NULL,
            variant VARCHAR NOT NULL,
            model_name VARCHAR NOT NULL,
            model_version INTEGER NOT NULL,
            model_sha256 VARCHAR NOT NULL,
            role VARCHAR NOT NULL,
            weight INTEGER NOT NULL,
            percent DOUBLE,
            PRIMARY KEY (deployment, variant)
        )""",
        """CREATE TABLE deployment_events (
            event_id BIGINT PRIMARY KEY DEFAULT nextval('serving_event_ids'),
            deployment VARCHAR NOT NULL,
            seq BIGINT,
            ts BIGINT NOT NULL,
            kind VARCHAR NOT NULL,
            actor VARCHAR,
            details JSON,
            source VARCHAR
        )""",
        """CREATE TABLE predictions (
            request_id VARCHAR, ts BIGINT NOT NULL, deployment VARCHAR, variant VARCHAR, role VARCHAR,
            strategy VARCHAR, bucket INTEGER, sticky BOOLEAN, fallback BOOLEAN, model_name VARCHAR,
            model_version INTEGER, model_sha256 VARCHAR, protocol VARCHAR, status VARCHAR,
            http_status SMALLINT, error_type VARCHAR, error_msg VARCHAR, total_ms DOUBLE, queue_ms DOUBLE,
            predict_ms DOUBLE, n_rows INTEGER, batch_size INTEGER, inputs VARCHAR, outputs VARCHAR,
            pid INTEGER
        )""",
        """CREATE TABLE prediction_feedback (
            request_id VARCHAR NOT NULL, ts BIGINT NOT NULL, deployment VARCHAR, variant VARCHAR,
            label VARCHAR, label_num DOUBLE, reward DOUBLE
        )""",
        "CREATE TABLE serving_ingested (file_name VARCHAR PRIMARY KEY, ingested_at BIGINT NOT NULL)",
    ],
    # 2: each request's routing key, the unit of an A/B analysis of the log
    ["ALTER TABLE predictions ADD COLUMN unit VARCHAR"],
]

register_component("serving", MIGRATIONS)


# -- deployments -----------------------------------------------------------
def get_deployment(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, Any] | None:
    """One deployment's row with its state parsed, or None."""
    row = con.execute(
        "SELECT name, model_name, strategy, state, seq, created_by, created_at, updated_at "
        "FROM deployments WHERE name = ?", [name]).fetchone()
    if row is None:
        return None
    keys = ("name", "model_name", "strategy", "state", "seq", "created_by", "created_at", "updated_at")
    out = dict(zip(keys, row))
    out["state"] = json.loads(out["state"])
    return out


def list_deployments(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every deployment with its champion version and strategy."""
    return con.execute(
        """SELECT d.name, d.model_name, d.strategy, d.seq, d.created_by, d.created_at, d.updated_at,
                  (SELECT max(v.model_version) FROM deployment_variants v
                   WHERE v.deployment = d.name AND v.role = 'champion') AS champion_version
           FROM deployments d ORDER BY d.name""").df()


def create_deployment(con: duckdb.DuckDBPyConnection, name: str, model: str, state: dict[str, Any],
                      user: str | None, ts: int) -> None:
    """Insert a new deployment (the caller checked that the name is free)."""
    con.execute("INSERT INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [name, model, state.get("strategy", "single"), json.dumps(state), int(state.get("seq", 0)),
                 user, ts, ts])
    _write_variants(con, name, state)


def save_state(con: duckdb.DuckDBPyConnection, name: str, state: dict[str, Any], ts: int) -> bool:
    """Store ``state`` if its ``seq`` is newer than the stored one; returns whether it was stored."""
    row = con.execute("SELECT seq FROM deployments WHERE name = ?", [name]).fetchone()
    if row is None or int(state.get("seq", 0)) < int(row[0]):
        return False
    con.execute("UPDATE deployments SET state = ?, seq = ?, strategy = ?, updated_at = ? WHERE name = ?",
                [json.dumps(state), int(state.get("seq", 0)), state.get("strategy", "single"), ts, name])
    _write_variants(con, name, state)
    return True


def _write_variants(con: duckdb.DuckDBPyConnection, name: str, state: dict[str, Any]) -> None:
    con.execute("DELETE FROM deployment_variants WHERE deployment = ?", [name])
    rows = [[name, v["name"], v["spec"]["name"], int(v["spec"]["version"]), v["spec"]["sha256"], v["role"],
             int(v.get("weight", 0)), v.get("percent")] for v in state.get("variants", [])]
    if rows:
        con.executemany("INSERT INTO deployment_variants VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def delete_deployment(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Remove a deployment and its variants (its events and logged predictions stay)."""
    con.execute("DELETE FROM deployment_variants WHERE deployment = ?", [name])
    con.execute("DELETE FROM deployments WHERE name = ?", [name])


def variants(con: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    """A deployment's variants: version, role, weight (basis points), shadow percent."""
    return con.execute(
        "SELECT variant, model_name, model_version, model_sha256, role, weight, percent "
        "FROM deployment_variants WHERE deployment = ? ORDER BY role, variant", [name]).df()


def insert_event(con: duckdb.DuckDBPyConnection, deployment: str, kind: str, details: dict[str, Any],
                 ts: int, actor: str | None, seq: int | None = None, source: str | None = None) -> int:
    """Append one deployment event; returns its id."""
    return con.execute(
        "INSERT INTO deployment_events (deployment, seq, ts, kind, actor, details, source) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING event_id",
        [deployment, seq, ts, kind, actor, json.dumps(details, default=str), source]).fetchone()[0]


def events(con: duckdb.DuckDBPyConnection, deployment: str | None = None, kind: str | None = None,
           limit: int = 1000) -> pd.DataFrame:
    """Deployment events, newest first."""
    return con.execute(
        "SELECT event_id, deployment, seq, ts, kind, actor, details FROM deployment_events "
        "WHERE (? IS NULL OR deployment = ?) AND (? IS NULL OR kind = ?) "
        "ORDER BY ts DESC, event_id DESC LIMIT ?",
        [deployment, deployment, kind, kind, int(limit)]).df()


def pending_promotions(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """``promoted`` events that no ``promotion_requested`` or ``promotion_request_failed`` event answers
    yet (oldest first): a refused request is recorded once, not filed again on every sync."""
    rows = con.execute(
        """SELECT e.event_id, e.deployment, e.ts, e.details FROM deployment_events e
           WHERE e.kind = 'promoted' AND NOT EXISTS (
               SELECT 1 FROM deployment_events r
               WHERE r.kind IN ('promotion_requested', 'promotion_request_failed')
               AND CAST(json_extract(r.details, '$.promoted_event') AS BIGINT) = e.event_id)
           ORDER BY e.event_id""").fetchall()
    return [{"event_id": r[0], "deployment": r[1], "ts": r[2], "details": json.loads(r[3])} for r in rows]


# -- ingest ------------------------------------------------------------------
def _quarantine(path: Path, reason: str) -> None:
    corrupt = path.parent / "corrupt"
    corrupt.mkdir(exist_ok=True)
    warnings.warn(f"workbench: serving file {path.name} cannot be read ({reason}); moved to {corrupt}",
                  stacklevel=3)
    shutil.move(str(path), corrupt / path.name)


def _ready_files(folder: Path, suffix: str, exclude: str | None = None) -> list[Path]:
    if not folder.exists():
        return []
    out = []
    for name in sorted(os.listdir(folder)):
        if name.startswith(".tmp-") or not name.endswith(suffix) or (exclude and name.endswith(exclude)):
            continue
        out.append(folder / name)
    return out


def _split_seen(con: duckdb.DuckDBPyConnection, files: list[Path]) -> tuple[list[Path], list[Path]]:
    if not files:
        return [], []
    names = [f.name for f in files]
    seen = {r[0] for r in con.execute(
        "SELECT file_name FROM serving_ingested WHERE list_contains(?, file_name)", [names]).fetchall()}
    return [f for f in files if f.name in seen], [f for f in files if f.name not in seen]


def _insert_parquet(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...],
                    files: list[Path]) -> tuple[int, list[Path]]:
    """Bulk-insert Parquet files in one statement; a file whose footer cannot be read is quarantined first
    (a failed statement would abort the caller's transaction). Returns (rows, files done)."""
    import pyarrow.parquet as pq

    good, rows, present = [], 0, set()
    for f in files:
        try:
            meta = pq.read_metadata(f)
            names = set(meta.schema.names)
        except Exception as exc:  # truncated, not Parquet, unreadable
            _quarantine(f, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            continue
        if not {"request_id", "ts"} <= names:
            _quarantine(f, f"not a {table} segment (columns {sorted(names)})")
            continue
        good.append(f)
        present |= names
        rows += meta.num_rows
    if not good:
        return 0, []
    # segments written before a column was added lack it: it stays null for them
    cols = ", ".join(c for c in columns if c in present)
    con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM read_parquet(?, union_by_name = true)",
                [[str(f) for f in good]])
    return rows, good


def serving_folders(store_path: str | os.PathLike) -> tuple[Path, Path]:
    """``(<stem>.predictions/, <stem>.deployments/)`` beside a store file."""
    p = Path(store_path)
    stem = p.with_suffix("") if p.suffix else p
    return Path(f"{stem}.predictions"), Path(f"{stem}.deployments")


def has_waiting_segments(store_path: str | os.PathLike) -> bool:
    """Whether prediction segments or deployment events wait beside a store (cheap: two listdirs)."""
    for folder in serving_folders(store_path):
        try:
            # only what an ingest takes: a server's own files (<name>.server.json, its log) and the
            # corrupt/ folder stay there and must not make every connection a write transaction
            if any(not n.startswith(".") and n.endswith((".parquet", ".event.json"))
                   for n in os.listdir(folder)):
                return True
        except FileNotFoundError:
            pass
    return False


def ingest_prediction_segments(con: duckdb.DuckDBPyConnection, folder: str | os.PathLike,
                               events_folder: str | os.PathLike | None = None, ts: int = 0) -> dict[str, int]:
    """Ingest waiting prediction/feedback segments (and event files) inside the caller's transaction.

    Returns counts: ``predictions``, ``feedback``, ``events``, ``files``, ``deleted``.
    Files whose names were recorded by an earlier ingest are deleted now.
    """
    folder = Path(folder)
    counts = {"predictions": 0, "feedback": 0, "events": 0, "files": 0, "deleted": 0}
    seg = _ready_files(folder, ".parquet", exclude=".feedback.parquet")
    fb = _ready_files(folder, ".feedback.parquet")
    ev = _ready_files(Path(events_folder), ".event.json") if events_folder else []
    old, fresh = _split_seen(con, seg + fb + ev)
    for path in old:
        path.unlink(missing_ok=True)
        counts["deleted"] += 1
    fresh_set = set(fresh)
    done: list[Path] = []
    seg = [f for f in seg if f in fresh_set]
    fb = [f for f in fb if f in fresh_set]
    if seg:
        n, ok = _insert_parquet(con, "predictions", PREDICTION_COLUMNS, seg)
        counts["predictions"] += n
        done += ok
    if fb:
        n, ok = _insert_parquet(con, "prediction_feedback", FEEDBACK_COLUMNS, fb)
        counts["feedback"] += n
        done += ok
    for path in (f for f in ev if f in fresh_set):
        try:
            event = json.loads(path.read_text())
            deployment, kind = event["deployment"], event["kind"]
        except (OSError, ValueError, KeyError) as exc:
            _quarantine(path, str(exc))
            continue
        insert_event(con, deployment, kind, event.get("details") or {}, int(event.get("ts") or ts),
                     event.get("actor"), event.get("seq"), source=path.name)
        if event.get("state"):
            save_state(con, deployment, event["state"], int(event.get("ts") or ts))
        counts["events"] += 1
        done.append(path)
    if done:
        con.executemany("INSERT INTO serving_ingested VALUES (?, ?)", [[p.name, ts] for p in done])
    counts["files"] = len(done)
    return counts


# -- monitoring queries ---------------------------------------------------------
def traffic_by_interval(con: duckdb.DuckDBPyConnection, deployment: str, every_ms: int = 60_000,
                        since_ms: int | None = None, until_ms: int | None = None,
                        include_shadow: bool = False) -> pd.DataFrame:
    """Per variant and interval of ``every_ms``: requests, requests/s, error rate, p50/p95/p99 of
    total latency (ms); ``time`` is the interval's start (ms since the epoch).

    Errors are every status but ``ok``; quantiles are ``quantile_cont`` (linear, numpy's default).
    """
    if not isinstance(every_ms, int) or isinstance(every_ms, bool) or every_ms < 1000:
        raise InvalidInputError(f"the interval must be at least 1000 ms, got {every_ms!r}")
    return con.execute(
        """SELECT variant, role, (ts // $every) * $every AS time, count(*) AS requests,
                  count(*) / ($every / 1000.0) AS requests_per_s,
                  avg(CASE WHEN status = 'ok' THEN 0.0 ELSE 1.0 END) AS error_rate,
                  sum(CASE WHEN fallback THEN 1 ELSE 0 END) AS fallbacks,
                  quantile_cont(total_ms, 0.5) AS p50_ms, quantile_cont(total_ms, 0.95) AS p95_ms,
                  quantile_cont(total_ms, 0.99) AS p99_ms
           FROM predictions
           WHERE deployment = $dep AND ($since IS NULL OR ts >= $since) AND ($until IS NULL OR ts < $until)
                 AND ($shadow OR role <> 'shadow')
           GROUP BY ALL ORDER BY time, variant""",
        {"every": every_ms, "dep": deployment, "since": since_ms, "until": until_ms,
         "shadow": include_shadow}).df()


def variant_summary(con: duckdb.DuckDBPyConnection, deployment: str, since_ms: int | None = None) -> pd.DataFrame:
    """Per variant over the whole range: requests, errors, error rate, p50/p95/p99 (ms)."""
    return con.execute(
        """SELECT variant, role, count(*) AS requests,
                  sum(CASE WHEN status = 'ok' THEN 0 ELSE 1 END) AS errors,
                  avg(CASE WHEN status = 'ok' THEN 0.0 ELSE 1.0 END) AS error_rate,
                  quantile_cont(total_ms, 0.5) AS p50_ms, quantile_cont(total_ms, 0.95) AS p95_ms,
                  quantile_cont(total_ms, 0.99) AS p99_ms
           FROM predictions WHERE deployment = ? AND (? IS NULL OR ts >= ?)
           GROUP BY ALL ORDER BY variant, role""", [deployment, since_ms, since_ms]).df()


def shadow_agreement(con: duckdb.DuckDBPyConnection, deployment: str) -> pd.DataFrame:
    """Live vs shadow answers joined on request id: compared, agreement, |diff| p50/p95, latency diff p50."""
    return con.execute(
        """WITH live AS (SELECT request_id, outputs, total_ms FROM predictions
                         WHERE deployment = ? AND role <> 'shadow' AND status = 'ok'),
                sh AS (SELECT request_id, variant, outputs, total_ms FROM predictions
                       WHERE deployment = ? AND role = 'shadow' AND status = 'ok'),
                pairs AS (SELECT sh.variant, live.outputs = sh.outputs AS same,
                                 abs(TRY_CAST(json_extract(live.outputs, '$[0]') AS DOUBLE)
                                     - TRY_CAST(json_extract(sh.outputs, '$[0]') AS DOUBLE)) AS diff,
                                 sh.total_ms - live.total_ms AS latency_diff
                          FROM sh JOIN live USING (request_id))
           -- a side whose outputs were not logged (sampling, size cap) has no verdict: avg skips it
           SELECT variant, count(*) AS compared, avg(CAST(same AS DOUBLE)) AS agreement,
                  quantile_cont(diff, 0.5) AS abs_diff_p50, quantile_cont(diff, 0.95) AS abs_diff_p95,
                  quantile_cont(latency_diff, 0.5) AS latency_diff_p50_ms
           FROM pairs GROUP BY variant ORDER BY variant""", [deployment, deployment]).df()


def prediction_rows(con: duckdb.DuckDBPyConnection, deployment: str, limit: int = 100,
                    with_feedback: bool = True) -> pd.DataFrame:
    """The newest logged requests, with their feedback (label, reward) joined."""
    if with_feedback:
        return con.execute(
            """SELECT p.*, f.label, f.label_num, f.reward FROM predictions p
               LEFT JOIN (SELECT request_id, last(label ORDER BY ts, rowid) AS label,  -- rowid: posts in the same ms, in arrival order
                                 last(label_num ORDER BY ts, rowid) AS label_num, last(reward ORDER BY ts, rowid) AS reward
                          FROM prediction_feedback GROUP BY request_id) f USING (request_id)
               WHERE p.deployment = ? ORDER BY p.ts DESC LIMIT ?""", [deployment, int(limit)]).df()
    return con.execute("SELECT * FROM predictions WHERE deployment = ? ORDER BY ts DESC LIMIT ?",
                       [deployment, int(limit)]).df()


def logged_inputs(con: duckdb.DuckDBPyConnection, deployment: str, since_ms: int | None = None,
                  until_ms: int | None = None, variant: str | None = None, limit: int = 100_000) -> pd.DataFrame:
    """The logged input rows of live requests in a time range, as one DataFrame (for drift reports)."""
    texts = con.execute(
        """SELECT inputs FROM predictions WHERE deployment = ? AND role <> 'shadow' AND inputs IS NOT NULL
           AND (? IS NULL OR ts >= ?) AND (? IS NULL OR ts < ?) AND (? IS NULL OR variant = ?)
           ORDER BY ts DESC LIMIT ?""",
        [deployment, since_ms, since_ms, until_ms, until_ms, variant, variant, int(limit)]).fetchall()
    texts.reverse()  # the newest `limit` requests (a busy log keeps its recent ones), oldest first
    # one DataFrame per run of requests with the same columns (usually one for all): building a
    # DataFrame per request made 100,000 logged requests take minutes
    frames, columns, rows = [], None, []
    for (text,) in texts:
        d = json.loads(text)
        if d["columns"] != columns and rows:
            frames.append(pd.DataFrame(rows, columns=columns))
            rows = []
        columns = d["columns"]
        rows.extend(d["data"])
    if rows:
        frames.append(pd.DataFrame(rows, columns=columns))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def feedback_by_variant(con: duckdb.DuckDBPyConnection, deployment: str) -> pd.DataFrame:
    """Per variant: requests with feedback, mean reward, mean label (for A/B and bandit analysis)."""
    return con.execute(
        """SELECT p.variant, count(*) AS n, avg(f.reward) AS mean_reward, sum(f.reward) AS total_reward,
                  avg(f.label_num) AS mean_label
           FROM (SELECT request_id, last(reward ORDER BY ts, rowid) AS reward, last(label_num ORDER BY ts, rowid) AS label_num
                 FROM prediction_feedback GROUP BY request_id) f  -- a request's latest feedback counts once
           JOIN predictions p USING (request_id)
           WHERE p.deployment = ? AND p.role <> 'shadow' GROUP BY p.variant ORDER BY p.variant""",
        [deployment]).df()


def ab_events(con: duckdb.DuckDBPyConnection, deployment: str, since_ms: int | None = None,
              until_ms: int | None = None) -> pd.DataFrame:
    """One row per live (non-shadow) logged request, with its latest feedback, for an A/B analysis.

    ``unit`` is the request's routing key, or its request id when it had none; ``error`` is 1 when
    the request did not answer ``ok``; ``has_feedback`` is 1 when a label or reward was posted.
    """
    return con.execute(
        """SELECT coalesce(p.unit, p.request_id) AS unit, p.request_id, p.ts, p.variant,
                  p.model_version AS version, p.strategy, p.sticky, p.fallback,
                  CASE WHEN p.status = 'ok' THEN 0 ELSE 1 END AS error, p.total_ms AS latency_ms,
                  f.reward, f.label_num AS label, CASE WHEN f.request_id IS NULL THEN 0 ELSE 1 END AS has_feedback
           FROM predictions p
           LEFT JOIN (SELECT request_id, last(label_num ORDER BY ts, rowid) AS label_num,
                             last(reward ORDER BY ts, rowid) AS reward
                      FROM prediction_feedback GROUP BY request_id) f USING (request_id)
           WHERE p.deployment = ? AND p.role <> 'shadow' AND p.variant IS NOT NULL
             AND (? IS NULL OR p.ts >= ?) AND (? IS NULL OR p.ts < ?)
           ORDER BY p.ts""",
        [deployment, since_ms, since_ms, until_ms, until_ms]).df()
