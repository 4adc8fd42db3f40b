"""Store.metric_histories: all runs' downsampled histories of one key in one query."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.errors import InvalidInputError, NotFoundError


def _run_with(store, name, key, values, steps=None):
    with wb.start_run(experiment="mh", run_name=name, store=store) as run:
        run.log_metric_history(key, np.asarray(values, dtype=float), steps=steps)
    return run.id


def test_matches_metric_history_per_run(store):
    rng = np.random.default_rng(0)
    long_id = _run_with(store, "long", "loss", rng.normal(size=20_000))
    short_id = _run_with(store, "short", "loss", [3.0, 2.0, 1.0])
    spiky = np.zeros(5_000)
    spiky[1234] = 99.0
    spiky_id = _run_with(store, "spiky", "loss", spiky, steps=np.arange(0, 50_000, 10))
    other_id = _run_with(store, "other", "acc", [0.5, 0.6])
    store.sync()

    ids = [long_id, short_id, spiky_id, other_id]
    many = store.metric_histories(ids, "loss", max_points=500)
    assert list(many.columns) == ["run_id", "step", "timestamp", "value"]
    assert set(many["run_id"]) == {long_id, short_id, spiky_id}  # 'other' has no loss
    for run_id in (long_id, short_id, spiky_id):
        one = store.metric_history(run_id, "loss", max_points=500)
        got = many[many["run_id"] == run_id].drop(columns="run_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, one.reset_index(drop=True), check_dtype=False)
    counts = many.groupby("run_id").size()
    assert counts[short_id] == 3
    assert counts[long_id] <= 500
    assert counts[spiky_id] <= 500
    assert 99.0 in many.loc[many["run_id"] == spiky_id, "value"].tolist()  # spikes survive


def test_without_max_points_returns_everything(store):
    a = _run_with(store, "a", "m", np.arange(3000))
    b = _run_with(store, "b", "m", np.arange(10))
    store.sync()
    df = store.metric_histories([a, b], "m")
    assert df.groupby("run_id").size().to_dict() == {a: 3000, b: 10}
    assert (df[df.run_id == a]["step"].diff().dropna() > 0).all()


def test_million_points_in_one_call_is_capped(store):
    ids = [_run_with(store, f"r{i}", "loss", np.sin(np.arange(1_000_000) / 1e4) + i) for i in range(2)]
    store.sync()
    df = store.metric_histories(ids, "loss", max_points=2000)
    sizes = df.groupby("run_id").size()
    assert set(sizes.index) == set(ids)
    assert (sizes <= 2000).all() and (sizes > 1000).all()


def test_unknown_run_and_bad_input(store):
    a = _run_with(store, "a", "m", [1.0, 2.0])
    store.sync()
    with pytest.raises(NotFoundError, match="nope"):
        store.metric_histories([a, "nope"], "m")
    with pytest.raises(InvalidInputError):
        store.metric_histories([a], "m", max_points=1)
    with pytest.raises(InvalidInputError):
        store.metric_histories(a, "m")
    empty = store.metric_histories([], "m")
    assert empty.empty and list(empty.columns) == ["run_id", "step", "timestamp", "value"]
    assert store.metric_histories([a], "no_such_key").empty


def test_several_keys_in_one_query_match_one_key_at_a_time(store):
    rng = np.random.default_rng(1)
    a = _run_with(store, "a", "loss", rng.normal(size=5_000))
    with wb.start_run(experiment="mh", run_name="b", store=store) as run:
        run.log_metric_history("loss", [3.0, 2.0, 1.0])
        run.log_metric_history("acc", rng.random(800))
    b = run.id
    store.sync()
    both = store.metric_histories_by_key([b, a], ["acc", "loss", "f1"], max_points=500)
    assert list(both) == ["acc", "loss", "f1"]  # every key asked for, in that order
    assert both["f1"].empty and list(both["f1"].columns) == ["run_id", "step", "timestamp", "value"]
    for key in ("acc", "loss"):
        one = store.metric_histories([b, a], key, max_points=500)
        pd.testing.assert_frame_equal(both[key], one)
    # runs come back in the order asked for, each by step
    assert both["loss"]["run_id"].drop_duplicates().tolist() == [b, a]
    assert (both["loss"].groupby("run_id")["step"].diff().dropna() > 0).all()
    assert len(both["loss"][both["loss"]["run_id"] == a]) <= 500
    with pytest.raises(InvalidInputError):
        store.metric_histories_by_key([a], "loss")  # a string, not a list of keys
    with pytest.raises(InvalidInputError):
        store.metric_histories([a], ["loss"])  # metric_histories takes one key
    with pytest.raises(NotFoundError):
        store.metric_histories_by_key([a, "nope"], ["loss"])
