"""Benchmark of drift reports (issue 14): prints wall time and peak RSS per scenario.

Data (built under /tmp, not in the repo): N reference + N current rows, 20
numerical columns (current shifted by 0.1 sd) and 5 categorical ones (8
levels, current mix slightly changed), as Parquet files. Each scenario runs in
a fresh child process so that its peak RSS is its own.

    .venv/bin/python benchmarks/bench_drift.py            # 1M + 1M, 10M + 10M, Evidently if installed
    .venv/bin/python benchmarks/bench_drift.py --evidently-python /tmp/evvenv/bin/python
    .venv/bin/python benchmarks/bench_drift.py --rows 100000 --big-rows 0 --no-evidently   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_NUM, N_CAT, LEVELS = 20, 5, 8


def make_data(rows: int, out: Path, seed: int = 0) -> tuple[Path, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    ref_path, cur_path = out / f"ref_{rows}.parquet", out / f"cur_{rows}.parquet"
    if ref_path.exists() and cur_path.exists():
        return ref_path, cur_path
    rng = np.random.default_rng(seed)
    levels = np.array([f"level_{i}" for i in range(LEVELS)])
    p_ref = np.full(LEVELS, 1 / LEVELS)
    p_cur = p_ref * np.linspace(0.8, 1.2, LEVELS)
    p_cur /= p_cur.sum()
    chunk = 1_000_000
    for path, shift, probs in ((ref_path, 0.0, p_ref), (cur_path, 0.1, p_cur)):
        writer = None
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            cols = {f"num_{i}": rng.normal(i, 1 + i / 10, n) + shift * (1 + i / 10) for i in range(N_NUM)}
            for j in range(N_CAT):
                cols[f"cat_{j}"] = pa.array(levels[rng.choice(LEVELS, n, p=probs)])
            # 30 days of timestamps, in order (for drift_over_time)
            base = np.datetime64("2025-01-01T00:00:00", "s")
            secs = (np.arange(start, start + n) * (30 * 86400 / rows)).astype("int64")
            cols["ts"] = pa.array(base + secs.astype("timedelta64[s]"))
            table = pa.table(cols)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table)
        writer.close()
    return ref_path, cur_path


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it is not inherited across exec)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scenario(name: str, ref: str, cur: str, tmp: str) -> dict:
    """Run one scenario in this (child) process."""
    if name != "evidently":
        import workbench.monitoring as mon
        from workbench.monitoring.over_time import drift_over_time

    cols = [f"num_{i}" for i in range(N_NUM)] + [f"cat_{j}" for j in range(N_CAT)]
    t0 = time.perf_counter()
    extra: dict = {}
    if name == "default":
        rep = mon.drift_report(ref, cur, columns=cols)
        extra = {"drifted": rep.n_drifted, "methods": sorted(set(rep.columns["method"]))}
    elif name == "evidently_binning":
        rep = mon.drift_report(ref, cur, columns=cols, num_method="psi", binning="evidently")
        extra = {"drifted": rep.n_drifted}
    elif name == "exact_ks":
        rep = mon.drift_report(ref, cur, columns=cols[:N_NUM], num_method="ks", quality=False)
        extra = {"drifted": rep.n_drifted, "ks_mode": rep.columns["conventions"][0]["ks_mode"]}
    elif name == "profile_build":
        import workbench as wb

        store = wb.Store(Path(tmp) / "bench.duckdb")
        prof = mon.reference_profile(ref, name="bench-ref", store=store, columns=cols)
        extra = {"profile": prof.id}
    elif name == "vs_profile":
        import workbench as wb

        store = wb.Store(Path(tmp) / "bench.duckdb")
        prof = mon.load_profile(store, "bench-ref")
        t0 = time.perf_counter()  # loading the profile's row is not the report
        rep = mon.drift_report(prof, cur, columns=cols)
        extra = {"drifted": rep.n_drifted}
    elif name == "over_time":
        import workbench as wb

        store = wb.Store(Path(tmp) / "bench.duckdb")
        prof = mon.load_profile(store, "bench-ref")
        t0 = time.perf_counter()
        ot = drift_over_time(cur, time_column="ts", freq="1D", reference=prof, columns=cols)
        extra = {"windows": int(ot.scores["window"].nunique()), "cells": int(len(ot.scores))}
    elif name == "evidently":
        import pandas as pd
        from evidently import Report
        from evidently.presets import DataDriftPreset

        r = pd.read_parquet(ref, columns=cols)
        c = pd.read_parquet(cur, columns=cols)
        t0 = time.perf_counter()
        Report([DataDriftPreset()]).run(c, r)
    else:
        raise SystemExit(f"unknown scenario {name}")
    return {"scenario": name, "seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb(), **extra}


def run_child(name: str, ref: Path, cur: Path, tmp: Path, python: str | None = None) -> dict:
    out = subprocess.run([python or sys.executable, __file__, "--child", name, str(ref), str(cur), str(tmp)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return {"scenario": name, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--big-rows", type=int, default=10_000_000)
    ap.add_argument("--no-evidently", action="store_true")
    ap.add_argument("--evidently-python", default=None,
                    help="an interpreter with evidently installed (Evidently 0.7 needs pandas < 3)")
    ap.add_argument("--tmp", default="/tmp/wb_bench_drift")
    ap.add_argument("--child", nargs=4)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(scenario(*a.child)))
        return
    tmp = Path(a.tmp)
    goals = {"default": 2.0, "evidently_binning": 3.0, "exact_ks": 3.0, "vs_profile": 1.0, "over_time": 5.0}
    print(f"machine: {os.cpu_count()} cores; rows per side {a.rows:,}; {N_NUM} numerical + {N_CAT} categorical")
    ref, cur = make_data(a.rows, tmp)
    results = []
    for name in ("default", "evidently_binning", "exact_ks", "profile_build", "vs_profile", "over_time"):
        r = run_child(name, ref, cur, tmp / f"s{a.rows}")
        results.append(r)
        goal = goals.get(name)
        print(f"{name:18s} {r.get('seconds', float('nan')):7.2f} s  peak RSS {r.get('peak_rss_mb', 0):7.0f} MB"
              + (f"  (goal <= {goal} s)" if goal else "") + f"  {r.get('error') or ''}"
              + f"  {({k: v for k, v in r.items() if k not in ('scenario', 'seconds', 'peak_rss_mb')})}")
    if not a.no_evidently:
        python = a.evidently_python
        probe = subprocess.run([python or sys.executable, "-c", "import evidently"], capture_output=True)
        if probe.returncode == 0:
            r = run_child("evidently", ref, cur, tmp, python)
            ours = results[0].get("seconds")
            print(f"{'evidently':18s} {r.get('seconds', float('nan')):7.2f} s  peak RSS "
                  f"{r.get('peak_rss_mb', 0):7.0f} MB  DataDriftPreset; ratio evidently/ours = "
                  f"{(r.get('seconds', float('nan')) / ours) if ours else float('nan'):.1f}x {r.get('error') or ''}")
        else:
            print("evidently not importable (pass --evidently-python): skipped the comparison")
    if a.big_rows:
        bref, bcur = make_data(a.big_rows, tmp)
        r = run_child("default", bref, bcur, tmp / f"s{a.big_rows}")
        print(f"default {a.big_rows:,}+{a.big_rows:,} from Parquet: {r.get('seconds', float('nan')):.2f} s, "
              f"peak RSS {r.get('peak_rss_mb', 0):.0f} MB (goal <= 20 s, <= 2048 MB) {r.get('error') or ''}")


if __name__ == "__main__":
    main()
