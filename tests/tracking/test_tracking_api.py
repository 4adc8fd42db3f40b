"""The tracking API against a real store: what is logged is what is read back."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.errors import (
    ArtifactIntegrityError,
    ArtifactPathError,
    FilterSyntaxError,
    InvalidInputError,
    InvalidKeyError,
    MetricValueError,
    NotFoundError,
    ParamConflictError,
    RunStateError,
)


def test_the_issue_example_round_trips(store, tmp_path):
    train_df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    png = tmp_path / "confusion.png"
    png.write_bytes(b"\x89PNG fake but bytes")
    with wb.start_run(experiment="churn", run_name="rf-200", store=store, tags={"team": "ds"}) as run:
        wb.log_params({"model": "rf", "n_estimators": 200})
        for step in range(10):
            wb.log_metrics({"loss": 1 / (step + 1), "auc": 0.8 + step / 100}, step=step)
        digest = wb.log_dataset(train_df, name="churn-train", role="train")
        wb.log_artifact(png)
        with wb.start_run(run_name="fold-1", nested=True) as child:
            wb.log_metric("auc", 0.7)
    runs = store.search_runs(
        experiment="churn",
        filter="metrics.auc > 0.85 and params.model = 'rf' and tags.team = 'ds'",
        order_by=["metrics.auc DESC"],
        max_results=100,
    )
    assert runs["run_id"].tolist() == [run.id]
    row = runs.iloc[0]
    assert row["params.n_estimators"] == "200"
    assert row["metrics.auc"] == pytest.approx(0.89)
    assert row["status"] == "FINISHED"
    hist = store.metric_history(run.id, "loss")
    assert hist["step"].tolist() == list(range(10))
    assert hist["value"].tolist() == pytest.approx([1 / (s + 1) for s in range(10)])
    assert list(hist.columns) == ["step", "timestamp", "value"]
    assert store.get_run(child.id)["parent_run_id"] == run.id
    assert store.child_runs(run.id)["run_id"].tolist() == [child.id]
    ds = store.run_datasets(run.id)
    assert ds[["name", "digest", "role", "n_rows"]].values.tolist() == [["churn-train", digest, "train", 3]]
    assert store.read_artifact(run.id, "confusion.png") == png.read_bytes()


def test_run_records_environment_user_and_status(store):
    with wb.start_run(experiment="e", store=store) as run:
        pass
    info = store.get_run(run.id)
    assert info["user"] == "tester"
    assert info["status"] == "FINISHED"
    assert info["end_time"] >= info["start_time"]
    env = store.environment(run.id)
    assert env["python_version"].count(".") == 2
    assert "duckdb" in env["packages"]


def test_an_exception_inside_the_run_marks_it_failed_with_the_traceback(store):
    with pytest.raises(ZeroDivisionError), wb.start_run(experiment="e", store=store) as run:
        1 / 0  # noqa: B018 - the error under test
    info = store.get_run(run.id)
    assert info["status"] == "FAILED"
    assert "ZeroDivisionError" in info["tags"]["error"]


def test_nan_and_infinities_are_stored_as_given(store):
    with wb.start_run(experiment="e", store=store) as run:
        run.log_metric("m", float("nan"), step=0)
        run.log_metric("m", float("inf"), step=1)
        run.log_metric("m", -math.inf, step=2)
        run.log_metric("m", np.float32(1.5), step=3)
    values = store.metric_history(run.id, "m")["value"].tolist()
    assert math.isnan(values[0]) and values[1] == math.inf and values[2] == -math.inf
    assert values[3] == 1.5


@pytest.mark.parametrize(
    ("key", "value", "error", "phrase"),
    [
        ("m", "0.5", MetricValueError, "must be a number, got str"),
        ("m", None, MetricValueError, "must be a number, got NoneType"),
        ("m", [1.0], MetricValueError, "must be a number, got list"),
        ("", 1.0, InvalidKeyError, "must not be empty"),
        ("k" * 251, 1.0, InvalidKeyError, "251 characters"),
        (3, 1.0, InvalidKeyError, "must be a string"),
        ("bad\nkey", 1.0, InvalidKeyError, "control characters"),
    ],
)
def test_bad_metrics_are_refused_and_change_nothing(store, key, value, error, phrase):
    with wb.start_run(experiment="e", store=store) as run, pytest.raises(error, match=phrase):
        run.log_metric(key, value)
    assert store.latest_metrics([run.id]).empty


def test_a_key_of_exactly_250_characters_is_fine(store):
    with wb.start_run(experiment="e", store=store) as run:
        run.log_metric("k" * 250, 1.0)
    assert store.get_run(run.id)["metrics"] == {"k" * 250: 1.0}


def test_params_are_write_once_and_compare_as_numbers(store):
    with wb.start_run(experiment="e", store=store) as a:
        a.log_params({"n": 200, "lr": "0.10", "name": "rf"})
        a.log_param("n", 200)  # same value again: fine
        with pytest.raises(ParamConflictError, match="already '200'"):
            a.log_param("n", 300)
    with wb.start_run(experiment="e", store=store) as b:
        b.log_params({"n": 50, "lr": 0.1, "name": "lr"})
    assert store.get_run(a.id)["params"]["n"] == "200"
    ids = lambda f: sorted(store.search_runs("e", f)["run_id"])  # noqa: E731
    assert ids("params.n > 100") == [a.id]
    assert ids("params.lr = 0.1") == sorted([a.id, b.id])  # numerically equal
    assert ids("params.lr = '0.1'") == [b.id]  # as strings, '0.10' differs


def test_metric_steps_default_to_one_more_than_the_last(store):
    with wb.start_run(experiment="e", store=store) as run:
        for v in (3.0, 2.0, 1.0):
            run.log_metric("loss", v)
        run.log_metric("loss", 0.5, step=10)
        run.log_metric("loss", 0.4)
    assert store.metric_history(run.id, "loss")["step"].tolist() == [0, 1, 2, 10, 11]


def test_latest_value_follows_the_highest_step_not_the_last_call(store):
    with wb.start_run(experiment="e", store=store) as run:
        run.log_metric("m", 5.0, step=5)
        run.log_metric("m", 1.0, step=1)
    assert store.get_run(run.id)["metrics"]["m"] == 5.0
    latest = store.latest_metrics([run.id]).iloc[0]
    assert (latest["min_value"], latest["max_value"], latest["n_points"]) == (1.0, 5.0, 2)


def test_downsampled_history_keeps_each_buckets_extremes(store):
    values = np.sin(np.arange(100_000) / 500.0)
    values[12_345] = 50.0  # a spike that a naive stride would drop
    with wb.start_run(experiment="e", store=store) as run:
        run.log_metric_history("wave", values)
    full = store.metric_history(run.id, "wave")
    assert len(full) == 100_000
    small = store.metric_history(run.id, "wave", max_points=1000)
    assert 2 <= len(small) <= 1000
    assert small["value"].max() == 50.0
    assert small["value"].min() == pytest.approx(values.min())
    assert small["step"].is_monotonic_increasing
    with pytest.raises(InvalidInputError, match="max_points"):
        store.metric_history(run.id, "wave", max_points=1)


def test_history_of_a_missing_metric_is_empty_and_of_a_missing_run_an_error(store):
    with wb.start_run(experiment="e", store=store) as run:
        pass
    assert store.metric_history(run.id, "nothing").empty
    with pytest.raises(NotFoundError, match="no run"):
        store.metric_history("does-not-exist", "m")


def test_logging_to_an_ended_run_is_refused(store):
    run = wb.start_run(experiment="e", store=store)
    run.end()
    with pytest.raises(RunStateError, match="has ended"):
        run.log_metric("m", 1.0)
    with pytest.raises(RunStateError, match="FINISHED, FAILED or KILLED"):
        wb.Run.end(run, "DONE")


def test_starting_a_second_run_needs_nested(store):
    with wb.start_run(experiment="e", store=store):  # noqa: SIM117 - the outer run must be active first
        with pytest.raises(RunStateError, match="nested=True"):
            wb.start_run(experiment="e", store=store)
    with pytest.raises(RunStateError, match="no active run"):
        wb.log_metric("m", 1.0)


@pytest.mark.parametrize("bad", ["../escape.txt", "/etc/passwd", "a/../../b", "C:\\x", ""])
def test_artifact_paths_that_leave_the_root_are_refused(store, tmp_path, bad):
    src = tmp_path / "f.txt"
    src.write_text("x")
    with wb.start_run(experiment="e", store=store) as run, pytest.raises(ArtifactPathError):
        run.log_artifact(src, artifact_path=bad) if bad else run.log_text("x", bad)
    assert store.list_artifacts(run.id).empty


def test_artifact_folders_are_logged_file_by_file_and_deduplicated(store, tmp_path):
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("same")
    (folder / "sub" / "b.txt").write_text("same")
    with wb.start_run(experiment="e", store=store) as run:
        paths = run.log_artifact(folder, artifact_path="out")
    assert paths == ["out/plots/a.txt", "out/plots/sub/b.txt"]
    listed = store.list_artifacts(run.id)
    assert listed["path"].tolist() == paths
    assert listed["sha256"].nunique() == 1  # one object for identical content
    objects = [p for p in store.artifacts.objects.rglob("*") if p.is_file()]
    assert len(objects) == 1


def test_a_corrupted_artifact_is_refused_on_read(store):
    with wb.start_run(experiment="e", store=store) as run:
        run.log_text("hello", "note.txt")
    sha = store.list_artifacts(run.id)["sha256"].iloc[0]
    obj = store.artifacts.path_for(sha)
    obj.chmod(0o644)
    obj.write_text("tampered")
    with pytest.raises(ArtifactIntegrityError, match="corrupted"):
        store.read_artifact(run.id, "note.txt")
    with pytest.raises(ArtifactIntegrityError):
        store.artifact_file(run.id, "note.txt")


def test_dataset_digest_depends_on_content_not_on_object_identity(store, tmp_path):
    df = pd.DataFrame({"a": range(100), "b": ["x"] * 100})
    with wb.start_run(experiment="e", store=store) as run:
        d1 = run.log_dataset(df, "t", role="train")
        d2 = run.log_dataset(df.copy(), "t", role="test")
        d3 = run.log_dataset(df.assign(a=df["a"] + 1), "t", role="reference")
        with pytest.raises(InvalidInputError, match="role must be one of"):
            run.log_dataset(df, "t", role="training")
        path = tmp_path / "t.parquet"
        df.to_parquet(path)
        d4 = run.log_dataset(path, "t-file", role="current", save=True)
    assert d1 == d2 != d3
    used = store.run_datasets(run.id)
    assert sorted(used["role"]) == ["current", "reference", "test", "train"]
    saved = used.set_index("role").loc["current", "artifact_sha256"]
    assert store.artifacts.read(saved) == path.read_bytes()
    assert d4 == used.set_index("role").loc["current", "digest"]


def test_delete_and_restore_take_nested_runs_along(store):
    with wb.start_run(experiment="e", store=store) as parent:  # noqa: SIM117 - parent then child, in that order
        with wb.start_run(nested=True) as child:
            pass
    store.delete_run(parent.id)
    assert store.count_runs("e") == 0
    assert sorted(store.search_runs("e", run_view="deleted")["run_id"]) == sorted([parent.id, child.id])
    store.restore_run(parent.id)
    assert store.count_runs("e") == 2
    with pytest.raises(NotFoundError):
        store.delete_run("nope")


def test_experiments_can_be_renamed_and_names_stay_unique(store):
    with wb.start_run(experiment="old", store=store) as run:
        pass
    store.create_experiment("other")
    with pytest.raises(InvalidInputError, match="already exists"):
        store.rename_experiment("old", "other")
    store.rename_experiment("old", "new")
    assert store.get_run(run.id)["experiment"] == "new"
    with pytest.raises(NotFoundError):
        store.search_runs("old")
    assert store.count_runs("new") == 1


def test_tags_can_be_edited_from_outside_the_run(store):
    with wb.start_run(experiment="e", store=store, tags={"a": "1"}) as run:
        run.set_tag("b", "2")
        run.delete_tag("a")
    store.set_tag(run.id, "c", "3")
    assert store.get_run(run.id)["tags"] == {"b": "2", "c": "3"}
    store.delete_tag(run.id, "b")
    with pytest.raises(NotFoundError, match="no tag"):
        store.delete_tag(run.id, "b")


def test_search_paging_counting_and_bad_arguments(store):
    for i in range(25):
        with wb.start_run(experiment="e", store=store, run_name=f"r{i:02d}") as run:
            run.log_metric("score", float(i))
    page = store.search_runs("e", order_by="metrics.score DESC", max_results=10, offset=10)
    assert page["metrics.score"].tolist() == [float(i) for i in range(14, 4, -1)]
    assert store.count_runs("e", "metrics.score >= 20") == 5
    with pytest.raises(FilterSyntaxError) as err:
        store.search_runs("e", "metrics.score >")
    assert err.value.position is not None
    with pytest.raises(InvalidInputError, match="max_results"):
        store.search_runs("e", max_results=-1)
    with pytest.raises(InvalidInputError, match="run_view"):
        store.search_runs("e", run_view="everything")
    with pytest.raises(InvalidInputError, match="experiment must be"):
        store.search_runs(3.5)


def test_column_selection_limits_what_is_pivoted(store):
    with wb.start_run(experiment="e", store=store) as run:
        run.log_metrics({f"m{i}": float(i) for i in range(50)})
        run.log_params({"a": 1, "b": 2})
    df = store.search_runs("e", metrics=["m3", "m7"], params=["a"])
    assert [c for c in df.columns if c.startswith(("metrics.", "params."))] == [
        "params.a", "metrics.m3", "metrics.m7"
    ]


def test_module_level_default_store_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "env.duckdb"))
    wb.set_store(None)
    with wb.start_run(experiment="e") as run:
        wb.log_metric("m", 1.0)
    assert wb.get_store().path == (tmp_path / "env.duckdb").resolve()
    assert wb.Store(tmp_path / "env.duckdb").get_run(run.id)["metrics"] == {"m": 1.0}
