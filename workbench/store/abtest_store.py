"""The A/B-testing tables and every statement that saves or loads them.

The ``abtest`` schema component holds experiments (definition, status, coverage
history), sample-size designs, assignment snapshots, analyses, decisions and bandit
states. Each saved object is written in one :meth:`Store.transaction`, so a failure
leaves nothing half-saved. JSON columns hold ``json.dumps`` text; times are epoch ms.

>>> "ab_experiments" in " ".join(" ".join(m) for m in MIGRATIONS)
True
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import duckdb
import pandas as pd

from workbench.errors import AllocationError, InvalidInputError, NotFoundError
from workbench.store.schema import register_component

MIGRATIONS: list[list[str]] = [
    [
        "CREATE SEQUENCE ab_design_ids START 1",
        "CREATE SEQUENCE ab_snapshot_ids START 1",
        "CREATE SEQUENCE ab_analysis_ids START 1",
        "CREATE SEQUENCE ab_decision_ids START 1",
        "CREATE SEQUENCE ab_ramp_ids START 1",
        """CREATE TABLE ab_experiments (
            name VARCHAR PRIMARY KEY,
            unit VARCHAR NOT NULL,
            salt VARCHAR NOT NULL,
            variants JSON NOT NULL,
            coverage DOUBLE NOT NULL,
            namespace JSON,
            hypothesis VARCHAR,
            models JSON,
            status VARCHAR NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )""",
        """CREATE TABLE ab_ramps (
            ramp_id BIGINT PRIMARY KEY DEFAULT nextval('ab_ramp_ids'),
            experiment VARCHAR NOT NULL,
            ts BIGINT NOT NULL,
            coverage_from DOUBLE,
            coverage_to DOUBLE NOT NULL,
            comment VARCHAR
        )""",
        """CREATE TABLE ab_designs (
            design_id BIGINT PRIMARY KEY DEFAULT nextval('ab_design_ids'),
            experiment VARCHAR,
            inputs JSON NOT NULL,
            result JSON NOT NULL,
            created_at BIGINT NOT NULL
        )""",
        """CREATE TABLE ab_assignment_snapshots (
            snapshot_id BIGINT PRIMARY KEY DEFAULT nextval('ab_snapshot_ids'),
            experiment VARCHAR NOT NULL,
            coverage DOUBLE NOT NULL,
            n_units BIGINT NOT NULL,
            counts JSON NOT NULL,
            created_at BIGINT NOT NULL
        )""",
        """CREATE TABLE ab_assignments (
            snapshot_id BIGINT NOT NULL,
            unit_id VARCHAR NOT NULL,
            bucket INTEGER NOT NULL,
            variant VARCHAR
        )""",
        """CREATE TABLE ab_analyses (
            analysis_id BIGINT PRIMARY KEY DEFAULT nextval('ab_analysis_ids'),
            experiment VARCHAR NOT NULL,
            engine VARCHAR NOT NULL,
            correction VARCHAR,
            options JSON NOT NULL,
            result_table JSON NOT NULL,
            srm JSON NOT NULL,
            findings JSON,
            created_at BIGINT NOT NULL
        )""",
        """CREATE TABLE ab_decisions (
            decision_id BIGINT PRIMARY KEY DEFAULT nextval('ab_decision_ids'),
            experiment VARCHAR NOT NULL,
            decision VARCHAR NOT NULL,
            variant VARCHAR,
            analysis_id BIGINT,
            comment VARCHAR,
            user_name VARCHAR,
            created_at BIGINT NOT NULL
        )""",
        """CREATE TABLE ab_bandits (
            name VARCHAR PRIMARY KEY,
            policy VARCHAR NOT NULL,
            state JSON NOT NULL,
            updated_at BIGINT NOT NULL
        )""",
    ]
]

register_component("abtest", MIGRATIONS)

STATUSES = ("draft", "running", "stopped", "decided")
DECISIONS = ("ship", "stop", "iterate")

Con = duckdb.DuckDBPyConnection


def _now() -> int:
    return int(time.time() * 1000)


def _clean(value: Any) -> Any:
    """Make a value JSON-safe: NaN/inf become None, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _dumps(value: Any) -> str:
    return json.dumps(_clean(value), default=str, sort_keys=True)


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _row(con: Con, sql: str, args: list) -> dict[str, Any] | None:
    cur = con.execute(sql, args)
    names = [d[0] for d in cur.description]
    row = cur.fetchone()
    return None if row is None else dict(zip(names, row))


def _experiment_dict(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("variants", "namespace", "models"):
        out[key] = _loads(out[key])
    return out


# -- experiments ---------------------------------------------------------------
def save_experiment(store: Any, definition: dict[str, Any]) -> dict[str, Any]:
    """Insert an experiment, or check a stored one has the same allocation.

    The variants (names, order, weights), salt, unit and namespace of a stored
    experiment cannot change (that would move assigned users): raises
    :class:`AllocationError`. A different coverage is recorded as a ramp. Returns the
    stored definition.
    """
    name = definition["name"]
    now = _now()
    with store.transaction() as con:
        row = _row(con, "SELECT * FROM ab_experiments WHERE name = ?", [name])
        if row is None:
            con.execute(
                "INSERT INTO ab_experiments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    name,
                    definition["unit"],
                    definition["salt"],
                    _dumps(definition["variants"]),
                    float(definition["coverage"]),
                    None if definition["namespace"] is None else _dumps(definition["namespace"]),
                    definition.get("hypothesis"),
                    _dumps(definition.get("models") or {}),
                    "draft",
                    now,
                    now,
                ],
            )
            con.execute(
                "INSERT INTO ab_ramps (experiment, ts, coverage_from, coverage_to, comment) "
                "VALUES (?, ?, NULL, ?, 'created')",
                [name, now, float(definition["coverage"])],
            )
            return dict(definition, status="draft")
        stored = _experiment_dict(row)
        for key in ("unit", "salt", "variants", "namespace"):
            new = _clean(definition[key])
            if stored[key] != new:
                raise AllocationError(
                    f"experiment {name!r} is stored with {key}={stored[key]!r}; redefining it "
                    f"with {key}={new!r} would move assigned users. Use a new name (or salt)"
                )
        if float(definition["coverage"]) != float(stored["coverage"]):
            _ramp(con, name, float(stored["coverage"]), float(definition["coverage"]), None, now)
            stored["coverage"] = float(definition["coverage"])
        return stored


def _ramp(con: Con, name: str, old: float, new: float, comment: str | None, now: int) -> None:
    con.execute(
        "INSERT INTO ab_ramps (experiment, ts, coverage_from, coverage_to, comment) "
        "VALUES (?, ?, ?, ?, ?)",
        [name, now, old, new, comment],
    )
    con.execute(
        "UPDATE ab_experiments SET coverage = ?, updated_at = ? WHERE name = ?", [new, now, name]
    )


def record_ramp(store: Any, name: str, old: float, new: float, comment: str | None) -> None:
    """Record a coverage change of experiment ``name``."""
    with store.transaction() as con:
        if _row(con, "SELECT name FROM ab_experiments WHERE name = ?", [name]) is None:
            raise NotFoundError(f"no A/B experiment named {name!r} in this store")
        _ramp(con, name, old, new, comment, _now())


def get_experiment(store: Any, name: str) -> dict[str, Any]:
    """The stored definition of experiment ``name`` (raises NotFoundError)."""
    with store.connection() as con:
        row = _row(con, "SELECT * FROM ab_experiments WHERE name = ?", [name])
    if row is None:
        raise NotFoundError(f"no A/B experiment named {name!r} in this store")
    return _experiment_dict(row)


def list_experiments(store: Any) -> pd.DataFrame:
    """Every experiment with its status and its latest analysis's SRM flag and time."""
    with store.connection() as con:
        return con.execute(
            """SELECT e.name, e.status, e.unit, e.coverage, e.variants, e.created_at,
                      e.updated_at, a.analysis_id AS latest_analysis, a.engine,
                      CAST(json_extract(a.srm, '$.flagged') AS BOOLEAN) AS srm_flagged,
                      a.created_at AS analysed_at
               FROM ab_experiments e
               LEFT JOIN (SELECT *, row_number() OVER (PARTITION BY experiment
                                                       ORDER BY analysis_id DESC) AS rk
                          FROM ab_analyses) a ON a.experiment = e.name AND a.rk = 1
               ORDER BY e.name"""
        ).df()


def set_status(store: Any, name: str, status: str) -> None:
    """Set an experiment's status: draft, running, stopped or decided."""
    if status not in STATUSES:
        raise InvalidInputError(f"status must be one of {STATUSES}, got {status!r}")
    with store.transaction() as con:
        if _row(con, "SELECT name FROM ab_experiments WHERE name = ?", [name]) is None:
            raise NotFoundError(f"no A/B experiment named {name!r} in this store")
        con.execute(
            "UPDATE ab_experiments SET status = ?, updated_at = ? WHERE name = ?",
            [status, _now(), name],
        )


def ramp_history(store: Any, name: str) -> pd.DataFrame:
    """The coverage changes of experiment ``name``, oldest first."""
    with store.connection() as con:
        return con.execute(
            "SELECT ts, coverage_from, coverage_to, comment FROM ab_ramps "
            "WHERE experiment = ? ORDER BY ramp_id",
            [name],
        ).df()


def _ensure_experiment(con: Con, name: str, variants: list, unit: str, now: int) -> None:
    """Create a minimal experiment row (analysed without a prior ``Experiment``)."""
    if _row(con, "SELECT name FROM ab_experiments WHERE name = ?", [name]) is None:
        con.execute(
            "INSERT INTO ab_experiments VALUES (?, ?, ?, ?, 1.0, NULL, NULL, '{}', 'running', ?, ?)",
            [name, unit, name, _dumps(variants), now, now],
        )


# -- designs -------------------------------------------------------------------
def save_design(store: Any, experiment: str | None, inputs: dict, result: dict) -> int:
    """Save a sample-size design; returns its id."""
    with store.transaction() as con:
        return int(
            con.execute(
                "INSERT INTO ab_designs (experiment, inputs, result, created_at) "
                "VALUES (?, ?, ?, ?) RETURNING design_id",
                [experiment, _dumps(inputs), _dumps(result), _now()],
            ).fetchone()[0]
        )


def list_designs(store: Any, experiment: str | None = None) -> pd.DataFrame:
    """Saved designs (of one experiment, or all), newest first."""
    with store.connection() as con:
        if experiment is None:
            return con.execute("SELECT * FROM ab_designs ORDER BY design_id DESC").df()
        return con.execute(
            "SELECT * FROM ab_designs WHERE experiment = ? ORDER BY design_id DESC", [experiment]
        ).df()


# -- assignment snapshots ------------------------------------------------------
def save_assignment_snapshot(
    store: Any,
    experiment: str,
    coverage: float,
    unit_ids: list[str],
    bucket_values: list[int],
    variants: list[str | None],
) -> dict[str, Any]:
    """Save the assignment of ``unit_ids`` at ``coverage`` (one transaction)."""
    counts: dict[str, int] = {}
    for v in variants:
        key = "(none)" if v is None else v
        counts[key] = counts.get(key, 0) + 1
    frame = pd.DataFrame(
        {"unit_id": unit_ids, "bucket": bucket_values, "variant": pd.array(variants, dtype=object)}
    )
    with store.transaction() as con:
        sid = int(
            con.execute(
                "INSERT INTO ab_assignment_snapshots (experiment, coverage, n_units, counts, "
                "created_at) VALUES (?, ?, ?, ?, ?) RETURNING snapshot_id",
                [experiment, float(coverage), len(unit_ids), _dumps(counts), _now()],
            ).fetchone()[0]
        )
        con.register("_ab_snapshot_rows", frame)
        try:
            con.execute(
                "INSERT INTO ab_assignments SELECT ?, unit_id, bucket, variant "
                "FROM _ab_snapshot_rows",
                [sid],
            )
        finally:
            con.unregister("_ab_snapshot_rows")
    return {"snapshot_id": sid, "counts": counts}


def assignment_snapshot(store: Any, snapshot_id: int) -> pd.DataFrame:
    """The unit_id, bucket and variant rows of one snapshot."""
    with store.connection() as con:
        return con.execute(
            "SELECT unit_id, bucket, variant FROM ab_assignments WHERE snapshot_id = ? "
            "ORDER BY unit_id",
            [int(snapshot_id)],
        ).df()


def moved_units(store: Any, old_snapshot: int, new_snapshot: int) -> pd.DataFrame:
    """Units assigned to a variant in ``old_snapshot`` and to another one in ``new_snapshot``."""
    with store.connection() as con:
        return con.execute(
            """SELECT a.unit_id, a.variant AS before, b.variant AS after
               FROM ab_assignments a JOIN ab_assignments b USING (unit_id)
               WHERE a.snapshot_id = ? AND b.snapshot_id = ? AND a.variant IS NOT NULL
                 AND b.variant IS DISTINCT FROM a.variant
               ORDER BY a.unit_id""",
            [int(old_snapshot), int(new_snapshot)],
        ).df()


# -- analyses and decisions ----------------------------------------------------
def save_analysis(
    store: Any,
    experiment: str,
    engine: str,
    correction: str | None,
    options: dict,
    table_records: list[dict],
    srm: dict,
    findings: list,
    variants: list,
    unit: str,
) -> int:
    """Save one analysis (creating the experiment row if needed); returns its id."""
    now = _now()
    with store.transaction() as con:
        _ensure_experiment(con, experiment, variants, unit, now)
        return int(
            con.execute(
                "INSERT INTO ab_analyses (experiment, engine, correction, options, result_table, "
                "srm, findings, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING analysis_id",
                [
                    experiment,
                    engine,
                    correction,
                    _dumps(options),
                    json.dumps(_clean(table_records), default=str),  # keeps column order
                    _dumps(srm),
                    _dumps(findings),
                    now,
                ],
            ).fetchone()[0]
        )


def get_analysis(store: Any, analysis_id: int) -> dict[str, Any]:
    """One saved analysis: its options, table (a DataFrame), SRM and findings."""
    with store.connection() as con:
        row = _row(con, "SELECT * FROM ab_analyses WHERE analysis_id = ?", [int(analysis_id)])
    if row is None:
        raise NotFoundError(f"no A/B analysis with id {analysis_id}")
    for key in ("options", "srm", "findings"):
        row[key] = _loads(row[key])
    row["table"] = pd.DataFrame(_loads(row.pop("result_table")))
    return row


def list_analyses(store: Any, experiment: str) -> pd.DataFrame:
    """The analyses of one experiment, newest first (without their tables)."""
    with store.connection() as con:
        return con.execute(
            "SELECT analysis_id, engine, correction, srm, created_at FROM ab_analyses "
            "WHERE experiment = ? ORDER BY analysis_id DESC",
            [experiment],
        ).df()


def record_decision(
    store: Any,
    experiment: str,
    decision: str,
    comment: str | None = None,
    variant: str | None = None,
    analysis_id: int | None = None,
    user: str | None = None,
) -> int:
    """Record ship / stop / iterate for an experiment (status becomes "decided")."""
    if decision not in DECISIONS:
        raise InvalidInputError(f"decision must be one of {DECISIONS}, got {decision!r}")
    now = _now()
    with store.transaction() as con:
        row = _row(con, "SELECT variants FROM ab_experiments WHERE name = ?", [experiment])
        if row is None:
            raise NotFoundError(f"no A/B experiment named {experiment!r} in this store")
        names = [v[0] for v in _loads(row["variants"])]
        if variant is not None and variant not in names:
            raise InvalidInputError(
                f"variant {variant!r} is not a variant of {experiment!r}; variants are {names}"
            )
        if (
            analysis_id is not None
            and _row(
                con,
                "SELECT analysis_id FROM ab_analyses WHERE analysis_id = ? AND experiment = ?",
                [int(analysis_id), experiment],
            )
            is None
        ):
            raise NotFoundError(f"no analysis {analysis_id} of experiment {experiment!r}")
        did = int(
            con.execute(
                "INSERT INTO ab_decisions (experiment, decision, variant, analysis_id, comment, "
                "user_name, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING decision_id",
                [experiment, decision, variant, analysis_id, comment, user, now],
            ).fetchone()[0]
        )
        con.execute(
            "UPDATE ab_experiments SET status = 'decided', updated_at = ? WHERE name = ?",
            [now, experiment],
        )
        return did


def list_decisions(store: Any, experiment: str) -> pd.DataFrame:
    """The decisions recorded for one experiment, oldest first."""
    with store.connection() as con:
        return con.execute(
            "SELECT decision_id, decision, variant, analysis_id, comment, user_name, created_at "
            "FROM ab_decisions WHERE experiment = ? ORDER BY decision_id",
            [experiment],
        ).df()


# -- bandit state --------------------------------------------------------------
def save_bandit(store: Any, name: str, policy: str, state: dict) -> None:
    """Save (replace) the state of the bandit ``name``."""
    with store.transaction() as con:
        con.execute(
            "INSERT OR REPLACE INTO ab_bandits VALUES (?, ?, ?, ?)",
            [name, policy, json.dumps(state, sort_keys=True), _now()],
        )


def load_bandit(store: Any, name: str) -> dict[str, Any]:
    """The saved state of the bandit ``name`` (raises NotFoundError)."""
    with store.connection() as con:
        row = _row(con, "SELECT state FROM ab_bandits WHERE name = ?", [name])
    if row is None:
        raise NotFoundError(f"no bandit named {name!r} in this store")
    return json.loads(row["state"])
