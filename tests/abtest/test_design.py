"""Design: sample size, power and MDE against statsmodels' power functions."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.power import NormalIndPower, normal_sample_size_one_tail, tt_ind_solve_power
from statsmodels.stats.proportion import (
    power_proportions_2indep,
    proportion_effectsize,
    samplesize_proportions_2indep_onetail,
)

from workbench import abtest as ab
from workbench.errors import InvalidInputError


@pytest.mark.parametrize(
    "p,d,ratio,sided",
    [(0.10, 0.01, 1, 2), (0.3, -0.05, 1, 2), (0.05, 0.01, 2, 1), (0.5, 0.02, 0.5, 2)],
)
def test_unpooled_matches_normal_one_tail(p, d, ratio, sided):
    res = ab.sample_size(baseline=p, mde=d, ratio=ratio, sided=sided)
    # our n_control; Var(diff) = (p_c q_c + p_t q_t / ratio) / n_control
    sd = math.sqrt(p * (1 - p) + (p + d) * (1 - p - d) / ratio)
    ref = normal_sample_size_one_tail(abs(d), 0.8, 0.05 / sided, std_null=sd)
    assert res.n_exact == pytest.approx(ref, rel=1e-9)
    assert res.n_per_arm == math.ceil(ref)
    assert res.n_treatment == math.ceil(ratio * ref)


@pytest.mark.parametrize("p,d,ratio", [(0.10, 0.01, 1), (0.2, 0.03, 2), (0.6, -0.04, 0.5)])
def test_pooled_null_matches_statsmodels(p, d, ratio):
    res = ab.sample_size(baseline=p, mde=d, ratio=ratio, method="pooled_null")
    # statsmodels: nobs1 is the arm with prop1 = prop2 + diff (our treatment), nobs2 = ratio*nobs1
    n_t = samplesize_proportions_2indep_onetail(d, p, 0.8, ratio=1 / ratio)
    assert res.n_exact * ratio == pytest.approx(n_t, rel=1e-9)


def test_cohen_h_matches_normal_ind_power():
    h = proportion_effectsize(0.11, 0.10)
    for ratio in (1, 2):
        ref = NormalIndPower().solve_power(h, alpha=0.05, power=0.8, ratio=ratio)
        res = ab.sample_size(baseline=0.10, mde=0.01, method="cohen_h", ratio=ratio)
        assert res.n_exact == pytest.approx(ref, rel=1e-6)
        assert ab.power(ref, 0.10, 0.01, method="cohen_h", ratio=ratio) == pytest.approx(
            NormalIndPower().power(h, ref, 0.05, ratio=ratio), rel=1e-12
        )


def test_proportion_power_matches_statsmodels_pooled():
    for n in (500, 5000, 20000):
        ref = power_proportions_2indep(0.01, 0.10, n, ratio=1).power
        assert ab.power(n, 0.10, 0.01, method="pooled_null") == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("ratio,sided", [(1, 2), (2, 2), (0.5, 1)])
def test_means_match_tt_ind_solve_power(ratio, sided):
    alt = "two-sided" if sided == 2 else "larger"
    ref = tt_ind_solve_power(0.1, alpha=0.05, power=0.8, ratio=ratio, alternative=alt)
    res = ab.sample_size(baseline=10.0, sd=2.0, mde=0.2, metric="mean", ratio=ratio, sided=sided)
    assert res.n_exact == pytest.approx(ref, rel=1e-7)
    pw = tt_ind_solve_power(0.1, nobs1=1000, alpha=0.05, ratio=ratio, alternative=alt)
    assert ab.power(
        1000, 10.0, 0.2, metric="mean", sd=2.0, ratio=ratio, sided=sided
    ) == pytest.approx(pw, rel=1e-10)
    es = tt_ind_solve_power(nobs1=1000, alpha=0.05, power=0.8, ratio=ratio, alternative=alt)
    ours = ab.mde(1000, 10.0, metric="mean", sd=2.0, ratio=ratio, sided=sided) / 2.0
    assert ours == pytest.approx(es, rel=1e-4)  # statsmodels solves es to ~1e-5 only
    # ours is exact: statsmodels' own power function gives 0.8 at our effect size
    assert tt_ind_solve_power(
        ours, nobs1=1000, alpha=0.05, ratio=ratio, alternative=alt
    ) == pytest.approx(0.8, abs=1e-12)


def test_relative_mde_and_round_trips():
    a = ab.sample_size(baseline=0.10, mde=0.10, relative=True)
    b = ab.sample_size(baseline=0.10, mde=0.01)
    assert a.n_exact == pytest.approx(b.n_exact, rel=1e-12)
    assert ab.mde(b.n_exact, baseline=0.10) == pytest.approx(0.01, rel=1e-8)
    assert ab.mde(b.n_exact, baseline=0.10, relative=True) == pytest.approx(0.10, rel=1e-8)
    # two-sided power at the one-tail sample size is the target plus the far tail
    assert ab.power(b.n_exact, 0.10, 0.01) == pytest.approx(0.8, abs=1e-6)
    m = ab.sample_size(baseline=10.0, sd=2.0, mde=0.02, relative=True, metric="mean")
    assert m.effect == pytest.approx(0.2)


def test_duration():
    d = ab.duration(14749, daily_users=2000, arms=2)
    assert d.days == 15 and d.days_exact == pytest.approx(14.749)
    assert ab.duration(1000, daily_users=100, arms=3, coverage=0.5).days == 60


def test_bad_design_inputs():
    with pytest.raises(InvalidInputError, match="baseline"):
        ab.sample_size(baseline=1.5, mde=0.1)
    with pytest.raises(InvalidInputError, match="sd"):
        ab.sample_size(baseline=10, mde=1, metric="mean")
    with pytest.raises(InvalidInputError, match="non-zero"):
        ab.sample_size(baseline=0.1, mde=0.0)
    with pytest.raises(InvalidInputError, match="proportion in"):
        ab.sample_size(baseline=0.95, mde=0.1)
    with pytest.raises(InvalidInputError, match="method"):
        ab.sample_size(baseline=0.1, mde=0.01, method="magic")
    with pytest.raises(InvalidInputError, match="arms"):
        ab.duration(100, 10, arms=1)


def test_design_saved_in_store(tmp_path):
    import workbench as wb
    from workbench.store import abtest_store

    store = wb.Store(tmp_path / "s.duckdb")
    s = ab.sample_size(baseline=0.1, mde=0.01)
    did = ab.save_design(store, s, experiment="exp", daily_users=2000)
    designs = abtest_store.list_designs(store, "exp")
    assert designs["design_id"].tolist() == [did]
    assert '"duration_days": 15' in designs["result"][0]
