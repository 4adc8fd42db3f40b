"""Benchmark of the A/B package: analyze over 10M events, over_time, 1M bandit decisions.

Goals (issue 15): ``analyze`` over 10M events (Parquet; 2 variants; a proportion, a mean
with CUPED and a ratio metric; SRM; Holm) in <= 1.5 s and <= 1 GB peak RSS, >= 10x the
per-row pandas + scipy/statsmodels path with the same numbers; ``over_time("1D")`` on the
same data (30 days) <= 3 s; 1M bandit decisions (select + update, 3 arms) <= 2 s.

    .venv/bin/python benchmarks/bench_abtest.py            # 10M events
    .venv/bin/python benchmarks/bench_abtest.py --rows 1e6  # a quick run

The data is built once under /tmp/workbench_bench_abtest/ with DuckDB (seeded) and
reused. Peak RSS is measured in a fresh child process that imports workbench and runs
one ``analyze`` (``ru_maxrss`` of the child).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA_DIR = Path("/tmp/workbench_bench_abtest")


def build(rows: int) -> Path:
    """10M (or ``rows``) unit rows with a built-in lift, written once with DuckDB."""
    import duckdb

    path = DATA_DIR / f"events_{rows}.parquet"
    if path.exists():
        return path
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SELECT setseed(0.42)")
    tmp = path.with_suffix(".tmp")
    con.execute(f"""
        COPY (
          WITH base AS (
            SELECT i,
                   CASE WHEN hash(i) % 2 = 0 THEN 'control' ELSE 'treatment' END AS variant,
                   random() AS v, random() AS u1, random() AS u2, random() AS u3
            FROM range({rows}) t(i))
          SELECT 'U' || lpad(CAST(i AS VARCHAR), 9, '0') AS user_id, variant,
                 TIMESTAMP '2025-03-01' + to_seconds(CAST(floor(u3 * 30 * 86400) AS BIGINT))
                     AS timestamp,
                 CAST(u1 < (0.06 + 0.08 * v) * CASE WHEN variant = 'treatment' THEN 1.04
                                                    ELSE 1.0 END AS INTEGER) AS converted,
                 round(50 * v + 20 * u2, 2) AS pre_revenue,
                 CASE WHEN u1 < (0.06 + 0.08 * v) * CASE WHEN variant = 'treatment' THEN 1.04
                                                         ELSE 1.0 END
                      THEN round((20 + 60 * v + 15 * u2) * CASE WHEN variant = 'treatment'
                                 THEN 1.02 ELSE 1.0 END, 2) ELSE 0 END AS revenue,
                 CASE WHEN u1 < (0.06 + 0.08 * v) * CASE WHEN variant = 'treatment' THEN 1.04
                                                         ELSE 1.0 END
                      THEN 1 + CAST(floor(3 * u2) AS INTEGER) ELSE 0 END AS orders
          FROM base ORDER BY timestamp
        ) TO '{tmp}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)""")
    con.close()
    tmp.rename(path)
    return path


def metrics():
    from workbench import abtest as ab

    return [
        ab.Metric("converted", kind="proportion"),
        ab.Metric("revenue", kind="mean", cuped="pre_revenue"),
        ab.Metric("revenue_per_order", kind="ratio", numerator="revenue", denominator="orders"),
    ]


def run_analyze(path: Path, duplicates: str = "exclude", cold: bool = True):
    from workbench import abtest as ab
    from workbench.store import abtest_sql

    if cold:  # the duplicate-unit check of a file is cached while the file is unchanged
        abtest_sql.clear_duplicate_cache()
    return ab.analyze(
        str(path),
        experiment="bench",
        variant="variant",
        unit="user_id",
        control="control",
        metrics=metrics(),
        correction="holm",
        duplicates=duplicates,
    )


def per_row_path(path: Path) -> dict:
    """The plain way: read every row into pandas, then scipy / statsmodels on the rows."""
    import pandas as pd
    from scipy import stats
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.proportion import proportions_ztest

    df = pd.read_parquet(
        path, columns=["user_id", "variant", "converted", "revenue", "pre_revenue", "orders"]
    )
    dup = df.groupby("user_id")["variant"].nunique()
    assert (dup > 1).sum() == 0
    c, t = df[df.variant == "control"], df[df.variant == "treatment"]
    out = {}
    z, p = proportions_ztest([t.converted.sum(), c.converted.sum()], [len(t), len(c)])
    out["converted"] = (t.converted.mean() - c.converted.mean(), p)
    x, y = df.pre_revenue.to_numpy(), df.revenue.to_numpy()
    theta = np.cov(x, y)[0, 1] / x.var(ddof=1)
    adj_t, adj_c = t.revenue - theta * t.pre_revenue, c.revenue - theta * c.pre_revenue
    r = stats.ttest_ind(adj_t, adj_c, equal_var=False)
    out["revenue"] = (adj_t.mean() - adj_c.mean(), r.pvalue)
    # ratio by the delta method on the rows: linearise each unit as (m - R d) / mean(d)
    lin = {}
    for name, g in (("c", c), ("t", t)):
        ratio = g.revenue.sum() / g.orders.sum()
        lin[name] = (ratio, (g.revenue - ratio * g.orders) / g.orders.mean())
    se = np.sqrt(lin["t"][1].var(ddof=1) / len(t) + lin["c"][1].var(ddof=1) / len(c))
    a, b = lin["t"][1].var(ddof=1) / len(t), lin["c"][1].var(ddof=1) / len(c)
    dof = (a + b) ** 2 / (a * a / (len(t) - 1) + b * b / (len(c) - 1))
    diff = lin["t"][0] - lin["c"][0]
    out["revenue_per_order"] = (diff, 2 * stats.t.sf(abs(diff / se), dof))
    counts = df.variant.value_counts().sort_index()
    out["srm_p"] = stats.chisquare(counts.to_numpy()).pvalue
    out["holm"] = multipletests(
        [out[k][1] for k in ("converted", "revenue", "revenue_per_order")], method="holm"
    )[1]
    return out


def child_rss(path: Path) -> tuple[float, float]:
    """Peak RSS (MB) of a fresh process that imports workbench, and one that also analyzes."""
    code = "\n".join(
        [
            "import sys",
            f"sys.path.insert(0, {str(ROOT)!r})",
            "def hwm():  # peak RSS of this process since exec (ru_maxrss counts the parent's)",
            "    for line in open('/proc/self/status'):",
            "        if line.startswith('VmHWM:'):",
            "            return float(line.split()[1]) / 1024",
            "import workbench.abtest",
            "from pathlib import Path",
            "from benchmarks.bench_abtest import run_analyze",
            "base = hwm()",
            f"run_analyze(Path({str(path)!r}))",
            "print(base, hwm())",
        ]
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.split()
    return float(out[0]), float(out[1])


def bandit_speed(n: int) -> dict[str, float]:
    from workbench import abtest as ab

    rates = [0.10, 0.12, 0.11]
    index = {"a": 0, "b": 1, "c": 2}
    u = np.random.default_rng(0).random(n).tolist()
    out = {}
    for make in (
        lambda: ab.ThompsonSampling(["a", "b", "c"], seed=0),
        lambda: ab.UCB1(["a", "b", "c"], seed=0),
        lambda: ab.EpsilonGreedy(["a", "b", "c"], seed=0),
    ):
        policy = make()
        select, update = policy.select, policy.update
        t0 = time.perf_counter()
        for i in range(n):
            arm = select()
            update(arm, 1.0 if u[i] < rates[index[arm]] else 0.0)
        out[policy.name] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=float, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bandit-decisions", type=float, default=1_000_000)
    ap.add_argument("--skip-per-row", action="store_true")
    args = ap.parse_args()
    rows = int(args.rows)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    t0 = time.perf_counter()
    path = build(rows)
    print(
        f"data: {rows:,} unit rows, {path.stat().st_size / 1e6:.0f} MB Parquet "
        f"({time.perf_counter() - t0:.1f} s to build or find)"
    )

    run_analyze(path)  # warm the OS file cache and imports
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res = run_analyze(path)
        times.append(time.perf_counter() - t0)
    print(
        f"analyze ({rows:,} events, proportion + CUPED mean + ratio, SRM, Holm), cold: "
        f"best {min(times):.3f} s, median {statistics.median(times):.3f} s "
        f"(goal <= 1.5 s)"
    )
    times_warm = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        run_analyze(path, cold=False)
        times_warm.append(time.perf_counter() - t0)
    print(
        f"  again on the unchanged file (duplicate check cached, e.g. switching engine): "
        f"best {min(times_warm):.3f} s, median {statistics.median(times_warm):.3f} s"
    )
    times_trust = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        run_analyze(path, duplicates="trust")
        times_trust.append(time.perf_counter() - t0)
    print(
        f"  of which the duplicate-unit check: analyze with duplicates='trust' (no check) "
        f"best {min(times_trust):.3f} s, median {statistics.median(times_trust):.3f} s"
    )
    base, peak = child_rss(path)
    print(
        f"peak RSS of a fresh process: {peak:.0f} MB (after imports {base:.0f} MB; goal <= 1024 MB)"
    )

    times_ot = []
    for _ in range(max(1, args.repeat - 1)):
        t0 = time.perf_counter()
        ot = res.over_time("1D")
        times_ot.append(time.perf_counter() - t0)
    print(
        f"over_time('1D'): {ot['t'].nunique()} days x {ot['metric'].nunique()} metrics, "
        f"best {min(times_ot):.3f} s (goal <= 3 s)"
    )

    if not args.skip_per_row:
        t0 = time.perf_counter()
        ref = per_row_path(path)
        t_rows = time.perf_counter() - t0
        print(
            f"per-row pandas + scipy/statsmodels path: {t_rows:.2f} s; "
            f"ratio {t_rows / min(times):.1f}x (goal >= 10x)"
        )
        worst = 0.0
        table = res.table.set_index(["metric", "variant"])
        for name in ("converted", "revenue", "revenue_per_order"):
            row = table.loc[(name, "treatment")]
            for ours, theirs in ((row["abs_lift"], ref[name][0]), (row["p_value"], ref[name][1])):
                worst = max(worst, abs(ours - theirs) / max(abs(theirs), 1e-300))
        worst = max(worst, abs(res.srm.p_value - ref["srm_p"]) / ref["srm_p"])
        holm = (
            table.xs("treatment", level="variant")
            .loc[["converted", "revenue", "revenue_per_order"], "p_adjusted"]
            .to_numpy()
        )
        worst = max(worst, float(np.max(np.abs(holm - ref["holm"]) / ref["holm"])))
        print(
            f"same numbers: largest relative difference {worst:.2e} over lifts, p-values, "
            f"SRM and Holm ({'OK' if worst < 1e-6 else 'MISMATCH'})"
        )

    n = int(args.bandit_decisions)
    speeds = bandit_speed(n)
    print(
        f"bandits, {n:,} decisions (select + update), 3 arms: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in speeds.items())
        + " (goal <= 2 s)"
    )
    summary = {
        "rows": rows,
        "analyze_best_s": min(times),
        "analyze_median_s": statistics.median(times),
        "analyze_trust_best_s": min(times_trust),
        "analyze_warm_best_s": min(times_warm),
        "peak_rss_mb": peak,
        "over_time_s": min(times_ot),
        "bandits_s": speeds,
        "load": os.getloadavg()[0],
        "self_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
