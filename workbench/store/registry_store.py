"""The model registry's tables, and its SQL for users, models, versions, aliases and webhooks.

The registry is the ``registry`` schema component (see
:func:`workbench.store.schema.register_component`). The domain package
(:mod:`workbench.registry`) opens one :meth:`Store.transaction` per action and
calls the functions below with its connection, so that each action's
read-check-write happens under one exclusive hold of the file.

The SQL for requests, gates, the audit log (append-only), stage history and
model cards is in :mod:`workbench.store.registry_governance_store`.

Times are epoch milliseconds; JSON columns hold ``json.dumps`` text.

>>> "audit_log" in " ".join(" ".join(m) for m in MIGRATIONS)
True
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import pandas as pd

from workbench.store.schema import register_component

MIGRATIONS: list[list[str]] = [
    # v1: registered models, versions, aliases, requests, gates, roles, audit,
    # stage history, model cards and webhooks.
    [
        "CREATE SEQUENCE registry_audit_ids START 1",
        "CREATE SEQUENCE registry_request_ids START 1",
        "CREATE SEQUENCE registry_gate_ids START 1",
        "CREATE SEQUENCE registry_webhook_ids START 1",
        "CREATE SEQUENCE registry_history_ids START 1",
        """CREATE TABLE registered_models (
            name VARCHAR PRIMARY KEY,
            description VARCHAR,
            created_by VARCHAR,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            deleted_at BIGINT
        )""",
        """CREATE TABLE registered_model_tags (
            name VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR,
            PRIMARY KEY (name, key)
        )""",
        """CREATE TABLE model_versions (
            name VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            stage VARCHAR NOT NULL,
            stage_since BIGINT NOT NULL,
            run_id VARCHAR,
            artifact VARCHAR,
            source VARCHAR,
            model_sha256 VARCHAR NOT NULL,
            size BIGINT,
            flavor VARCHAR,
            model_class VARCHAR,
            signature JSON,
            requirements JSON,
            metrics JSON,
            datasets JSON,
            pipeline_version VARCHAR,
            description VARCHAR,
            created_by VARCHAR,
            created_at BIGINT NOT NULL,
            deleted_at BIGINT,
            PRIMARY KEY (name, version)
        )""",
        """CREATE TABLE model_version_tags (
            name VARCHAR NOT NULL, version INTEGER NOT NULL, key VARCHAR NOT NULL, value VARCHAR,
            PRIMARY KEY (name, version, key)
        )""",
        """CREATE TABLE model_aliases (
            name VARCHAR NOT NULL, alias VARCHAR NOT NULL, version INTEGER NOT NULL,
            PRIMARY KEY (name, alias)
        )""",
        """CREATE TABLE transition_requests (
            request_id BIGINT PRIMARY KEY DEFAULT nextval('registry_request_ids'),
            name VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            from_stage VARCHAR NOT NULL,
            to_stage VARCHAR NOT NULL,
            archive_existing BOOLEAN NOT NULL,
            comment VARCHAR,
            requested_by VARCHAR NOT NULL,
            requested_at BIGINT NOT NULL,
            status VARCHAR NOT NULL,
            decided_by VARCHAR,
            decided_at BIGINT,
            decision_comment VARCHAR,
            override_reason VARCHAR,
            gate_results JSON
        )""",
        """CREATE TABLE registry_gates (
            gate_id BIGINT PRIMARY KEY DEFAULT nextval('registry_gate_ids'),
            name VARCHAR NOT NULL,
            rule VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            stages JSON NOT NULL,
            created_by VARCHAR,
            created_at BIGINT NOT NULL,
            deleted_at BIGINT
        )""",
        """CREATE TABLE registry_users (
            user_name VARCHAR PRIMARY KEY,
            role VARCHAR NOT NULL,
            granted_by VARCHAR,
            granted_at BIGINT NOT NULL
        )""",
        "CREATE TABLE registry_settings (key VARCHAR PRIMARY KEY, value JSON)",
        """CREATE TABLE audit_log (
            entry_id BIGINT PRIMARY KEY DEFAULT nextval('registry_audit_ids'),
            ts BIGINT NOT NULL,
            user_name VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            model_name VARCHAR,
            version INTEGER,
            request_id BIGINT,
            before JSON,
            after JSON,
            details JSON
        )""",
        """CREATE TABLE stage_history (
            entry_id BIGINT PRIMARY KEY DEFAULT nextval('registry_history_ids'),
            name VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            stage VARCHAR NOT NULL,
            entered_at BIGINT NOT NULL,
            left_at BIGINT,
            request_id BIGINT,
            changed_by VARCHAR
        )""",
        """CREATE TABLE model_cards (
            name VARCHAR NOT NULL, version INTEGER NOT NULL, sections JSON NOT NULL,
            updated_by VARCHAR, updated_at BIGINT NOT NULL,
            PRIMARY KEY (name, version)
        )""",
        """CREATE TABLE registry_webhooks (
            webhook_id BIGINT PRIMARY KEY DEFAULT nextval('registry_webhook_ids'),
            url VARCHAR NOT NULL,
            events JSON NOT NULL,
            model_name VARCHAR,
            created_by VARCHAR,
            created_at BIGINT NOT NULL,
            deleted_at BIGINT
        )""",
    ],
]

register_component("registry", MIGRATIONS)

Con = duckdb.DuckDBPyConnection


@contextmanager
def transaction(store: Any) -> Iterator[Con]:
    """One registry action: ``store.transaction()`` (exclusive, BEGIN ... COMMIT)."""
    with store.transaction() as con:
        yield con


@contextmanager
def reading(store: Any) -> Iterator[Con]:
    """A connection for a block of registry reads."""
    with store.connection() as con:
        yield con


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _dicts(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _one(con: Con, sql: str, args: list) -> dict[str, Any] | None:
    rows = _dicts(con.execute(sql, args))
    return rows[0] if rows else None


# -- users, roles and settings -------------------------------------------------
def count_users(con: Con) -> int:
    return int(con.execute("SELECT count(*) FROM registry_users").fetchone()[0])


def get_role(con: Con, user: str) -> str | None:
    row = con.execute("SELECT role FROM registry_users WHERE user_name = ?", [user]).fetchone()
    return row[0] if row else None


def set_role(con: Con, user: str, role: str, by: str, ts: int) -> None:
    con.execute("INSERT OR REPLACE INTO registry_users VALUES (?, ?, ?, ?)", [user, role, by, ts])


def delete_role(con: Con, user: str) -> None:
    con.execute("DELETE FROM registry_users WHERE user_name = ?", [user])


def list_users(con: Con) -> pd.DataFrame:
    return con.execute(
        "SELECT user_name AS user, role, granted_by, granted_at FROM registry_users ORDER BY user_name"
    ).df()


def get_setting(con: Con, key: str, default: Any = None) -> Any:
    row = con.execute("SELECT value FROM registry_settings WHERE key = ?", [key]).fetchone()
    return default if row is None else _loads(row[0])


def set_setting(con: Con, key: str, value: Any) -> None:
    con.execute("INSERT OR REPLACE INTO registry_settings VALUES (?, ?)", [key, _dumps(value)])


def all_settings(con: Con) -> dict[str, Any]:
    return {
        k: _loads(v) for k, v in con.execute("SELECT key, value FROM registry_settings").fetchall()
    }


# -- registered models ---------------------------------------------------------
def model_row(con: Con, name: str, include_deleted: bool = False) -> dict[str, Any] | None:
    row = _one(con, "SELECT * FROM registered_models WHERE name = ?", [name])
    if row is None or (row["deleted_at"] is not None and not include_deleted):
        return None
    row["tags"] = model_tags(con, name)
    return row


def insert_model(con: Con, name: str, description: str | None, by: str, ts: int) -> None:
    con.execute(
        "INSERT INTO registered_models (name, description, created_by, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [name, description, by, ts, ts],
    )


def revive_model(con: Con, name: str, description: str | None, ts: int) -> None:
    con.execute(
        "UPDATE registered_models SET deleted_at = NULL, description = ?, updated_at = ? WHERE name = ?",
        [description, ts, name],
    )


def set_model_description(con: Con, name: str, description: str | None, ts: int) -> None:
    con.execute(
        "UPDATE registered_models SET description = ?, updated_at = ? WHERE name = ?",
        [description, ts, name],
    )


def delete_model(con: Con, name: str, ts: int) -> None:
    con.execute("UPDATE registered_models SET deleted_at = ? WHERE name = ?", [ts, name])
    con.execute(
        "UPDATE model_versions SET deleted_at = ? WHERE name = ? AND deleted_at IS NULL", [ts, name]
    )
    con.execute("DELETE FROM model_aliases WHERE name = ?", [name])


def model_tags(con: Con, name: str) -> dict[str, str]:
    return dict(
        con.execute(
            "SELECT key, value FROM registered_model_tags WHERE name = ? ORDER BY key", [name]
        ).fetchall()
    )


def set_model_tag(con: Con, name: str, key: str, value: str) -> None:
    con.execute("INSERT OR REPLACE INTO registered_model_tags VALUES (?, ?, ?)", [name, key, value])


def delete_model_tag(con: Con, name: str, key: str) -> None:
    con.execute("DELETE FROM registered_model_tags WHERE name = ? AND key = ?", [name, key])


def list_models(con: Con) -> pd.DataFrame:
    return con.execute(
        """SELECT m.name, m.description, m.created_by, m.created_at, m.updated_at,
                  count(v.version) AS versions,
                  max(v.version) AS latest_version,
                  max(v.version) FILTER (WHERE v.stage = 'Staging') AS staging_version,
                  max(v.version) FILTER (WHERE v.stage = 'Production') AS production_version
           FROM registered_models m
           LEFT JOIN model_versions v ON v.name = m.name AND v.deleted_at IS NULL
           WHERE m.deleted_at IS NULL
           GROUP BY ALL ORDER BY m.name"""
    ).df()


# -- model versions ------------------------------------------------------------
_VERSION_JSON = ("signature", "requirements", "metrics", "datasets")


def next_version(con: Con, name: str) -> int:
    row = con.execute(
        "SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE name = ?", [name]
    ).fetchone()
    return int(row[0])


def insert_version(con: Con, row: dict[str, Any]) -> None:
    row = dict(row)
    for key in _VERSION_JSON:
        row[key] = _dumps(row.get(key))
    cols = list(row)
    con.execute(
        f"INSERT INTO model_versions ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
        [row[c] for c in cols],
    )


def version_row(
    con: Con, name: str, version: int, include_deleted: bool = False
) -> dict[str, Any] | None:
    row = _one(con, "SELECT * FROM model_versions WHERE name = ? AND version = ?", [name, version])
    if row is None or (row["deleted_at"] is not None and not include_deleted):
        return None
    for key in _VERSION_JSON:
        row[key] = _loads(row[key])
    row["tags"] = dict(
        con.execute(
            "SELECT key, value FROM model_version_tags WHERE name = ? AND version = ? ORDER BY key",
            [name, version],
        ).fetchall()
    )
    row["aliases"] = [
        r[0]
        for r in con.execute(
            "SELECT alias FROM model_aliases WHERE name = ? AND version = ? ORDER BY alias",
            [name, version],
        ).fetchall()
    ]
    return row


def list_versions(con: Con, name: str) -> pd.DataFrame:
    return con.execute(
        """SELECT v.name, v.version, v.stage, v.stage_since, v.run_id, v.artifact, v.model_sha256,
                  v.description, v.created_by, v.created_at, v.pipeline_version,
                  (SELECT string_agg(alias, ',' ORDER BY alias) FROM model_aliases a
                    WHERE a.name = v.name AND a.version = v.version) AS aliases
           FROM model_versions v WHERE v.name = ? AND v.deleted_at IS NULL
           ORDER BY v.version""",
        [name],
    ).df()


def stages(con: Con, name: str) -> dict[int, str]:
    """``{version: stage}`` of the live versions of a model."""
    return dict(
        con.execute(
            "SELECT version, stage FROM model_versions WHERE name = ? AND deleted_at IS NULL "
            "ORDER BY version",
            [name],
        ).fetchall()
    )


def versions_in_stage(con: Con, name: str, stage: str) -> list[int]:
    """Live versions in ``stage``, the most recent arrival first."""
    return [
        r[0]
        for r in con.execute(
            "SELECT version FROM model_versions WHERE name = ? AND stage = ? AND deleted_at IS NULL "
            "ORDER BY stage_since DESC, version DESC",
            [name, stage],
        ).fetchall()
    ]


def latest_version(con: Con, name: str) -> int | None:
    row = con.execute(
        "SELECT max(version) FROM model_versions WHERE name = ? AND deleted_at IS NULL", [name]
    ).fetchone()
    return None if row[0] is None else int(row[0])


def set_stage(con: Con, name: str, version: int, stage: str, ts: int) -> None:
    con.execute(
        "UPDATE model_versions SET stage = ?, stage_since = ? WHERE name = ? AND version = ?",
        [stage, ts, name, version],
    )


def set_version_description(con: Con, name: str, version: int, description: str | None) -> None:
    con.execute(
        "UPDATE model_versions SET description = ? WHERE name = ? AND version = ?",
        [description, name, version],
    )


def set_version_tag(con: Con, name: str, version: int, key: str, value: str) -> None:
    con.execute(
        "INSERT OR REPLACE INTO model_version_tags VALUES (?, ?, ?, ?)", [name, version, key, value]
    )


def delete_version_tag(con: Con, name: str, version: int, key: str) -> None:
    con.execute(
        "DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?",
        [name, version, key],
    )


def delete_version(con: Con, name: str, version: int, ts: int) -> None:
    con.execute(
        "UPDATE model_versions SET deleted_at = ? WHERE name = ? AND version = ?",
        [ts, name, version],
    )
    con.execute("DELETE FROM model_aliases WHERE name = ? AND version = ?", [name, version])


# -- aliases -------------------------------------------------------------------
def aliases(con: Con, name: str) -> dict[str, int]:
    return {
        a: int(v)
        for a, v in con.execute(
            "SELECT alias, version FROM model_aliases WHERE name = ? ORDER BY alias", [name]
        ).fetchall()
    }


def set_alias(con: Con, name: str, alias: str, version: int) -> None:
    con.execute("INSERT OR REPLACE INTO model_aliases VALUES (?, ?, ?)", [name, alias, version])


def delete_alias(con: Con, name: str, alias: str) -> None:
    con.execute("DELETE FROM model_aliases WHERE name = ? AND alias = ?", [name, alias])


# -- webhooks ------------------------------------------------------------------
def insert_webhook(
    con: Con, url: str, events: list[str], model: str | None, by: str, ts: int
) -> int:
    row = con.execute(
        "INSERT INTO registry_webhooks (url, events, model_name, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?) RETURNING webhook_id",
        [url, _dumps(events), model, by, ts],
    ).fetchone()
    return int(row[0])


def webhooks(con: Con) -> list[dict[str, Any]]:
    rows = _dicts(
        con.execute(
            "SELECT webhook_id, url, events, model_name, created_by, created_at "
            "FROM registry_webhooks WHERE deleted_at IS NULL ORDER BY webhook_id"
        )
    )
    for row in rows:
        row["events"] = _loads(row["events"])
    return rows


def delete_webhook(con: Con, webhook_id: int, ts: int) -> bool:
    gone = con.execute(
        "UPDATE registry_webhooks SET deleted_at = ? WHERE webhook_id = ? AND deleted_at IS NULL "
        "RETURNING webhook_id",
        [ts, webhook_id],
    ).fetchall()
    return bool(gone)
