"""The Deployments screen's "New rollout" card without a browser: every strategy from the view-model and
the view, on a real store (no server: the stored state changes, one event each), and readable refusals."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import workbench as wb
from workbench.errors import InvalidInputError

_spec = importlib.util.spec_from_file_location(
    "serving_fixtures_rollout", Path(__file__).resolve().parents[1] / "serving" / "conftest.py")
_fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fx)
model_store, model_store_path = _fx.model_store, _fx.model_store_path

from workbench.ui.deployments.model import DeploymentsModel, canary_steps, plan_rollout  # noqa: E402
from workbench.ui.deployments.view import DeploymentsView  # noqa: E402


def test_plan_rollout_builds_each_strategys_call():
    assert plan_rollout("switch", {"version": 2, "window": "5m"}).call == "switch(2, window='5m')"
    canary = plan_rollout("canary", {"version": 3, "steps": "10, 50, 100", "interval": "1s", "min_samples": 20,
                                     "failure_limit": 0, "max_wait": "15s", "slo_ms": 10_000,
                                     "min_agreement": "0.9", "max_psi": "", "agreement_sample": 0.5})
    assert canary.method == "canary" and canary.args == (3,)
    assert canary.kwargs == {"steps": [10, 50, 100], "interval": "1s", "min_samples": 20, "failure_limit": 0,
                             "max_wait": "15s", "slo_ms": 10_000.0, "min_agreement": 0.9,
                             "agreement_sample": 0.5}
    assert "agreement with the champion >= 90%" in canary.summary and "rolls back after 1 failed" in canary.summary
    assert plan_rollout("shadow", {"version": 2, "percent": 25}).kwargs == {"percent": 25.0}
    split = plan_rollout("split", {"versions": [1, 2, 3], "weights": "", "key": ""})
    assert split.args[0] == pytest.approx({1: 1 / 3, 2: 1 / 3, 3: 1 / 3}) and split.kwargs == {"key": None}
    assert plan_rollout("split", {"versions": [1, 2], "weights": "0.25, 0.75"}).args[0] == {1: 0.25, 2: 0.75}
    assert plan_rollout("bandit", {"versions": [2, 1], "policy": "ucb1"}).call == "bandit([2, 1], policy='ucb1')"


@pytest.mark.parametrize("strategy, form, message", [
    ("canary", {"version": 2, "steps": "50, 10"}, "increasing percentages"),
    ("canary", {"version": 2, "min_agreement": "high"}, "min_agreement must be a number, got 'high'"),
    ("canary", {"version": 2, "min_agreement": "1.5"}, r"min_agreement must be in \[0, 1\]"),
    ("canary", {"version": 2, "interval": "soon"}, "interval: an interval is"),
    ("canary", {"version": 2, "min_samples": 0}, "min_samples must be in"),
    ("switch", {"version": 9}, r"version 9 is not a registered version of this model; registered: \[1, 2\]"),
    ("switch", {"version": None}, "version is required"),
    ("split", {"versions": [1]}, "at least 2 versions"),
    ("split", {"versions": [1, 2], "weights": "0.3, 0.3"}, "sum to 0.6"),
    ("split", {"versions": [1, 2], "weights": "1"}, "1 given for 2 versions"),
    ("split", {"versions": [1, 2], "key": "drop table"}, "split key is an input field name"),
    ("shadow", {"version": 2, "percent": 0}, r"shadow percent must be in \(0, 100\]"),
    ("bandit", {"versions": [1, 2], "policy": "greedy"}, "'thompson' or 'ucb1'"),
    ("rainbow", {}, "unknown strategy 'rainbow'"),
])
def test_plan_rollout_refuses_bad_fields_by_name(strategy, form, message):
    with pytest.raises(InvalidInputError, match=message):
        plan_rollout(strategy, form, versions=[1, 2])


def test_every_strategy_from_the_card_without_a_server(model_store):
    wb.deploy("churn-api", model="churn", version=1, store=model_store)
    m = DeploymentsModel(model_store, deployment="churn-api")
    view = DeploymentsView(model=m)
    m.wait()
    snap = m.snapshot
    assert list(snap.versions["version"]) == [1, 2, 3, 4]
    w = view.rollout.widgets
    assert list(w["version"].options.values()) == [4, 3, 2, 1] and w["version"].value == 4  # not the champion
    assert not view.rollout.start.disabled

    def start(strategy, **fields):
        view.rollout.strategy.value = strategy
        for k, v in fields.items():
            w[k].value = v
        view.rollout.ask()
        assert m.rollout_error == "", m.rollout_error
        assert view.rollout.confirm_bar.visible and "dep." in view.rollout.confirm_bar.text.object
        view.rollout.confirm()
        assert not view.rollout.confirm_bar.visible
        m.wait()
        assert m.rollout_error == "" and m.error == "", (m.rollout_error, m.error)
        return m.snapshot.status

    st = start("switch", version=2, window="1m")
    assert st["strategy"] == "bluegreen" and [v["version"] for v in st["variants"]] == [2]
    assert "switch(2, window='1m') started" in m.message
    st = start("canary", version=1, steps="10, 100", interval="2s", min_samples=20, min_agreement="0.9")
    assert st["strategy"] == "canary" and st["canary"]["status"] == "running"
    cfg = st["canary"]["config"]
    assert (cfg["steps"], cfg["interval_s"], cfg["min_samples"], cfg["min_agreement"]) == ([10, 100], 2.0, 20, 0.9)
    assert sorted(v["weight_pct"] for v in st["variants"]) == [10.0, 90.0]
    assert "canary running: step 1 of 2 (10 %)" in m.snapshot.canary_line()
    assert "wb-dep-canary-running" in view.header.object
    # another strategy while the canary runs is refused, with the way out
    view.rollout.strategy.value = "shadow"
    view.rollout.ask()
    view.rollout.confirm()
    m.wait()
    assert "a canary of v1 is running; roll it back or promote it before starting a shadow" in m.rollout_error
    m.act("rollback")
    m.wait()
    assert m.snapshot.canary["status"] == "rolled_back"
    st = start("shadow", version=3, percent=40.0)
    assert st["strategy"] == "shadow" and st["variants"][1] == {"variant": "v3", "version": 3, "role": "shadow",
                                                                 "weight_pct": 0.0, "percent": 40.0}
    st = start("split", versions=[2, 3], weights="70, 30", key="region")
    assert st["strategy"] == "split"
    assert {v["version"]: v["weight_pct"] for v in st["variants"]} == {2: 70.0, 3: 30.0}
    st = start("bandit", versions=[2, 4], policy="ucb1")
    assert st["strategy"] == "bandit" and {v["version"] for v in st["variants"]} == {2, 4}
    kinds = m.snapshot.events["kind"].tolist()
    assert kinds[:6] == ["bandit", "split", "shadow", "rollback", "canary", "switch"]


def test_refused_rollouts_show_their_reason_next_to_the_card(model_store):
    wb.deploy("churn-api", model="churn", version=1, store=model_store)
    m = DeploymentsModel(model_store, deployment="churn-api")
    view = DeploymentsView(model=m)
    m.wait()
    view.rollout.strategy.value = "canary"
    view.rollout.widgets["version"].value = 1  # the champion itself: refused by the Deployment API
    view.rollout.ask()
    view.rollout.confirm()
    m.wait()
    assert m.rollout_error.startswith("the rollout was refused: version 1 is already the champion")
    assert m.error == "" and view.rollout.error.visible and "already the champion" in view.rollout.error.object
    assert "Traceback" not in m.rollout_error
    view.rollout.widgets["steps"].value = "50, 10"  # refused before the confirmation
    view.rollout.ask()
    assert not view.rollout.confirm_bar.visible and "increasing percentages" in view.rollout.error.object
    view.rollout.widgets["steps"].value = "5, 100"
    view.rollout.widgets["version"].value = 2
    view.rollout.ask()
    assert view.rollout.confirm_bar.visible
    view.rollout.widgets["interval"].value = "5s"  # an edit withdraws the confirmation of the old plan
    assert not view.rollout.confirm_bar.visible
    view.rollout.ask()
    view.rollout.withdraw()  # cancelled: nothing changes
    m.refresh()
    m.wait()
    assert m.snapshot.status["strategy"] == "single" and not view.rollout.error.visible


def test_the_agreement_gate_reads_with_its_direction():
    table = canary_steps({"checks": [{"step": 0, "weight_pct": 50, "decision": "rollback", "canary_n": 40,
                                      "champion_n": 38, "checks": [
                                          {"name": "agreement", "passed": False, "value": 0.1, "threshold": 0.9,
                                           "detail": "", "direction": ">="}]}]})
    assert table.loc[0, "agreement"] == "FAIL 0.1 (>= 0.9)"
