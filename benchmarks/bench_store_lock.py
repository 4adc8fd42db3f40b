"""What the store's own file lock costs (issue 11). Prints its figures.

    python benchmarks/bench_store_lock.py                      # this checkout
    python benchmarks/bench_store_lock.py --compare OLD_TREE   # and another checkout, interleaved

Figures:
- one open + query + close cycle through the store (``count_runs`` then ``close``), and
  the lock's own share (an uncontended ``flock`` acquire + release);
- the 8-writer scenario of ``tests/store/test_concurrency.py`` (8 processes logging 10,000
  points each while a reader queries every 10 ms): wall time, and the reader's read latency
  (median, p95, max) under that load.

With ``--compare``, the same figures for the other checkout (e.g. a ``git worktree`` of the
commit before the lock) are measured in the same run, alternating, so that both see the
same machine load.
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
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CYCLES = textwrap.dedent(
    """
    import json, sys, time, workbench as wb
    store = wb.Store(sys.argv[1])
    times = []
    for _ in range(int(sys.argv[2])):
        t0 = time.perf_counter()
        store.count_runs()
        store.close()
        times.append(time.perf_counter() - t0)
    print(json.dumps(times))
    """
)

FLOCK = textwrap.dedent(
    """
    import fcntl, json, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    times = []
    for _ in range(int(sys.argv[2])):
        t0 = time.perf_counter()
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        times.append(time.perf_counter() - t0)
    print(json.dumps(times))
    """
)

WRITER = textwrap.dedent(
    """
    import sys, time, workbench as wb
    store = wb.Store(sys.argv[1])
    worker = int(sys.argv[2])
    with wb.start_run(experiment="load", run_name=f"writer-{worker}", store=store):
        wb.log_params({f"p{i}": i * worker for i in range(50)})
        for step in range(10_000):
            wb.log_metric("loss", worker + step / 10_000, step=step)
            if step % 1000 == 999:
                time.sleep(0.2)
    """
)

READER = textwrap.dedent(
    """
    import json, os, sys, time, workbench as wb
    store = wb.Store(sys.argv[1])
    stop_file = sys.argv[2]
    times = []
    while not os.path.exists(stop_file):
        t0 = time.perf_counter()
        store.count_runs(filter="attributes.run_name LIKE 'writer-%'")
        store.info()
        times.append(time.perf_counter() - t0)
        time.sleep(0.01)
    print(json.dumps(times))
    """
)


def _env(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    return env


def _run(tree: Path, script: str, *args: str) -> list[float]:
    out = subprocess.run([sys.executable, "-c", script, *args], env=_env(tree),
                         capture_output=True, text=True, check=True, cwd=tree).stdout
    return json.loads(out)


def cycles(tree: Path, folder: Path, n: int) -> dict[str, float]:
    times = _run(tree, CYCLES, str(folder / "cycles.duckdb"), str(n))[5:]  # first opens warm up
    return {"open+query+close median ms": statistics.median(times) * 1e3,
            "open+query+close p95 ms": sorted(times)[int(0.95 * len(times))] * 1e3}


def eight_writers(tree: Path, folder: Path) -> dict[str, float]:
    path = folder / "shared.duckdb"
    stop = folder / "stop"
    subprocess.run([sys.executable, "-c", "import sys, workbench as wb; "
                    "wb.Store(sys.argv[1]).create_experiment('load')", str(path)],
                   env=_env(tree), check=True, cwd=tree)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path), str(stop)],
                              env=_env(tree), stdout=subprocess.PIPE, text=True, cwd=tree)
    t0 = time.perf_counter()
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(w)],
                                env=_env(tree), cwd=tree) for w in range(1, 9)]
    for proc in writers:
        proc.wait()
    wall = time.perf_counter() - t0
    stop.touch()
    reads = json.loads(reader.communicate()[0])
    reads.sort()
    return {"8 writers wall s": wall, "reads under load": len(reads),
            "read latency median ms": statistics.median(reads) * 1e3,
            "read latency p95 ms": reads[int(0.95 * len(reads))] * 1e3,
            "read latency max ms": reads[-1] * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--compare", type=Path, help="another checkout to measure alongside")
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    trees = {"this checkout": ROOT}
    if args.compare:
        trees["compared"] = args.compare.resolve()
    results: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    for _ in range(args.repeats):
        for name, tree in trees.items():
            with tempfile.TemporaryDirectory() as tmp:
                figures = {**cycles(tree, Path(tmp), args.cycles), **eight_writers(tree, Path(tmp))}
            for key, value in figures.items():
                results[name].setdefault(key, []).append(value)
    with tempfile.TemporaryDirectory() as tmp:
        flock = _run(ROOT, FLOCK, str(Path(tmp) / "x.lock"), "10000")
    print(f"# bench_store_lock on {platform.node()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, median of {args.repeats} repeats")
    print(f"uncontended flock acquire + release: {statistics.median(flock) * 1e6:.1f} µs")
    keys = list(next(iter(results.values())))
    print(f"{'figure':<32}" + "".join(f"{name:>18}" for name in trees))
    for key in keys:
        print(f"{key:<32}" + "".join(f"{statistics.median(results[n][key]):>18.1f}" for n in trees))


if __name__ == "__main__":
    main()
