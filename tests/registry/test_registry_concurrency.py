"""Two real processes approving into Production at the same moment: exactly one wins the stage,
the other's approval archives it or is refused, and the audit log tells one consistent story."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import joblib
import pytest
from sklearn.dummy import DummyClassifier

import workbench as wb

pytestmark = pytest.mark.slow

APPROVER = textwrap.dedent(
    """
    import json, os, sys, time, workbench as wb
    from workbench.errors import WorkbenchError
    path, user, request_id, ready, go = sys.argv[1:6]
    reg = wb.Registry(wb.Store(path), user=user)
    reg.get_request(int(request_id))            # warm up: imports, connection, schema
    reg.store.close()
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.001)
    try:
        reg.approve(int(request_id), comment=f"approved by {user}")
        print(json.dumps({"ok": True}))
    except WorkbenchError as exc:
        print(json.dumps({"ok": False, "error": type(exc).__name__, "message": str(exc)}))
    """
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(wb.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _race(tmp_path: Path, path: Path, jobs: list[tuple[str, int]]) -> list[dict]:
    go = tmp_path / "go"
    go.unlink(missing_ok=True)
    procs, readies = [], []
    for i, (user, request_id) in enumerate(jobs):
        ready = tmp_path / f"ready-{user}-{i}"
        ready.unlink(missing_ok=True)
        readies.append(ready)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    APPROVER,
                    str(path),
                    user,
                    str(request_id),
                    str(ready),
                    str(go),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=_env(),
            )
        )
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in readies):
        assert time.monotonic() < deadline, "approver processes did not start"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.01)
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _setup(tmp_path: Path) -> tuple[Path, wb.Registry, list[int]]:
    path = tmp_path / "shared.duckdb"
    store = wb.Store(path)
    reg = wb.Registry(store, user="alice")
    reg.grant("bob", "approver")
    reg.grant("carol", "approver")
    model_file = tmp_path / "m.joblib"
    joblib.dump(DummyClassifier(), model_file)
    for _ in range(3):
        reg.register_model("churn", path=model_file)
    bob = wb.Registry(store, user="bob")
    for version in (1, 2, 3):
        bob.approve(reg.request_transition("churn", version, "Staging").id, comment="checked")
    bob.approve(reg.request_transition("churn", 1, "Production").id, comment="checked")
    requests = [reg.request_transition("churn", v, "Production").id for v in (2, 3)]
    store.close()
    return path, reg, requests


def _check_consistent(reg: wb.Registry) -> None:
    versions = reg.list_versions("churn")
    stages = dict(zip(versions["version"], versions["stage"]))
    assert list(stages.values()).count("Production") == 1
    hist = reg.stage_history("churn")
    current = hist[hist["end"].isna()]
    assert dict(zip(current["version"], current["stage"])) == stages
    # Replaying the audit log's before/after stages gives the final stages.
    replay: dict[int, str] = {}
    for entry in reg.audit_log("churn").itertuples():
        if entry.action == "register":
            replay[int(entry.version)] = "None"
        elif entry.action in ("approve", "archive", "override"):
            for version, stage in entry.before["stages"].items():
                assert replay[int(version)] == stage, (entry.entry_id, version)
            replay.update({int(v): s for v, s in entry.after["stages"].items()})
    assert replay == stages


def test_two_processes_approve_two_versions_into_production(tmp_path):
    path, reg, (req2, req3) = _setup(tmp_path)
    results = _race(tmp_path, path, [("bob", req2), ("carol", req3)])
    assert results == [{"ok": True}, {"ok": True}]  # serialised: the second archives the first
    reg = wb.Registry(wb.Store(path), user="alice")
    _check_consistent(reg)
    approvals = reg.audit_log("churn").query("action == 'approve'").tail(2)
    first, second = approvals.iloc[0], approvals.iloc[1]
    assert {first["user"], second["user"]} == {"bob", "carol"}
    assert first["after"]["stages"][str(first["version"])] == "Production"
    # The later approval saw the earlier one's version in Production and archived it.
    assert second["before"]["stages"][str(first["version"])] == "Production"
    assert second["after"]["stages"][str(first["version"])] == "Archived"
    assert reg.resolve("models:/churn/Production").version == second["version"]


def test_two_processes_approve_the_same_request_once(tmp_path):
    path, reg, (req2, _) = _setup(tmp_path)
    results = _race(tmp_path, path, [("bob", req2), ("carol", req2)])
    assert sorted(r["ok"] for r in results) == [False, True]
    loser = next(r for r in results if not r["ok"])
    assert loser["error"] == "StageTransitionError" and "already APPROVED" in loser["message"]
    reg = wb.Registry(wb.Store(path), user="alice")
    _check_consistent(reg)
    assert len(reg.audit_log("churn").query("request_id == @req2 and action == 'approve'")) == 1
