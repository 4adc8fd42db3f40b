"""Engine semantics checked against the issue: exponential backoff per attempt (in the
driver and on workers), timeouts from ``@step`` defaults, a run from a background thread
(what the editor does), YAML with settings, and lineage from the raw data to the model."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import cloudpickle
import pytest

import workbench as wb
from workbench.pipelines import churn_template, lineage

cloudpickle.register_pickle_by_value(sys.modules[__name__])


def stamp_and_fail(log: str, fail_times: int = 3, value: int = 1) -> int:
    """Append the time of each attempt to ``log``; fail the first ``fail_times`` attempts."""
    path = Path(log)
    with open(path, "a") as fh:
        fh.write(f"{time.time()}\n")
    if len(path.read_text().split()) <= fail_times:
        raise RuntimeError("not yet")
    return value


@wb.step(timeout=0.5)
def slow_by_default(seconds: float = 10.0) -> str:
    time.sleep(seconds)
    return "woke"


def _gaps(log: Path) -> list[float]:
    times = [float(t) for t in log.read_text().split()]
    return [b - a for a, b in zip(times, times[1:])]


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_retries_back_off_exponentially(store, tmp_path, n_jobs):
    log = tmp_path / "attempts.txt"
    steps = [wb.Step("flaky", stamp_and_fail, params={"log": str(log)}, retries=3, backoff=0.2)]
    if n_jobs == 2:  # a sibling, so the flaky step goes to a loky worker (the retry_at path)
        steps.append(wb.Step("other", "sleep", params={"seconds": 0.05, "value": 2}))
    result = wb.Pipeline(f"backoff{n_jobs}", steps).run(store, n_jobs=n_jobs)
    assert result.ok and result.steps["flaky"].attempts == 4
    gaps = _gaps(log)
    assert len(gaps) == 3
    for gap, wait in zip(gaps, (0.2, 0.4, 0.8)):  # backoff * 2**k before the k-th retry
        assert wait <= gap < wait + 1.5, gaps
    assert gaps[2] > gaps[1] > gaps[0]


def test_timeout_from_the_step_decorator_and_retried(store):
    pipe = wb.Pipeline("timeouts", [wb.Step("nap", slow_by_default, retries=1, backoff=0.01)])
    t0 = time.perf_counter()
    result = pipe.run(store)
    assert time.perf_counter() - t0 < 5  # two attempts of 0.5 s, not 20 s
    rec = result.steps["nap"]
    assert rec.status == "FAILED" and rec.attempts == 2
    assert "timeout of 0.5 s" in rec.error
    # a per-step setting overrides the decorator's default
    ok = wb.Pipeline("timeouts", [wb.Step("nap", slow_by_default, params={"seconds": 0.7},
                                          timeout=5)]).run(store)
    assert ok.ok and ok.output("nap") == "woke"


def test_a_timeout_in_the_main_thread_is_its_own_alarm(store):
    """The step's alarm goes to the main thread (a process-wide SIGALRM could land on another
    thread and leave the step's sleep running: 10 s instead of 0.5 in a busy suite run), and the
    process's own interval timer (pytest-timeout's, say) keeps running through the step."""
    fired = []

    def mine(signum, frame):
        fired.append(signum)

    old_handler = signal.signal(signal.SIGALRM, mine)
    old_timer = signal.setitimer(signal.ITIMER_REAL, 60)
    try:
        threading.Thread(target=time.sleep, args=(3,), daemon=True).start()  # another thread
        t0 = time.perf_counter()
        result = wb.Pipeline("alarm", [wb.Step("nap", slow_by_default)]).run(store)
        took = time.perf_counter() - t0
        remaining = signal.getitimer(signal.ITIMER_REAL)[0]
        handler_after = signal.getsignal(signal.SIGALRM)
    finally:
        signal.setitimer(signal.ITIMER_REAL, *old_timer)
        signal.signal(signal.SIGALRM, old_handler)
    assert result.steps["nap"].status == "FAILED" and "timeout of 0.5 s" in result.steps["nap"].error
    assert took < 5
    assert 40 < remaining <= 60 and not fired  # before, the step's setitimer cancelled it
    assert handler_after is mine  # put back after the step


def test_run_from_a_background_thread_enforces_timeouts(store):
    """The editor runs pipelines in a thread: no SIGALRM there, the timeout still holds."""
    pipe = wb.Pipeline("threaded", [
        wb.Step("a", "identity", params={"value": 1}),
        wb.Step("slow", "sleep", inputs=["a"], params={"seconds": 30}, timeout=0.5),
        wb.Step("after", "identity", inputs=["slow"]),
    ])
    box = {}
    thread = threading.Thread(target=lambda: box.update(result=pipe.run(store)))
    t0 = time.perf_counter()
    thread.start()
    thread.join(20)
    assert not thread.is_alive() and time.perf_counter() - t0 < 10
    result = box["result"]
    assert result.statuses() == {"a": "SUCCEEDED", "slow": "FAILED", "after": "CANCELLED"}
    assert "StepTimeoutError" in result.steps["slow"].error


def test_yaml_round_trip_keeps_settings_and_named_inputs(tmp_path):
    pipe = wb.Pipeline("settings", description="with settings", steps=[
        wb.Step("a", "identity", params={"value": {"nested": [1, 2]}}, retries=2, backoff=0.5,
                timeout=10.0, cache=False),
        wb.Step("b", "identity", inputs={"data": "a"}),
    ])
    path = tmp_path / "p.yaml"
    pipe.to_yaml(str(path))
    text = path.read_text()
    assert "retries: 2" in text and "cache: false" in text and "data: a" in text
    again = wb.Pipeline.from_yaml(str(path))
    assert again == pipe and again.description == "with settings"
    a = again.step("a")
    assert (a.retries, a.backoff, a.timeout, a.cache) == (2, 0.5, 10.0, False)
    assert a.params == {"value": {"nested": [1, 2]}}
    assert again.to_yaml() == pipe.to_yaml()


def test_lineage_links_the_raw_data_to_the_model(store):
    result = churn_template().run(store)
    result.raise_for_status()
    lin = lineage(store, result.run_id).set_index("step")
    produced = dict(zip(lin.index, lin["output_hash"]))
    # every input hash is the output hash of the step that produced it
    pipe = churn_template()
    for step in pipe.steps:
        inputs = lin.loc[step.name, "inputs"]
        for src in step.input_steps:
            assert inputs[src] == produced[src], (step.name, src)
    # the raw file's content hash is recorded on the extract step
    data_hash = lin.loc["extract", "inputs"]["<data>"]
    assert len(data_hash) == 64
    # and the registered model's run is the register step's nested run
    reg = result.output("register")
    assert reg["run_id"] == lin.loc["register", "run_id"]
    assert store.get_run(reg["run_id"])["parent_run_id"] == result.run_id


def test_cache_false_always_runs_and_downstream_still_caches(store):
    pipe = wb.Pipeline("nocache", [
        wb.Step("a", "identity", params={"value": 1}, cache=False),
        wb.Step("b", "identity", inputs=["a"]),
    ])
    assert pipe.run(store).statuses() == {"a": "SUCCEEDED", "b": "SUCCEEDED"}
    # a runs again; its output is the same, so b's key is unchanged and b is cached
    assert pipe.run(store).statuses() == {"a": "SUCCEEDED", "b": "CACHED"}


def _counts(store: wb.Store) -> tuple[int, int]:
    runs = store.search_runs(run_view="all")
    return len(runs), len(wb.pipelines.list_pipelines(store))


@pytest.mark.parametrize("kwargs, message", [
    ({"backend": "spark"}, "backend must be one of"),
    ({"n_jobs": 0}, "n_jobs must be a positive int or -1"),
    ({"from_step": "nope"}, "from_step 'nope' is not a step"),
    ({"backend": "dask", "n_jobs": 2}, "backend='dask' needs address="),
])
def test_bad_run_settings_fail_before_anything_is_written(store, kwargs, message):
    pipe = wb.Pipeline("settings", [wb.Step("a", "identity", params={"value": 1}),
                                    wb.Step("b", "identity", params={"value": 2})])
    before = _counts(store)
    with pytest.raises(wb.errors.WorkbenchError, match=message):
        pipe.run(store, **kwargs)
    assert _counts(store) == before


def test_the_backend_is_a_setting_from_the_environment(store, monkeypatch):
    pipe = wb.Pipeline("envbackend", [wb.Step("a", "identity", params={"value": 1}),
                                      wb.Step("b", "identity", params={"value": 2})])
    monkeypatch.setenv("WORKBENCH_PIPELINE_BACKEND", "sequential")
    result = pipe.run(store, n_jobs=2)
    assert result.ok
    assert store.get_run(result.run_id)["params"]["backend"] == "sequential"
    assert wb.pipelines.pipeline_runs(store, "envbackend")["backend"].tolist() == ["sequential"]
    # an explicit argument wins over the environment
    result = pipe.run(store, n_jobs=2, backend="loky", force=True)
    assert store.get_run(result.run_id)["params"]["backend"] == "loky"
    monkeypatch.setenv("WORKBENCH_PIPELINE_BACKEND", "dask")
    with pytest.raises(wb.errors.PipelineError, match="backend='dask' needs address="):
        pipe.run(store, n_jobs=2)


def _parallel(name: str, n: int, seconds: float, timeout: float | None = None) -> wb.Pipeline:
    return wb.Pipeline(name, [wb.Step(f"s{i}", "sleep", params={"seconds": seconds, "value": i},
                                      timeout=timeout) for i in range(n)])


def test_at_most_n_jobs_steps_are_running_at_once(store):
    events = []
    result = _parallel("capped", 5, 0.4).run(
        store, n_jobs=2, callback=lambda event, rec: events.append((event, rec.name)))
    assert result.ok
    running, peak = 0, 0
    for event, _ in events:
        running += {"started": 1, "finished": -1, "failed": -1}.get(event, 0)
        peak = max(peak, running)
    assert peak == 2, events  # the others wait PENDING (not shown RUNNING) for a free worker
    assert [e for e, _ in events].count("started") == 5


def test_a_queued_step_timeout_counts_from_its_start(store, monkeypatch):
    from workbench.pipelines import engine

    _parallel("warm", 2, 0.01).run(store, n_jobs=2)  # workers started
    monkeypatch.setattr(engine, "_TIMEOUT_GRACE", 0.3)
    # three waves of two 0.6 s steps: the last starts about 1.2 s after the run began,
    # past its 1.0 s timeout (+0.3 s grace) if the clock started when it was queued
    result = _parallel("queued", 6, 0.6, timeout=1.0).run(store, n_jobs=2, force=True)
    assert result.ok, result.to_frame()[["step", "status", "error"]]


def pid_of(*inputs) -> int:
    return os.getpid()


def test_in_process_false_runs_every_step_on_a_worker(store):
    pipe = wb.Pipeline("isolated", [wb.Step("a", pid_of), wb.Step("b", pid_of, inputs=["a"])])
    result = pipe.run(store, in_process=False)
    assert result.ok
    pids = {result.output("a"), result.output("b")}
    assert os.getpid() not in pids  # a chain with n_jobs=1 would otherwise run right here
    assert store.get_run(result.run_id)["params"]["in_process"] == "False"
    with pytest.raises(wb.errors.InvalidInputError, match="not 'sequential'"):
        pipe.run(store, in_process=False, backend="sequential")


def test_template_end_to_end_on_workers(store):
    result = churn_template(min_auc=0.5).run(store, in_process=False)
    result.raise_for_status()
    reg = result.output("register")
    assert reg["registered"] is True  # the registry write came from a worker process
    assert wb.Registry(store).get_version("churn", reg["version"]).run_id == reg["run_id"]
