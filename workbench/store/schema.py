"""The store's schema and its migrations.

The schema version lives in the ``meta`` table. Each migration is a list of
statements that takes the schema from version ``n - 1`` to ``n``; opening a
store applies the missing ones in one transaction. A store written by a newer
workbench is refused rather than guessed at.

Times are integer milliseconds since the Unix epoch (as in MLflow), so that
records written by any process compare without time-zone surprises.

>>> SCHEMA_VERSION >= 2
True
"""

from __future__ import annotations

import duckdb

from workbench.errors import StoreVersionError

MIGRATIONS: list[list[str]] = [
    # v1: the tracking tables.
    [
        "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
        "CREATE SEQUENCE experiment_ids START 1",
        """CREATE TABLE experiments (
            experiment_id BIGINT PRIMARY KEY DEFAULT nextval('experiment_ids'),
            name VARCHAR NOT NULL UNIQUE,
            created_at BIGINT NOT NULL,
            deleted_at BIGINT
        )""",
        """CREATE TABLE environments (
            env_id VARCHAR PRIMARY KEY,
            python_version VARCHAR,
            platform VARCHAR,
            packages JSON
        )""",
        """CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            experiment_id BIGINT NOT NULL,
            run_name VARCHAR,
            parent_run_id VARCHAR,
            status VARCHAR NOT NULL,
            start_time BIGINT NOT NULL,
            end_time BIGINT,
            user_name VARCHAR,
            source VARCHAR,
            git_commit VARCHAR,
            git_dirty BOOLEAN,
            env_id VARCHAR,
            host VARCHAR,
            pid INTEGER,
            proc_start DOUBLE,
            last_heartbeat BIGINT,
            deleted_at BIGINT
        )""",
        """CREATE TABLE params (
            run_id VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            value VARCHAR,
            value_num DOUBLE,
            PRIMARY KEY (run_id, key)
        )""",
        """CREATE TABLE tags (
            run_id VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            value VARCHAR,
            PRIMARY KEY (run_id, key)
        )""",
        """CREATE TABLE metrics (
            run_id VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            step BIGINT NOT NULL,
            ts BIGINT NOT NULL,
            value DOUBLE
        )""",
        """CREATE TABLE latest_metrics (
            run_id VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            step BIGINT NOT NULL,
            ts BIGINT NOT NULL,
            value DOUBLE,
            PRIMARY KEY (run_id, key)
        )""",
        """CREATE TABLE artifacts (
            run_id VARCHAR NOT NULL,
            path VARCHAR NOT NULL,
            sha256 VARCHAR NOT NULL,
            size BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (run_id, path)
        )""",
        """CREATE TABLE datasets (
            digest VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            schema JSON,
            n_rows BIGINT,
            n_cols BIGINT,
            source VARCHAR,
            artifact_sha256 VARCHAR,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (digest, name)
        )""",
        """CREATE TABLE run_datasets (
            run_id VARCHAR NOT NULL,
            digest VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            role VARCHAR NOT NULL,
            PRIMARY KEY (run_id, digest, name, role)
        )""",
        "CREATE TABLE spool_ingested (file_name VARCHAR PRIMARY KEY, ingested_at BIGINT NOT NULL)",
    ],
    # v2: descriptions, and running min/max/count per metric so that "best run
    # per metric" and the run table never scan the history.
    [
        "ALTER TABLE experiments ADD COLUMN description VARCHAR",
        "ALTER TABLE runs ADD COLUMN description VARCHAR",
        "ALTER TABLE latest_metrics ADD COLUMN min_value DOUBLE",
        "ALTER TABLE latest_metrics ADD COLUMN max_value DOUBLE",
        "ALTER TABLE latest_metrics ADD COLUMN n_points BIGINT",
        """UPDATE latest_metrics AS lm SET min_value = agg.mn, max_value = agg.mx, n_points = agg.n
           FROM (SELECT run_id, key, min(value) AS mn, max(value) AS mx, count(*) AS n
                 FROM metrics GROUP BY run_id, key) AS agg
           WHERE lm.run_id = agg.run_id AND lm.key = agg.key""",
    ],
    # v3: no primary-key indexes on params, tags and latest_metrics. Their ART
    # indexes, built one ingest at a time, were ~80% of a 100,000-run store's
    # file (134 MB -> see benchmarks/RESULTS.md) and no query uses them: search
    # joins by hash, and the ingest keeps (run_id, key) unique itself with
    # anti-joins inside its transaction, under the store's lock.
    [
        *(
            statement
            for table, columns in (
                ("params", "run_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR, "
                           "value_num DOUBLE"),
                ("tags", "run_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR"),
                ("latest_metrics", "run_id VARCHAR NOT NULL, key VARCHAR NOT NULL, "
                                   "step BIGINT NOT NULL, ts BIGINT NOT NULL, value DOUBLE, "
                                   "min_value DOUBLE, max_value DOUBLE, n_points BIGINT"),
            )
            for statement in (
                f"CREATE TABLE {table}_v3 ({columns})",
                f"INSERT INTO {table}_v3 SELECT * FROM {table} ORDER BY run_id, key",
                f"DROP TABLE {table}",
                f"ALTER TABLE {table}_v3 RENAME TO {table}",
            )
        )
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)

# Later parts of the workbench (registry, pipelines, ...) keep their tables in
# components with their own version sequence, so that each part evolves
# independently: component -> list of migrations. The tracking tables above
# are the "tracking" component, versioned under the historical key.
COMPONENTS: dict[str, list[list[str]]] = {"tracking": MIGRATIONS}


def register_component(name: str, migrations: list[list[str]]) -> None:
    """Declare the migrations of a component's tables (called at import by store modules)."""
    COMPONENTS[name] = migrations


def _meta_key(component: str) -> str:
    return "schema_version" if component == "tracking" else f"schema_version:{component}"


def schema_version(con: duckdb.DuckDBPyConnection, component: str = "tracking") -> int:
    """The schema version of one component of an open store; 0 when absent."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    ).fetchone()[0]
    if not exists:
        return 0
    row = con.execute("SELECT value FROM meta WHERE key = ?", [_meta_key(component)]).fetchone()
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection, target: int | None = None) -> int:
    """Bring every component's schema up to date; returns the tracking version it started from.

    ``target`` limits the tracking component (the tests use it to build old
    stores). Raises :class:`StoreVersionError` when any component of the store
    is newer than this package, before changing anything.
    """
    plan = []
    for component, migrations in COMPONENTS.items():
        current = schema_version(con, component)
        latest = len(migrations)
        if current > latest:
            raise StoreVersionError(
                f"this store's {component} schema has version {current}, but this workbench only "
                f"knows up to version {latest}; upgrade the workbench package to open it"
            )
        goal = latest if (target is None or component != "tracking") else target
        if component != "tracking" and target is not None:
            goal = current  # building an old store: leave the other components alone
        plan.append((component, current, goal, migrations))
    started = plan[0][1]
    if all(current >= goal for _, current, goal, _ in plan):
        return started
    con.execute("BEGIN TRANSACTION")
    try:
        for component, current, goal, migrations in plan:
            for version in range(current + 1, goal + 1):
                for statement in migrations[version - 1]:
                    con.execute(statement)
            if goal > current:
                con.execute(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)", [_meta_key(component), str(goal)]
                )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return started
