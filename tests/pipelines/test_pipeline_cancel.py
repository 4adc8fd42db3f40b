"""Cancelling a running pipeline, and timeouts that stop a step wherever it runs (real processes)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

import workbench as wb
from workbench.errors import InvalidInputError
from workbench.pipelines.api import list_pipelines

pytestmark = pytest.mark.slow


def pid_sleep(x, seconds: float, pidfile: str, block_alarm: bool = False):
    """Write this process's pid, then sleep (optionally deaf to SIGALRM, like stuck C code)."""
    if block_alarm:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    Path(pidfile).write_text(str(os.getpid()))
    time.sleep(seconds)
    return x


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state and "\nState:\tX" not in state


def _wait_for(paths, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not all(Path(p).exists() and Path(p).read_text() for p in paths):
        assert time.monotonic() < deadline, f"never started: {paths}"
        time.sleep(0.05)
    return [int(Path(p).read_text()) for p in paths]


def _gone(pids, timeout=15.0) -> bool:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_cancel_stops_running_workers_and_skips_the_rest(store, tmp_path):
    files = [str(tmp_path / "s1.pid"), str(tmp_path / "s2.pid")]
    pipe = wb.Pipeline("cancelme", [
        wb.Step("a", "identity", params={"value": 1}),
        wb.Step("s1", pid_sleep, inputs=["a"], params={"seconds": 120, "pidfile": files[0]}),
        wb.Step("s2", pid_sleep, inputs=["a"], params={"seconds": 120, "pidfile": files[1]}),
        wb.Step("d", "identity", inputs=["s1"]),
    ])
    handle = pipe.start(store, n_jobs=2)
    pids = _wait_for(files)
    assert all(_alive(p) for p in pids) and os.getpid() not in pids
    t0 = time.perf_counter()
    result = handle.cancel().result(timeout=60)
    assert time.perf_counter() - t0 < 10
    assert result.status == "CANCELLED"
    assert result.statuses() == {"a": "SUCCEEDED", "s1": "CANCELLED", "s2": "CANCELLED",
                                 "d": "CANCELLED"}
    assert "cancelled" in result.steps["d"].error
    assert _gone(pids), "the workers running s1 and s2 are still alive"
    runs = wb.Store(store.path).search_runs("pipeline/cancelme", run_view="all")
    assert "RUNNING" not in set(runs["status"])
    parent = runs[runs["parent_run_id"].isna()].iloc[0]
    assert parent["status"] == "KILLED"
    assert store.get_run(parent["run_id"])["tags"]["pipeline.status"] == "CANCELLED"
    history = wb.pipelines.pipeline_runs(store, "cancelme")
    assert history["status"].tolist() == ["CANCELLED"]  # the history says cancelled, not KILLED
    # the next run starts fresh workers and takes `a` from the cache
    quick = wb.Pipeline("cancelme", [
        wb.Step("a", "identity", params={"value": 1}),
        wb.Step("s1", "identity", inputs=["a"]),
    ])
    assert quick.run(store, n_jobs=2).statuses() == {"a": "CACHED", "s1": "SUCCEEDED"}


def test_cancel_event_with_run_pipeline(store):
    event = threading.Event()
    pipe = wb.Pipeline("evt", [wb.Step("a", "sleep", params={"seconds": 60}),
                               wb.Step("b", "identity", inputs=["a"])])
    threading.Timer(1.5, event.set).start()
    t0 = time.perf_counter()
    result = pipe.run(store, cancel=event, in_process=False)
    assert time.perf_counter() - t0 < 20
    assert result.status == "CANCELLED" and result.statuses() == {"a": "CANCELLED",
                                                                 "b": "CANCELLED"}


def test_a_step_deaf_to_its_timeout_is_killed_and_its_sibling_rerun(store, tmp_path):
    stuck, sib = str(tmp_path / "stuck.pid"), str(tmp_path / "sib.pid")
    pipe = wb.Pipeline("stuck", [
        wb.Step("stuck", pid_sleep, params={"x": 0, "seconds": 120, "pidfile": stuck,
                                            "block_alarm": True}, timeout=0.5),
        wb.Step("sibling", pid_sleep, params={"x": 7, "seconds": 12, "pidfile": sib}),
    ])
    box = {}
    thread = threading.Thread(target=lambda: box.update(r=pipe.run(store, n_jobs=2)))
    t0 = time.perf_counter()
    thread.start()
    [pid] = _wait_for([stuck])
    thread.join(110)
    # without the kill the run would wait for the stuck step's 120 s (fresh workers for the
    # re-dispatched sibling take a while on a loaded machine, hence the wide bound)
    assert not thread.is_alive() and time.perf_counter() - t0 < 90
    result = box["r"]
    assert result.statuses() == {"stuck": "FAILED", "sibling": "SUCCEEDED"}
    assert "timeout of 0.5 s" in result.steps["stuck"].error
    assert result.output("sibling") == 7 and result.steps["sibling"].attempts == 1
    assert "restarted" in result.steps["sibling"].logs
    assert _gone([pid]), "the step that overran its timeout is still running"


def test_two_steps_overrunning_together_both_time_out(store, tmp_path):
    """Two steps deaf to their timeouts: stopping the pool for the first re-dispatches the second, which
    then times out in its new worker (its attempt there does not start its deadline early)."""
    pids = [str(tmp_path / f"s{i}.pid") for i in (1, 2)]
    pipe = wb.Pipeline("two-stuck", [
        wb.Step(f"stuck{i}", pid_sleep, params={"x": i, "seconds": 120, "pidfile": pids[i - 1],
                                                 "block_alarm": True}, timeout=0.5) for i in (1, 2)])
    box = {}
    thread = threading.Thread(target=lambda: box.update(r=pipe.run(store, n_jobs=2)))
    thread.start()
    _wait_for(pids)
    thread.join(110)
    assert not thread.is_alive() and "r" in box, "the run did not end"
    result = box["r"]
    assert result.statuses() == {"stuck1": "FAILED", "stuck2": "FAILED"}
    assert all("timeout of 0.5 s" in result.steps[f"stuck{i}"].error for i in (1, 2))


def test_timeouts_a_backend_cannot_enforce_are_refused(store):
    pipe = wb.Pipeline("t", [wb.Step("a", "sleep", params={"seconds": 5}, timeout=1)])
    with pytest.raises(InvalidInputError, match="cannot enforce"):
        pipe.run(store, backend="dask", address="tcp://127.0.0.1:1")
    box = {}

    def target():
        try:
            pipe.run(store, backend="sequential")
        except InvalidInputError as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(30)
    assert "outside the main thread" in str(box["error"])
    assert store.count_runs() == 0  # refused before anything was written


@pytest.mark.parametrize("options, error, message", [
    ({"n_jobs": 0}, InvalidInputError, "n_jobs must be a positive int"),
    ({"backend": "spark"}, InvalidInputError, "backend must be one of"),
    ({"from_step": "nope"}, InvalidInputError, "from_step 'nope' is not a step"),
    ({"backend": "sequential"}, InvalidInputError, "in_process=False needs worker processes"),
    ({"n_job": 2}, TypeError, "n_job"),
])
def test_start_refuses_bad_options_at_once_and_writes_nothing(store, options, error, message):
    pipe = wb.Pipeline("opts", [wb.Step("a", "identity", params={"value": 1})])
    with pytest.raises(error, match=message):
        pipe.start(store, **options)  # before: raised later, from result()
    assert store.count_runs() == 0 and list_pipelines(store).empty
