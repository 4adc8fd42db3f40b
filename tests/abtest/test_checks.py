"""SRM against scipy.stats.chisquare; corrections against statsmodels' multipletests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from workbench import abtest as ab
from workbench.errors import InvalidInputError


def test_srm_matches_chisquare():
    counts = {"control": 24955, "treatment": 25045}
    r = ab.srm_test(counts, {"control": 0.5, "treatment": 0.5})
    ref = stats.chisquare([24955, 25045], [25000, 25000])
    assert r.chi2 == pytest.approx(ref.statistic, rel=1e-12)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert r.p_value == pytest.approx(0.687, abs=1e-3)  # the sample data README
    assert not r.flagged
    three = ab.srm_test({"a": 3300, "b": 3300, "c": 3700}, {"a": 0.3, "b": 0.3, "c": 0.4})
    n = 10300
    ref3 = stats.chisquare([3300, 3300, 3700], [0.3 * n, 0.3 * n, 0.4 * n])
    assert three.p_value == pytest.approx(ref3.pvalue, rel=1e-10)
    assert three.df == 2


def test_srm_flags_below_threshold_and_stray_units():
    r = ab.srm_test({"a": 5200, "b": 4800})
    assert r.flagged and r.p_value < 0.001 and "mismatch" in r.message
    assert not ab.srm_test({"a": 5050, "b": 4950}).flagged
    stray = ab.srm_test({"a": 500, "b": 500, "c": 3}, {"a": 0.5, "b": 0.5, "c": 0.0})
    assert stray.flagged and "weight 0" in stray.message
    with pytest.raises(InvalidInputError, match="no planned weight"):
        ab.srm_test({"a": 1, "z": 2}, {"a": 0.5, "b": 0.5})


@pytest.mark.parametrize(
    "ours,theirs", [("holm", "holm"), ("bh", "fdr_bh"), ("bonferroni", "bonferroni")]
)
def test_adjust_matches_multipletests(ours, theirs):
    rng = np.random.default_rng(1)
    for size in (1, 2, 7, 40):
        p = rng.random(size) ** 3
        p[0] = p[-1]  # a tie
        np.testing.assert_allclose(
            ab.adjust_pvalues(p, ours), multipletests(p, method=theirs)[1], rtol=1e-12, atol=1e-15
        )


def test_adjust_keeps_nan_and_none():
    p = np.array([0.01, np.nan, 0.04])
    out = ab.adjust_pvalues(p, "bonferroni")
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.08)
    np.testing.assert_array_equal(ab.adjust_pvalues([0.2, 0.3], None), [0.2, 0.3])
    with pytest.raises(InvalidInputError):
        ab.adjust_pvalues([0.1], "sidak")
