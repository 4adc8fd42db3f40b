"""The monitoring tables and every SQL statement the monitoring package runs on the store.

Schema component ``monitoring``: drift reports and their per-column results,
reference profiles, alert rules and alert events. Each saved object is written
in one transaction by the caller (``with store.transaction() as con:``), so a
failure leaves nothing half-saved. Times are epoch milliseconds; JSON columns
hold ``json.dumps`` text.

>>> "drift_reports" in " ".join(" ".join(m) for m in MIGRATIONS)
True
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pandas as pd

from workbench.store.schema import register_component

Con = duckdb.DuckDBPyConnection

MIGRATIONS: list[list[str]] = [
    [
        "CREATE SEQUENCE drift_alert_rule_ids START 1",
        "CREATE SEQUENCE drift_alert_event_ids START 1",
        """CREATE TABLE drift_profiles (
            profile_id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            created_at BIGINT NOT NULL,
            n_rows BIGINT NOT NULL,
            source VARCHAR,
            columns JSON NOT NULL,
            table_stats JSON,
            values_sha256 VARCHAR
        )""",
        """CREATE TABLE drift_reports (
            report_id VARCHAR PRIMARY KEY,
            name VARCHAR,
            created_at BIGINT NOT NULL,
            reference_label VARCHAR,
            current_label VARCHAR,
            profile_id VARCHAR,
            dataset_drift BOOLEAN NOT NULL,
            share_drifted DOUBLE NOT NULL,
            n_tested INTEGER NOT NULL,
            n_drifted INTEGER NOT NULL,
            drift_share DOUBLE NOT NULL,
            options JSON,
            table_quality JSON,
            multivariate JSON,
            elapsed_s DOUBLE
        )""",
        """CREATE TABLE drift_report_columns (
            report_id VARCHAR NOT NULL,
            position INTEGER NOT NULL,
            column_name VARCHAR NOT NULL,
            column_type VARCHAR,
            method VARCHAR,
            statistic DOUBLE,
            p_value DOUBLE,
            p_adjusted DOUBLE,
            threshold DOUBLE,
            drifted BOOLEAN,
            rule VARCHAR,
            score DOUBLE,
            status VARCHAR,
            n_reference BIGINT,
            n_current BIGINT,
            missing_reference DOUBLE,
            missing_current DOUBLE,
            conventions JSON,
            quality JSON,
            histogram JSON,
            PRIMARY KEY (report_id, column_name)
        )""",
        """CREATE TABLE drift_over_time (
            result_id VARCHAR PRIMARY KEY,
            name VARCHAR,
            created_at BIGINT NOT NULL,
            reference_label VARCHAR,
            current_label VARCHAR,
            options JSON,
            scores JSON NOT NULL,
            windows JSON NOT NULL,
            change_points JSON,
            penalties JSON
        )""",
        """CREATE TABLE drift_alert_rules (
            rule_id BIGINT PRIMARY KEY DEFAULT nextval('drift_alert_rule_ids'),
            name VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            spec JSON NOT NULL,
            created_at BIGINT NOT NULL,
            deleted_at BIGINT
        )""",
        """CREATE TABLE drift_alert_events (
            event_id BIGINT PRIMARY KEY DEFAULT nextval('drift_alert_event_ids'),
            rule_id BIGINT NOT NULL,
            report_id VARCHAR NOT NULL,
            fired_at BIGINT NOT NULL,
            message VARCHAR NOT NULL,
            details JSON
        )""",
    ],
]

register_component("monitoring", MIGRATIONS)


def _j(x: Any) -> str:
    return json.dumps(x, default=_default)


def _default(x: Any) -> Any:
    try:
        import numpy as np

        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(x)


def _load(x: Any) -> Any:
    return json.loads(x) if isinstance(x, str) else x


# -- reports ---------------------------------------------------------------------
def insert_report(con: Con, report: dict[str, Any], columns: list[dict[str, Any]]) -> None:
    con.execute(
        "INSERT INTO drift_reports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [report["report_id"], report["name"], report["created_at"], report["reference_label"],
         report["current_label"], report["profile_id"], report["dataset_drift"],
         report["share_drifted"], report["n_tested"], report["n_drifted"], report["drift_share"],
         _j(report["options"]), _j(report["table_quality"]), _j(report["multivariate"]),
         report["elapsed_s"]],
    )
    rows = [[report["report_id"], i, c["column"], c["type"], c["method"], c["statistic"],
             c["p_value"], c["p_adjusted"], c["threshold"], c["drifted"], c["rule"], c["score"],
             c["status"], c["n_reference"], c["n_current"], c["missing_reference"],
             c["missing_current"], _j(c["conventions"]), _j(c["quality"]), _j(c["histogram"])]
            for i, c in enumerate(columns)]
    if rows:
        con.executemany(
            "INSERT INTO drift_report_columns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows)


def get_report(con: Con, report_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    cur = con.execute("SELECT * FROM drift_reports WHERE report_id = ?", [report_id])
    row = cur.fetchone()
    if row is None:
        return None
    head = dict(zip([d[0] for d in cur.description], row))
    for k in ("options", "table_quality", "multivariate"):
        head[k] = _load(head[k])
    cur = con.execute("SELECT * FROM drift_report_columns WHERE report_id = ? ORDER BY position",
                      [report_id])
    names = [d[0] for d in cur.description]
    cols = []
    for r in cur.fetchall():
        d = dict(zip(names, r))
        for k in ("conventions", "quality", "histogram"):
            d[k] = _load(d[k])
        cols.append(d)
    return head, cols


def list_reports(con: Con, name: str | None = None, limit: int = 100) -> pd.DataFrame:
    sql = ("SELECT report_id, name, created_at, reference_label, current_label, dataset_drift, "
           "share_drifted, n_tested, n_drifted, profile_id FROM drift_reports")
    params: list[Any] = []
    if name is not None:
        sql += " WHERE name = ?"
        params.append(name)
    sql += " ORDER BY created_at DESC, report_id LIMIT ?"
    params.append(int(limit))
    return con.execute(sql, params).df()


def recent_column_scores(con: Con, name: str | None, n: int) -> pd.DataFrame:
    """Per-column scores of the ``n`` most recent reports with this name (any name when None)."""
    where, params = ("WHERE name = ?", [name]) if name is not None else ("", [])
    return con.execute(
        f"""WITH recent AS (SELECT report_id, created_at FROM drift_reports {where}
                          ORDER BY created_at DESC, report_id DESC LIMIT ?)
            SELECT c.report_id, r.created_at, c.column_name, c.method, c.statistic, c.p_value,
                   c.score, c.drifted, c.status
            FROM drift_report_columns c JOIN recent r USING (report_id)
            ORDER BY r.created_at DESC, c.position""",
        [*params, int(n)]).df()


def recent_reports(con: Con, name: str | None, n: int) -> pd.DataFrame:
    where, params = ("WHERE name = ?", [name]) if name is not None else ("", [])
    return con.execute(
        f"SELECT report_id, created_at, dataset_drift, share_drifted FROM drift_reports {where} "
        f"ORDER BY created_at DESC, report_id DESC LIMIT ?", [*params, int(n)]).df()


# -- profiles --------------------------------------------------------------------------
def insert_profile(con: Con, p: dict[str, Any]) -> None:
    con.execute(
        "INSERT INTO drift_profiles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [p["profile_id"], p["name"], p["created_at"], p["n_rows"], p["source"], _j(p["columns"]),
         _j(p["table_stats"]), p["values_sha256"]],
    )


def find_profile(con: Con, name_or_id: str) -> dict[str, Any] | None:
    """A profile by id, else the newest one with that name."""
    cur = con.execute(
        "SELECT * FROM drift_profiles WHERE profile_id = ? OR name = ? "
        "ORDER BY (profile_id = ?) DESC, created_at DESC LIMIT 1",
        [name_or_id, name_or_id, name_or_id])
    row = cur.fetchone()
    if row is None:
        return None
    d = dict(zip([x[0] for x in cur.description], row))
    d["columns"] = _load(d["columns"])
    d["table_stats"] = _load(d["table_stats"])
    return d


def list_profiles(con: Con) -> pd.DataFrame:
    return con.execute(
        "SELECT profile_id, name, created_at, n_rows, source FROM drift_profiles "
        "ORDER BY created_at DESC").df()


# -- logged datasets -------------------------------------------------------------
def find_dataset(con: Con, name_or_digest: str) -> dict[str, Any] | None:
    """The newest logged dataset with this digest or name: digest, name, saved Parquet sha, source."""
    cur = con.execute(
        "SELECT digest, name, artifact_sha256, source, n_rows FROM datasets "
        "WHERE digest = ? OR name = ? ORDER BY (digest = ?) DESC, created_at DESC LIMIT 1",
        [name_or_digest, name_or_digest, name_or_digest])
    row = cur.fetchone()
    return dict(zip([x[0] for x in cur.description], row)) if row else None


# -- drift over time ----------------------------------------------------------------
def insert_over_time(con: Con, r: dict[str, Any]) -> None:
    con.execute(
        "INSERT INTO drift_over_time VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [r["result_id"], r["name"], r["created_at"], r["reference_label"], r["current_label"],
         _j(r["options"]), _j(r["scores"]), _j(r["windows"]), _j(r["change_points"]),
         _j(r["penalties"])])


def get_over_time(con: Con, name_or_id: str) -> dict[str, Any] | None:
    """A saved over-time result by id, else the newest one with that name."""
    cur = con.execute(
        "SELECT * FROM drift_over_time WHERE result_id = ? OR name = ? "
        "ORDER BY (result_id = ?) DESC, created_at DESC LIMIT 1", [name_or_id, name_or_id, name_or_id])
    row = cur.fetchone()
    if row is None:
        return None
    d = dict(zip([x[0] for x in cur.description], row))
    for k in ("options", "scores", "windows", "change_points", "penalties"):
        d[k] = _load(d[k])
    return d


def list_over_time(con: Con) -> pd.DataFrame:
    return con.execute(
        "SELECT result_id, name, created_at, reference_label, current_label FROM drift_over_time "
        "ORDER BY created_at DESC").df()


# -- alert rules and events ---------------------------------------------------------
def insert_rule(con: Con, name: str, kind: str, spec: dict[str, Any], ts: int) -> int:
    return int(con.execute(
        "INSERT INTO drift_alert_rules (name, kind, spec, created_at) VALUES (?, ?, ?, ?) "
        "RETURNING rule_id", [name, kind, _j(spec), ts]).fetchone()[0])


def active_rules(con: Con) -> list[dict[str, Any]]:
    cur = con.execute("SELECT rule_id, name, kind, spec, created_at FROM drift_alert_rules "
                      "WHERE deleted_at IS NULL ORDER BY rule_id")
    names = [d[0] for d in cur.description]
    out = []
    for r in cur.fetchall():
        d = dict(zip(names, r))
        d["spec"] = _load(d["spec"])
        out.append(d)
    return out


def delete_rule(con: Con, rule_id: int, ts: int) -> bool:
    return con.execute(
        "UPDATE drift_alert_rules SET deleted_at = ? WHERE rule_id = ? AND deleted_at IS NULL "
        "RETURNING rule_id", [ts, int(rule_id)]).fetchone() is not None


def insert_event(con: Con, rule_id: int, report_id: str, ts: int, message: str,
                 details: dict[str, Any]) -> int:
    return int(con.execute(
        "INSERT INTO drift_alert_events (rule_id, report_id, fired_at, message, details) "
        "VALUES (?, ?, ?, ?, ?) RETURNING event_id",
        [int(rule_id), report_id, ts, message, _j(details)]).fetchone()[0])


def list_events(con: Con, report_id: str | None = None) -> pd.DataFrame:
    sql = ("SELECT e.event_id, e.rule_id, r.name AS rule_name, e.report_id, e.fired_at, e.message, "
           "e.details FROM drift_alert_events e JOIN drift_alert_rules r USING (rule_id)")
    params: list[Any] = []
    if report_id is not None:
        sql += " WHERE e.report_id = ?"
        params.append(report_id)
    return con.execute(sql + " ORDER BY e.event_id", params).df()


def registry_webhooks(con: Con) -> list[dict[str, Any]]:
    """The registry's configured webhooks (empty when the registry tables do not exist)."""
    from workbench.store import registry_store

    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'registry_webhooks'"
    ).fetchone()[0]
    return registry_store.webhooks(con) if exists else []


# -- what a report can be run on (the Monitoring screen's pickers) ---------------------
def report_datasets(con: Con) -> pd.DataFrame:
    """Logged datasets a report can read (a saved copy, or a Parquet source file), newest first."""
    return con.execute(
        "SELECT name, digest, n_rows, n_cols, source, artifact_sha256, created_at FROM datasets "
        "WHERE artifact_sha256 IS NOT NULL OR source LIKE '%.parquet' "
        "ORDER BY created_at DESC, name").df()


def model_training_datasets(con: Con) -> pd.DataFrame:
    """Each registered model version's training dataset (role ``train``/``training``) by its run.

    Empty when the registry tables do not exist yet.
    """
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'model_versions'"
    ).fetchone()[0]
    if not exists:
        return pd.DataFrame(columns=["model", "version", "stage", "run_id", "dataset", "digest"])
    return con.execute(
        """SELECT v.name AS model, v.version, v.stage, v.run_id, d.name AS dataset, d.digest
           FROM model_versions v
           JOIN run_datasets rd ON rd.run_id = v.run_id AND lower(rd.role) IN ('train', 'training')
           JOIN datasets d ON d.digest = rd.digest AND d.name = rd.name
           ORDER BY v.name, v.version DESC, d.name""").df()
