"""Bayesian: exact Beta probabilities and losses against quadrature; the normal model."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from workbench import abtest as ab
from workbench.abtest import bayesian as bz
from workbench.errors import InvalidInputError


def _quad_prob(a_c, b_c, a_t, b_t):
    dc, dt = stats.beta(a_c, b_c), stats.beta(a_t, b_t)
    return integrate.quad(lambda x: dt.pdf(x) * dc.cdf(x), 0, 1, epsabs=1e-14, limit=500)[0]


@pytest.mark.parametrize(
    "params",
    [(1, 1, 1, 1), (11, 91, 16, 86), (3, 7, 2, 9), (40, 12, 38, 15), (250, 2250, 281, 2219)],
)
def test_prob_beats_control_is_exact(params):
    assert ab.prob_beats_control(*params) == pytest.approx(_quad_prob(*params), abs=1e-10)


def test_prob_beats_control_large_counts_and_fractional_priors():
    # the sample data's conversions with a Beta(1, 1) prior
    p = ab.prob_beats_control(1 + 2524, 1 + 24955 - 2524, 1 + 2789, 1 + 25045 - 2789)
    dc, dt = stats.beta(2525, 22432), stats.beta(2790, 22257)
    x = np.linspace(0.085, 0.13, 400001)
    ref = np.trapezoid(dt.pdf(x) * dc.cdf(x), x)
    assert p == pytest.approx(ref, abs=1e-9)
    # Jeffreys prior: no integer parameter, falls back to quadrature
    assert ab.prob_beats_control(10.5, 90.5, 15.5, 85.5) == pytest.approx(
        _quad_prob(10.5, 90.5, 15.5, 85.5), abs=1e-10
    )


@pytest.mark.parametrize("params", [(11, 91, 16, 86), (30, 70, 25, 80), (2.5, 3.5, 4, 2)])
def test_expected_loss_is_exact(params):
    a_c, b_c, a_t, b_t = params
    dc, dt, dtp = stats.beta(a_c, b_c), stats.beta(a_t, b_t), stats.beta(a_t + 1, b_t)
    m_t = a_t / (a_t + b_t)
    # E[(p_c - p_t)^+] = int f_c(x) (x F_t(x) - m_t F_{t+1}(x)) dx, by adaptive quadrature
    ref = integrate.quad(
        lambda x: dc.pdf(x) * (x * dt.cdf(x) - m_t * dtp.cdf(x)), 0, 1, epsabs=1e-14, limit=200
    )[0]
    assert ab.beta_expected_loss(*params) == pytest.approx(ref, abs=1e-10)


def test_beta_binomial_ctw_and_direction():
    a, r = ab.beta_binomial(100, 1000, 130, 1000)
    assert a.chance_to_win == pytest.approx(ab.prob_beats_control(101, 901, 131, 871))
    assert a.ci_low < a.mean < a.ci_high
    low, _ = ab.beta_binomial(100, 1000, 130, 1000, direction="decrease")
    assert low.chance_to_win == pytest.approx(1 - a.chance_to_win)
    assert r.mean == pytest.approx(a.mean / (101 / 1002))
    # a strong prior pulls towards it
    weak, _ = ab.beta_binomial(10, 100, 15, 100, prior=(1, 1))
    strong, _ = ab.beta_binomial(10, 100, 15, 100, prior=(100, 900))
    assert strong.chance_to_win < weak.chance_to_win


def test_normal_posterior_flat_and_proper():
    r = ab.normal_posterior(0.1, 0.0025)
    assert r.chance_to_win == pytest.approx(stats.norm.sf(0, 0.1, 0.05), rel=1e-12)
    # E[max(-D, 0)] for D ~ N(0.1, 0.05^2), by quadrature
    ref = integrate.quad(lambda d: -d * stats.norm.pdf(d, 0.1, 0.05), -1, 0)[0]
    assert r.expected_loss == pytest.approx(ref, rel=1e-9)
    assert (r.ci_low, r.ci_high) == pytest.approx(stats.norm.interval(0.95, 0.1, 0.05))
    prior = ab.NormalPrior(mean=0.0, sd=0.05)
    p = ab.normal_posterior(0.1, 0.0025, prior)
    assert p.mean == pytest.approx(0.05) and p.sd == pytest.approx(np.sqrt(0.00125))
    dec = ab.normal_posterior(0.1, 0.0025, direction="decrease")
    assert dec.chance_to_win == pytest.approx(1 - r.chance_to_win)
    with pytest.raises(InvalidInputError, match="prior sd"):
        bz.NormalPrior(sd=-1)
