"""Ingest gives the same tables however the records are cut into spool files and batches.

A batch takes a fast path for runs it starts itself (their updates are folded
into the insert, their params, tags and latest metrics skip the joins against
the whole tables) and the general path for runs started earlier; both must
agree with each other and with the rules (params write-once, later tags and
updates win, the latest metric follows the highest step).
"""

from __future__ import annotations

import math
import random

import duckdb
import pytest

from workbench.store.ingest import apply_records, ingest_pending
from workbench.store.schema import migrate
from workbench.store.spool import SpoolWriter, read_spool_file

RUNS = [f"run{i}" for i in range(6)]
TABLES = {
    # experiment ids follow the order names are first met, which batching may change
    "runs": "SELECT run_id, e.name, run_name, status, start_time, end_time, runs.description, "
    "last_heartbeat FROM runs JOIN experiments e USING (experiment_id) ORDER BY run_id",
    "params": "SELECT run_id, key, value, value_num FROM params ORDER BY run_id, key",
    "tags": "SELECT run_id, key, value FROM tags ORDER BY run_id, key",
    "metrics": "SELECT run_id, key, step, ts, value FROM metrics ORDER BY run_id, key, step, ts",
    "latest": "SELECT run_id, key, step, ts, value, min_value, max_value, n_points "
    "FROM latest_metrics ORDER BY run_id, key",
}


def _stream(seed: int) -> list[tuple[str, object]]:
    """A run-by-run plausible record stream: each run starts before anything else of it."""
    rng = random.Random(seed)
    started: list[str] = []
    events: list[tuple[str, object]] = []
    for t in range(120):
        if len(started) < len(RUNS) and (not started or rng.random() < 0.15):
            run_id = RUNS[len(started)]
            started.append(run_id)
            events.append(("add", {
                "kind": "run_start", "run_id": run_id, "experiment_id": None,
                "experiment_name": rng.choice(["alpha", "beta"]), "run_name": f"name-{run_id}",
                "parent_run_id": None, "status": "RUNNING", "start_time": 1000 + t,
                "user_name": "u", "source": None, "git_commit": None, "git_dirty": None,
                "env_id": None, "host": "h", "pid": 1, "proc_start": 1.0, "description": None,
            }))
            continue
        run_id = rng.choice(started)
        pick = rng.random()
        if pick < 0.2:
            key = rng.choice(["lr", "depth", "model"])
            events.append(("add", {"kind": "params", "run_id": run_id,
                                   "items": [[key, str(rng.randint(1, 9))]]}))
        elif pick < 0.35:
            events.append(("add", {"kind": "tags", "run_id": run_id,
                                   "items": [[rng.choice(["team", "note"]), f"v{t}"]]}))
        elif pick < 0.42:
            events.append(("add", {"kind": "tag_delete", "run_id": run_id,
                                   "key": rng.choice(["team", "note"])}))
        elif pick < 0.52:
            update = {"kind": "run_update", "run_id": run_id}
            update[rng.choice(["status", "description", "run_name"])] = f"x{t}"
            if rng.random() < 0.5:
                update["end_time"] = 5000 + t
            events.append(("add", update))
        elif pick < 0.58:
            events.append(("add", {"kind": "heartbeat", "run_ids": started[:], "ts": 9000 + t}))
        else:
            key = rng.choice(["loss", "auc"])
            step = rng.randint(0, 5)
            value = float("nan") if rng.random() < 0.1 else rng.random()
            events.append(("metric", (run_id, key, value, step, 2000 + t)))
    return events


def _ingest(tmp_path, events, cuts: set[int], name: str) -> dict[str, list]:
    """Write ``events`` as one spool file per stretch between ``cuts``, ingesting after each."""
    con = duckdb.connect()
    migrate(con)
    writer = SpoolWriter(tmp_path / name, start_thread=False)
    for i, (kind, payload) in enumerate(events):
        if kind == "add":
            writer.add(dict(payload))
        else:
            run_id, key, value, step, ts = payload
            writer.add_metrics(run_id, [key], [value], [step], [ts])
        if i in cuts:
            writer.flush()
            ingest_pending(con, writer.spool_dir)
    writer.flush()
    ingest_pending(con, writer.spool_dir)
    tables = {name: [tuple(map(_nan_free, row)) for row in con.execute(sql).fetchall()]
              for name, sql in TABLES.items()}
    con.close()
    return tables


def _nan_free(value):
    """NaN as a marker, so that rows holding NaN compare equal."""
    return "NaN" if isinstance(value, float) and math.isnan(value) else value


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_tables_do_not_depend_on_how_the_records_are_batched(tmp_path, seed):
    events = _stream(seed)
    whole = _ingest(tmp_path, events, set(), "whole")
    one_by_one = _ingest(tmp_path, events, set(range(len(events))), "each")
    rng = random.Random(seed)
    chunked = _ingest(tmp_path, events, set(rng.sample(range(len(events)), 12)), "chunks")
    assert len(whole["runs"]) == len(RUNS)
    for name in TABLES:
        assert one_by_one[name] == whole[name], name
        assert chunked[name] == whole[name], name


def test_a_fresh_run_and_an_older_run_in_one_batch_follow_the_same_rules(tmp_path):
    con = duckdb.connect()
    migrate(con)
    writer = SpoolWriter(tmp_path / "spool", start_thread=False)

    def start(run_id):
        writer.add({"kind": "run_start", "run_id": run_id, "experiment_name": "e",
                    "status": "RUNNING", "start_time": 1})

    start("old")
    writer.add({"kind": "params", "run_id": "old", "items": [["lr", "0.1"]]})
    writer.add({"kind": "tags", "run_id": "old", "items": [["team", "a"], ["gone", "x"]]})
    writer.add_metrics("old", ["loss"], [0.5], [3], [10])
    writer.flush()
    ingest_pending(con, writer.spool_dir)
    # One batch: a new run, and more for the old one.
    start("new")
    for run_id in ("old", "new"):
        writer.add({"kind": "params", "run_id": run_id, "items": [["lr", "0.2"], ["depth", "4"]]})
        writer.add({"kind": "params", "run_id": run_id, "items": [["depth", "9"]]})
        writer.add({"kind": "tags", "run_id": run_id, "items": [["team", "b"], ["gone", "y"]]})
        writer.add({"kind": "tag_delete", "run_id": run_id, "key": "gone"})
        writer.add_metrics(run_id, ["loss", "loss"], [0.4, 0.9], [2, 5], [20, 21])
        writer.add({"kind": "run_update", "run_id": run_id, "status": "FINISHED", "end_time": 7})
        writer.add({"kind": "run_update", "run_id": run_id, "description": "done"})
    writer.flush()
    ingest_pending(con, writer.spool_dir)

    runs = con.execute("SELECT run_id, status, end_time, description FROM runs ORDER BY run_id").fetchall()
    assert runs == [("new", "FINISHED", 7, "done"), ("old", "FINISHED", 7, "done")]
    params = con.execute("SELECT run_id, key, value FROM params ORDER BY run_id, key").fetchall()
    assert params == [("new", "depth", "4"), ("new", "lr", "0.2"),
                      ("old", "depth", "4"), ("old", "lr", "0.1")]  # write-once: first wins
    tags = con.execute("SELECT run_id, key, value FROM tags ORDER BY run_id, key").fetchall()
    assert tags == [("new", "team", "b"), ("old", "team", "b")]
    latest = con.execute(
        "SELECT run_id, step, value, min_value, max_value, n_points FROM latest_metrics ORDER BY run_id"
    ).fetchall()
    assert latest == [("new", 5, 0.9, 0.4, 0.9, 2), ("old", 5, 0.9, 0.4, 0.9, 3)]


def test_a_run_start_seen_again_changes_nothing(tmp_path):
    con = duckdb.connect()
    migrate(con)
    writer = SpoolWriter(tmp_path / "spool", start_thread=False)
    writer.add({"kind": "run_start", "run_id": "r", "experiment_name": "e", "status": "RUNNING",
                "start_time": 1, "run_name": "first"})
    writer.add({"kind": "params", "run_id": "r", "items": [["lr", "0.1"]]})
    path = writer.flush()
    records, _ = read_spool_file(path)
    ingest_pending(con, writer.spool_dir)
    con.execute("UPDATE runs SET status = 'FINISHED'")
    again = [dict(r, run_name="second") if r["kind"] == "run_start" else r for r in records]
    apply_records(con, again, [])
    assert con.execute("SELECT run_name, status FROM runs").fetchall() == [("first", "FINISHED")]
    assert con.execute("SELECT count(*) FROM params").fetchone() == (1,)
