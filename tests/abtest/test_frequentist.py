"""Frequentist tests from sufficient statistics against scipy / statsmodels on the rows."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

from workbench import abtest as ab
from workbench.abtest import frequentist as fq
from workbench.errors import InvalidInputError


def _summ(x):
    return x.mean(), x.var(ddof=1), len(x)


def test_pooled_ztest_matches_statsmodels():
    for xc, nc, xt, nt in [(100, 1000, 130, 1000), (2524, 24955, 2789, 25045), (5, 50, 1, 40)]:
        r = ab.two_proportion_ztest(xc, nc, xt, nt)
        z, p = proportions_ztest([xt, xc], [nt, nc])
        assert r.statistic == pytest.approx(z, rel=1e-12)
        assert r.p_value == pytest.approx(p, rel=1e-10)
        for alt, smalt in (("greater", "larger"), ("less", "smaller")):
            _, p1 = proportions_ztest([xt, xc], [nt, nc], alternative=smalt)
            assert ab.two_proportion_ztest(
                xc, nc, xt, nt, alternative=alt
            ).p_value == pytest.approx(p1, rel=1e-10)
        # Wald interval of the difference
        pc, pt = xc / nc, xt / nt
        se = np.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)
        q = stats.norm.isf(0.025)
        assert (r.ci_low, r.ci_high) == pytest.approx(
            (pt - pc - q * se, pt - pc + q * se), rel=1e-12
        )


def test_welch_matches_scipy_on_rows():
    rng = np.random.default_rng(3)
    c, t = rng.normal(10, 2, 400), rng.lognormal(2.35, 0.3, 333)
    r = ab.welch_ttest(*_summ(c), *_summ(t))
    ref = stats.ttest_ind(t, c, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert r.df == pytest.approx(ref.df, rel=1e-12)
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-11)
    for alt in ("greater", "less"):
        assert ab.welch_ttest(*_summ(c), *_summ(t), alternative=alt).p_value == pytest.approx(
            stats.ttest_ind(t, c, equal_var=False, alternative=alt).pvalue, rel=1e-10
        )


def test_relative_lift_delta_method():
    mc, vc, nc, mt, vt, nt = 10.0, 4.0, 500, 10.8, 5.0, 450
    r = ab.welch_ttest(mc, vc, nc, mt, vt, nt)
    assert r.rel_lift == pytest.approx(0.08)
    # delta method: gradient of (mt - mc)/mc is (-mt/mc^2, 1/mc)
    v = (mt / mc**2) ** 2 * vc / nc + (1 / mc) ** 2 * vt / nt
    assert r.rel_se == pytest.approx(np.sqrt(v), rel=1e-12)
    q = stats.t.isf(0.025, r.df)
    assert r.rel_ci_low == pytest.approx(0.08 - q * np.sqrt(v), rel=1e-12)


def test_ratio_delta_method_equals_linearisation():
    rng = np.random.default_rng(5)
    d = rng.poisson(3, 2000) + 1.0
    m = d * rng.gamma(2, 5, 2000)
    n = len(d)
    r, var = fq.ratio_moments(n, m.sum(), (m * m).sum(), d.sum(), (d * d).sum(), (m * d).sum())
    assert r == pytest.approx(m.sum() / d.sum(), rel=1e-12)
    # the delta method equals the variance of the linearised unit values (m - R d) / mean(d)
    lin = (m - r * d) / d.mean()
    assert var == pytest.approx(lin.var(ddof=1), rel=1e-9)


def test_cuped_theta_is_ols_slope_and_adjusted_welch():
    rng = np.random.default_rng(7)
    x = rng.gamma(2, 10, 6000)
    arm = rng.random(6000) < 0.5
    y = 0.5 * x + rng.normal(0, 8, 6000) + 1.5 * arm

    def sums(mask):
        return {
            "n": mask.sum(),
            "sum_y": y[mask].sum(),
            "sum_y2": (y[mask] ** 2).sum(),
            "sum_x": x[mask].sum(),
            "sum_x2": (x[mask] ** 2).sum(),
            "sum_xy": (x[mask] * y[mask]).sum(),
        }

    c, t = sums(~arm), sums(arm)
    theta = fq.cuped_theta([c, t])
    ols = sm.OLS(y, sm.add_constant(x)).fit()
    assert theta == pytest.approx(ols.params[1], rel=1e-10)
    res, reduction = fq.cuped_compare(c, t, theta)
    adj = y - theta * x
    ref = stats.ttest_ind(adj[arm], adj[~arm], equal_var=False)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-8)
    assert res.abs_lift == pytest.approx(adj[arm].mean() - adj[~arm].mean(), rel=1e-10)
    raw = y[arm].var(ddof=1) / arm.sum() + y[~arm].var(ddof=1) / (~arm).sum()
    assert reduction == pytest.approx(1 - ref.statistic**-2 * res.abs_lift**2 / raw, rel=1e-8)
    assert reduction == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2, abs=0.02)  # ~ rho^2


def test_noninferiority_equals_shifted_one_sided_welch():
    rng = np.random.default_rng(11)
    c, t = rng.normal(900, 300, 3000), rng.normal(905, 300, 3000)
    r = ab.welch_ttest(*_summ(c), *_summ(t))
    margin = 0.02
    m_abs = margin * c.mean()
    _, p, passed = ab.noninferiority(r, margin, direction="decrease")
    ref = stats.ttest_ind(t - m_abs, c, equal_var=False, alternative="less")
    assert p == pytest.approx(ref.pvalue, rel=1e-9)
    assert passed == (ref.pvalue < 0.05)
    _, p_inc, _ = ab.noninferiority(r, margin, direction="increase")
    ref_inc = stats.ttest_ind(t + m_abs, c, equal_var=False, alternative="greater")
    assert p_inc == pytest.approx(ref_inc.pvalue, rel=1e-9)


def test_bad_inputs():
    with pytest.raises(InvalidInputError, match="at least 2"):
        ab.welch_ttest(1, 1, 1, 2, 1, 10)
    with pytest.raises(InvalidInputError, match="between 0 and n"):
        ab.two_proportion_ztest(11, 10, 3, 10)
    with pytest.raises(InvalidInputError, match="alternative"):
        ab.welch_ttest(1, 1, 5, 2, 1, 10, alternative="bigger")
