"""drift_report: default methods, corrections, quality findings, inputs, bad input, HTML."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from workbench.errors import (
    InvalidInputError,
    MonitoringInputError,
    NotFoundError,
    UnknownMethodError,
)
from workbench.monitoring import adjust_p_values, drift_report, reference_profile


def frames(n_ref=1500, n_cur=2500, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)

    def make(n, s):
        return pd.DataFrame({
            "x": rng.normal(s, 1, n),
            "y": rng.gamma(2, 2, n),
            "small_int": rng.integers(0, 4, n),  # 4 distinct ints: categorical (<= 10)
            "flag": rng.random(n) < 0.3,
            "city": rng.choice(["paris", "rome", "oslo"], n, p=[0.5, 0.3, 0.2]),
        })

    return make(n_ref, 0.0), make(n_cur, shift)


def test_default_methods_follow_evidentlys_rule_above_1000_rows():
    ref, cur = frames(shift=0.5)
    rep = drift_report(ref, cur)
    got = dict(zip(rep.columns["column"], rep.columns["method"]))
    assert got == {"x": "wasserstein", "y": "wasserstein", "small_int": "jensenshannon",
                   "flag": "jensenshannon", "city": "jensenshannon"}
    x = rep.columns.set_index("column").loc["x"]
    raw = stats.wasserstein_distance(ref.x, cur.x)
    assert math.isclose(x.statistic, raw / np.std(ref.x), rel_tol=1e-9)
    assert x.drifted and x.rule == "statistic >= threshold" and x.threshold == 0.1
    assert rep.drifted_columns == ["x"]
    assert rep.share_drifted == pytest.approx(1 / 5) and not rep.dataset_drift


def test_default_methods_at_or_below_1000_rows():
    ref, cur = frames(n_ref=1000, n_cur=800, shift=0.3)
    rep = drift_report(ref, cur)
    got = dict(zip(rep.columns["column"], rep.columns["method"]))
    assert got == {"x": "ks", "y": "ks", "small_int": "chisquare", "flag": "z", "city": "chisquare"}
    x = rep.columns.set_index("column").loc["x"]
    assert math.isclose(x.p_value, stats.ks_2samp(ref.x, cur.x).pvalue, rel_tol=1e-9)
    assert x.rule == "p_value < threshold" and x.threshold == 0.05
    assert x.conventions["ks_mode"] == "exact"


def test_numerical_with_few_values_uses_chisquare_or_z():
    ref = pd.DataFrame({"v": np.tile([1.5, 2.5, 3.5], 300), "w": np.tile([0.0, 1.0], 450)})
    rep = drift_report(ref, ref, column_types={"v": "numerical", "w": "numerical"})
    assert rep.columns["method"].tolist() == ["chisquare", "z"]


def test_method_and_threshold_options_and_precedence():
    ref, cur = frames(shift=0.2)
    rep = drift_report(ref, cur, method="psi", num_method="ks", per_column_method={"y": "t_test"},
                       threshold={"x": 0.01})
    m = rep.columns.set_index("column")
    assert m.loc["x", "method"] == "ks" and m.loc["x", "threshold"] == 0.01
    assert m.loc["y", "method"] == "t_test" and m.loc["city", "method"] == "psi"
    assert m.loc["city", "threshold"] == 0.1


def test_correction_bonferroni_and_bh_match_statsmodels():
    p = np.array([0.001, 0.02, 0.03, 0.2, 0.04, 0.5])
    for ours, theirs in (("bonferroni", "bonferroni"), ("bh", "fdr_bh")):
        assert np.allclose(adjust_p_values(p, ours), multipletests(p, method=theirs)[1], rtol=1e-12)
    ref, cur = frames(n_ref=800, n_cur=800, shift=0.08, seed=4)
    plain = drift_report(ref, cur, num_method="ks", cat_method="chisquare")
    bon = drift_report(ref, cur, num_method="ks", cat_method="chisquare", correction="bonferroni")
    k = int((plain.columns["kind"] == "p_value").sum())
    assert np.allclose(bon.columns["p_adjusted"], np.minimum(plain.columns["p_value"] * k, 1))
    assert bon.n_drifted <= plain.n_drifted


def test_profile_gives_the_same_report_as_the_raw_reference(tmp_path):
    ref, cur = frames(shift=0.3)
    direct = drift_report(ref, cur)
    prof = reference_profile(ref)
    via = drift_report(prof, cur)
    cols = ["column", "method", "statistic", "drifted"]
    pd.testing.assert_frame_equal(direct.columns[cols], via.columns[cols])
    ks_direct = drift_report(ref, cur, num_method="ks").columns["p_value"]
    ks_prof = drift_report(prof, cur, num_method="ks").columns["p_value"]
    assert np.allclose(ks_direct, ks_prof, rtol=1e-12, equal_nan=True)


def test_quality_findings():
    ref, cur = frames(shift=0.0)
    cur = cur.copy()
    cur.loc[:99, "x"] = np.nan
    cur.loc[:9, "y"] = 1e6  # outside the reference's range
    cur.loc[:49, "city"] = "tokyo"  # a new category
    cur["extra"] = 1
    cur = pd.concat([cur, cur.iloc[:7]], ignore_index=True)  # 7 duplicated rows
    ref = ref.assign(gone=1.0)
    rep = drift_report(ref, cur)
    q = rep.quality.set_index("column")
    assert q.loc["x", "missing_current"] == pytest.approx(107 / len(cur))
    outside = int(((cur.y < ref.y.min()) | (cur.y > ref.y.max())).sum())
    assert outside >= 17 and q.loc["y", "out_of_range_current"] == outside
    assert q.loc["city", "new_categories"] == 1 and q.loc["city", "new_category_examples"] == ["tokyo"]
    assert rep.table_quality["missing_columns"] == ["gone"]
    assert rep.table_quality["extra_columns"] == ["extra"]
    assert rep.table_quality["duplicated_rows_current"] == int(cur.duplicated().sum()) >= 7
    assert rep.table_quality["duplicated_rows_reference"] == 0


def test_all_missing_and_constant_columns_are_reported_not_crashed():
    ref = pd.DataFrame({"a": np.arange(2000.0), "b": ["k"] * 2000})
    cur = pd.DataFrame({"a": [np.nan] * 1500, "b": ["k"] * 1500})
    rep = drift_report(ref, cur)
    row = rep.columns.set_index("column").loc["a"]
    assert row.status == "not tested (all values missing in current)" and not row.drifted
    q = rep.quality.set_index("column")
    assert q.loc["a", "all_missing_current"] and q.loc["b", "constant_current"]
    assert rep.columns.set_index("column").loc["b", "statistic"] == 0.0


def test_text_in_a_numerical_column_is_a_quality_finding():
    ref = pd.DataFrame({"n": np.arange(1500.0)})
    cur = pd.DataFrame({"n": [str(float(i)) for i in range(1490)] + ["oops"] * 10})
    rep = drift_report(ref, cur)
    q = rep.quality.set_index("column").loc["n"]
    assert q.type_mismatch_current == 10
    assert rep.columns.loc[0, "n_current"] == 1490


def test_bad_input_is_named():
    ref, cur = frames()
    with pytest.raises(MonitoringInputError, match="empty"):
        drift_report(ref.iloc[:0], cur)
    with pytest.raises(MonitoringInputError, match="share no column"):
        drift_report(ref[["x"]], cur[["y"]].rename(columns={"y": "z"}))
    with pytest.raises(MonitoringInputError, match="not in the current data: \\['nope'\\]"):
        drift_report(ref, cur, columns=["x", "nope"])
    with pytest.raises(UnknownMethodError, match="unknown drift method 'kolmogorov'"):
        drift_report(ref, cur, method="kolmogorov")
    with pytest.raises(UnknownMethodError, match="unknown column type 'number'"):
        drift_report(ref, cur, column_types={"x": "number"})
    with pytest.raises(InvalidInputError, match="threshold of wasserstein"):
        drift_report(ref, cur, threshold=-1)
    with pytest.raises(InvalidInputError, match="binning must be"):
        drift_report(ref, cur, binning="deciles")
    with pytest.raises(UnknownMethodError, match="does not apply to categorical"):
        drift_report(ref, cur, per_column_method={"city": "ks"})
    with pytest.raises(NotFoundError, match="neither a Parquet"):
        drift_report("no-such-thing", cur)


def test_parquet_paths_and_globs(tmp_path):
    ref, cur = frames(shift=0.4)
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.iloc[:1000].to_parquet(tmp_path / "cur-1.parquet")
    cur.iloc[1000:].to_parquet(tmp_path / "cur-2.parquet")
    a = drift_report(str(tmp_path / "ref.parquet"), str(tmp_path / "cur-*.parquet"))
    b = drift_report(ref, cur)
    assert np.allclose(a.columns["statistic"], b.columns["statistic"], rtol=1e-12)
    assert a.columns["n_current"].tolist() == b.columns["n_current"].tolist()


def test_multivariate_domain_classifier_ranks_the_shifted_feature():
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"a": rng.normal(size=1500), "b": rng.normal(size=1500),
                        "c": rng.choice(list("xyz"), 1500)})
    cur = pd.DataFrame({"a": rng.normal(size=1500), "b": rng.normal(0.8, 1, 1500),
                        "c": rng.choice(list("xyz"), 1500)})
    rep = drift_report(ref, cur, multivariate=True, multivariate_rows=1000)
    mv = rep.multivariate
    assert mv.drifted and mv.roc_auc > 0.6 and mv.importance[0]["column"] == "b"
    assert len(mv.current_like_rows) == 10 and mv.n_reference == 1000
    twin = pd.DataFrame({"a": rng.normal(size=1500), "b": rng.normal(size=1500),
                         "c": rng.choice(list("xyz"), 1500)})
    same = drift_report(ref, twin, multivariate=True, multivariate_rows=1000).multivariate
    assert 0.4 < same.roc_auc < 0.56 and not same.drifted


def test_html_export_is_self_contained_and_small(tmp_path):
    ref, cur = frames(shift=0.5)
    rep = drift_report(ref, cur)
    path = tmp_path / "r.html"
    text = rep.to_html(str(path))
    assert path.read_text() == text
    assert "<svg" in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "<script" not in text and len(text) < 200_000
    assert not rep.dataset_drift and "No dataset drift" in text
    assert "1 of 5 columns drifted" in rep._repr_html_()
    assert text.count("<svg") == 5  # one histogram per column
