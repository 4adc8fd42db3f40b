"""Sequential: GrowthBook's formulas, the Johari mSPRT, and validity under daily peeking."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from workbench import abtest as ab
from workbench.abtest import sequential as sq


def _gb_rho(alpha, n_star):
    return math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / n_star)


def test_confidence_sequence_matches_growthbook_formula():
    for v, n, a, ns in [
        (1e-4, 10_000, 0.05, 5000),
        (4e-3, 800, 0.1, 5000),
        (1e-6, 2_000_000, 0.05, 20_000),
    ]:
        rho = _gb_rho(a, ns)
        s2 = v * n
        ref = math.sqrt(s2) * math.sqrt(
            2 * (n * rho**2 + 1) / (n**2 * rho**2) * math.log(math.sqrt(n * rho**2 + 1) / a)
        )
        assert ab.cs_half_width(v, n, a, ns) == pytest.approx(ref, rel=1e-13)


def test_msprt_equals_growthbook_pvalue_and_cs_duality():
    rho = _gb_rho(0.05, 5000)
    for d, v, n in [(0.02, 1e-4, 10_000), (0.035, 1e-4, 10_000), (-0.3, 0.01, 500)]:
        s = d * d * n / v
        e = math.exp(rho**2 * s / (2 * (n * rho**2 + 1))) / math.sqrt(n * rho**2 + 1)
        p = ab.msprt_pvalue(d, v, n)
        assert p == pytest.approx(min(1.0, 1 / e), rel=1e-12)
        hw = ab.cs_half_width(v, n)
        assert (p < 0.05) == (abs(d) > hw)  # p < alpha exactly when the CS excludes 0


def test_msprt_general_form_equals_johari_bernoulli():
    # n pairs of Bernoulli arms: V = (p_c q_c + p_t q_t) / n in the general form
    rng = np.random.default_rng(2)
    n = np.arange(100, 5001, 100)
    x_c = np.cumsum(rng.binomial(100, 0.10, len(n)))
    x_t = np.cumsum(rng.binomial(100, 0.12, len(n)))
    tau2 = 1e-4
    ref = ab.msprt_bernoulli(x_c, x_t, n, tau2)
    pc, pt = x_c / n, x_t / n
    v = (pc * (1 - pc) + pt * (1 - pt)) / n
    ours = ab.msprt_pvalue(pt - pc, v, tau2=tau2)
    np.testing.assert_allclose(ours, ref, rtol=1e-10)
    assert np.all(np.diff(ours) <= 0)  # running minimum


def test_peeking_cost_and_sequential_test():
    r = ab.sequential_test(0.02, 1e-4, n=10_000)
    assert r.peeking_cost == pytest.approx(
        ab.cs_half_width(1e-4, 10_000) / (stats.norm.isf(0.025) * 0.01)
    )
    assert r.peeking_cost > 1
    assert r.cs_low < r.fixed_low < r.estimate < r.fixed_high < r.cs_high


def test_always_valid_under_daily_peeking():
    """A/A tests looked at every day: the fixed test's 'ever significant' rate is inflated,
    the always-valid p-value's is not."""
    rng = np.random.default_rng(0)
    sims, days, per_day = 2000, 30, 200
    y_c = rng.normal(0, 1, (sims, days, per_day)).sum(axis=2).cumsum(axis=1)
    y_t = rng.normal(0, 1, (sims, days, per_day)).sum(axis=2).cumsum(axis=1)
    n = per_day * np.arange(1, days + 1)
    d = (y_t - y_c) / n
    v = 2.0 / n  # known unit variance 1 in each arm
    fixed_p = 2 * stats.norm.sf(np.abs(d) / np.sqrt(v))
    ever_fixed = (fixed_p < 0.05).any(axis=1).mean()
    p_seq = np.array([sq.msprt_pvalue(d[i], v, 2 * n) for i in range(sims)])
    ever_seq = (p_seq[:, -1] < 0.05).mean()
    assert ever_fixed > 0.15  # peeking 30 times inflates the 5 % false-positive rate
    assert ever_seq <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / sims)
