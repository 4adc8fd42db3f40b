"""Real processes and real HTTP: `workbench serve`, a deployment's life, zero-failure swaps, SIGKILL and resume."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from conftest import columns_of

import workbench as wb
from workbench.serving import Deployment, deploy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode()
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("server not ready")


def test_workbench_serve_answers_mlflow_and_v2_clients(model_store, rows):
    port = free_port()
    store_path = str(model_store.path)
    model_store.close()
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "serve", "models:/churn/1", "--port", str(port),
                             "--store", store_path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        # the server does not hold the store: another process can open it for writing now
        assert wb.Store(store_path).info()["path"]
        with httpx.Client(base_url=url) as c:
            r = c.post("/invocations", json=columns_of(rows.head(3)))
            v2 = c.post("/v2/models/churn/infer", json={"inputs": [
                {"name": col, "shape": [3], "datatype": "BYTES" if col == "region" else "FP64",
                 "data": rows.head(3)[col].tolist()} for col in rows.columns]})
            bad = c.post("/invocations", json={"dataframe_records": [{"age": "old"}]})
            assert c.get("/ping").status_code == 200
            assert "workbench_requests_total" in c.get("/metrics").text
        want = wb.load_model("models:/churn/1", store=wb.Store(store_path)).predict(rows.head(3)).tolist()
        assert r.json() == {"predictions": want} and r.headers["x-model-version"] == "1"
        assert v2.json()["outputs"][0]["data"] == want
        assert bad.status_code == 400
    finally:
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal: -15 is a clean SIGTERM exit
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
        proc.stdout.close()
    store = wb.Store(store_path)
    from workbench.serving import sync_predictions

    sync_predictions(store)  # what is still waiting (the opens above may have ingested some)
    with store.connection() as con:
        logged = con.execute("SELECT count(*) FROM predictions").fetchone()[0]
    assert logged == 3  # every request, flushed at the latest at shutdown


def test_serving_beyond_loopback_needs_a_token(model_store, monkeypatch, capsys):
    from workbench.cli import main

    monkeypatch.delenv("WORKBENCH_SERVE_TOKEN", raising=False)
    code = main(["serve", "models:/churn/1", "--host", "0.0.0.0", "--port", str(free_port()),
                 "--store", str(model_store.path)])
    assert code == 2 and "needs a token" in capsys.readouterr().err


class Load:
    """Requests from a thread until stopped; records every status and version."""

    def __init__(self, url: str, rows, key: bool = False):
        self.url, self.rows, self.key = url, rows, key
        self.results: list[tuple[int, str | None]] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        with httpx.Client(base_url=self.url, timeout=30) as c:
            i = 0
            while not self._stop.is_set():
                headers = {"x-workbench-key": f"user{i}"} if self.key else {}
                r = c.post("/invocations", json=columns_of(self.rows.iloc[[i % len(self.rows)]]), headers=headers)
                self.results.append((r.status_code, r.headers.get("x-model-version")))
                i += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join(timeout=30)


def test_a_deployments_life(model_store, rows):
    """Blue-green under load with zero failures, shadow, split, a canary rolled back and one promoted,
    SIGKILL, and `workbench serve --deployment` resuming with the log intact."""
    owner = wb.Registry(model_store, user="owner")
    owner.grant("tester", "contributor")  # the deploying user files the promotion request
    owner.approve(wb.Registry(model_store).request_transition("churn", 2, "Staging").id,
                  comment="ready for a canary")  # Staging, so that Production is a legal next move
    dep = deploy("api", "churn", 1, store=model_store)
    port = free_port()
    url = dep.start(port=port, settings={"tick_s": 0.1, "flush_interval_s": 0.1})
    try:
        assert dep.url == url and dep.status()["running"]
        # blue-green: swap and roll back under load, nothing fails
        with Load(url, rows) as load:
            time.sleep(0.3)
            dep.switch(2)
            time.sleep(0.3)
            dep.rollback()
            time.sleep(0.3)
        statuses = [s for s, _ in load.results]
        versions = [v for _, v in load.results]
        assert len(statuses) > 20 and set(statuses) == {200}
        assert "2" in versions and versions[-1] == "1"
        # shadow
        dep.shadow(2, percent=100)
        with httpx.Client(base_url=url) as c:
            live = [c.post("/invocations", json=columns_of(rows.iloc[[i]])) for i in range(len(rows))]
        assert {r.headers["x-model-version"] for r in live} == {"1"}
        time.sleep(0.5)
        assert dep.status()["shadow"]["v2"]["compared"] == len(rows)
        # sticky split by header key
        dep.split({1: 0.5, 2: 0.5})
        with httpx.Client(base_url=url) as c:
            first = {f"u{i}": c.post("/invocations", json=columns_of(rows.head(1)),
                                     headers={"x-workbench-key": f"u{i}"}).headers["x-model-version"]
                     for i in range(40)}
            again = {k: c.post("/invocations", json=columns_of(rows.head(1)),
                               headers={"x-workbench-key": k}).headers["x-model-version"] for k in first}
        assert first == again and set(first.values()) == {"1", "2"}
        # canary of the failing version 4: rolled back automatically
        dep.rollback()
        dep.canary(4, steps=[50, 100], interval="1s", min_samples=30, failure_limit=0, max_wait="15s")
        with Load(url, rows, key=True):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and (dep.status()["canary"] or {}).get("status") == "running":
                time.sleep(0.1)
        assert dep.status()["canary"]["status"] == "rolled_back"
        # canary of version 2: promoted, and a registry request is filed
        dep.canary(2, steps=[50, 100], interval="0.5s", min_samples=20, slo_ms=10_000, max_wait="15s")
        with Load(url, rows, key=True):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and (dep.status()["canary"] or {}).get("status") == "running":
                time.sleep(0.1)
        st = dep.status()
        assert st["canary"]["status"] == "promoted" and st["variants"][0]["version"] == 2
        dep.sync()
        pending = wb.Registry(model_store).pending_requests("churn")
        assert pending["version"].tolist() == [2]
        requested = dep.events()
        assert "promotion_requested" in requested["kind"].tolist()
        # SIGKILL: the state and the flushed log survive
        with httpx.Client(base_url=url) as c:
            for _ in range(30):
                c.post("/invocations", json=columns_of(rows.head(1)), headers={"x-request-id": "before-kill"})
        time.sleep(0.4)  # > flush interval
        pid = json.loads((model_store.path.parent / "s.deployments" / "api.server.json").read_text())["pid"]
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
        assert not dep.running
    finally:
        if dep.running:
            dep.stop()
    again = Deployment("api", model_store)
    url = again.start(port=free_port())
    try:
        with httpx.Client(base_url=url) as c:
            r = c.post("/invocations", json=columns_of(rows.head(1)))
        assert r.headers["x-model-version"] == "2"  # resumed as promoted
    finally:
        again.stop()
    logged = again.predictions(limit=100_000)
    assert (logged["request_id"] == "before-kill").sum() == 30
    traffic = again.traffic()
    assert {"v1", "v2", "v4"} <= set(traffic["variant"]) and (traffic["p99_ms"] > 0).all()
    kinds = set(again.events()["kind"])
    assert {"deployed", "switch", "rollback", "shadow", "split", "canary", "promoted"} <= kinds


def test_deploy_refuses_bad_names_and_unknown_versions(model_store):
    from workbench.errors import InvalidInputError, NotFoundError, ServingError

    with pytest.raises(InvalidInputError, match="deployment name"):
        deploy("bad name!", "churn", 1, store=model_store)
    with pytest.raises(NotFoundError):
        deploy("x", "churn", 99, store=model_store)
    dep = deploy("x", "churn", 1, store=model_store)
    with pytest.raises(ServingError, match="already exists"):
        deploy("x", "churn", 1, store=model_store)
    with pytest.raises(ServingError, match="nothing to roll back"):
        dep.rollback()
    with pytest.raises(InvalidInputError, match="increasing percentages"):
        dep.canary(2, steps=[50, 10])
    with pytest.raises(InvalidInputError, match="unknown server setting 'thread'"):
        dep.start(port=free_port(), settings={"thread": 4})
    with pytest.raises(InvalidInputError, match="log_sample_rate must be in"):
        dep.start(port=free_port(), settings={"log_sample_rate": 2})
    assert not dep.running
    dep.switch(2)  # no server: the stored state changes, with an event
    assert dep.status()["variants"][0]["version"] == 2 and not dep.status()["running"]
    assert dep.events()["kind"].tolist()[:2] == ["switch", "deployed"]


def test_workbench_serve_refuses_bad_settings_with_a_message(model_store, capsys):
    """``--settings`` that is not a JSON object, names an unknown setting or a bad value: one line, exit 2."""
    from workbench import cli

    for settings, message in (("{threads: 4}", "--settings is a JSON object"),
                              ('["threads"]', "--settings is a JSON object"),
                              ('{"thread": 4}', "unknown server setting 'thread'"),
                              ('{"timeout_s": 0}', "timeout_s must be a positive number")):
        code = cli.main(["serve", "models:/churn/1", "--store", str(model_store.path), "--port", "0",
                         "--settings", settings])
        err = capsys.readouterr().err
        assert code != 0 and message in err and "Traceback" not in err, (settings, err)
