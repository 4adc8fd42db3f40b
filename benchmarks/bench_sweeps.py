"""Sweep benchmarks (issue: training and hyper-parameter sweeps). Prints its figures.

    python benchmarks/bench_sweeps.py            # full size (about 3 minutes on 2 cores)
    python benchmarks/bench_sweeps.py --quick    # smaller, for a smoke test

1. speed-up: 8 trials of about 1 s of CPU each, n_jobs=2 (loky worker
   processes) against n_jobs=1 (one trial at a time in this process). Target
   >= 1.8x on a 2-core machine. "warm" reuses the worker processes kept from
   an earlier sweep (the normal case in a session); "cold" includes starting
   them (each imports workbench, pandas, duckdb, scikit-learn).
2. overhead per trial for a trivial train function, including its run
   records (nested run, params, tags, end) acknowledged to a spool file;
   target <= 20 ms. Measured sequentially and with n_jobs=2; "end-to-end" also
   ingests everything into DuckDB.
3. peak memory (RSS) of the sweep's process during a 64-trial random-forest
   sweep on the sample churn data, n_jobs=2, every trial logging its model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

import workbench as wb
from workbench.training.examples import busy, churn_split, random_forest_churn, trivial
from workbench.training.sweep import shutdown_workers


def _store(tmp: Path, name: str) -> wb.Store:
    return wb.Store(tmp / f"{name}.duckdb")


def bench_speedup(tmp: Path, n_trials: int, seconds: float, repeats: int) -> dict:
    space = {"seconds": wb.choice([seconds]), "x": wb.float_range(0, 1)}
    store = _store(tmp, "speedup")
    shutdown_workers()
    t0 = time.perf_counter()
    wb.sweep(busy, space, n_trials=n_trials, n_jobs=2, metric="score", store=store, seed=0)
    cold = time.perf_counter() - t0
    seq, par = [], []
    for r in range(repeats):
        t0 = time.perf_counter()
        s1 = wb.sweep(busy, space, n_trials=n_trials, n_jobs=1, metric="score", store=store, seed=r)
        seq.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        s2 = wb.sweep(busy, space, n_trials=n_trials, n_jobs=2, metric="score", store=store, seed=r)
        par.append(time.perf_counter() - t0)
        assert s1.progress["finished"] == s2.progress["finished"] == n_trials
    t_seq, t_par = statistics.median(seq), statistics.median(par)
    return {
        "trials": n_trials,
        "cpu_s_per_trial": seconds,
        "n_jobs_1_s": round(t_seq, 3),
        "n_jobs_2_warm_s": round(t_par, 3),
        "speedup_warm": round(t_seq / t_par, 2),
        "n_jobs_2_cold_s": round(cold, 3),
        "speedup_cold": round(t_seq / cold, 2),
    }


def bench_overhead(tmp: Path, n_trials: int, repeats: int) -> dict:
    space = {"x": wb.float_range(0, 1)}
    out = {}
    for label, n_jobs in (("sequential", 1), ("loky_n_jobs_2", 2)):
        store = _store(tmp, f"overhead-{label}")
        wb.sweep(trivial, space, n_trials=4, n_jobs=n_jobs, store=store, seed=0)  # warm up
        calls, e2e = [], []
        for r in range(repeats):
            t0 = time.perf_counter()
            s = wb.sweep(trivial, space, n_trials=n_trials, n_jobs=n_jobs, store=store, seed=r)
            store.flush()
            calls.append(time.perf_counter() - t0)
            store.sync()
            e2e.append(time.perf_counter() - t0)
            assert s.progress["finished"] == n_trials
        out[f"{label}_ms_per_trial"] = round(1000 * statistics.median(calls) / n_trials, 2)
        out[f"{label}_end_to_end_ms_per_trial"] = round(1000 * statistics.median(e2e) / n_trials, 2)
        store.sync()
        assert (
            store.count_runs(filter="tags.`workbench.kind` = 'trial'") == n_trials * (repeats) + 4
        )
    out["trials"] = n_trials
    return out


def bench_memory(tmp: Path, n_trials: int, max_trees: int) -> dict:
    churn_split()  # load the data in the parent too, as a user would
    store = _store(tmp, "memory")
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    s = wb.sweep(
        random_forest_churn,
        {
            "n_estimators": wb.int_range(10, max_trees),
            "max_depth": wb.choice([4, 8, 16]),
            "min_samples_leaf": wb.int_range(1, 20),
        },
        strategy="random",
        n_trials=n_trials,
        n_jobs=2,
        metric="auc",
        mode="max",
        experiment="churn",
        store=store,
        seed=0,
    )
    elapsed = time.perf_counter() - t0
    store.sync()
    stop.set()
    sampler.join()
    peak[0] = max(peak[0], proc.memory_info().rss)
    return {
        "trials": n_trials,
        "finished": s.progress["finished"],
        "seconds": round(elapsed, 1),
        "best_auc": round(s.best_value, 4),
        "parent_rss_before_mb": round(base / 2**20, 1),
        "parent_rss_peak_mb": round(peak[0] / 2**20, 1),
        "parent_rss_growth_mb": round((peak[0] - base) / 2**20, 1),
        "parent_ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = parser.parse_args()
    q = args.quick
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ.setdefault("WORKBENCH_HOME", str(tmp / "home"))
        results = {
            "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
            f"Python {platform.python_version()}",
            "load_average": os.getloadavg(),
            "speedup": bench_speedup(tmp, 8, 0.25 if q else 1.0, 1 if q else 3),
            "overhead": bench_overhead(tmp, 50 if q else 200, 1 if q else 3),
            "memory": bench_memory(tmp, 8 if q else 64, 40 if q else 150),
        }
        shutdown_workers()
    print(json.dumps(results, indent=2))
    sp, ov = results["speedup"], results["overhead"]
    print(
        f"\nspeed-up (8 trials, n_jobs=2 vs 1): {sp['speedup_warm']}x warm, "
        f"{sp['speedup_cold']}x cold (target >= 1.8x)",
        file=sys.stderr,
    )
    print(
        f"overhead per trivial trial: {ov['sequential_ms_per_trial']} ms sequential, "
        f"{ov['loky_n_jobs_2_ms_per_trial']} ms with n_jobs=2 (target <= 20 ms)",
        file=sys.stderr,
    )
    print(
        f"parent peak RSS during the {results['memory']['trials']}-trial RF sweep: "
        f"{results['memory']['parent_rss_peak_mb']} MB",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
