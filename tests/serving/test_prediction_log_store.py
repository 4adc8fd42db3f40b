"""Prediction-log segments into the store: bulk, idempotent, damaged files quarantined; the monitoring queries."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.errors import InvalidInputError
from workbench.serving.deployment import sync_predictions
from workbench.serving.predlog import PredictionLog, write_event
from workbench.serving.runtime import serving_folders
from workbench.store import serving_store as ss

T0 = 1_700_000_000_000 - (1_700_000_000_000 % 60_000)


def _rows(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        variant = "v1" if i % 3 else "v2"
        out.append({"request_id": f"r{seed}-{i}", "ts": T0 + int(rng.integers(0, 180_000)), "deployment": "api",
                    "variant": variant, "role": "champion" if variant == "v1" else "challenger",
                    "status": "ok" if rng.random() > 0.1 else "error", "http_status": 200,
                    "total_ms": float(rng.gamma(2, 3)), "n_rows": 1, "fallback": False,
                    "inputs": json.dumps({"columns": ["a", "b"], "data": [[i, f"x{i}"]]}),
                    "outputs": json.dumps([i % 2])})
    return out


def _write(store, rows, **kw):
    log = PredictionLog(serving_folders(store.path)[0], flush_interval=None, **kw)
    for r in rows:
        log.add(dict(r))
    return log.flush()


def test_segments_are_ingested_once_and_deleted_on_a_later_ingest(store):
    rows = _rows(500)
    path = _write(store, rows[:300])
    _write(store, rows[300:])
    first = sync_predictions(store)
    assert first["predictions"] == 500 and first["files"] == 2
    assert path.exists()  # kept until a later ingest sees its recorded name
    with store.transaction(ingest=False) as con:  # a replay of the same files applies nothing
        again = ss.ingest_prediction_segments(con, serving_folders(store.path)[0])
    assert again["predictions"] == 0 and again["deleted"] == 2 and not path.exists()
    with store.connection() as con:
        assert con.execute("SELECT count(*), count(DISTINCT request_id) FROM predictions").fetchone() == (500, 500)


def test_any_open_of_the_store_ingests_waiting_segments(store):
    """The store's ingest-at-open takes the prediction log too, as it takes the spool."""
    _write(store, _rows(30))
    with store.connection() as con:
        assert con.execute("SELECT count(*) FROM predictions").fetchone()[0] == 30
    store.close()
    store.sync()  # a later open deletes the ingested segments
    assert list(serving_folders(store.path)[0].glob("*.parquet")) == []


def test_a_crash_before_commit_leaves_the_files_for_the_next_ingest(store):
    _write(store, _rows(50))
    folder = serving_folders(store.path)[0]
    with pytest.raises(RuntimeError), store.transaction(ingest=False) as con:
        ss.ingest_prediction_segments(con, folder)
        raise RuntimeError("crash before commit")
    assert sync_predictions(store)["predictions"] == 50


def test_a_damaged_segment_is_quarantined_and_the_others_ingested(store):
    _write(store, _rows(40))
    folder = serving_folders(store.path)[0]
    (folder / "00000000000000000001-1-00000001.parquet").write_bytes(b"PAR1 not really")
    with pytest.warns(UserWarning, match="cannot be read"):
        counts = sync_predictions(store)
    assert counts["predictions"] == 40
    assert (folder / "corrupt" / "00000000000000000001-1-00000001.parquet").exists()
    (folder / ".tmp-00000000000000000002-1-00000001.parquet").write_bytes(b"half written")
    assert sync_predictions(store)["predictions"] == 0  # tmp files are never read


@pytest.mark.parametrize("every_ms", [60_000, 5_000])
def test_traffic_by_interval_matches_pandas_and_numpy(store, every_ms):
    rows = _rows(900, seed=3)
    _write(store, rows)
    sync_predictions(store)
    with store.connection() as con:
        got = ss.traffic_by_interval(con, "api", every_ms)
    df = pd.DataFrame(rows)
    df["time"] = (df["ts"] // every_ms) * every_ms
    for (variant, start), g in df.groupby(["variant", "time"]):
        row = got[(got.variant == variant) & (got.time == start)].iloc[0]
        assert row.requests == len(g) and row.requests_per_s == pytest.approx(len(g) / (every_ms / 1000), abs=1e-12)
        assert row.error_rate == pytest.approx((g.status != "ok").mean(), abs=1e-12)
        for q, col in ((0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")):
            assert row[col] == pytest.approx(np.quantile(g.total_ms, q), abs=1e-9)
    assert len(got) == df.groupby(["variant", "time"]).ngroups
    with store.connection() as con:
        later = ss.traffic_by_interval(con, "api", every_ms, since_ms=T0 + 60_000)
        assert later.time.min() == T0 + 60_000
        for bad in (999, 1.5, "60000", True):
            with pytest.raises(InvalidInputError, match="at least 1000 ms"):
                ss.traffic_by_interval(con, "api", bad)


def test_shadow_agreement_feedback_and_logged_inputs(store):
    live = [{"request_id": f"q{i}", "ts": T0 + i, "deployment": "api", "variant": "v1", "role": "champion",
             "status": "ok", "http_status": 200, "total_ms": 2.0, "n_rows": 1, "fallback": False,
             "inputs": json.dumps({"columns": ["a", "b"], "data": [[i, "x"]]}), "outputs": json.dumps([i % 2])}
            for i in range(10)]
    shadow = [{**r, "variant": "v2", "role": "shadow", "total_ms": 3.5,
               "outputs": json.dumps([(i % 2) if i < 8 else 1 - (i % 2)])} for i, r in enumerate(live)]
    log = PredictionLog(serving_folders(store.path)[0], flush_interval=None)
    for r in live + shadow:
        log.add(dict(r))
    log.add_feedback({"request_id": "q1", "deployment": "api", "variant": "v1", "label": "0", "label_num": 0.0,
                      "reward": 0.0})
    log.add_feedback({"request_id": "q1", "deployment": "api", "variant": "v1", "label": "1", "label_num": 1.0,
                      "reward": 1.0})  # a later post for the same request: the latest counts, once
    # two unsampled pairs (no outputs logged on one side): compared, but no agreement verdict
    for i in (10, 11):
        log.add({**live[0], "request_id": f"q{i}", "ts": T0 + i, "outputs": None, "inputs": None})
        log.add({**shadow[0], "request_id": f"q{i}", "ts": T0 + i})
    log.flush()
    sync_predictions(store)
    with store.connection() as con:
        agree = ss.shadow_agreement(con, "api").iloc[0]
        inputs = ss.logged_inputs(con, "api")
        rows = ss.prediction_rows(con, "api", limit=100)
        fb = ss.feedback_by_variant(con, "api")
        newest = ss.logged_inputs(con, "api", limit=3)
    assert agree.compared == 12 and agree.agreement == pytest.approx(0.8)
    assert agree.abs_diff_p95 == pytest.approx(np.quantile([0] * 8 + [1, 1], 0.95))
    assert agree.latency_diff_p50_ms == pytest.approx(1.5)
    assert inputs.shape == (10, 2) and inputs["a"].tolist() == list(range(10))  # live only, in time order
    assert rows.set_index("request_id").loc["q1"].reward.tolist() == [1.0, 1.0]
    assert fb.iloc[0].n == 1 and fb.iloc[0].mean_reward == 1.0 and fb.iloc[0].total_reward == 1.0
    assert newest["a"].tolist() == [7, 8, 9]  # the newest requests, in time order


def test_event_files_update_the_state_only_forward(store):
    from workbench.serving.loading import VersionSpec
    from workbench.serving.strategies import new_state, switch

    s0 = new_state("api", VersionSpec("churn", 1, "a" * 64))
    with store.transaction() as con:
        ss.create_deployment(con, "api", "churn", s0, "me", T0)
    s1 = {**switch(s0, VersionSpec("churn", 2, "b" * 64)), "seq": 1}
    events = serving_folders(store.path)[1]
    write_event(events, {"deployment": "api", "seq": 1, "ts": T0 + 1, "kind": "switch", "details": {}, "state": s1})
    write_event(events, {"deployment": "api", "seq": 0, "ts": T0 + 2, "kind": "stale", "details": {},
                         "state": {**s0, "seq": 0, "strategy": "stale"}})
    assert sync_predictions(store)["events"] == 2
    with store.connection() as con:
        row = ss.get_deployment(con, "api")
        v = ss.variants(con, "api")
        kinds = ss.events(con, "api")["kind"].tolist()
    assert row["seq"] == 1 and row["state"]["strategy"] == "bluegreen"
    assert v.model_version.tolist() == [2] and sorted(kinds) == ["stale", "switch"]


def test_the_store_component_is_registered(tmp_path):
    s = wb.Store(tmp_path / "x.duckdb")
    assert s.info()  # opens and migrates with the serving component
    with s.connection() as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"deployments", "deployment_variants", "deployment_events", "predictions",
            "prediction_feedback", "serving_ingested"} <= tables


def test_a_failed_flush_keeps_its_rows_for_the_next(tmp_path, monkeypatch):
    from workbench.serving import predlog

    log = PredictionLog(tmp_path / "p", flush_interval=None)
    log.add({"request_id": "a", "status": "ok"})
    real = predlog.write_atomic

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(predlog, "write_atomic", full_disk)
    with pytest.raises(OSError):
        log.flush()
    assert log.pending() == 1 and not list((tmp_path / "p").glob("*.parquet"))
    monkeypatch.setattr(predlog, "write_atomic", real)
    log.add({"request_id": "b", "status": "ok"})
    import pyarrow.parquet as pq

    assert pq.read_table(log.flush()).column("request_id").to_pylist() == ["a", "b"]


def test_payloads_are_sampled_and_capped(tmp_path):
    import pyarrow.parquet as pq

    log = PredictionLog(tmp_path / "p", flush_interval=None, max_payload_chars=40)
    log.add({"request_id": "small", "inputs": lambda cap: '{"columns": ["a"], "data": [[1]]}'})
    log.add({"request_id": "big", "inputs": lambda cap: "x" * 100, "outputs": [1, 2]})
    rows = {r["request_id"]: r for r in pq.read_table(log.flush()).to_pylist()}
    assert rows["small"]["inputs"] == '{"columns": ["a"], "data": [[1]]}'  # 32 characters: kept
    assert rows["big"]["inputs"] is None and rows["big"]["outputs"] == "[1, 2]"


@pytest.mark.parametrize("text, seconds", [(60, 60.0), ("60s", 60.0), ("5m", 300.0), ("250ms", 0.25),
                                           ("1h", 3600.0), (0.5, 0.5)])
def test_parse_interval(text, seconds):
    from workbench.serving.deployment import parse_interval

    assert parse_interval(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "-1s", 0, "1d"])
def test_parse_interval_refuses(bad):
    from workbench.errors import InvalidInputError
    from workbench.serving.deployment import parse_interval

    with pytest.raises(InvalidInputError):
        parse_interval(bad)


def test_segments_written_before_the_unit_column_are_ingested_with_a_null_unit(store):
    """A segment from before the routing key was logged (no ``unit`` column) still ingests, beside a new one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from workbench.serving.predlog import PREDICTION_SCHEMA

    old_schema = pa.schema([f for f in PREDICTION_SCHEMA if f.name != "unit"])
    folder = serving_folders(store.path)[0]
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(_rows(5, seed=1), schema=old_schema), folder / "old-1.parquet")
    assert sync_predictions(store)["predictions"] == 5  # only old segments: no unit column anywhere
    _write(store, [{**r, "unit": f"user-{i}"} for i, r in enumerate(_rows(4, seed=2))])
    pq.write_table(pa.Table.from_pylist(_rows(3, seed=3), schema=old_schema), folder / "old-2.parquet")
    assert sync_predictions(store)["predictions"] == 7  # old and new in one statement
    with store.connection() as con:
        events = ss.ab_events(con, "api")
    keyed = events[events["request_id"].str.startswith("r2-")]
    assert sorted(keyed["unit"]) == sorted(f"user-{i}" for i in range(4))
    unkeyed = events[~events["request_id"].str.startswith("r2-")]
    assert (unkeyed["unit"] == unkeyed["request_id"]).all() and len(unkeyed) == 8


def test_only_ingestible_files_count_as_waiting(store):
    """A server's own files and the corrupt/ folder beside the log do not make every open an ingest."""
    log_folder, events_folder = serving_folders(store.path)
    events_folder.mkdir(parents=True, exist_ok=True)
    (events_folder / "api.server.json").write_text("{}")
    (events_folder / "api.server.log").write_text("started\n")
    (log_folder / "corrupt").mkdir(parents=True, exist_ok=True)
    (log_folder / ".tmp-1-1.parquet").write_bytes(b"half")
    assert not ss.has_waiting_segments(store.path)
    path = _write(store, _rows(2))
    assert ss.has_waiting_segments(store.path)
    sync_predictions(store)
    sync_predictions(store)  # the second ingest deletes what the first recorded
    assert not path.exists() and not ss.has_waiting_segments(store.path)
