"""A pipeline process killed with SIGKILL: its steps end KILLED, and a re-run uses the cache."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import workbench as wb
from workbench.pipelines import lineage, step_history

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import sys, workbench as wb

    def on_event(event, rec):
        print(event, rec.name, flush=True)

    pipe = wb.Pipeline("killme", [
        wb.Step("a", "workbench.steps:identity", params={"value": 1}),
        wb.Step("b", "workbench.steps:identity", inputs=["a"]),
        wb.Step("c", "workbench.steps:sleep", inputs=["b"], params={"seconds": 60}),
        wb.Step("d", "workbench.steps:identity", inputs=["c"]),
    ])
    pipe.run(wb.Store(sys.argv[1]), callback=on_event)
    """
)


def test_sigkill_leaves_steps_killed_and_rerun_uses_cache(tmp_path):
    path = tmp_path / "store.duckdb"
    script = tmp_path / "run_pipeline.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "WORKBENCH_STORE": str(path)})
    seen = []
    deadline = time.monotonic() + 90
    try:
        for line in proc.stdout:
            seen.append(line.strip())
            if line.startswith("started c") or time.monotonic() > deadline:
                break
        assert "started c" in seen, seen
        time.sleep(0.6)  # past the spool's flush interval: the records are acknowledged
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    store = wb.Store(path)
    runs = store.search_runs("pipeline/killme", run_view="all")
    assert "RUNNING" not in set(runs["status"]), runs[["run_name", "status"]]
    parent = runs[runs["parent_run_id"].isna()]
    assert parent["status"].tolist() == ["KILLED"]
    history = step_history(store, "killme")
    statuses = dict(zip(history["step"], history["status"]))
    assert statuses == {"a": "SUCCEEDED", "b": "SUCCEEDED", "c": "KILLED"}
    lin = lineage(store, parent["run_id"].iloc[0])
    assert lin.set_index("step").loc["c", "status"] == "KILLED"
    # re-running (with c made quick) picks up a and b from the cache
    pipe = wb.Pipeline("killme", [
        wb.Step("a", "workbench.steps:identity", params={"value": 1}),
        wb.Step("b", "workbench.steps:identity", inputs=["a"]),
        wb.Step("c", "workbench.steps:sleep", inputs=["b"], params={"seconds": 0.01}),
        wb.Step("d", "workbench.steps:identity", inputs=["c"]),
    ])
    result = pipe.run(store)
    assert result.statuses() == {"a": "CACHED", "b": "CACHED", "c": "SUCCEEDED", "d": "SUCCEEDED"}
