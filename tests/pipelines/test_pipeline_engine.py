"""The engine: caching, from_step, force, retries, timeouts, failures, parallel loky, logs, lineage."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import cloudpickle
import pytest

import workbench as wb
from workbench.errors import PipelineRunError
from workbench.pipelines import churn_template, lineage, pipeline_runs, step_history

# Workers (loky) cannot import this test module by name: ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def source(value: int = 1) -> int:
    return value


def plus_one(x: int) -> int:
    return x + 1


def plus_one_v2(x: int) -> int:
    return x + 1  # same behaviour, different code: the cache must notice


def add(a: int, b: int) -> int:
    return a + b


def talk(x: int) -> int:
    print("hello from stdout")
    print("and from stderr", file=sys.stderr)
    logging.getLogger("my.step").info("an info record")
    wb.log_metric("seen", float(x))
    return x


def flaky(x: int, counter: str, fail_times: int = 2) -> int:
    path = Path(counter)
    n = int(path.read_text()) if path.exists() else 0
    path.write_text(str(n + 1))
    if n < fail_times:
        raise RuntimeError(f"transient failure {n + 1}")
    return x * 10


def broken(x: int) -> int:
    raise ValueError("this step always fails")


def window(*inputs, seconds: float = 0.6) -> tuple:
    start = time.time()
    time.sleep(seconds)
    return os.getpid(), start, time.time()


def runs_of(store: wb.Store, result) -> dict:
    return {name: store.get_run(rec.run_id) for name, rec in result.steps.items() if rec.run_id}


def chain(fn=plus_one, value: int = 1) -> wb.Pipeline:
    return wb.Pipeline("chain", [
        wb.Step("src", source, params={"value": value}),
        wb.Step("inc", fn, inputs=["src"]),
        wb.Step("inc2", plus_one, inputs=["inc"]),
    ])


def test_runs_caches_and_records_every_step(store):
    result = chain().run(store)
    assert result.ok and result.output("inc2") == 3
    assert set(result.statuses().values()) == {"SUCCEEDED"}
    parent = store.get_run(result.run_id)
    assert parent["status"] == "FINISHED" and parent["tags"]["pipeline.name"] == "chain"
    steps = runs_of(store, result)
    assert all(r["parent_run_id"] == result.run_id for r in steps.values())
    assert steps["inc"]["tags"]["pipeline.status"] == "SUCCEEDED"
    assert steps["src"]["params"] == {"value": "1"}
    assert "duration_s" in steps["inc"]["metrics"]
    # unchanged: everything cached, each cached step still recorded
    again = chain().run(store)
    assert again.statuses() == {"src": "CACHED", "inc": "CACHED", "inc2": "CACHED"}
    assert again.output("inc2") == 3
    cached = runs_of(store, again)
    assert cached["inc"]["tags"]["pipeline.cached_from"] == result.steps["inc"].output_sha
    # a changed param re-runs the step and what depends on its output
    changed = chain(value=5).run(store)
    assert changed.statuses() == {"src": "SUCCEEDED", "inc": "SUCCEEDED", "inc2": "SUCCEEDED"}
    assert changed.output("inc2") == 7
    # changed code re-runs that step; its output is unchanged, so downstream is cached
    code = chain(fn=plus_one_v2).run(store)
    assert code.statuses() == {"src": "CACHED", "inc": "SUCCEEDED", "inc2": "CACHED"}
    history = pipeline_runs(store, "chain")
    assert len(history) == 4 and set(history["status"]) == {"FINISHED"}
    assert set(step_history(store, "chain")["step"]) == {"src", "inc", "inc2"}


def test_from_step_and_force(store):
    chain().run(store)
    part = chain().run(store, from_step="inc")
    assert part.statuses() == {"src": "CACHED", "inc": "SUCCEEDED", "inc2": "SUCCEEDED"}
    full = chain().run(store, force=True)
    assert set(full.statuses().values()) == {"SUCCEEDED"}
    with pytest.raises(wb.errors.InvalidInputError, match="not a step"):
        chain().run(store, from_step="nope")


def test_logs_metrics_and_lineage(store):
    pipe = wb.Pipeline("talk", [wb.Step("src", source, params={"value": 4}),
                                wb.Step("talk", talk, inputs=["src"])])
    result = pipe.run(store)
    assert result.ok
    run_id = result.steps["talk"].run_id
    log = store.read_artifact(run_id, "logs/step.log").decode()
    assert "hello from stdout" in log and "and from stderr" in log
    assert "INFO my.step: an info record" in log
    assert store.get_run(run_id)["metrics"]["seen"] == 4.0
    lin = lineage(store, result.run_id)
    assert lin["step"].tolist() == ["src", "talk"]
    src, tk = lin.iloc[0], lin.iloc[1]
    assert tk["inputs"] == {"src": src["output_hash"]}
    assert tk["input_hashes"] == [src["output_hash"]]
    assert tk["output_hash"] == result.steps["talk"].output_sha
    assert store.list_artifacts(run_id)["path"].tolist() == ["logs/step.log", "output.joblib"]


def test_retries_with_backoff(store, tmp_path):
    counter = tmp_path / "count.txt"
    pipe = wb.Pipeline("flaky", [
        wb.Step("src", source, params={"value": 2}),
        wb.Step("flaky", flaky, inputs=["src"], params={"counter": str(counter)},
                retries=2, backoff=0.1),
    ])
    t0 = time.perf_counter()
    result = pipe.run(store)
    assert result.ok and result.output("flaky") == 20
    assert result.steps["flaky"].attempts == 3
    assert time.perf_counter() - t0 >= 0.1 + 0.2  # backoff 0.1 s, then 0.2 s
    run = store.get_run(result.steps["flaky"].run_id)
    assert run["tags"]["pipeline.attempts"] == "3"
    log = store.read_artifact(run["run_id"], "logs/step.log").decode()
    assert "attempt 1 failed: RuntimeError: transient failure 1" in log


def test_exhausted_retries_fail_the_run_cancel_downstream_keep_the_rest(store, tmp_path):
    counter = tmp_path / "count.txt"
    pipe = wb.Pipeline("fails", [
        wb.Step("src", source, params={"value": 1}),
        wb.Step("bad", flaky, inputs=["src"],
                params={"counter": str(counter), "fail_times": 5}, retries=1, backoff=0.01),
        wb.Step("after_bad", plus_one, inputs=["bad"]),
        wb.Step("last", add, inputs=["after_bad", "ok"]),
        wb.Step("ok", plus_one, inputs=["src"]),
    ])
    result = pipe.run(store)
    assert result.status == "FAILED"
    assert result.statuses() == {"src": "SUCCEEDED", "bad": "FAILED", "after_bad": "CANCELLED",
                                 "last": "CANCELLED", "ok": "SUCCEEDED"}
    assert result.steps["bad"].attempts == 2
    with pytest.raises(PipelineRunError, match="bad: RuntimeError: transient failure 2"):
        result.raise_for_status()
    runs = runs_of(store, result)
    assert runs["bad"]["status"] == "FAILED" and "transient failure" in runs["bad"]["tags"]["error"]
    assert runs["after_bad"]["status"] == "KILLED"
    assert runs["after_bad"]["tags"]["pipeline.status"] == "CANCELLED"
    assert store.get_run(result.run_id)["status"] == "FAILED"
    # the steps that succeeded are kept: the next run reuses them
    counter.write_text("0")
    fixed = pipe.with_step(pipe.step("bad").replace(params={"counter": str(counter),
                                                            "fail_times": 0}))
    again = fixed.run(store)
    assert again.ok
    assert again.statuses()["src"] == "CACHED" and again.statuses()["ok"] == "CACHED"


def test_timeout_in_process_and_in_a_worker(store):
    slow = wb.Pipeline("slow", [wb.Step("slow", "workbench.steps:sleep",
                                        params={"seconds": 20}, timeout=0.5)])
    t0 = time.perf_counter()
    result = slow.run(store)
    assert time.perf_counter() - t0 < 10
    assert result.statuses() == {"slow": "FAILED"}
    assert "StepTimeoutError" in result.steps["slow"].error
    # two siblings: they go to loky workers, where the timeout is enforced too
    par = wb.Pipeline("slow2", [
        wb.Step("slow", "workbench.steps:sleep", params={"seconds": 20}, timeout=1.0),
        wb.Step("quick", "workbench.steps:sleep", params={"seconds": 0.1, "value": 1}),
    ])
    t0 = time.perf_counter()
    result = par.run(store, n_jobs=2)
    assert time.perf_counter() - t0 < 15
    assert result.statuses() == {"slow": "FAILED", "quick": "SUCCEEDED"}
    assert "timeout of 1.0 s" in result.steps["slow"].error


def test_independent_steps_run_in_parallel_on_loky(store):
    pipe = wb.Pipeline("par", [wb.Step(f"w{i}", window, params={"seconds": 0.6})
                               for i in range(4)])
    result = pipe.run(store, n_jobs=2)
    assert result.ok
    spans = [result.output(f"w{i}") for i in range(4)]
    pids = {pid for pid, _, _ in spans}
    assert os.getpid() not in pids and len(pids) == 2
    spans.sort(key=lambda s: s[1])
    assert any(a[1] < b[2] and b[1] < a[2] for a, b in zip(spans, spans[1:]))  # overlap


def test_lifecycle_template_end_to_end(store):
    result = churn_template(min_auc=0.5).run(store)
    result.raise_for_status()
    metrics = result.output("evaluate")
    assert 0.5 < metrics["auc"] <= 1.0
    reg = result.output("register")
    assert reg["registered"] is True and reg["version"] == 1
    version = wb.Registry(store).get_version("churn", 1)
    assert version.pipeline_version == f"churn v{result.version}"
    assert version.metrics["auc"] == pytest.approx(metrics["auc"])  # the gates can read it
    eval_run = store.get_run(result.steps["evaluate"].run_id)
    assert eval_run["metrics"]["auc"] == pytest.approx(metrics["auc"])
    lin = result.lineage()
    assert lin["step"].tolist()[0] == "extract"
    assert lin.iloc[0]["inputs"]["<data>"]  # the raw file's sha256
    t0 = time.perf_counter()
    cached = churn_template(min_auc=0.5).run(store)
    assert set(cached.statuses().values()) == {"CACHED"}
    assert time.perf_counter() - t0 < 5
