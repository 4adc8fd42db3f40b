"""What the two Deployments browser tests share: a store with registered ``churn`` versions and a
deployment ``churn-api`` serving v1, traffic sent with httpx, and ending a server the page started.

The models are the serving tests' scikit-learn pipelines (``tests/serving/conftest.py``, loaded by
path: both folders have a ``conftest`` module).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
from pathlib import Path

import httpx

import workbench as wb

_spec = importlib.util.spec_from_file_location(
    "serving_fixtures_browser", Path(__file__).resolve().parents[1] / "serving" / "conftest.py")
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)


def build_deployment_store(path: Path, fits: list[tuple[float, bool]]) -> Path:
    """Register one ``churn`` version per ``(C, flip_labels)`` (v1 first) and deploy v1 as ``churn-api``."""
    store = wb.Store(path)
    X, y = fx._data()
    for C, flip in fits:
        with wb.start_run(experiment="serving", store=store) as run:
            run.log_model(fx._pipeline(C).fit(X, 1 - y if flip else y), input_example=X.head(5))
        store.sync()
        wb.Registry(store, user="owner").register_model("churn", run_id=run.id)
    wb.deploy("churn-api", model="churn", version=1, store=store)
    store.close()
    return path


def send(url: str, n: int, prefix: str | None = None) -> None:
    """POST ``n`` one-row requests (each with routing key ``<prefix><i>`` if a prefix is given)."""
    X, _ = fx._data(n, seed=5)
    with httpx.Client(base_url=url, timeout=30) as c:
        for i in range(n):
            headers = {} if prefix is None else {"x-workbench-key": f"{prefix}{i}"}
            r = c.post("/invocations", json=fx.columns_of(X.iloc[[i]]), headers=headers)
            assert r.status_code == 200, r.text


def kill_page_server(store_path: Path) -> None:
    """End the server the page started (it outlives the app if a test failed before Stop)."""
    from workbench.serving.server import server_file

    try:
        os.kill(int(json.loads(server_file(store_path, "churn-api").read_text())["pid"]), signal.SIGKILL)
    except (OSError, ValueError, KeyError):
        pass
