"""Pipeline engine benchmarks (issue 4). Prints its figures.

    python benchmarks/bench_pipelines.py            # full size (about a minute on 2 cores)
    python benchmarks/bench_pipelines.py --quick    # smaller, for a smoke test

1. engine overhead per step: a chain of 200 no-op steps (``workbench.steps:noop``),
   run uncached (``force=True``) with the default settings (n_jobs=1: a chain runs in
   the driver's process). The figure is wall time / steps and includes everything the
   engine records per step: the nested run, its tags, params and metrics acknowledged
   to a spool file, the output stored in the artifact folder, the cache lookup.
   "end-to-end" also ingests all of it into DuckDB (``store.sync()``). Target <= 5 ms.
2. parallelism: four independent steps of 1 s each (``workbench.steps:sleep``) with
   n_jobs=2 on loky worker processes. Target <= 2.3 s wall. "warm" reuses the worker
   processes kept from an earlier run (the normal case in a session); "cold" includes
   starting them (each imports workbench, pandas, duckdb).
3. cache: a second run of the unchanged lifecycle template (extract -> ... -> register
   on the sample churn data): every step comes from the cache. Target <= 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import workbench as wb
from workbench.pipelines import churn_template

TARGETS = {"overhead_ms_per_step": 5.0, "parallel_wall_s": 2.3, "cached_template_s": 0.5}


_STORES: list[wb.Store] = []


def _store(tmp: Path, name: str) -> wb.Store:
    store = wb.Store(tmp / f"{name}.duckdb")
    _STORES.append(store)
    return store


def _shutdown_loky() -> None:
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def bench_overhead(tmp: Path, n_steps: int, repeats: int) -> dict:
    steps = [wb.Step("s000", "noop")]
    steps += [wb.Step(f"s{i:03d}", "noop", inputs=[f"s{i - 1:03d}"]) for i in range(1, n_steps)]
    pipe = wb.Pipeline("chain", steps)
    store = _store(tmp, "overhead")
    pipe.run(store)  # warm-up: imports, schema, the saved version
    store.sync()
    engine, e2e = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = pipe.run(store, force=True)
        engine.append(time.perf_counter() - t0)
        store.sync()
        e2e.append(time.perf_counter() - t0)
        assert result.ok and set(result.statuses().values()) == {"SUCCEEDED"}
    t_engine, t_e2e = statistics.median(engine), statistics.median(e2e)
    cached = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = pipe.run(store)
        cached.append(time.perf_counter() - t0)
        assert set(result.statuses().values()) == {"CACHED"}
    return {
        "steps": n_steps,
        "overhead_ms_per_step": 1000 * t_engine / n_steps,
        "end_to_end_ms_per_step": 1000 * t_e2e / n_steps,
        "cached_ms_per_step": 1000 * statistics.median(cached) / n_steps,
        "runs": [round(x, 3) for x in engine],
    }


def bench_parallel(tmp: Path, seconds: float, repeats: int) -> dict:
    pipe = wb.Pipeline("four", [
        wb.Step(f"sleep{i}", "sleep", params={"seconds": seconds, "value": i}) for i in range(4)
    ])
    store = _store(tmp, "parallel")
    _shutdown_loky()
    t0 = time.perf_counter()
    result = pipe.run(store, n_jobs=2, force=True)
    cold = time.perf_counter() - t0
    assert result.ok, result.to_frame()
    warm = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = pipe.run(store, n_jobs=2, force=True)
        warm.append(time.perf_counter() - t0)
        assert result.ok
    return {"steps": 4, "seconds_each": seconds, "parallel_wall_s": statistics.median(warm),
            "cold_wall_s": cold, "ideal_s": 2 * seconds, "runs": [round(x, 3) for x in warm]}


def bench_cached_template(tmp: Path, repeats: int) -> dict:
    store = _store(tmp, "template")
    pipe = churn_template()
    t0 = time.perf_counter()
    first = pipe.run(store)
    t_first = time.perf_counter() - t0
    first.raise_for_status()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        again = churn_template().run(store)
        times.append(time.perf_counter() - t0)
        assert set(again.statuses().values()) == {"CACHED"}, again.statuses()
    return {"first_run_s": t_first, "cached_template_s": statistics.median(times),
            "runs": [round(x, 3) for x in times]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args(argv)
    n_steps, repeats = (50, 1) if args.quick else (200, 3)
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="bench-pipelines-") as d:
        tmp = Path(d)
        os.chdir(Path(__file__).resolve().parents[1])  # the template reads sample_data/
        figures = {}
        figures["overhead"] = r = bench_overhead(tmp, n_steps, repeats)
        print(f"1. overhead, chain of {r['steps']} no-op steps: {r['overhead_ms_per_step']:.2f} ms/step "
              f"(target <= {TARGETS['overhead_ms_per_step']} ms); end-to-end with ingest "
              f"{r['end_to_end_ms_per_step']:.2f} ms/step; fully cached {r['cached_ms_per_step']:.2f} ms/step")
        figures["parallel"] = r = bench_parallel(tmp, 1.0, repeats)
        print(f"2. four 1 s steps, n_jobs=2: {r['parallel_wall_s']:.2f} s wall warm "
              f"(target <= {TARGETS['parallel_wall_s']} s; ideal {r['ideal_s']:.1f} s); "
              f"cold (starting the workers) {r['cold_wall_s']:.2f} s")
        figures["cache"] = r = bench_cached_template(tmp, repeats)
        print(f"3. lifecycle template: first run {r['first_run_s']:.2f} s; second run, fully cached "
              f"{r['cached_template_s']:.3f} s (target <= {TARGETS['cached_template_s']} s)")
        _shutdown_loky()
        for store in _STORES:  # flush and release before the folder goes
            store.sync()
            store.close()
    ok = (figures["overhead"]["overhead_ms_per_step"] <= TARGETS["overhead_ms_per_step"]
          and figures["parallel"]["parallel_wall_s"] <= TARGETS["parallel_wall_s"]
          and figures["cache"]["cached_template_s"] <= TARGETS["cached_template_s"])
    print("all targets met" if ok else "SOME TARGETS MISSED")
    if args.json:
        print(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
