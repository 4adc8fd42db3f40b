"""Following and cancelling a sweep from the store: from this process and from another one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

import workbench as wb
from workbench.training.examples import quadratic, sleepy
from workbench.training.follow import SweepRecord, cancel_sweep, running_sweeps
from workbench.training.sweep import live_sweep, live_sweeps


def test_the_store_record_of_a_sweep_matches_its_live_handle(store):
    sweep = wb.sweep(quadratic, {"x": wb.float_range(-1, 1)}, n_trials=5, metric="score",
                     mode="max", store=store, seed=4)
    record = SweepRecord(store, sweep.run_id)
    assert record.done and record.status == "FINISHED"
    live, stored = sweep.progress, record.progress
    for key in ("total", "finished", "failed", "killed", "running", "pending", "done", "status"):
        assert live[key] == stored[key], key
    assert record.best_run_id == sweep.best_run_id
    assert record.best_value == pytest.approx(sweep.best_value)
    a, b = sweep.results, record.results
    assert list(a["trial"]) == list(b["trial"]) and list(a["run_id"]) == list(b["run_id"])
    assert list(b["params.x"]) == pytest.approx(list(a["params.x"]))
    assert list(b["value"]) == pytest.approx(list(a["value"]))


def test_a_background_sweep_is_live_while_it_runs(store):
    sweep = wb.sweep(sleepy, {"x": wb.float_range(0, 1), "sleep": wb.choice([0.1])}, n_trials=4,
                     metric="score", store=store, seed=0, wait=False)
    assert live_sweep(sweep.run_id) is sweep and sweep in live_sweeps()
    found = running_sweeps(store)
    assert list(found["run_id"]) == [sweep.run_id]
    sweep.wait(30)
    assert live_sweep(sweep.run_id) is None and sweep not in live_sweeps()
    assert running_sweeps(store).empty


def test_a_sweep_in_another_process_is_followed_and_cancelled_from_here(store, tmp_path):
    script = tmp_path / "sweeper.py"
    script.write_text(textwrap.dedent(f"""
        import workbench as wb
        from workbench.training.examples import sleepy

        store = wb.Store({str(store.path)!r})
        s = wb.sweep(sleepy, {{"x": wb.float_range(0, 1), "sleep": wb.choice([0.3])}},
                     n_trials=40, metric="score", experiment="elsewhere", store=store, seed=1)
        print(s.status, s.progress["killed"], flush=True)
    """))
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        record = None
        while time.monotonic() < deadline:
            found = running_sweeps(store)
            if len(found):
                record = SweepRecord(store, found["run_id"].iloc[0])
                if record.progress["finished"] >= 2:
                    break
            time.sleep(0.2)
        assert record is not None and live_sweep(record.run_id) is None  # not ours
        p = record.progress
        assert p["status"] == "RUNNING" and p["total"] == 40 and p["running"] == 1
        assert p["pending"] == 40 - p["done"] - 1
        assert record.experiment == "elsewhere" and record.metric == "score"
        record.cancel(wait=True, timeout=60)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    status, killed = out.split()
    assert status == "KILLED" and int(killed) >= 30
    assert record.status == "KILLED" and record.progress["pending"] == 0
    res = record.results
    assert len(res) == 40 and (res["status"] == "KILLED").sum() == int(killed)
    assert res[res["status"] == "KILLED"]["value"].isna().all()
    assert running_sweeps(store).empty
    # the cancel marker was removed: resuming runs the killed trials, not cancels at once
    assert not (store.spool_dir / "sweeps" / f"{record.run_id}.cancel").exists()


def test_a_stale_cancel_marker_does_not_cancel_a_resumed_sweep(store):
    sweep = wb.sweep(sleepy, {"x": wb.float_range(0, 1), "sleep": wb.choice([0.2])}, n_trials=6,
                     metric="score", store=store, seed=2, wait=False)
    while sweep.progress["finished"] < 1:
        time.sleep(0.05)
    sweep.cancel()
    assert sweep.status == "KILLED"
    cancel_sweep(store, sweep.run_id)  # as if a crash had left the marker behind
    resumed = wb.resume_sweep(sweep.run_id, store=store)
    assert resumed.status == "FINISHED" and resumed.progress["finished"] == 6
