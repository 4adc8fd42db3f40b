"""Sweeps across processes: loky workers, killing them on cancel, and resuming after a crash."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

import workbench as wb
from workbench.training.space import check_space, sample_params

pytestmark = pytest.mark.slow


def stubborn(params, trial):
    """Sleeps without ever checking in: only killing its process stops it."""
    t0 = time.time()
    time.sleep(params["sleep"])
    trial.log_metric("score", params["x"])
    return {"score": params["x"], "pid": os.getpid(), "t0": t0, "t1": time.time()}


def test_trials_run_in_two_loky_worker_processes_and_log_through_the_spool(store):
    sweep = wb.sweep(
        stubborn,
        {"x": wb.float_range(0, 1), "sleep": wb.choice([0.3])},
        n_trials=6,
        n_jobs=2,
        metric="score",
        store=store,
        seed=0,
    )
    res = sweep.results
    assert sweep.status == "FINISHED" and list(res["status"]) == ["FINISHED"] * 6
    pids = set(res["metrics.pid"].astype(int))
    assert len(pids) == 2 and os.getpid() not in pids
    spans = sorted(zip(res["metrics.t0"], res["metrics.t1"]))
    assert any(b0 < a1 for (a0, a1), (b0, b1) in zip(spans, spans[1:])), "no two trials overlapped"
    store.sync()
    children = store.child_runs(sweep.run_id)
    assert len(children) == 6 and set(children["status"]) == {"FINISHED"}
    for row in res.itertuples():
        assert store.get_run(row.run_id)["metrics"]["score"] == pytest.approx(row.value)


def test_cancel_kills_running_loky_trials_and_records_pending_ones_killed(store):
    sweep = wb.sweep(
        stubborn,
        {"x": wb.float_range(0, 1), "sleep": wb.choice([60.0])},
        n_trials=6,
        n_jobs=2,
        metric="score",
        store=store,
        seed=0,
        wait=False,
    )
    deadline = time.monotonic() + 60
    while sweep.progress["running"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    t0 = time.monotonic()
    sweep.cancel()
    assert time.monotonic() - t0 < 10, "running trials were not stopped"
    assert sweep.status == "KILLED"
    res = sweep.results
    assert len(res) == 6 and set(res["status"]) == {"KILLED"}
    assert (res["error"] == "never started").sum() == 4
    store.sync()
    children = store.child_runs(sweep.run_id)
    assert len(children) == 6 and set(children["status"]) == {"KILLED"}
    assert store.get_run(sweep.run_id)["status"] == "KILLED"


def test_a_crashed_sweep_resumes_with_only_its_missing_trials(store, tmp_path):
    script = tmp_path / "crash.py"
    script.write_text(
        textwrap.dedent(f"""
        import os, signal, sys
        import workbench as wb
        from workbench.training.examples import sleepy

        store = wb.Store({str(store.path)!r})

        def crash_after_three(result, sweep):
            if sweep.progress["done"] == 3:
                store.flush()
                os.kill(os.getpid(), signal.SIGKILL)

        s = wb.sweep(sleepy, {{"x": wb.float_range(0, 1), "sleep": wb.choice([0.1])}},
                     n_trials=7, metric="score", experiment="crash", store=store, seed=5,
                     wait=False, callback=crash_after_three)
        print(s.run_id, flush=True)
        s.wait()
    """)
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == -9, proc.stderr
    sweep_id = proc.stdout.split()[0]

    resumed = wb.resume_sweep(sweep_id, store=store)  # train comes from "module:qualname"
    assert resumed.status == "FINISHED"
    res = resumed.results
    finished = res[res["status"] == "FINISHED"]
    assert sorted(finished["trial"]) == list(range(7))
    space = check_space({"x": wb.float_range(0, 1), "sleep": wb.choice([0.1])})
    for row in finished.itertuples():
        assert res.loc[row.Index, "params.x"] == pytest.approx(
            sample_params(space, 5, row.trial)["x"]
        )
    store.sync()
    children = store.child_runs(sweep_id)
    assert "RUNNING" not in set(children["status"])
    # three trials done before the crash; the fourth was cut off (KILLED) and ran again
    assert (children["status"] == "FINISHED").sum() == 7
    assert len(children) <= 8
    assert store.get_run(sweep_id)["status"] == "FINISHED"
    assert store.get_run(sweep_id)["tags"]["sweep.resumed"] == "1"


def crash_on_two(params, trial):
    if params["i"] == 2:
        os._exit(3)  # the worker process dies, as on a segfault or the OOM killer
    return {"score": float(params["i"])}


def test_a_trial_that_kills_its_worker_is_failed_and_the_sweep_goes_on(store):
    sweep = wb.sweep(crash_on_two, {"i": wb.int_range(0, 5)}, strategy="grid", n_jobs=2,
                     metric="score", store=store)
    res = sweep.results.set_index("trial")
    assert sweep.status == "FINISHED" and len(res) == 6
    assert res.loc[2, "status"] == "FAILED" and "worker process failed" in res.loc[2, "error"]
    assert (res["status"] == "FINISHED").sum() >= 4
    store.sync()
    assert "RUNNING" not in set(store.child_runs(sweep.run_id)["status"])
    assert "worker process failed" in store.get_run(res.loc[2, "run_id"])["tags"]["error"]
