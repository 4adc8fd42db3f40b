"""What the live Pipelines page costs: the change check it runs every LIVE_MS (2 s).

Builds a store under /tmp with N runs (default 20,000) and a pipeline with a few runs,
then times ``change_stamp`` (the one query of a check) and a full ``check_live`` when
nothing changed and when another process changed the store.

    .venv/bin/python benchmarks/bench_pipelines_live.py [n_runs]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import workbench as wb
from workbench.pipelines.api import change_stamp
from workbench.ui.pipelines.live import LIVE_MS
from workbench.ui.pipelines.model import PipelineEditorModel


def main(n_runs: int = 20_000) -> None:
    path = Path(tempfile.mkdtemp(prefix="bench-live-")) / "s.duckdb"
    store = wb.Store(path)
    t0 = time.perf_counter()
    for i in range(n_runs):
        with wb.start_run(experiment=f"e{i % 10}", store=store) as run:
            run.log_metric("m", float(i))
    store.sync()
    print(f"store: {n_runs} runs built in {time.perf_counter() - t0:.1f} s")
    pipe = wb.Pipeline("p", [wb.Step("a", "identity", params={"value": 1}),
                             wb.Step("b", "identity", inputs=["a"])])
    for _ in range(5):
        pipe.run(store, force=True)
    store.sync()
    times = []
    for _ in range(50):
        t = time.perf_counter()
        change_stamp(store, "p")
        times.append((time.perf_counter() - t) * 1000)
    print(f"change_stamp: median {statistics.median(times):.2f} ms, "
          f"p95 {sorted(times)[int(0.95 * len(times))]:.2f} ms (50 calls)")
    m = PipelineEditorModel(store, "p")
    m.check_live()
    idle = []
    for _ in range(30):
        t = time.perf_counter()
        m.check_live()
        idle.append((time.perf_counter() - t) * 1000)
    print(f"check_live, nothing changed: median {statistics.median(idle):.2f} ms of a worker "
          f"thread every {LIVE_MS} ms (the page's event loop does not wait for it)")
    changed = []
    for _ in range(5):
        pipe.run(store, force=True)
        t = time.perf_counter()
        assert m.check_live()
        changed.append((time.perf_counter() - t) * 1000)
    print(f"check_live after a new run elsewhere (reloads versions, history, statuses): "
          f"median {statistics.median(changed):.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
