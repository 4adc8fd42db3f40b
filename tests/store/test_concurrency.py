"""Many real processes writing and reading one store; a logging process killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import workbench as wb

pytestmark = pytest.mark.slow

WRITER = textwrap.dedent(
    """
    import sys, time, workbench as wb
    store = wb.Store(sys.argv[1])
    worker = int(sys.argv[2])
    with wb.start_run(experiment="load", run_name=f"writer-{worker}", store=store) as run:
        wb.log_params({f"p{i}": i * worker for i in range(50)})
        for step in range(10_000):
            wb.log_metric("loss", worker + step / 10_000, step=step)
            if step % 1000 == 999:
                time.sleep(0.2)  # spread the writing out so that it overlaps the reader
    print(run.id, flush=True)
    """
)

READER = textwrap.dedent(
    """
    import json, os, sys, time, workbench as wb
    store = wb.Store(sys.argv[1])
    stop_file = sys.argv[2]
    reads, errors, seen, slowest = 0, [], [], 0.0
    while not os.path.exists(stop_file):
        try:
            t0 = time.perf_counter()
            n = store.count_runs(filter="attributes.run_name LIKE 'writer-%'")
            info = store.info()
            slowest = max(slowest, time.perf_counter() - t0)
            seen.append(info["metrics"])
            reads += 1
        except Exception as exc:  # any error at all is a failure of the store's design
            errors.append(repr(exc))
        time.sleep(0.01)
    print(json.dumps({"reads": reads, "errors": errors, "seen": seen, "slowest": slowest}), flush=True)
    """
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.getcwd() + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_eight_writers_and_a_reader_lose_nothing(tmp_path):
    path = tmp_path / "shared.duckdb"
    wb.Store(path).create_experiment("load")
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(path), str(stop)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=_env(),
    )
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(w)], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=_env(),
        )
        for w in range(1, 9)
    ]
    run_ids = []
    for proc in writers:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        run_ids.append(out.strip())
    stop.touch()
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    report = json.loads(out)
    assert report["errors"] == []
    print({k: v for k, v in report.items() if k != "seen"})
    # The reader really read while the writers wrote: it saw partial states.
    assert report["reads"] >= 3
    assert any(0 < n < 80_000 for n in report["seen"]), report["seen"]
    assert report["seen"] == sorted(report["seen"])  # and never saw records vanish

    store = wb.Store(path)
    runs = store.search_runs("load", max_results=100)
    assert sorted(runs["run_id"]) == sorted(run_ids)
    assert set(runs["status"]) == {"FINISHED"}
    for worker, run_id in enumerate(run_ids, start=1):
        history = store.metric_history(run_id, "loss")
        assert len(history) == 10_000
        assert history["step"].tolist() == list(range(10_000))
        assert history["value"].iloc[-1] == pytest.approx(worker + 9_999 / 10_000)
        params = store.get_run(run_id)["params"]
        assert len(params) == 50
        assert params["p7"] == str(7 * worker)
    assert store.info()["metrics"] == 80_000
    store.close()
    store.sync()  # a later open confirms the last commits and deletes their files
    assert list(store.spool_dir.glob("*.spool")) == []  # everything ingested


KILLED = textwrap.dedent(
    """
    import sys, time, workbench as wb
    store = wb.Store(sys.argv[1])
    run = wb.start_run(experiment="kill", run_name="victim", store=store)
    print("RUN", run.id, flush=True)
    step = 0
    while True:
        wb.log_metric("x", float(step), step=step)
        if step % 50 == 0:
            print("STEP", step, flush=True)
        step += 1
        time.sleep(0.001)
    """
)


def test_sigkill_keeps_all_but_the_last_second_and_marks_the_run_killed(tmp_path):
    path = tmp_path / "kill.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(path)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=_env(),
    )
    run_id = None
    seen: list[tuple[float, int]] = []  # (when the parent saw it, step)
    started = time.monotonic()
    while time.monotonic() - started < 60:
        line = proc.stdout.readline()
        if line.startswith("RUN"):
            run_id = line.split()[1]
        elif line.startswith("STEP"):
            seen.append((time.monotonic(), int(line.split()[1])))
            if seen[-1][0] - seen[0][0] > 3.0:
                break
    assert run_id and seen, proc.stderr.read()
    killed_at = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    # Every step the child had logged more than a second before it died survives.
    must_have = max(step for when, step in seen if when <= killed_at - 1.0)
    store = wb.Store(path)
    history = store.metric_history(run_id, "x")
    assert history["step"].max() >= must_have
    assert history["step"].tolist() == list(range(len(history)))  # no holes
    run = store.get_run(run_id)
    assert run["status"] == "KILLED"
    assert run["end_time"] is not None and run["end_time"] >= run["start_time"]


def test_spool_files_are_deleted_only_after_a_later_open_sees_their_commit(store):
    from workbench.store.ingest import ingest_pending

    with wb.start_run(experiment="e", store=store) as run:
        run.log_metric("m", 1.0, step=0)
    store.flush()
    files = sorted(store.spool_dir.glob("*.spool"))
    assert files
    mine: set[str] = set()
    with store._handle.connect(ingest=False) as con:
        assert ingest_pending(con, store.spool_dir, mine) == len(files)
        # Committed by this connection: kept, because this commit could still
        # be lost (another process opening from a stale header).
        assert mine == {p.name for p in files}
        assert all(p.exists() for p in files)
        assert ingest_pending(con, store.spool_dir, mine) == 0  # not applied twice
        assert all(p.exists() for p in files)
    store.close()
    # A later open sees the names recorded: the commit is in the file, so the
    # files go, and so do their names.
    with store._handle.connect(ingest=False) as con:
        assert ingest_pending(con, store.spool_dir, set()) == 0
        assert not any(p.exists() for p in files)
        assert con.execute("SELECT count(*) FROM spool_ingested").fetchone()[0] == 0
    assert len(store.metric_history(run.id, "m")) == 1


def test_a_lost_commit_is_ingested_again_from_the_kept_files(store):
    from workbench.store.ingest import ingest_pending

    with wb.start_run(experiment="e", store=store) as run:
        run.log_metric("m", 1.0, step=0)
    store.flush()
    with store._handle.connect(ingest=False) as con:
        ingest_pending(con, store.spool_dir, set())
        # What a stale opener's overwrite does: the commit is gone.
        con.execute("DELETE FROM metrics; DELETE FROM latest_metrics; DELETE FROM spool_ingested")
    store.close()
    assert len(store.metric_history(run.id, "m")) == 1  # re-ingested from the kept file
    store.close()
    store.sync()
    assert list(store.spool_dir.glob("*.spool")) == []


def test_a_corrupt_spool_file_is_quarantined_not_fatal(store):
    with wb.start_run(experiment="e", store=store) as run:
        run.log_metric("m", 1.0)
    (store.spool_dir / "00000000000000000001-1-0000000001.spool").write_bytes(b"not arrow")
    with pytest.warns(UserWarning, match="could not be read"):
        store.sync()
    assert len(store.metric_history(run.id, "m")) == 1
    assert (store.spool_dir / "corrupt" / "00000000000000000001-1-0000000001.spool").exists()
