"""The canary's agreement gate: its arithmetic, the step machine, one process (driven clock), a real server."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import _data, _pipeline, columns_of, run_async, spec_of
from test_app import client

import workbench as wb
from workbench.errors import InvalidInputError
from workbench.serving import strategies
from workbench.serving.canary import (
    CanaryConfig,
    Window,
    agreement_gate,
    analyse,
    decide,
    score_diff_gate,
)
from workbench.serving.runtime import Runtime, ServerSettings


# -- arithmetic -------------------------------------------------------------------------------
def test_window_compare_counts_rows_and_keeps_every_absolute_difference():
    rng = np.random.default_rng(3)
    w = Window()
    canary_all, champ_all = [], []
    for _ in range(40):
        k = int(rng.integers(1, 5))
        a, b = rng.integers(0, 2, k), rng.integers(0, 2, k)
        w.compare(a, b)
        canary_all.append(a)
        champ_all.append(b)
    a, b = np.concatenate(canary_all), np.concatenate(champ_all)
    assert (w.compared, w.compared_rows, w.same_rows) == (40, a.size, int((a == b).sum()))
    assert w.abs_diffs == np.abs(a - b).astype(float).tolist()
    w.compare([1, 2], [1])  # shapes differ: not a comparison
    assert w.compare_errors == 1 and w.compared == 40
    labels = Window()
    labels.compare(np.array(["yes", "no"]), np.array(["yes", "yes"]))  # labels: equality only
    assert (labels.same_rows, labels.compared_rows, labels.abs_diffs) == (1, 2, [])


def test_agreement_gate_is_the_share_of_equal_rows():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, 500)
    b = np.where(rng.random(500) < 0.08, 1 - a, a)  # about 92 % agree
    share = float(np.mean(a == b))
    g = agreement_gate(int((a == b).sum()), a.size, 0.9)
    assert g.value == pytest.approx(share, abs=1e-12) and g.passed and g.direction == ">="
    assert not agreement_gate(int((a == b).sum()), a.size, 0.95).passed
    assert agreement_gate(95, 100, 0.95).passed  # the threshold itself passes
    empty = agreement_gate(0, 0, 0.5)
    assert not empty.passed and empty.value is None  # no comparison is not a pass


def test_score_diff_gate_is_the_linear_p95_of_absolute_differences():
    rng = np.random.default_rng(1)
    a, b = rng.random(1000), rng.random(1000)
    diffs = np.abs(a - b)
    g = score_diff_gate(diffs.tolist(), 0.9)
    assert g.value == pytest.approx(float(np.quantile(diffs, 0.95, method="linear")), abs=1e-12)
    assert g.passed == (g.value <= 0.9)
    assert not score_diff_gate(diffs, 0.5).passed
    assert not score_diff_gate([], 1.0).passed


def _agreeing(n, share, rows_per=1):
    w = Window()
    for i in range(n):
        w.add(True, 2.0)
        canary = np.ones(rows_per, dtype=int)
        w.compare(canary, canary if i < round(n * share) else 1 - canary)
    return w


def test_decide_waits_for_compared_requests_then_rolls_back_on_disagreement():
    cfg = CanaryConfig("v2", steps=[50, 100], interval_s=1, min_samples=100, failure_limit=0,
                       min_agreement=0.9)
    status = {"step": 0, "step_started": 0.0, "failures": 0}
    champ = Window()
    for _ in range(500):
        champ.add(True, 2.0)
    short = _agreeing(150, 1.0)
    short.compared = 60  # the champion has compared only 60 of 150 canary requests so far
    assert decide(cfg, status, short, champ, 1.5)[0] == "wait"
    assert decide(cfg, status, short, champ, 3.0)[0] == "inconclusive"  # 3 x interval, still too few
    action, checks = decide(cfg, status, _agreeing(150, 0.5), champ, 1.5)
    gate = next(c for c in checks if c.name == "agreement")
    assert action == "rollback" and not gate.passed and gate.value == pytest.approx(75 / 150)
    assert [c.name for c in checks if c.passed] == ["error_rate", "latency_p99"]  # only agreement failed
    assert decide(cfg, status, _agreeing(150, 0.95), champ, 1.5)[0] == "advance"
    half = CanaryConfig("v2", interval_s=1, min_samples=100, min_agreement=0.9, agreement_sample=0.25)
    assert half.min_compared == 25 and CanaryConfig("v2").min_compared == 0


def test_analyse_adds_the_score_difference_gate_for_regressors():
    cfg = CanaryConfig("v2", max_score_diff=0.1)
    canary, champ = Window(), Window()
    for i in range(50):
        canary.add(True, 1.0)
        champ.add(True, 1.0)
        canary.compare([0.5 + 0.001 * i], [0.5])
    names = {c.name: c for c in analyse(cfg, canary, champ)}
    assert names["score_diff_p95"].passed and "agreement" not in names
    assert names["score_diff_p95"].value == pytest.approx(np.quantile(0.001 * np.arange(50), 0.95), abs=1e-12)


def test_start_canary_validates_the_agreement_settings(model_store):
    state = strategies.new_state("api", spec_of(model_store, 1))
    v2 = spec_of(model_store, 2)
    with pytest.raises(InvalidInputError, match="min_agreement"):
        strategies.start_canary(state, v2, {"min_agreement": 1.5})
    with pytest.raises(InvalidInputError, match="agreement_sample"):
        strategies.start_canary(state, v2, {"min_agreement": 0.9, "agreement_sample": 0})
    ok = strategies.start_canary(state, v2, {"min_agreement": 0.9, "max_score_diff": 0.5})
    assert ok["canary"]["config"]["min_agreement"] == 0.9
    labels = type(v2)(**{**v2.to_dict(), "expected": ["yes", "no"]})
    with pytest.raises(InvalidInputError, match="use min_agreement"):
        strategies.start_canary(state, labels, {"max_score_diff": 0.5})


# -- one process, a driven clock -----------------------------------------------------------------
def test_runtime_compares_canary_answers_with_the_champion_after_answering(model_store, rows):
    """v2 (C=0.01) disagrees with v1 on some rows: the gate's value is exactly the offline share."""
    specs = {v: spec_of(model_store, v) for v in (1, 2)}
    state = strategies.start_canary(strategies.new_state("api", specs[1]), specs[2],
                                    {"steps": [50, 100], "interval_s": 10, "min_samples": 20,
                                     "slo_ms": 10_000, "min_agreement": 0.0})
    rt = Runtime(model_store, state, ServerSettings(tick_s=3600))
    t0 = state["canary"]["step_started"]
    X, _ = _data(120, seed=7)

    async def main():
        import asyncio

        async with client(rt) as c:
            out = [await c.post("/invocations", json=columns_of(X.iloc[[i]]),
                                headers={"x-workbench-key": f"k{i}"}) for i in range(len(X))]
            for _ in range(200):  # the champion's re-predictions run after the answers
                if rt.windows["v2"].compared == sum(r.headers["x-model-version"] == "2" for r in out):
                    break
                await asyncio.sleep(0.01)
            return out, await rt.tick(now=t0 + 10)

    out, decision = run_async(main())
    canary_rows = [i for i, r in enumerate(out) if r.headers["x-model-version"] == "2"]
    assert len(canary_rows) >= 20 and all(r.status_code == 200 for r in out)
    m1, m2 = (wb.load_model(f"models:/churn/{v}", store=model_store) for v in (1, 2))
    sub = X.iloc[canary_rows]
    want = float(np.mean(m1.predict(sub) == m2.predict(sub)))
    assert 0 < want < 1  # the two versions do disagree on some rows
    record = rt.state["canary"]["checks"][-1]
    gate = next(g for g in record["checks"] if g["name"] == "agreement")
    assert decision == "advance" and gate["value"] == pytest.approx(want, abs=1e-12)
    assert record["compared"] == len(canary_rows) and record["compare_dropped"] == 0
    # the champion's re-predictions are not live traffic: its window counts only its own requests
    assert record["champion_n"] == len(X) - len(canary_rows)


# -- a real server ------------------------------------------------------------------------------------
@pytest.fixture
def flipped_store(model_store):
    """The model store plus churn v5: the same pipeline fitted on the opposite labels."""
    X, y = _data()
    with wb.start_run(experiment="serving", store=model_store) as run:
        run.log_model(_pipeline(1.0).fit(X, 1 - y), input_example=X.head(5))
    model_store.sync()
    assert wb.Registry(model_store, user="owner").register_model("churn", run_id=run.id).version == 5
    return model_store


def test_a_canary_that_disagrees_with_the_champion_is_rolled_back_by_the_gate(flipped_store, rows):
    from test_server_process import Load, free_port

    from workbench.serving import deploy

    dep = deploy("api", "churn", 1, store=flipped_store)
    url = dep.start(port=free_port(), settings={"tick_s": 0.1, "flush_interval_s": 0.2})
    try:
        dep.canary(5, steps=[50, 100], interval="1s", min_samples=20, failure_limit=0, max_wait="15s",
                   slo_ms=10_000, min_agreement=0.9)
        with Load(url, rows, key=True) as load:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and (dep.status()["canary"] or {}).get("status") == "running":
                time.sleep(0.1)
        canary = dep.status()["canary"]
        assert {s for s, _ in load.results} == {200}  # the canary answered every request: no error gate
        assert canary["status"] == "rolled_back"
        record = canary["checks"][-1]
        gates = {g["name"]: g for g in record["checks"]}
        assert record["decision"] == "rollback" and record["compared"] >= 20  # min_samples compared
        assert not gates["agreement"]["passed"] and gates["agreement"]["value"] < 0.5
        assert gates["error_rate"]["passed"] and gates["latency_p99"]["passed"]
        assert [v["version"] for v in dep.status()["variants"]] == [1]
    finally:
        dep.stop()
    rollback = dep.events().query("kind == 'rollback'").iloc[0]["details"]
    assert rollback["reason"] == "canary gates"
