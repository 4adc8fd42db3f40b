"""Bandits: seeded reproducibility, exact state round trips, allocation, regret, OPE."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench import abtest as ab
from workbench.errors import BanditError, NotFoundError

POLICIES = [
    lambda: ab.ThompsonSampling(["a", "b", "c"], seed=3),
    lambda: ab.UCB1(["a", "b", "c"], seed=3),
    lambda: ab.EpsilonGreedy(["a", "b", "c"], epsilon=0.1, seed=3),
    lambda: ab.ThompsonSampling(["a", "b", "c"], seed=3, model="normal"),
]
RATES = {"a": 0.10, "b": 0.12, "c": 0.11}


def _run(policy, n, seed=0, gaussian=False):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        arm = policy.select()
        r = rng.normal(RATES[arm], 0.05) if gaussian else float(rng.random() < RATES[arm])
        policy.update(arm, r)
        out.append(arm)
    return out


@pytest.mark.parametrize("make", POLICIES)
def test_same_seed_same_decisions(make):
    gaussian = getattr(make(), "model", "") == "normal"
    assert _run(make(), 3000, gaussian=gaussian) == _run(make(), 3000, gaussian=gaussian)


@pytest.mark.parametrize("make", POLICIES)
def test_state_round_trips_exactly_through_json(make):
    gaussian = getattr(make(), "model", "") == "normal"
    p = make()
    _run(p, 1234, seed=1, gaussian=gaussian)  # stop in the middle of pre-drawn blocks
    state = json.loads(json.dumps(p.to_dict()))
    q = ab.Policy.from_dict(state)
    assert q.to_dict() == p.to_dict()
    assert _run(p, 2000, seed=9, gaussian=gaussian) == _run(q, 2000, seed=9, gaussian=gaussian)
    assert p.to_dict() == q.to_dict()


def test_thompson_probabilities_exact_for_two_arms():
    ts = ab.ThompsonSampling(["a", "b"], seed=0)
    for arm, r in [("a", 1)] * 12 + [("a", 0)] * 88 + [("b", 1)] * 17 + [("b", 0)] * 83:
        ts.update(arm, r)
    probs = ts.probabilities()
    exact = ab.prob_beats_control(13, 89, 18, 84)
    assert probs["b"] == pytest.approx(exact, abs=1e-6)
    # and select() really plays b with that probability
    picks = [ts.select() for _ in range(40000)]
    assert picks.count("b") / len(picks) == pytest.approx(exact, abs=0.01)


def test_thompson_three_arm_probabilities_match_monte_carlo():
    ts = ab.ThompsonSampling(["a", "b", "c"], seed=0)
    for arm, (s, f) in {"a": (10, 90), "b": (14, 86), "c": (12, 88)}.items():
        for _ in range(s):
            ts.update(arm, 1.0)
        for _ in range(f):
            ts.update(arm, 0.0)
    rng = np.random.default_rng(0)
    draws = np.column_stack(
        [rng.beta(1 + s, 1 + f, 400000) for s, f in [(10, 90), (14, 86), (12, 88)]]
    )
    mc = np.bincount(draws.argmax(axis=1), minlength=3) / len(draws)
    p = ts.probabilities()
    assert sum(p.values()) == pytest.approx(1.0)
    np.testing.assert_allclose([p["a"], p["b"], p["c"]], mc, atol=0.004)


def test_thompson_switches_to_normal_model_for_real_rewards():
    ts = ab.ThompsonSampling(["a", "b"], seed=0)
    ts.update("a", 1.0)
    assert ts.binary
    ts.update("b", 3.5)
    assert not ts.binary
    _run(ts, 500, gaussian=True)
    with pytest.raises(BanditError, match="model='beta'"):
        ab.ThompsonSampling(["a", "b"], model="beta").update("a", 0.5)


def test_ucb1_and_epsilon_greedy_rules():
    ucb = ab.UCB1(["a", "b"], seed=0)
    assert ucb.probabilities() == {"a": 0.5, "b": 0.5}  # both untried: a tie
    ucb.update("a", 1.0)
    assert ucb.select() == "b"  # untried arms first
    ucb.update("b", 0.0)
    ucb.update("b", 1.0)
    # scores by hand: mean + sqrt(2 ln t / n)
    s_a = 1.0 + math.sqrt(2 * math.log(3) / 1)
    s_b = 0.5 + math.sqrt(2 * math.log(3) / 2)
    assert ucb.select() == ("a" if s_a > s_b else "b")
    assert ucb.probabilities() == {"a": 1.0, "b": 0.0}
    eg = ab.EpsilonGreedy(["a", "b", "c"], epsilon=0.3, seed=0)
    for arm, r in [("a", 0.0), ("b", 1.0), ("c", 0.5)]:
        eg.update(arm, r)
    p = eg.probabilities()
    assert p == pytest.approx({"a": 0.1, "b": 0.8, "c": 0.1})
    picks = [eg.select() for _ in range(30000)]
    assert picks.count("b") / len(picks) == pytest.approx(0.8, abs=0.01)


def test_simulation_regret_beats_fixed_split():
    for policy in (
        ab.ThompsonSampling(list(RATES), seed=0),
        ab.UCB1(list(RATES), seed=0),
        ab.EpsilonGreedy(list(RATES), seed=0),
    ):
        before = policy.to_dict()
        sim = ab.simulate_bandit(policy, true_rates=RATES, n=20_000, seed=0, checkpoints=50)
        assert policy.to_dict() == before  # the policy passed in is not changed
        assert sim.regret[-1] < sim.fixed_regret[-1]
        assert sim.fixed_regret[-1] == pytest.approx(20_000 * (0.12 - 0.11))
        assert sum(sim.pulls.values()) == 20_000
        assert list(sim.curve.columns[:3]) == ["step", "regret", "fixed_regret"]
        assert sim.curve["step"].iloc[-1] == 20_000 and len(sim.curve) == 50
        assert np.all(np.diff(sim.regret) >= 0)
    again = ab.simulate_bandit(ab.ThompsonSampling(list(RATES), seed=0), RATES, 5000, seed=1)
    same = ab.simulate_bandit(ab.ThompsonSampling(list(RATES), seed=0), RATES, 5000, seed=1)
    np.testing.assert_array_equal(again.regret, same.regret)
    ts_sim = ab.simulate_bandit(
        ab.ThompsonSampling(list(RATES), seed=0), RATES, 20_000, 0, checkpoints=20
    )
    assert ts_sim.pulls["b"] > ts_sim.pulls["a"]
    # the weights column is the policy's allocation at that step, a distribution
    w = ts_sim.curve[["weight_a", "weight_b", "weight_c"]].sum(axis=1)
    np.testing.assert_allclose(w, 1.0, atol=1e-9)


def test_off_policy_ipw_matches_formula_and_truth():
    rng = np.random.default_rng(4)
    n = 60_000
    arms = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    prop = pd.Series(arms).map({"a": 0.5, "b": 0.3, "c": 0.2}).to_numpy()
    reward = (rng.random(n) < pd.Series(arms).map(RATES).to_numpy()).astype(float)
    log = pd.DataFrame({"arm": arms, "reward": reward, "propensity": prop})
    target = {"a": 0.0, "b": 1.0, "c": 0.0}
    est = ab.off_policy_value(log, target)
    w = np.where(arms == "b", 1.0 / 0.3, 0.0)
    assert est.ipw == pytest.approx((w * reward).mean(), rel=1e-12)
    assert est.snips == pytest.approx((w * reward).sum() / w.sum(), rel=1e-12)
    assert est.se == pytest.approx((w * reward).std(ddof=1) / math.sqrt(n), rel=1e-12)
    assert est.ci[0] < 0.12 < est.ci[1]
    with pytest.raises(BanditError, match="propensity"):
        ab.off_policy_value(log.assign(propensity=0.0), target)
    with pytest.raises(BanditError, match="no target probability"):
        ab.off_policy_value(log, {"a": 1.0})


def test_bad_bandit_inputs():
    with pytest.raises(BanditError, match="at least 2"):
        ab.ThompsonSampling(["a"])
    with pytest.raises(BanditError, match="unique"):
        ab.UCB1(["a", "a"])
    p = ab.EpsilonGreedy(["a", "b"])
    with pytest.raises(BanditError, match="unknown arm"):
        p.update("z", 1.0)
    with pytest.raises(BanditError, match="finite"):
        p.update("a", float("nan"))
    with pytest.raises(BanditError, match="number"):
        p.update("a", "lots")
    with pytest.raises(BanditError, match="epsilon"):
        ab.EpsilonGreedy(["a", "b"], epsilon=2)
    with pytest.raises(BanditError, match="one rate per arm"):
        ab.simulate_bandit(p, {"a": 0.1}, n=10)
    with pytest.raises(BanditError, match="cannot load"):
        ab.UCB1.from_dict(p.to_dict())


def test_policy_saved_and_loaded_from_store(tmp_path):
    store = wb.Store(tmp_path / "s.duckdb")
    ts = ab.ThompsonSampling(["a", "b", "c"], seed=5)
    _run(ts, 777)
    ab.save_policy(store, "homepage", ts)
    back = ab.load_policy(store, "homepage")
    assert isinstance(back, ab.ThompsonSampling)
    assert _run(back, 500, seed=2) == _run(ts, 500, seed=2)
    with pytest.raises(NotFoundError):
        ab.load_policy(store, "nope")


def test_million_decisions_speed_smoke():
    """A scaled-down speed check (the full 1M figure is in benchmarks/bench_abtest.py)."""
    import time

    ts = ab.ThompsonSampling(["a", "b", "c"], seed=0)
    u = np.random.default_rng(0).random(100_000).tolist()
    rates = [0.10, 0.12, 0.11]
    index = {"a": 0, "b": 1, "c": 2}
    t0 = time.perf_counter()
    for i in range(100_000):
        arm = ts.select()
        ts.update(arm, 1.0 if u[i] < rates[index[arm]] else 0.0)
    # 30x the 2 us budget, for a shared loaded machine: catches a gross regression only
    assert time.perf_counter() - t0 < 6.0
