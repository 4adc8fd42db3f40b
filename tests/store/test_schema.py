"""Schema versions: old stores upgrade themselves, newer ones are refused untouched."""

from __future__ import annotations

import duckdb
import pytest

import workbench as wb
from workbench.errors import StoreVersionError
from workbench.store.schema import SCHEMA_VERSION, migrate, schema_version


def _make_v1_store(path):
    """A store exactly as version 1 of the schema wrote it, with some data."""
    con = duckdb.connect(str(path))
    migrate(con, target=1)
    con.execute("INSERT INTO experiments (name, created_at) VALUES ('legacy', 0)")
    con.execute(
        "INSERT INTO runs (run_id, experiment_id, run_name, status, start_time) "
        "VALUES ('r1', 1, 'old-run', 'FINISHED', 1000)"
    )
    con.execute("INSERT INTO metrics VALUES ('r1', 'loss', 0, 1000, 0.9), ('r1', 'loss', 1, 1001, 0.4)")
    con.execute("INSERT INTO latest_metrics VALUES ('r1', 'loss', 1, 1001, 0.4)")
    con.execute("INSERT INTO params VALUES ('r1', 'lr', '0.1', 0.1)")
    assert schema_version(con) == 1
    con.close()


def test_an_old_store_upgrades_itself_and_keeps_its_data(tmp_path):
    path = tmp_path / "old.duckdb"
    _make_v1_store(path)
    store = wb.Store(path)
    assert store.schema_version == SCHEMA_VERSION > 1
    run = store.get_run("r1")
    assert run["params"] == {"lr": "0.1"} and run["metrics"] == {"loss": 0.4}
    latest = store.latest_metrics(["r1"]).iloc[0]  # v2 backfilled the new columns
    assert (latest["min_value"], latest["max_value"], latest["n_points"]) == (0.4, 0.9, 2)
    # and it keeps working as a current store
    with wb.start_run(experiment="legacy", store=store) as new:
        new.log_metric("loss", 0.1)
    assert store.count_runs("legacy") == 2


def test_a_store_from_a_newer_workbench_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "future.duckdb"
    wb.Store(path).create_experiment("keep")
    wb.Store(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    from workbench.store import handle

    handle._handles.clear()  # as a fresh process would see it
    with pytest.raises(StoreVersionError, match="version 99.*upgrade the workbench"):
        wb.Store(path)
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("99",)
    assert con.execute("SELECT name FROM experiments").fetchall() == [("keep",)]
    con.close()


def test_a_folder_path_gets_the_default_file_name_and_neighbours(tmp_path):
    store = wb.Store(tmp_path)
    assert store.path.name == "workbench.duckdb"
    assert store.artifact_root == tmp_path / "workbench.artifacts"
    assert store.spool_dir == tmp_path / "workbench.spool"


def test_info_reports_counts(store):
    with wb.start_run(experiment="e", store=store) as run:
        run.log_metrics({"a": 1.0, "b": 2.0})
    info = store.info()
    assert (info["experiments"], info["runs"], info["metrics"]) == (1, 1, 2)
    assert info["schema_version"] == SCHEMA_VERSION


def test_v3_drops_the_key_indexes_and_the_ingest_keeps_keys_unique(tmp_path):
    path = tmp_path / "v2.duckdb"
    con = duckdb.connect(str(path))
    migrate(con, target=2)
    con.execute("INSERT INTO experiments (name, created_at) VALUES ('legacy', 0)")
    con.execute("INSERT INTO runs (run_id, experiment_id, status, start_time) "
                "VALUES ('r1', 1, 'FINISHED', 1000)")
    con.execute("INSERT INTO params VALUES ('r1', 'lr', '0.1', 0.1)")
    con.execute("INSERT INTO tags VALUES ('r1', 'team', 'ds')")
    con.execute("INSERT INTO latest_metrics VALUES ('r1', 'loss', 1, 1001, 0.4, 0.4, 0.9, 2)")
    con.close()
    store = wb.Store(path)
    assert store.schema_version == SCHEMA_VERSION >= 3
    with store.connection() as con:
        keys = con.execute(
            "SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
        ).fetchall()
    assert {"params", "tags", "latest_metrics"}.isdisjoint({k[0] for k in keys})
    assert ("runs",) in keys  # runs keeps its key: point lookups and INSERT OR IGNORE
    run = store.get_run("r1")
    assert run["params"] == {"lr": "0.1"} and run["tags"] == {"team": "ds"}
    assert run["metrics"] == {"loss": 0.4}
    # Uniqueness without the indexes: the same param from two processes (two
    # spool files) keeps the first value, a re-set tag replaces, and a metric
    # folds into one latest row.
    from workbench.store.spool import SpoolWriter

    for value in ("0.2", "0.3"):
        writer = SpoolWriter(store.spool_dir, start_thread=False)
        writer.add({"kind": "params", "run_id": "r1", "items": [["depth", value]]})
        writer.add({"kind": "tags", "run_id": "r1", "items": [["team", f"t{value}"]]})
        writer.add_metrics("r1", ["loss"], [float(value)], [5], [2000])
        writer.flush()
        store.sync()
    store.set_tag("r1", "team", "final")
    with store.connection() as con:
        counts = con.execute(
            "SELECT (SELECT count(*) FROM params WHERE run_id = 'r1' AND key = 'depth'), "
            "(SELECT count(*) FROM tags WHERE run_id = 'r1' AND key = 'team'), "
            "(SELECT count(*) FROM latest_metrics WHERE run_id = 'r1' AND key = 'loss')"
        ).fetchone()
    assert counts == (1, 1, 1)
    run = store.get_run("r1")
    assert run["params"]["depth"] == "0.2" and run["tags"]["team"] == "final"
    latest = store.latest_metrics(["r1"]).iloc[0]
    assert (latest["value"], latest["n_points"], latest["max_value"]) == (0.3, 4, 0.9)
