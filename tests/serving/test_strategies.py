"""Strategies in one process (ASGITransport, a driven canary clock): canary, breaker fallback, shadow, bandit."""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import columns_of, run_async, spec_of
from test_app import client

from workbench.serving import strategies
from workbench.serving.runtime import Runtime, ServerSettings


def _specs(store, *versions):
    return {v: spec_of(store, v) for v in versions}


async def _post_many(c, rows, n, key_prefix="k", concurrency=8):
    out = []
    for start in range(0, n, concurrency):
        out += await asyncio.gather(*(c.post("/invocations", json=columns_of(rows.iloc[[i % len(rows)]]),
                                             headers={"x-workbench-key": f"{key_prefix}{i}"})
                                      for i in range(start, min(n, start + concurrency))))
    return out


def test_canary_rolls_back_on_an_error_rate_and_logs_the_analysis(model_store, rows):
    specs = _specs(model_store, 1, 4)
    state = strategies.start_canary(strategies.new_state("api", specs[1]), specs[4],
                                    {"steps": [50, 100], "interval_s": 10, "min_samples": 40, "failure_limit": 0})
    rt = Runtime(model_store, state, ServerSettings(batching=False, tick_s=3600, breaker={"min_calls": 1000}))
    t0 = state["canary"]["step_started"]

    canary = None  # the canary's Variant, taken while it serves

    async def main():
        nonlocal canary
        async with client(rt) as c:
            out = await _post_many(c, rows, 200)
            canary = rt.variants["v4"]
            early = await rt.tick(now=t0 + 5)
            decision = await rt.tick(now=t0 + 10)
            after = await _post_many(c, rows, 20)
            return out, early, decision, after

    out, early, decision, after = run_async(main())
    versions = [r.headers["x-model-version"] for r in out]
    assert "4" in versions and "1" in versions
    assert any(r.status_code == 500 for r in out)  # the canary's injected failures
    assert early == "wait" and decision == "rollback"
    assert rt.state["canary"]["status"] == "rolled_back"
    assert [v["name"] for v in rt.state["variants"]] == ["v1"]
    assert "v4" not in rt.variants and canary.batcher.retired  # its batcher stops once its queue is answered
    assert not rt.variants["v1"].batcher.retired
    check = rt.state["canary"]["checks"][-1]
    gate = next(g for g in check["checks"] if g["name"] == "error_rate")
    assert not gate["passed"] and check["decision"] == "rollback"
    assert all(r.headers["x-model-version"] == "1" and r.status_code == 200 for r in after)
    events = sorted(rt.events_folder.glob("*.event.json"))
    assert events and '"kind": "rollback"' in events[-1].read_text()


def test_canary_advances_through_its_steps_and_promotes(model_store, rows):
    specs = _specs(model_store, 1, 2)
    state = strategies.start_canary(strategies.new_state("api", specs[1]), specs[2],
                                    {"steps": [25, 100], "interval_s": 1, "min_samples": 20, "slo_ms": 10_000})
    rt = Runtime(model_store, state, ServerSettings(tick_s=3600))
    t0 = state["canary"]["step_started"]

    async def main():
        async with client(rt) as c:
            await _post_many(c, rows, 150)
            first = await rt.tick(now=t0 + 1)
            weight = next(v["weight"] for v in rt.state["variants"] if v["name"] == "v2")
            await _post_many(c, rows, 60, "z")
            second = await rt.tick(now=t0 + 2)
            return first, weight, second

    first, weight, second = run_async(main())
    assert (first, weight, second) == ("advance", 10_000, "promote")
    assert [(v["name"], v["role"]) for v in rt.state["variants"]] == [("v2", "champion")]
    assert rt.state["previous"]["variant"]["name"] == "v1"  # kept loaded for a rollback
    assert "v1" in rt.variants


def test_inconclusive_canary_pauses(model_store, rows):
    specs = _specs(model_store, 1, 2)
    state = strategies.start_canary(strategies.new_state("api", specs[1]), specs[2],
                                    {"interval_s": 1, "min_samples": 10_000, "max_wait_s": 2})
    rt = Runtime(model_store, state, ServerSettings(tick_s=3600))
    t0 = state["canary"]["step_started"]

    async def main():
        async with client(rt) as c:
            await _post_many(c, rows, 20)
            return await rt.tick(now=t0 + 1), await rt.tick(now=t0 + 2), await rt.tick(now=t0 + 9)

    assert run_async(main()) == ("wait", "inconclusive", None)
    assert rt.state["canary"]["status"] == "inconclusive"
    assert rt.state["variants"][1]["weight"] == 500  # paused at its step, not promoted


def test_open_challenger_breaker_falls_back_to_the_champion_and_open_champion_is_503(model_store, rows):
    specs = _specs(model_store, 1, 3)
    state = strategies.set_split(strategies.new_state("api", specs[1]), specs, {1: 0.0, 3: 1.0})
    rt = Runtime(model_store, state, ServerSettings(breaker={"window": 10, "min_calls": 5, "open_seconds": 60}))
    poisoned = columns_of(rows.head(1).assign(age=-1))

    async def main():
        async with client(rt) as c:
            failing = [await c.post("/invocations", json=poisoned) for _ in range(5)]
            fallback = await c.post("/invocations", json=columns_of(rows.head(1)))
            for _ in range(5):  # now the champion answers the poisoned rows too... and v1 does not fail
                await c.post("/invocations", json=poisoned)
            rt.variants["v1"].breaker._move("open")
            closed = await c.post("/invocations", json=columns_of(rows.head(1)))
            return failing, fallback, closed

    failing, fallback, closed = run_async(main())
    assert [r.status_code for r in failing] == [500] * 5
    assert rt.variants["v3"].breaker.state == "open"
    assert fallback.status_code == 200 and fallback.headers["x-model-version"] == "1"
    assert fallback.headers["x-workbench-fallback"] == "true"
    assert closed.status_code == 503 and closed.headers["retry-after"] == "1"
    kinds = [p.read_text() for p in sorted(rt.events_folder.glob("*.event.json"))]
    assert any('"kind": "breaker"' in k and '"to": "open"' in k for k in kinds)


def test_shadow_answers_live_from_the_champion_and_compares_the_shadow(model_store, rows):
    import workbench as wb

    specs = _specs(model_store, 1, 2)
    state = strategies.set_shadow(strategies.new_state("api", specs[1]), specs[2], percent=100)
    rt = Runtime(model_store, state, ServerSettings())
    v1 = wb.load_model("models:/churn/1", store=model_store).predict(rows).tolist()
    v2 = wb.load_model("models:/churn/2", store=model_store).predict(rows).tolist()

    async def main():
        async with client(rt) as c:
            out = [await c.post("/invocations", json=columns_of(rows.iloc[[i]])) for i in range(len(rows))]
            for _ in range(100):
                if rt.shadow_stats.get("v2", {}).get("n", 0) == len(rows):
                    break
                await asyncio.sleep(0.02)
            return out

    out = run_async(main())
    assert [r.json()["predictions"][0] for r in out] == v1
    assert {r.headers["x-model-version"] for r in out} == {"1"}
    summary = rt.shadow_summary()["v2"]
    assert summary["compared"] == len(rows)
    assert summary["agreement"] == pytest.approx(sum(a == b for a, b in zip(v1, v2)) / len(rows))


def test_shadow_queue_overflow_is_dropped_and_counted(model_store, rows):
    specs = _specs(model_store, 1, 2)
    state = strategies.set_shadow(strategies.new_state("api", specs[1]), specs[2], percent=100)
    rt = Runtime(model_store, state, ServerSettings(shadow_queue=1))

    class Slow:
        def __init__(self, m):
            self.m = m

        def predict(self, X):
            time.sleep(0.05)
            return self.m.predict(X)

    async def main():
        async with client(rt) as c:
            rt.variants["v2"].model.model = Slow(rt.variants["v2"].model.model)
            return await _post_many(c, rows, 30)

    out = run_async(main())
    assert all(r.status_code == 200 for r in out)
    assert rt.shadow_stats["v2"]["dropped"] > 0


def test_bandit_routes_by_its_policy_and_learns_from_feedback(model_store, rows):
    specs = _specs(model_store, 1, 2)
    state = strategies.set_bandit(strategies.new_state("api", specs[1]), specs, "thompson", seed=3)
    rt = Runtime(model_store, state, ServerSettings())

    async def main():
        async with client(rt) as c:
            for _ in range(100):
                r = await c.post("/invocations", json=columns_of(rows.head(1)))
                reward = 1.0 if r.headers["x-model-version"] == "2" else 0.0
                await c.post("/v2/models/churn/feedback",
                             json={"request_id": r.headers["x-request-id"], "reward": reward})
            return rt.bandit.probabilities()

    probs = run_async(main())
    assert probs["v2"] > 0.95
    assert rt.bandit.counts()["v2"] > rt.bandit.counts()["v1"]


def test_blue_green_switch_keeps_the_old_version_for_an_instant_rollback(model_store, rows):
    specs = _specs(model_store, 1, 2)
    rt = Runtime(model_store, strategies.new_state("api", specs[1]), ServerSettings())

    async def main():
        async with client(rt) as c:
            await rt.change(strategies.switch(rt.state, specs[2]), "switch", {})
            a = await c.post("/invocations", json=columns_of(rows.head(1)))
            loaded_before = set(rt.variants)
            t = time.perf_counter()
            await rt.change(strategies.rollback(rt.state), "rollback", {})
            took = time.perf_counter() - t
            b = await c.post("/invocations", json=columns_of(rows.head(1)))
            return a, b, loaded_before, took

    a, b, loaded, took = run_async(main())
    assert a.headers["x-model-version"] == "2" and b.headers["x-model-version"] == "1"
    assert loaded == {"v1", "v2"} and took < 0.1  # nothing was loaded for the rollback


def test_a_pause_sent_while_the_canary_clock_advances_is_not_lost(model_store, rows):
    """The admin API builds its change under the change lock: a pause that arrives while a canary step is
    being swapped in lands on top of that step (before, the step's state overwrote the acknowledged pause)."""
    specs = _specs(model_store, 1, 2)
    state = strategies.start_canary(strategies.new_state("api", specs[1]), specs[2],
                                    {"steps": [25, 50, 100], "interval_s": 1, "min_samples": 20, "slo_ms": 10_000})
    rt = Runtime(model_store, state, ServerSettings(tick_s=3600))
    t0 = state["canary"]["step_started"]

    async def main():
        async with client(rt) as c:
            await _post_many(c, rows, 150)
            tick = asyncio.create_task(rt.tick(now=t0 + 1))
            await asyncio.sleep(0)  # the clock holds the lock and awaits its model loading
            pause = await c.post("/admin/pause", json={})
            return await tick, pause

    decision, pause = run_async(main())
    assert decision == "advance" and pause.status_code == 200, pause.text
    assert rt.state["canary"]["status"] == "paused" and rt.state["canary"]["step"] == 1
    assert pause.json()["canary"]["step"] == 1


def test_admin_bad_bodies_are_refused_with_their_status_and_change_nothing(model_store, rows):
    specs = _specs(model_store, 1, 2)
    state = strategies.start_canary(strategies.new_state("api", specs[1]), specs[2], {"steps": [25, 100]})
    rt = Runtime(model_store, state, ServerSettings(tick_s=3600, max_body_bytes=1000))

    async def main():
        async with client(rt) as c:
            before = dict(rt.state)
            big = await c.post("/admin/pause", content=b"{" + b" " * 2000 + b"}",
                               headers={"content-type": "application/json"})
            listed = await c.post("/admin/pause", json=[1, 2])
            broken = await c.post("/admin/pause", content=b"{not json", headers={"content-type": "application/json"})
            return before, big, listed, broken

    before, big, listed, broken = run_async(main())
    assert big.status_code == 413 and "the limit is 1000" in big.text
    assert listed.status_code == 400 and "JSON object, got list" in listed.text
    assert broken.status_code == 400
    assert rt.state == before and rt.state["canary"]["status"] == "running"
