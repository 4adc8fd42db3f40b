"""The breaker's state machine, the canary's gates (against statsmodels) and decisions, sticky routing."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.abtest.allocation import bucket as ab_bucket
from workbench.serving import router
from workbench.serving.breaker import CircuitBreaker
from workbench.serving.canary import (
    CanaryConfig,
    Window,
    decide,
    error_rate_gate,
    latency_gate,
    psi,
    two_proportion_z,
)


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_breaker_opens_on_failure_rate_after_min_calls_then_half_opens_and_closes():
    clock = Clock()
    changes = []
    b = CircuitBreaker(window=100, min_calls=20, failure_rate=0.5, open_seconds=30, half_open_calls=5,
                       on_change=lambda old, new, stats: changes.append((old, new)), clock=clock)
    for _ in range(19):
        b.record(ok=False)
    assert b.state == "closed"  # 19 calls < min_calls
    b.record(ok=False)
    assert b.state == "open" and not b.allow()
    clock.t = 29.9
    assert not b.allow()
    clock.t = 30.0
    assert b.state == "half_open"
    assert [b.allow() for _ in range(6)] == [True] * 5 + [False]  # five trial calls
    for _ in range(5):
        b.record(ok=True)
    assert b.state == "closed"
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_a_half_open_trial_that_never_ran_gives_its_slot_back():
    """Trials refused before the model (overloaded) are released: the breaker can still close."""
    clock = Clock()
    b = CircuitBreaker(window=100, min_calls=2, failure_rate=0.5, open_seconds=30, half_open_calls=2, clock=clock)
    b.record(ok=False)
    b.record(ok=False)
    clock.t = 30.0
    assert b.allow() and b.allow() and not b.allow()  # both trial slots taken
    b.release()
    b.release()  # neither trial reached the model
    assert b.state == "half_open" and b.allow() and b.allow()
    b.record(ok=True)
    b.record(ok=True)
    assert b.state == "closed"


def test_breaker_half_open_failures_reopen_and_rates_below_threshold_stay_closed():
    clock = Clock()
    b = CircuitBreaker(window=10, min_calls=10, failure_rate=0.5, open_seconds=1, half_open_calls=2,
                       clock=clock)
    for i in range(10):
        b.record(ok=i % 3 != 0)  # 4 of 10 failed: 40 % < 50 %
    assert b.state == "closed"
    for _ in range(5):
        b.record(ok=False)  # the window slides: now >= 50 %
    assert b.state == "open"
    clock.t = 1.0
    assert b.allow() and b.allow()
    b.record(ok=False)
    b.record(ok=True)
    assert b.state == "open"


def test_breaker_counts_slow_calls():
    b = CircuitBreaker(window=4, min_calls=4, slow_rate=0.5, slow_ms=100)
    for ms in (10, 200, 10, 300):
        b.record(ok=True, latency_ms=ms)
    assert b.state == "open"


@pytest.mark.parametrize("x1, n1, x2, n2", [(40, 200, 20, 1800), (3, 200, 10, 1000), (0, 50, 0, 50),
                                            (12, 300, 30, 900)])
def test_two_proportion_z_matches_statsmodels(x1, n1, x2, n2):
    from statsmodels.stats.proportion import proportions_ztest

    z, p = two_proportion_z(x1, n1, x2, n2)
    if x1 + x2 == 0:
        assert (z, p) == (0.0, 1.0)
        return
    zs, ps = proportions_ztest([x1, x2], [n1, n2], alternative="larger")
    assert z == pytest.approx(zs, abs=1e-9) and p == pytest.approx(ps, abs=1e-9)


def test_error_rate_gate():
    assert not error_rate_gate(40, 200, 18, 1800).passed  # 20 % vs 1 %
    assert error_rate_gate(2, 200, 18, 1800).passed  # 1 % vs 1 %
    over = error_rate_gate(12, 200, 120, 1800, max_error_rate=0.05)  # 6 %: not worse, but over the ceiling
    assert not over.passed and "ceiling 5%" in over.detail


def test_latency_gate_uses_linear_p99_and_the_slo():
    rng = np.random.default_rng(0)
    champ, canary = rng.gamma(2, 5, 1000), rng.gamma(2, 5, 1000) * 1.5
    g = latency_gate(canary, champ, slo_ms=10)
    assert g.value == pytest.approx(np.quantile(canary, 0.99), abs=1e-12)
    assert g.threshold == pytest.approx(1.2 * np.quantile(champ, 0.99), abs=1e-12)
    assert not g.passed
    assert latency_gate(canary, champ, slo_ms=1000).passed  # under the absolute SLO


def test_psi_matches_the_formula_on_quantile_bins():
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(0, 1, 5000), rng.normal(0.5, 1, 5000)
    edges = np.quantile(ref, np.linspace(0, 1, 11))
    edges[0], edges[-1] = -np.inf, np.inf
    e = np.maximum(np.histogram(ref, edges)[0] / 5000, 1e-4)
    a = np.maximum(np.histogram(cur, edges)[0] / 5000, 1e-4)
    assert psi(ref, cur) == pytest.approx(float(np.sum((a - e) * np.log(a / e))), abs=1e-12)
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-12)


def _windows(n_canary, canary_err, n_champ=2000, champ_err=0.0):
    cw, hw = Window(), Window()
    for i in range(n_canary):
        cw.add(i >= n_canary * canary_err, 2.0)
    for i in range(n_champ):
        hw.add(i >= n_champ * champ_err, 2.0)
    return cw, hw


def test_decide_waits_for_the_interval_and_samples_then_pauses_inconclusive():
    cfg = CanaryConfig("v2", steps=[5, 50, 100], interval_s=10, min_samples=100)
    status = {"step": 0, "step_started": 0.0, "failures": 0}
    cw, hw = _windows(50, 0.0)
    assert decide(cfg, status, cw, hw, 5)[0] == "wait"  # before the interval
    assert decide(cfg, status, cw, hw, 10)[0] == "wait"  # no data is not a pass
    assert decide(cfg, status, cw, hw, 30)[0] == "inconclusive"  # 3 x interval without min_samples
    cw, hw = _windows(150, 0.0)
    assert decide(cfg, status, cw, hw, 10)[0] == "advance"
    assert decide(cfg, {**status, "step": 2}, cw, hw, 10)[0] == "promote"


def test_decide_retries_then_rolls_back_after_failure_limit():
    cfg = CanaryConfig("v2", interval_s=1, min_samples=100, failure_limit=1)
    cw, hw = _windows(200, 0.2)
    action, checks = decide(cfg, {"step": 0, "step_started": 0.0, "failures": 0}, cw, hw, 1)
    assert action == "retry" and not checks[0].passed
    assert decide(cfg, {"step": 0, "step_started": 0.0, "failures": 1}, cw, hw, 1)[0] == "rollback"
    cfg0 = CanaryConfig("v2", interval_s=1, min_samples=100, failure_limit=0)
    assert decide(cfg0, {"step": 0, "step_started": 0.0, "failures": 0}, cw, hw, 1)[0] == "rollback"


def test_router_uses_the_abtest_hash_and_raising_a_weight_never_moves_a_user_out():
    assert router.bucket("api", "customer-42") == ab_bucket("api", "customer-42")
    keys = [f"c{i}" for i in range(3000)]

    def assigned(weight):
        state = {"salt": "api", "variants": [{"name": "v1", "role": "champion", "weight": 10000 - weight},
                                             {"name": "v2", "role": "challenger", "weight": weight}]}
        return {k: router.pick(state, router.assign(state, k, None)[0]) for k in keys}

    previous = assigned(0)
    assert set(previous.values()) == {"v1"}
    for weight in (500, 2500, 5000, 10000):
        now = assigned(weight)
        moved_out = [k for k in keys if previous[k] == "v2" and now[k] != "v2"]
        assert moved_out == []
        share = sum(v == "v2" for v in now.values()) / len(keys)
        assert abs(share - weight / 10000) < 0.03
        previous = now
    assert set(previous.values()) == {"v2"}


def test_requests_without_a_key_are_random_and_not_sticky():
    import random

    state = {"salt": "api", "variants": [{"name": "v1", "role": "champion", "weight": 10000}]}
    b, sticky = router.assign(state, None, random.Random(0))
    assert 0 <= b < 10000 and sticky is False
    assert router.assign(state, "k", random.Random(0)) == (ab_bucket("api", "k"), True)


def test_a_missing_key_field_value_is_no_key():
    """A request whose key field is missing, None or NaN is not sticky (it used to share the key 'None')."""
    state = {"key": "customer_id"}
    assert router.request_key(state, "h-1", {"customer_id": 5}) == "h-1"  # the header wins
    assert router.request_key(state, None, {"customer_id": 5}) == "5"
    assert router.request_key(state, None, {"customer_id": None}) is None
    assert router.request_key(state, None, {"customer_id": float("nan")}) is None
    assert router.request_key(state, None, None) is None
    assert router.request_key({}, None, {"customer_id": 5}) is None
