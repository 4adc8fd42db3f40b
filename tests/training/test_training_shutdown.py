"""Stopping the app (SIGTERM or Ctrl-C) stops the sweeps it launched and their loky workers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import workbench as wb

pytestmark = pytest.mark.slow

# What the Training page does (wb.sweep(..., wait=False) on loky from the server process),
# then the app's own serve(), as `workbench app` runs it.
SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import workbench as wb
    from workbench.training.examples import sleepy
    from workbench.training.executors import _LOKY
    from workbench.ui.app import serve

    store = wb.Store(sys.argv[1])
    s = wb.sweep(sleepy, {"x": wb.float_range(0, 1), "sleep": wb.choice([60.0])}, n_trials=6,
                 n_jobs=2, backend="loky", metric="score", store=store, experiment="bg",
                 wait=False)
    deadline = time.monotonic() + 120
    while s.progress["running"] < 2 or not any(ex._processes for ex in _LOKY.values()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1.0)
    pids = [pid for ex in _LOKY.values() for pid in ex._processes]
    print(json.dumps({"pids": pids, "sweep": s.run_id}), flush=True)
    serve(store.path, port=int(sys.argv[2]))
    print("served", flush=True)
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_app_stops_the_sweep_workers_it_started(tmp_path, sig):
    path = tmp_path / "s.duckdb"
    (tmp_path / "app.py").write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "app.py"), str(path),
                             str(_free_port())], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "WORKBENCH_STORE": str(path)})
    try:
        info = json.loads(proc.stdout.readline())
        pids = info["pids"]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        time.sleep(2.0)  # the server is up
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)], "loky workers outlived the app"
    store = wb.Store(path)
    parent = store.get_run(info["sweep"])
    assert parent["status"] == "KILLED"
    assert "RUNNING" not in set(store.child_runs(info["sweep"])["status"])
