"""Store size, search speed and read-after-write (issue 17). Prints its figures.

    python benchmarks/bench_store_size.py                      # this checkout, 100,000 runs
    python benchmarks/bench_store_size.py --compare OLD_TREE   # and another checkout
    python benchmarks/bench_store_size.py --runs 20000         # smaller

For each checkout, in a fresh process: build a store of N runs through the API (2 params,
2 metrics, 1 tag each, as bench_store.py does), then report the file size after a
checkpoint, the build time (logging + ingest), the 3-clause search over all runs (first
call in the process and warm median), ``get_run``, and the read-after-write figure: log
2,000 new runs, then time the first ``search_runs`` (it ingests the spool first) against
a warm one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = textwrap.dedent(
    """
    import json, os, statistics, sys, time
    import workbench as wb
    path, n = sys.argv[1], int(sys.argv[2])
    FILTER = "metrics.auc > 0.9 and params.model = 'rf' and tags.team = 'ds'"

    def make_runs(store, start, count, experiment):
        for i in range(start, start + count):
            with wb.start_run(experiment=experiment, store=store) as run:
                run.log_params({"model": ("rf", "lr", "gbm")[i % 3], "n_estimators": 50 + i % 450})
                run.log_metrics({"auc": 0.5 + (i * 7919 % 1000) / 2000, "loss": (i % 97) / 97})
                run.set_tag("team", ("ds", "ml")[i % 2])

    out = {}
    store = wb.Store(path)
    t0 = time.perf_counter()
    make_runs(store, 0, n, "search")
    store.sync()
    out["build_s"] = time.perf_counter() - t0
    store.close()
    store.sync()
    store.close()
    out["file_mb"] = os.path.getsize(path) / 1e6
    t0 = time.perf_counter()
    hits = store.search_runs("search", filter=FILTER, max_results=100)
    out["search_first_ms"] = (time.perf_counter() - t0) * 1e3
    warm = []
    for _ in range(7):
        t0 = time.perf_counter()
        store.search_runs("search", filter=FILTER, max_results=100)
        warm.append(time.perf_counter() - t0)
    out["search_warm_ms"] = statistics.median(warm) * 1e3
    run_id = hits["run_id"].iloc[0]
    gets = []
    for _ in range(7):
        t0 = time.perf_counter()
        store.get_run(run_id)
        gets.append(time.perf_counter() - t0)
    out["get_run_ms"] = statistics.median(gets) * 1e3
    # Read after write: 2,000 new runs, then the first search (which ingests them).
    for k in range(3):
        make_runs(store, n + 2000 * k, 2000, "fresh")
        store.flush()
        t0 = time.perf_counter()
        store.search_runs("fresh", filter=FILTER, max_results=100)
        out.setdefault("first_read_after_2000_ms", []).append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        store.search_runs("fresh", filter=FILTER, max_results=100)
        out.setdefault("warm_read_ms", []).append((time.perf_counter() - t0) * 1e3)
    out["first_read_after_2000_ms"] = statistics.median(out["first_read_after_2000_ms"])
    out["warm_read_ms"] = statistics.median(out["warm_read_ms"])
    print(json.dumps(out))
    """
)


def measure(tree: Path, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(tree))
        out = subprocess.run([sys.executable, "-c", PROBE, str(Path(tmp) / "s.duckdb"), str(n)],
                             env=env, cwd=tree, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--compare", type=Path, help="another checkout to measure too")
    args = parser.parse_args()
    trees = {"this checkout": ROOT}
    if args.compare:
        trees["compared"] = args.compare.resolve()
    results = {name: measure(tree, args.runs) for name, tree in trees.items()}
    print(f"# bench_store_size on {platform.node()}, {os.cpu_count()} cores, {args.runs:,} runs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'figure':<28}" + "".join(f"{name:>16}" for name in trees))
    for key in next(iter(results.values())):
        print(f"{key:<28}" + "".join(f"{results[n][key]:>16.1f}" for n in trees))


if __name__ == "__main__":
    main()
