"""Every drift method against the scipy (or statsmodels) function it names, on the same data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats
from scipy.spatial import distance
from statsmodels.stats.proportion import proportions_ztest

from workbench.errors import InvalidInputError, MonitoringInputError, UnknownMethodError
from workbench.monitoring import _ecdf
from workbench.monitoring.binning import evidently_fill, quantile_edges
from workbench.monitoring.stattests import METHODS, stat_test

REL = 1e-9


def close(a, b, rel=REL):
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-15)


@pytest.fixture
def num():
    rng = np.random.default_rng(7)
    return rng.normal(0, 1, 800), rng.normal(0.2, 1.1, 650)


@pytest.fixture
def cat():
    rng = np.random.default_rng(3)
    ref = rng.choice(list("abcd"), 900, p=[0.4, 0.3, 0.2, 0.1])
    cur = rng.choice(list("abcd"), 700, p=[0.3, 0.3, 0.25, 0.15])
    return ref, cur


@pytest.mark.parametrize("n,m", [(800, 650), (12_000, 15_000), (30, 30), (5, 2000)])
def test_ks_matches_scipy_exact_and_asymptotic(n, m):
    rng = np.random.default_rng(n + m)
    ref, cur = rng.normal(size=n), rng.normal(0.05, 1, m)
    r = stat_test("ks", ref, cur)
    s = stats.ks_2samp(ref, cur)
    assert close(r.statistic, s.statistic) and close(r.p_value, s.pvalue)
    assert r.conventions["ks_mode"] == ("exact" if max(n, m) <= 10_000 else "asymp")
    assert r.rule == "p_value < threshold" and r.drifted == (s.pvalue < 0.05)


def test_ks_with_ties_matches_scipy():
    rng = np.random.default_rng(1)
    ref, cur = rng.integers(0, 20, 20_000).astype(float), rng.integers(0, 21, 11_000).astype(float)
    r = stat_test("ks", ref, cur, mode="asymp")
    s = stats.ks_2samp(ref, cur, method="asymp")
    assert close(r.statistic, s.statistic) and close(r.p_value, s.pvalue)


@pytest.mark.parametrize("n,m", [(800, 650), (1000, 1000), (20_000, 300), (40, 9000)])
def test_wasserstein_normed_and_raw(n, m):
    rng = np.random.default_rng(n)
    ref, cur = rng.gamma(2.0, 3.0, n), rng.gamma(2.2, 3.0, m)
    r = stat_test("wasserstein", ref, cur)
    raw = stats.wasserstein_distance(ref, cur)
    assert close(r.conventions["raw_distance"], raw)
    assert close(r.statistic, raw / max(np.std(ref), 0.001))
    assert math.isnan(r.p_value) and r.rule == "statistic >= threshold"


def test_ecdf_kernels_match_scipy_on_discrete_data():
    rng = np.random.default_rng(5)
    for n, m in [(3, 7), (500, 40), (40, 500), (2000, 2000)]:
        u = np.sort(np.round(rng.normal(size=n) * 2))
        v = np.sort(np.round(rng.normal(0.3, 1, m) * 2))
        w = stats.wasserstein_distance(u, v)
        assert close(_ecdf.wasserstein(u, v), w)
        assert close(_ecdf._w1_prefix(u, v), w) and close(_ecdf._w1_grid(u, v), w)
        assert close(_ecdf.ks_d(u, v), stats.ks_2samp(u, v).statistic)


def test_chisquare_goodness_of_fit(cat):
    ref, cur = cat
    r = stat_test("chisquare", ref, cur)
    keys = sorted(set(ref) | set(cur))
    rc = np.array([np.sum(ref == k) for k in keys])
    cc = np.array([np.sum(cur == k) for k in keys])
    s = stats.chisquare(cc, rc * len(cur) / len(ref))
    assert close(r.statistic, s.statistic) and close(r.p_value, s.pvalue)


def test_chi2_contingency_and_g_test(cat):
    ref, cur = cat
    keys = sorted(set(ref) | set(cur))
    rc = np.array([np.sum(ref == k) for k in keys])
    cc = np.array([np.sum(cur == k) for k in keys])
    r = stat_test("chi2_contingency", ref, cur)
    s = stats.chi2_contingency(np.vstack([rc, cc]))
    assert close(r.statistic, s.statistic) and close(r.p_value, s.pvalue)
    g = stat_test("g_test", ref, cur)
    sg = stats.power_divergence(cc, rc * len(cur) / len(ref), lambda_="log-likelihood")
    assert close(g.statistic, sg.statistic) and close(g.p_value, sg.pvalue)


def test_z_matches_statsmodels_pooled_ztest():
    ref = np.array(["no"] * 700 + ["yes"] * 300)
    cur = np.array(["no"] * 560 + ["yes"] * 340)
    r = stat_test("z", ref, cur)
    z, p = proportions_ztest([300, 340], [1000, 900])
    assert close(r.statistic, z) and close(r.p_value, p)


def test_fisher_exact_with_unequal_sizes():
    ref = np.array([0] * 30 + [1] * 70)
    cur = np.array([0] * 50 + [1] * 90)
    r = stat_test("fisher_exact", ref, cur, kind="categorical")
    s = stats.fisher_exact([[30, 70], [50, 90]])
    assert close(r.statistic, s.statistic) and close(r.p_value, s.pvalue)
    with pytest.raises(MonitoringInputError, match="at most 2 categories"):
        stat_test("fisher_exact", ["a", "b", "c"], ["a", "b"])


@pytest.mark.filterwarnings("ignore:p-value floored")
@pytest.mark.parametrize("name", ["anderson", "cramer_von_mises", "mannwhitney", "t_test"])
def test_numeric_p_value_tests(num, name):
    ref, cur = num
    r = stat_test(name, ref, cur)
    s = {"anderson": lambda: stats.anderson_ksamp([ref, cur], variant="midrank"),
         "cramer_von_mises": lambda: stats.cramervonmises_2samp(ref, cur),
         "mannwhitney": lambda: stats.mannwhitneyu(ref, cur, alternative="two-sided"),
         "t_test": lambda: stats.ttest_ind(ref, cur, equal_var=False)}[name]()
    assert close(r.statistic, s.statistic) and close(r.p_value, s.pvalue)


def test_mannwhitney_is_symmetric_in_sidedness(num):
    ref, cur = num
    assert close(stat_test("mannwhitney", ref, cur).p_value, stat_test("mannwhitney", cur, ref).p_value)


def test_energy_distance(num):
    ref, cur = num
    assert close(stat_test("energy_distance", ref, cur).statistic, stats.energy_distance(ref, cur))


def _decile_shares(ref, cur):
    inner = quantile_edges(np.sort(ref))
    edges = np.concatenate(([-np.inf], inner, [np.inf]))
    # bins [e_i, e_{i+1}): count with searchsorted on the raw (unsorted) values
    rc = np.bincount(np.searchsorted(inner, ref, side="right"), minlength=len(edges) - 1)
    cc = np.bincount(np.searchsorted(inner, cur, side="right"), minlength=len(edges) - 1)
    return rc / rc.sum(), cc / cc.sum()


def test_histogram_methods_on_reference_deciles(num):
    ref, cur = num
    r_sh, c_sh = _decile_shares(ref, cur)
    js = stat_test("jensenshannon", ref, cur)
    assert close(js.statistic, distance.jensenshannon(r_sh, c_sh))
    assert js.conventions["binning"] == "quantile" and js.conventions["log_base"] == "e"
    assert len(js.conventions["edges"]) == 9
    rf, cf = evidently_fill(r_sh), evidently_fill(c_sh)
    psi = stat_test("psi", ref, cur)
    assert close(psi.statistic, float(np.sum(special.rel_entr(rf, cf) + special.rel_entr(cf, rf))))
    assert close(stat_test("kl_div", ref, cur).statistic, stats.entropy(rf, cf))
    hel = stat_test("hellinger", ref, cur)
    assert close(hel.statistic, math.sqrt(1 - np.sum(np.sqrt(r_sh * c_sh))))
    assert close(stat_test("jensenshannon", ref, cur, base=2).statistic,
                 distance.jensenshannon(r_sh, c_sh, base=2))


def test_psi_unseen_category_uses_evidently_fill():
    ref = ["a"] * 50 + ["b"] * 50
    cur = ["a"] * 45 + ["b"] * 45 + ["new"] * 10
    r = stat_test("psi", ref, cur)
    rs, cs = np.array([0.5, 0.5, 1e-4]), np.array([0.45, 0.45, 0.1])
    assert close(r.statistic, float(np.sum((rs - cs) * np.log(rs / cs))))
    assert r.statistic > 0.69  # the unseen category alone adds ~0.69 (research case 6)


def test_tvd_permutation_p_value_is_seeded_and_agrees_with_scipy(cat):
    ref, cur = cat[0][:300], cat[1][:250]
    a = stat_test("tvd", ref, cur, seed=11, n_permutations=2000)
    b = stat_test("tvd", ref, cur, seed=11, n_permutations=2000)
    assert a.p_value == b.p_value and a.conventions["seed"] == 11
    assert (a.p_value * 2001) == pytest.approx(round(a.p_value * 2001))  # (b + 1) / (B + 1)
    keys = sorted(set(ref) | set(cur))
    codes_r = np.searchsorted(keys, ref)
    codes_c = np.searchsorted(keys, cur)

    def tvd(x, y, axis=-1):
        px = np.stack([(x == k).mean(axis=axis) for k in range(len(keys))])
        py = np.stack([(y == k).mean(axis=axis) for k in range(len(keys))])
        return 0.5 * np.abs(px - py).sum(axis=0)

    s = stats.permutation_test((codes_r, codes_c), tvd, n_resamples=4000, alternative="greater",
                               vectorized=True, rng=1)
    assert close(a.statistic, float(s.statistic))
    se = math.sqrt(s.pvalue * (1 - s.pvalue) * (1 / 2000 + 1 / 4000))
    assert abs(a.p_value - s.pvalue) < 4 * se + 1e-3


def test_constant_column_gives_p_one_not_nan():
    for name in ("chisquare", "z", "chi2_contingency", "g_test"):
        r = stat_test(name, ["x"] * 10, ["x"] * 12)
        assert r.p_value == 1.0 and not r.drifted


def test_missing_values_are_dropped_and_counted():
    r = stat_test("ks", [1.0, 2.0, np.nan, np.inf, 3.0], [1.5, None, 2.5, 3.5])
    assert (r.n_reference, r.n_current) == (3, 3)


def test_bad_input_is_named():
    with pytest.raises(UnknownMethodError, match="unknown drift method 'kss'"):
        stat_test("kss", [1.0], [2.0])
    with pytest.raises(UnknownMethodError, match="does not apply to categorical"):
        stat_test("ks", ["a", "b"], ["a", "b"], kind="categorical")
    with pytest.raises(InvalidInputError, match="expected 0 < t < 1"):
        stat_test("ks", [1.0, 2.0], [2.0, 3.0], threshold=1.5)
    with pytest.raises(InvalidInputError, match="sqrt\\(ln 2\\)"):
        stat_test("jensenshannon", ["a"], ["b"], threshold=0.9)
    with pytest.raises(MonitoringInputError, match="current sample has no non-missing"):
        stat_test("wasserstein", [1.0, 2.0], [np.nan])
    with pytest.raises(MonitoringInputError, match="not numbers"):
        stat_test("ks", ["1", "x"], ["2"])


def test_every_method_records_rule_and_scipy_name():
    for spec in METHODS.values():
        assert spec.rule in ("p_value < threshold", "statistic >= threshold") and spec.scipy


def test_ks_distance_edge_cases_match_scipy():
    rng = np.random.default_rng(8)
    base = np.sort(rng.normal(size=50))
    cases = [(base, base.copy()), (base[:1], base[:5]), (np.zeros(3), np.zeros(4)),
             (np.round(base), np.round(base[::-1] + 0.5)), (base, np.r_[base, base[:7]])]
    for u, v in cases:
        u, v = np.sort(u), np.sort(v)
        d = stats.ks_2samp(u, v).statistic
        assert _ecdf.ks_d(u, v) == pytest.approx(d, abs=1e-15)
        assert _ecdf.ks_d(v, u) == pytest.approx(d, abs=1e-15)
