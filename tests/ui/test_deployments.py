"""The Deployments screen's view-model and view without a browser: a real store, a real server.

The store holds model ``churn`` (versions 1-4, built by ``tests/serving/conftest.py``'s recipe);
the test deploys v1, starts its server from the model, sends traffic with httpx, starts a canary
of v2, checks the snapshot (variants, canary state, breakers, traffic per variant against the
logged rows), rolls back, and stops the server.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.errors import InvalidInputError

_spec = importlib.util.spec_from_file_location(
    "serving_fixtures", Path(__file__).resolve().parents[1] / "serving" / "conftest.py")
_fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fx)
_data, columns_of, model_store, model_store_path = _fx._data, _fx.columns_of, _fx.model_store, _fx.model_store_path

from workbench.ui.deployments.model import DeploymentsModel, canary_steps  # noqa: E402
from workbench.ui.deployments.view import DeploymentsView, traffic_option  # noqa: E402


def _send(url: str, n: int) -> list[httpx.Response]:
    X, _ = _data(n, seed=3)
    with httpx.Client(base_url=url, timeout=30) as c:
        return [c.post("/invocations", json=columns_of(X.iloc[[i]])) for i in range(n)]


def test_empty_store(tmp_path):
    m = DeploymentsModel(wb.Store(tmp_path / "s.duckdb"))
    assert m.names == [] and m.deployment == "" and not m.refresh()
    view = DeploymentsView(model=m)
    assert view._empty.visible and all(b.disabled for b in view.buttons.values())


def test_canary_steps_table():
    canary = {"checks": [
        {"step": 0, "weight_pct": 5, "decision": "advance", "canary_n": 210, "champion_n": 3900,
         "checks": [{"name": "error_rate", "passed": True, "value": 0.01, "threshold": 0.05, "detail": ""},
                    {"name": "p99_latency", "passed": False, "value": 140.0, "threshold": 120.0, "detail": ""}]},
        {"step": 1, "weight_pct": 25, "decision": "inconclusive", "canary_n": 12, "champion_n": 40,
         "checks": [{"name": "min_samples", "passed": False, "value": 12, "threshold": None, "detail": ""}]}]}
    df = canary_steps(canary)
    assert list(df["step"]) == [1, 2] and list(df["decision"]) == ["advance", "inconclusive"]
    assert df.loc[0, "p99_latency"] == "FAIL 140 (<= 120)"
    assert df.loc[1, "min_samples"] == "FAIL 12" and pd.isna(df.loc[0, "min_samples"])
    assert canary_steps(None).empty


def test_traffic_option_scales_and_splits_variants():
    t = pd.Timestamp("2026-01-01", tz="UTC")
    df = pd.DataFrame({"variant": ["a", "b", "a"], "time": [t, t, t + pd.Timedelta(minutes=1)],
                       "requests_per_s": [1.0, 2.0, 3.0], "error_rate": [0.1, 0.0, 0.25],
                       "p50_ms": [1.0, 2.0, 3.0], "p95_ms": [2.0, 3.0, 4.0], "p99_ms": [5.0, 6.0, 7.0]})
    opt = traffic_option(df, "error_rate")
    assert [s["name"] for s in opt["series"]] == ["a", "b"]
    assert [p[1] for p in opt["series"][0]["data"]] == [10.0, 25.0]
    assert opt["series"][0]["data"][1][0] - opt["series"][0]["data"][0][0] == 60_000
    assert len(traffic_option(df, "latency")["series"]) == 6
    assert traffic_option(pd.DataFrame(), "requests_per_s")["series"] == []
    assert opt["xAxis"]["axisLabel"]["formatter"] == "{HH}:{mm}" and opt["xAxis"]["min"] == t.value // 10**6 - 60_000
    fine = traffic_option(df.assign(time=[t, t, t + pd.Timedelta(seconds=5)]), "requests_per_s", 5_000)
    assert fine["xAxis"]["axisLabel"]["formatter"] == "{HH}:{mm}:{ss}" and fine["xAxis"]["minInterval"] == 5_000
    assert fine["series"][0]["data"][1][0] - fine["series"][0]["data"][0][0] == 5_000


def test_deploy_start_traffic_canary_rollback_stop(model_store):
    store = model_store
    wb.deploy("churn-api", model="churn", version=1, store=store)
    wb.deploy("other", model="churn", version=2, store=store)
    m = DeploymentsModel(store, deployment="churn-api")
    assert m.names == ["churn-api", "other"] and m.deployment == "churn-api"
    view = DeploymentsView(model=m)  # no server: the caller polls
    m.wait()
    snap = m.snapshot
    assert snap is not None and not snap.running
    assert list(snap.variants["version"]) == [1] and list(snap.variants["role"]) == ["champion"]
    assert not view.buttons["start"].disabled and view.buttons["stop"].disabled

    assert m.act("start")
    m.wait(90)
    assert m.error == "", m.error
    snap = m.snapshot
    assert snap.running and "serves at http://127.0.0.1:" in m.message
    url = snap.status["url"]
    try:
        assert all(r.status_code == 200 for r in _send(url, 30))
        handle = m.handle()
        handle.canary(2, steps=[50, 100], interval="1h", min_samples=10_000)
        responses = _send(url, 60)
        assert all(r.status_code == 200 for r in responses)
        served = pd.Series([r.headers["x-workbench-variant"] for r in responses]).value_counts()
        # the view's snapshot while the server runs: two variants, a running canary, breakers
        m.refresh()
        m.wait()
        snap = m.snapshot
        assert set(snap.variants["role"]) == {"champion", "challenger"}
        assert sorted(snap.variants["weight_pct"]) == [50.0, 50.0]
        assert snap.canary["status"] == "running" and "step 1 of 2 (50 %)" in snap.canary_line()
        assert set(snap.breakers["variant"]) == set(snap.variants["variant"])
        assert set(snap.breakers["state"]) == {"closed"}
        assert not view.buttons["pause"].disabled and not view.buttons["promote"].disabled
        assert "wb-dep-canary-running" in view.header.object
        # pause through the model (the view asks for a confirmation first)
        view._ask("pause")
        assert view.confirm.visible and m.busy == ""
        view.confirm.confirm()
        m.wait()
        assert m.snapshot.canary["status"] == "paused" and not view.buttons["resume"].disabled
        # roll back: the canary gets weight 0
        view._ask("rollback")
        view.confirm.confirm()
        m.wait()
        assert m.error == "", m.error
        assert m.snapshot.canary["status"] == "rolled_back"
        champ = m.snapshot.variants[m.snapshot.variants["role"] == "champion"]
        assert list(champ["version"]) == [1]
        assert (m.snapshot.events["kind"] == "rollback").any()
    finally:
        view._ask("stop")
        view.confirm.confirm()
        m.wait(60)
    snap = m.snapshot
    assert not snap.running and m.error == ""
    # the traffic per variant equals what was sent (the log is ingested on stop)
    totals = snap.summary.groupby("variant")["requests"].sum()
    challenger = served.drop(index=[v for v in served.index if v.endswith("1")], errors="ignore")
    assert totals.sum() == 90
    for variant, n in challenger.items():
        assert totals[variant] == n
    per_minute = snap.traffic.groupby("variant")["requests"].sum()
    assert per_minute.to_dict() == totals.to_dict()
    # the charts carry one series per variant
    opt = traffic_option(snap.traffic, "requests_per_s")
    assert sorted(s["name"] for s in opt["series"]) == sorted(totals.index)
    assert np.isclose(sum(p[1] for s in opt["series"] for p in s["data"]) * 60, 90)
    # by the 5 seconds: the same requests, at 12 times the rate per interval
    m.window = "5 min · per 5 s"
    m.wait(60)
    fine = m.snapshot
    assert fine.every_ms == 5_000 and fine.traffic["requests"].sum() == 90
    assert (fine.traffic["time"].dt.second % 5 == 0).all()
    assert np.isclose((fine.traffic["requests_per_s"] * 5).sum(), 90)
    assert view.charts["requests_per_s"].option["xAxis"]["minInterval"] == 5_000


def test_action_errors_are_readable(model_store):
    wb.deploy("churn-api", model="churn", version=1, store=model_store)
    m = DeploymentsModel(model_store)
    m.act("pause")  # no canary
    m.wait()
    assert "pause failed" in m.error and "no canary" in m.error
    with pytest.raises(InvalidInputError, match="unknown action 'explode'"):
        m.act("explode")


def test_a_confirmation_is_withdrawn_when_another_deployment_is_selected(model_store):
    """Asking "Rollback" on one deployment and then picking another never rolls back the other one."""
    for name in ("api-a", "api-b"):
        wb.deploy(name, model="churn", version=1, store=model_store)
    view = DeploymentsView(model_store, deployment="api-a")
    m = view.model
    m.wait()
    view._ask("rollback")
    view.rollout.strategy.value = "shadow"
    view.rollout.ask()
    assert view.confirm.visible and view.rollout.confirm_bar.visible
    m.deployment = "api-b"
    m.wait()
    assert not view.confirm.visible and not view.rollout.confirm_bar.visible
    view.confirm.confirm()
    view.rollout.confirm()
    m.wait()
    assert m.error == "" and m.snapshot.status["strategy"] == "single"
    assert "rollback" not in set(wb.serving.Deployment("api-b", model_store).events()["kind"])


def test_an_action_that_succeeded_is_not_reported_failed_when_the_re_read_fails(model_store, monkeypatch):
    wb.deploy("churn-api", model="churn", version=1, store=model_store)
    m = DeploymentsModel(model_store)
    m.wait()
    dep = wb.serving.Deployment("churn-api", model_store)
    dep.switch(2)  # something to roll back
    m.refresh()
    m.wait()

    def broken(name=None):
        raise OSError("the store is busy")

    monkeypatch.setattr(m, "read", broken)
    m.act("rollback")
    m.wait()
    assert m.error == "" and m.message.startswith("rollback done; reading the deployment again failed")
    assert "the store is busy" in m.message
    assert dep.status()["variants"][0]["version"] == 1  # it did roll back
