"""The registry's SQL for requests and gates, the audit log, stage history and model cards.

The tables are the ``registry`` schema component's (:mod:`workbench.store.registry_store`
holds the migrations, the connection helpers and the SQL for users, models, versions,
aliases and webhooks). The domain package (:mod:`workbench.registry`) calls these
functions with the connection of its one :meth:`Store.transaction` per action.

``audit_log`` is append-only: this module has an INSERT for it and SELECTs,
and no statement anywhere updates or deletes its rows.

>>> callable(append_audit)
True
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from workbench.store.registry_store import Con, _dicts, _dumps, _loads, _one


# -- transition requests -------------------------------------------------------
def insert_request(
    con: Con,
    name: str,
    version: int,
    from_stage: str,
    to_stage: str,
    archive_existing: bool,
    comment: str | None,
    by: str,
    ts: int,
) -> int:
    row = con.execute(
        """INSERT INTO transition_requests (name, version, from_stage, to_stage, archive_existing,
                                            comment, requested_by, requested_at, status)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'PENDING') RETURNING request_id""",
        [name, version, from_stage, to_stage, archive_existing, comment, by, ts],
    ).fetchone()
    return int(row[0])


def request_row(con: Con, request_id: int) -> dict[str, Any] | None:
    row = _one(con, "SELECT * FROM transition_requests WHERE request_id = ?", [request_id])
    if row is not None:
        row["gate_results"] = _loads(row["gate_results"])
    return row


def pending_request_ids(con: Con, name: str, version: int) -> list[int]:
    return [
        r[0]
        for r in con.execute(
            "SELECT request_id FROM transition_requests WHERE name = ? AND version = ? "
            "AND status = 'PENDING' ORDER BY request_id",
            [name, version],
        ).fetchall()
    ]


def decide_request(
    con: Con,
    request_id: int,
    status: str,
    by: str,
    ts: int,
    comment: str | None,
    override_reason: str | None = None,
    gate_results: list | None = None,
) -> None:
    con.execute(
        """UPDATE transition_requests
           SET status = ?, decided_by = ?, decided_at = ?, decision_comment = ?,
               override_reason = ?, gate_results = ?
           WHERE request_id = ?""",
        [status, by, ts, comment, override_reason, _dumps(gate_results), request_id],
    )


def list_requests(con: Con, name: str | None, status: str | None) -> pd.DataFrame:
    df = con.execute(
        """SELECT request_id, name, version, from_stage, to_stage, archive_existing, comment,
                  requested_by, requested_at, status, decided_by, decided_at, decision_comment,
                  override_reason
           FROM transition_requests
           WHERE (?::VARCHAR IS NULL OR name = ?) AND (?::VARCHAR IS NULL OR status = ?)
           ORDER BY request_id""",
        [name, name, status, status],
    ).df()
    return df


# -- gates ---------------------------------------------------------------------
def insert_gate(
    con: Con, name: str, rule: str, kind: str, stage_list: list[str], by: str, ts: int
) -> int:
    row = con.execute(
        "INSERT INTO registry_gates (name, rule, kind, stages, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING gate_id",
        [name, rule, kind, _dumps(stage_list), by, ts],
    ).fetchone()
    return int(row[0])


def gates(con: Con, name: str) -> list[dict[str, Any]]:
    rows = _dicts(
        con.execute(
            "SELECT gate_id, name, rule, kind, stages, created_by, created_at FROM registry_gates "
            "WHERE name = ? AND deleted_at IS NULL ORDER BY gate_id",
            [name],
        )
    )
    for row in rows:
        row["stages"] = _loads(row["stages"])
    return rows


def delete_gate(con: Con, gate_id: int, ts: int) -> None:
    con.execute("UPDATE registry_gates SET deleted_at = ? WHERE gate_id = ?", [ts, gate_id])


# -- audit log (append-only) ---------------------------------------------------
def append_audit(
    con: Con,
    ts: int,
    user: str,
    action: str,
    name: str | None,
    version: int | None,
    request_id: int | None,
    before: Any,
    after: Any,
    details: Any,
) -> int:
    row = con.execute(
        """INSERT INTO audit_log (ts, user_name, action, model_name, version, request_id,
                                  before, after, details)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING entry_id""",
        [
            ts,
            user,
            action,
            name,
            version,
            request_id,
            _dumps(before),
            _dumps(after),
            _dumps(details),
        ],
    ).fetchone()
    return int(row[0])


def last_audit_id(con: Con) -> int:
    """The newest audit entry's id (0 when none): every registry action appends one, so
    this changes exactly when the registry does."""
    return int(con.execute("SELECT coalesce(max(entry_id), 0) FROM audit_log").fetchone()[0])


def request_operator(con: Con, request_id: int) -> str | None:
    """Who really filed a request: its ``request`` audit entry's ``acted_by`` (an app acting as
    another user), else the user it was filed as; None when no entry is found."""
    row = con.execute(
        """SELECT coalesce(json_extract_string(details, '$.acted_by'), user_name) FROM audit_log
           WHERE action = 'request' AND request_id = ? ORDER BY entry_id LIMIT 1""", [int(request_id)]
    ).fetchone()
    return None if row is None else row[0]


def audit_frame(con: Con, name: str | None) -> pd.DataFrame:
    df = con.execute(
        """SELECT entry_id, ts, user_name AS user, action, model_name AS model, version,
                  request_id, before, after, details
           FROM audit_log WHERE ?::VARCHAR IS NULL OR model_name = ? ORDER BY entry_id""",
        [name, name],
    ).df()
    for col in ("before", "after", "details"):
        df[col] = df[col].map(_loads).astype(object)
    return df


# -- stage history -------------------------------------------------------------
def open_period(
    con: Con, name: str, version: int, stage: str, ts: int, request_id: int | None, by: str
) -> None:
    con.execute(
        "INSERT INTO stage_history (name, version, stage, entered_at, request_id, changed_by) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [name, version, stage, ts, request_id, by],
    )


def close_period(con: Con, name: str, version: int, ts: int) -> None:
    con.execute(
        "UPDATE stage_history SET left_at = ? WHERE name = ? AND version = ? AND left_at IS NULL",
        [ts, name, version],
    )


def history_frame(con: Con, name: str) -> pd.DataFrame:
    return con.execute(
        """SELECT name AS model, version, stage, entered_at, left_at, request_id, changed_by
           FROM stage_history WHERE name = ? ORDER BY entered_at, entry_id""",
        [name],
    ).df()


# -- model cards ---------------------------------------------------------------
def card_row(con: Con, name: str, version: int) -> dict[str, Any] | None:
    row = _one(con, "SELECT * FROM model_cards WHERE name = ? AND version = ?", [name, version])
    if row is not None:
        row["sections"] = _loads(row["sections"])
    return row


def save_card(
    con: Con, name: str, version: int, sections: dict[str, str], by: str, ts: int
) -> None:
    con.execute(
        "INSERT OR REPLACE INTO model_cards VALUES (?, ?, ?, ?, ?)",
        [name, version, _dumps(sections), by, ts],
    )


# -- what the registry reads from tracking ------------------------------------
def run_exists(con: Con, run_id: str) -> bool:
    return con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone() is not None


def run_values(con: Con, run_id: str) -> dict[str, dict[str, Any]]:
    """The latest metrics, params and tags of a run (for gate rules)."""
    metrics = dict(
        con.execute("SELECT key, value FROM latest_metrics WHERE run_id = ?", [run_id]).fetchall()
    )
    params = dict(
        con.execute("SELECT key, value FROM params WHERE run_id = ?", [run_id]).fetchall()
    )
    tags = dict(con.execute("SELECT key, value FROM tags WHERE run_id = ?", [run_id]).fetchall())
    return {"metrics": metrics, "params": params, "tags": tags}
