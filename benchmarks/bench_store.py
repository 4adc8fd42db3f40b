"""Store and tracking API throughput (issue 2). Prints its figures; run it on a quiet machine.

    python benchmarks/bench_store.py            # full size (about 2 minutes)
    python benchmarks/bench_store.py --quick    # smaller, for a smoke test

Each figure is the median of several repeats. "call" figures time the API
calls themselves (records acknowledged to the in-process buffer and, within
0.2 s, to a spool file); "end-to-end" figures also include writing the spool
files and ingesting them into DuckDB, i.e. until another process can query
the records.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import workbench as wb


def median_of(fn, repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def bench_unbatched(store: wb.Store, n: int) -> tuple[float, float]:
    with wb.start_run(experiment="bench", store=store):
        t0 = time.perf_counter()
        for i in range(n):
            wb.log_metric("loss", 1.0 / (i + 1), step=i)
        call = time.perf_counter() - t0
    store.sync()
    total = time.perf_counter() - t0
    return n / call, n / total


def bench_batched(store: wb.Store, n_keys: int, n_calls: int) -> tuple[float, float]:
    metrics = {f"m{k}": float(k) for k in range(n_keys)}
    with wb.start_run(experiment="bench", store=store) as run:
        t0 = time.perf_counter()
        for step in range(n_calls):
            run.log_metrics(metrics, step=step)
        call = time.perf_counter() - t0
    store.sync()
    total = time.perf_counter() - t0
    points = n_keys * n_calls
    return points / call, points / total


def bench_history_array(store: wb.Store, n: int) -> tuple[float, float]:
    values = np.random.default_rng(0).normal(size=n)
    with wb.start_run(experiment="bench", store=store) as run:
        t0 = time.perf_counter()
        run.log_metric_history("big", values)
        call = time.perf_counter() - t0
    store.sync()
    total = time.perf_counter() - t0
    return n / call, n / total


def bench_runs(store: wb.Store, n: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    for i in range(n):
        with wb.start_run(experiment="runs", store=store) as run:
            run.log_params({"model": "rf" if i % 2 else "lr", "n": i})
            run.log_metrics({"auc": (i % 100) / 100, "loss": 1 / (i + 1)})
    call = time.perf_counter() - t0
    store.sync()
    total = time.perf_counter() - t0
    return n / call, n / total


def build_search_store(path: Path, n: int) -> None:
    store = wb.Store(path)
    for i in range(n):
        with wb.start_run(experiment="search", store=store) as run:
            run.log_params({"model": ("rf", "lr", "gbm")[i % 3], "n_estimators": 50 + i % 450})
            run.log_metrics({"auc": 0.5 + (i * 7919 % 1000) / 2000, "loss": (i % 97) / 97})
            run.set_tag("team", ("ds", "ml")[i % 2])
    store.sync()


SEARCH_FILTER = "metrics.auc > 0.9 and params.model = 'rf' and tags.team = 'ds'"

# VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec and would report the
# parent's size.
_MEMORY_PROBE = """
import json, sys, time, workbench as wb
def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
store = wb.Store(sys.argv[1])
store.count_runs()
before = peak_kb()
times = []
for _ in range(5):
    t0 = time.perf_counter()
    df = store.search_runs("search", sys.argv[2], order_by=["metrics.auc DESC"], max_results=100)
    times.append(time.perf_counter() - t0)
after = peak_kb()
print(json.dumps({"rows": len(df), "before_kb": before, "peak_kb": after, "times": times}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    q = args.quick
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = wb.Store(Path(tmp) / "bench.duckdb")
        bench_unbatched(store, 2000)  # warm-up: imports, environment capture
        reps = 3 if q else 5
        r = [bench_unbatched(store, 50_000 if q else 200_000) for _ in range(reps)]
        out["unbatched log_metric, call (calls/s)"] = f"{statistics.median(x[0] for x in r):,.0f}"
        out["unbatched log_metric, end-to-end (calls/s)"] = f"{statistics.median(x[1] for x in r):,.0f}"

        r = [bench_batched(store, 1000, 200 if q else 1000) for _ in range(reps)]
        out["log_metrics 1000 keys/call, call (points/s)"] = f"{statistics.median(x[0] for x in r):,.0f}"
        out["log_metrics 1000 keys/call, end-to-end (points/s)"] = f"{statistics.median(x[1] for x in r):,.0f}"

        r = [bench_history_array(store, 1_000_000) for _ in range(reps)]
        out["log_metric_history 1M array, call (points/s)"] = f"{statistics.median(x[0] for x in r):,.0f}"
        out["log_metric_history 1M array, end-to-end (points/s)"] = f"{statistics.median(x[1] for x in r):,.0f}"

        r = [bench_runs(store, 1000 if q else 5000) for _ in range(reps)]
        out["runs with 2 params + 2 metrics, call (runs/s)"] = f"{statistics.median(x[0] for x in r):,.0f}"
        out["runs with 2 params + 2 metrics, end-to-end (runs/s)"] = f"{statistics.median(x[1] for x in r):,.0f}"

        # metric_history of a 1,000,000-point metric
        with wb.start_run(experiment="hist", store=store) as run:
            run.log_metric_history("long", np.random.default_rng(1).normal(size=1_000_000))
        store.sync()
        t_full = median_of(lambda: _timed(lambda: store.metric_history(run.id, "long")), 7)
        t_small = median_of(
            lambda: _timed(lambda: store.metric_history(run.id, "long", max_points=4000)), 7
        )
        out["metric_history 1M points, full (ms)"] = f"{t_full * 1000:.0f}"
        out["metric_history 1M points, max_points=4000 (ms)"] = f"{t_small * 1000:.0f}"
        store.close()

        n_search = 20_000 if q else 100_000
        search_path = Path(tmp) / "search.duckdb"
        t0 = time.perf_counter()
        build_search_store(search_path, n_search)
        build = time.perf_counter() - t0
        search = wb.Store(search_path)
        search.count_runs()
        assert search.count_runs("search") == n_search
        matches = search.count_runs("search", SEARCH_FILTER)
        t_search = median_of(
            lambda: _timed(lambda: search.search_runs("search", SEARCH_FILTER,
                                                      order_by=["metrics.auc DESC"], max_results=100)),
            15,
        )
        search.close()
        out[f"build {n_search:,} runs via API (s)"] = f"{build:.1f}"
        out[f"search_runs 3-clause filter over {n_search:,} runs, warm (ms)"] = (
            f"{t_search * 1000:.0f} ({matches:,} match, top 100 returned)"
        )
        from workbench.store import handle

        handle._handles.clear()
        probe = subprocess.run(
            [sys.executable, "-c", _MEMORY_PROBE, str(search_path), SEARCH_FILTER],
            capture_output=True, text=True, check=True,
        )
        mem = json.loads(probe.stdout)
        out[f"search_runs over {n_search:,} runs, first call in a fresh process (ms)"] = (
            f"{mem['times'][0] * 1000:.0f}"
        )
        out["search_runs peak RSS of the process (MiB)"] = (
            f"{mem['peak_kb'] / 1024:.0f} (after opening the store: {mem['before_kb'] / 1024:.0f})"
        )
    print(f"# bench_store on {platform.node()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    width = max(len(k) for k in out)
    for key, value in out.items():
        print(f"{key:<{width}}  {value}")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
