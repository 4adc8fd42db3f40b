"""analyze(): the sample data's built-in lift, a planted SRM, bad input, every source kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

import workbench as wb
from workbench import abtest as ab
from workbench.errors import ExperimentDataError, InvalidInputError
from workbench.samples import sample_data_dir

SAMPLE = sample_data_dir() / "ab_events.parquet"
METRICS = [
    ab.Metric("converted", kind="proportion"),
    ab.Metric("revenue", kind="mean", cuped="pre_period_revenue"),
    ab.Metric("revenue_per_converter", kind="ratio", numerator="revenue", denominator="converted"),
    ab.Metric("page_load_ms", kind="mean", guardrail=True, direction="decrease", margin=0.02),
]


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return pd.read_parquet(SAMPLE)


@pytest.fixture(scope="module")
def result(events):
    return ab.analyze(events, experiment="checkout", metrics=METRICS)


def _row(res, metric, variant="treatment"):
    t = res.table
    return t[(t["metric"] == metric) & (t["variant"] == variant)].iloc[0]


def test_sample_lift_found_and_no_srm(result, events):
    assert not result.srm.flagged
    assert result.srm.p_value == pytest.approx(0.687, abs=1e-3)
    conv = _row(result, "converted")
    c, t = events[events.variant == "control"], events[events.variant == "treatment"]
    z, p = proportions_ztest([t.converted.sum(), c.converted.sum()], [len(t), len(c)])
    assert conv["p_value"] == pytest.approx(p, rel=1e-9)
    assert conv["rel_lift"] == pytest.approx(t.converted.mean() / c.converted.mean() - 1, rel=1e-10)
    assert conv["significant"] and conv["rel_lift"] == pytest.approx(0.101, abs=0.001)
    assert result.winner == "treatment"
    assert "winner: treatment" in result.summary()


def test_sample_cuped_ratio_and_guardrail_match_rows(result, events):
    c, t = events[events.variant == "control"], events[events.variant == "treatment"]
    x, y = events.pre_period_revenue.to_numpy(), events.revenue.to_numpy()
    theta = np.cov(x, y)[0, 1] / x.var(ddof=1)
    adj_c = c.revenue - theta * c.pre_period_revenue
    adj_t = t.revenue - theta * t.pre_period_revenue
    ref = stats.ttest_ind(adj_t, adj_c, equal_var=False)
    rev = _row(result, "revenue")
    assert rev["p_value"] == pytest.approx(ref.pvalue, rel=1e-8)
    assert rev["abs_lift"] == pytest.approx(adj_t.mean() - adj_c.mean(), rel=1e-10)
    assert rev["variance_reduction"] == pytest.approx(0.26, abs=0.01)  # README: ~26 %
    assert rev["theta"] == pytest.approx(0.401, abs=0.001)
    # ratio: revenue per converter, no effect (README -0.4 %)
    ratio = _row(result, "revenue_per_converter")
    r_c, r_t = c.revenue.sum() / c.converted.sum(), t.revenue.sum() / t.converted.sum()
    assert ratio["rel_lift"] == pytest.approx(r_t / r_c - 1, rel=1e-10)
    assert not ratio["significant"]
    guard = _row(result, "page_load_ms")
    ni = stats.ttest_ind(
        t.page_load_ms - 0.02 * c.page_load_ms.mean(),
        c.page_load_ms,
        equal_var=False,
        alternative="less",
    )
    assert guard["guardrail_p"] == pytest.approx(ni.pvalue, rel=1e-8)
    assert guard["guardrail_passed"] and np.isnan(guard["p_adjusted"])


def test_holm_over_non_guardrail_metrics(result):
    t = result.table
    tested = t[(t["variant"] == "treatment") & ~t["guardrail"]]
    np.testing.assert_allclose(
        tested["p_adjusted"], multipletests(tested["p_value"], method="holm")[1], rtol=1e-12
    )


def test_engines_side_by_side(events):
    bayes = ab.analyze(events, experiment="e", metrics=METRICS[:2], engine="bayesian")
    conv = _row(bayes, "converted")
    n_c = (events.variant == "control").sum()
    x_c = events.converted[events.variant == "control"].sum()
    n_t = len(events) - n_c
    x_t = events.converted[events.variant == "treatment"].sum()
    assert conv["chance_to_win"] == pytest.approx(
        ab.prob_beats_control(1 + x_c, 1 + n_c - x_c, 1 + x_t, 1 + n_t - x_t), rel=1e-12
    )
    assert np.isnan(conv["p_value"]) and conv["significant"]
    seq = ab.analyze(events, experiment="e", metrics=METRICS[:2], engine="sequential")
    s = _row(seq, "converted")
    f = _row(bayes, "converted")
    assert s["ci_low"] < f["fixed_ci_low"] and s["ci_high"] > f["fixed_ci_high"]
    assert s["p_value"] == pytest.approx(s["always_valid_p"])
    assert s["p_value"] > f["fixed_p_value"]
    assert s["peeking_cost"] > 1


def test_over_time_is_cumulative_and_ends_at_the_full_analysis(result):
    ot = result.over_time("1D")
    assert ot["t"].nunique() == 28
    conv = ot[ot["metric"] == "converted"].sort_values("t")
    assert conv["n_control"].is_monotonic_increasing
    last = conv.iloc[-1]
    full = _row(result, "converted")
    assert last["n_control"] + last["n_treatment"] == 50_000
    assert last["abs_lift"] == pytest.approx(full["abs_lift"], rel=1e-12)
    assert last["fixed_p_value"] == pytest.approx(full["p_value"], rel=1e-10)
    assert np.all(np.diff(conv["always_valid_p"]) <= 0)
    assert (conv["cs_high"] - conv["cs_low"] > conv["fixed_high"] - conv["fixed_low"]).all()
    weekly = result.over_time("7D", metrics=["converted"])
    assert weekly["t"].nunique() <= 5 and set(weekly["metric"]) == {"converted"}
    with pytest.raises(InvalidInputError, match="freq"):
        result.over_time("fortnightly")


def test_planted_srm_is_flagged_and_no_winner(events):
    drop = events[(events.variant == "treatment")].sample(frac=0.06, random_state=0).index
    skewed = events.drop(index=drop)
    res = ab.analyze(skewed, experiment="e", metrics=METRICS[:1])
    ref = stats.chisquare(skewed.variant.value_counts().sort_index().to_numpy())
    assert res.srm.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert res.srm.flagged and res.winner is None
    assert res.findings[0].startswith("sample-ratio mismatch")
    assert res.summary().startswith("!! sample-ratio mismatch")


def test_duplicates_reported_excluded_or_refused(events, tmp_path):
    dup = events.head(40).copy()
    dup["variant"] = np.where(dup["variant"] == "control", "treatment", "control")
    both = pd.concat([events, dup], ignore_index=True)
    res = ab.analyze(both, experiment="e", metrics=METRICS[:1])
    assert res.duplicates.count == 40
    assert "40 units appeared in more than one variant" in res.findings[0]
    clean = events[~events.user_id.isin(dup.user_id)]
    ref = ab.analyze(clean, experiment="e", metrics=METRICS[:1])
    pd.testing.assert_frame_equal(res.table, ref.table)
    store = wb.Store(tmp_path / "s.duckdb")
    with pytest.raises(ExperimentDataError, match="40 units appear in more than one variant"):
        ab.analyze(both, experiment="e", metrics=METRICS[:1], duplicates="refuse", store=store)
    assert ab.experiments(store).empty  # nothing half-saved
    # over_time excludes them too
    assert res.over_time("7D")["n_control"].max() == ref.over_time("7D")["n_control"].max()


def test_rows_without_variant_and_trusted_units(events):
    gaps = events.assign(variant=events.variant.where(events.index % 1000 != 0))
    res = ab.analyze(gaps, experiment="e", metrics=METRICS[:1])
    assert "50 rows had no 'variant' and were left out" in res.findings
    assert res.table["n"].sum() == 50_000 - 50
    trusted = ab.analyze(gaps, experiment="e", metrics=METRICS[:1], duplicates="trust")
    pd.testing.assert_frame_equal(trusted.table, res.table)


def test_rows_events_aggregates_per_unit(events):
    # split every user's revenue over two rows: per-unit sums give back the same analysis
    a, b = events.copy(), events.copy()
    a["revenue"] = events.revenue * 0.25
    b["revenue"] = events.revenue * 0.75
    b["pre_period_revenue"] = events.pre_period_revenue
    long = pd.concat([a, b], ignore_index=True)
    ms = METRICS[:2]
    res = ab.analyze(long, experiment="e", metrics=ms, rows="events")
    ref = ab.analyze(events, experiment="e", metrics=ms)
    cols = ["n", "mean", "abs_lift", "p_value", "ci_low", "variance_reduction"]
    pd.testing.assert_frame_equal(res.table[cols], ref.table[cols], rtol=1e-9)


def test_sources_parquet_glob_and_store_table(tmp_path, events):
    ms = METRICS[:1]
    ref = ab.analyze(events, experiment="e", metrics=ms).table
    from_path = ab.analyze(str(SAMPLE), experiment="e", metrics=ms).table
    pd.testing.assert_frame_equal(from_path, ref)
    half = len(events) // 2
    events.iloc[:half].to_parquet(tmp_path / "p1.parquet")
    events.iloc[half:].to_parquet(tmp_path / "p2.parquet")
    from_glob = ab.analyze(str(tmp_path / "p*.parquet"), experiment="e", metrics=ms).table
    pd.testing.assert_frame_equal(from_glob, ref, rtol=1e-12)
    store = wb.Store(tmp_path / "s.duckdb")
    with store.transaction() as con:  # test set-up only: a user table inside the store
        con.execute(f"CREATE TABLE my_events AS SELECT * FROM read_parquet('{SAMPLE}')")
    from_table = ab.analyze("my_events", experiment="e", metrics=ms, store=store).table
    pd.testing.assert_frame_equal(from_table, ref)
    with pytest.raises(ExperimentDataError, match="no table"):
        ab.analyze("nope", experiment="e", metrics=ms, store=store)
    with pytest.raises(ExperimentDataError, match="does not exist"):
        ab.analyze(str(tmp_path / "missing.parquet"), experiment="e", metrics=ms)


def test_bad_input_is_refused_and_nothing_saved(events, tmp_path):
    store = wb.Store(tmp_path / "s.duckdb")
    m = [ab.Metric("converted", kind="proportion")]
    cases = [
        (dict(events=events, metrics=m, control="baseline"), "control variant 'baseline'"),
        (
            dict(events=events, metrics=m, weights={"control": 0.5, "b": 0.5}),
            r"unknown variants \['treatment'\]",
        ),
        (dict(events=events, metrics=[ab.Metric("nope")]), "metric column 'nope' is not"),
        (dict(events=events, metrics=[ab.Metric("country")]), "must be numeric"),
        (dict(events=events, metrics=[ab.Metric("sessions", kind="proportion")]), "outside {0, 1}"),
        (
            dict(
                events=events.iloc[:1]
                .assign(variant="treatment")
                .pipe(lambda d: pd.concat([events[events.variant == "control"], d])),
                metrics=m,
            ),
            "variant 'treatment' has 1 units",
        ),
        (
            dict(
                events=events.assign(revenue=events.revenue.where(events.index > 3)),
                metrics=[ab.Metric("revenue")],
            ),
            "4 missing values",
        ),
        (dict(events=events, metrics=m, variant="device_type"), "variant column"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ExperimentDataError, match=message):
            ab.analyze(experiment="e", store=store, **kwargs)
    with pytest.raises(InvalidInputError, match="sum to 1"):
        ab.analyze(events, experiment="e", metrics=m, weights={"control": 0.5, "treatment": 0.6})
    with pytest.raises(InvalidInputError, match="engine"):
        ab.analyze(events, experiment="e", metrics=m, engine="magic")
    with pytest.raises(InvalidInputError, match="ratio metric"):
        ab.Metric("r", kind="ratio", numerator="revenue")
    assert ab.experiments(store).empty


def test_saved_analysis_and_decision(tmp_path):
    from workbench.abtest.sample import SAMPLE_EXPERIMENT, analyze_sample

    store = wb.Store(tmp_path / "s.duckdb")
    res = analyze_sample(store)
    assert res.analysis_id is not None and res.winner == "treatment"
    saved = ab.get_analysis(store, res.analysis_id)
    assert saved["srm"]["flagged"] is False
    assert list(saved["table"].columns) == list(res.table.columns)
    pd.testing.assert_series_equal(
        saved["table"]["p_value"], res.table["p_value"], check_names=False
    )
    exps = ab.experiments(store)
    assert exps["name"].tolist() == [SAMPLE_EXPERIMENT]
    assert exps["status"].iloc[0] == "running" and not exps["srm_flagged"].iloc[0]
    head = exps.iloc[0]
    assert head["headline_metric"] == "converted" and head["winner"] == "treatment"
    assert head["headline_rel_lift"] == pytest.approx(_row(res, "converted")["rel_lift"])
    did = ab.record_decision(
        store,
        SAMPLE_EXPERIMENT,
        "ship",
        comment="clear win",
        variant="treatment",
        analysis_id=res.analysis_id,
        user="ana",
    )
    dec = ab.list_decisions(store, SAMPLE_EXPERIMENT)
    assert dec["decision_id"].tolist() == [did] and dec["comment"][0] == "clear win"
    assert ab.experiments(store)["status"].iloc[0] == "decided"
    with pytest.raises(InvalidInputError, match="decision must be"):
        ab.record_decision(store, SAMPLE_EXPERIMENT, "celebrate")
    with pytest.raises(InvalidInputError, match="not a variant"):
        ab.record_decision(store, SAMPLE_EXPERIMENT, "ship", variant="purple")
    assert len(ab.list_decisions(store, SAMPLE_EXPERIMENT)) == 1
    # a second call re-uses the experiment and saves a second analysis
    analyze_sample(store, engine="bayesian")
    assert len(ab.list_analyses(store, SAMPLE_EXPERIMENT)) == 2


def test_duplicate_check_cached_per_file_version(tmp_path, events):
    from workbench.store import abtest_sql

    path = tmp_path / "ev.parquet"
    dup = events.head(10).assign(variant="treatment")
    pd.concat([events, dup]).to_parquet(path)
    abtest_sql.clear_duplicate_cache()
    first = ab.analyze(str(path), experiment="e", metrics=METRICS[:1])
    again = ab.analyze(str(path), experiment="e", metrics=METRICS[:1], engine="bayesian")
    assert first.duplicates.count == again.duplicates.count > 0
    assert again.table["n"].tolist() == first.table["n"].tolist()  # excluded from the cache too
    events.to_parquet(path)  # a new version of the file: checked again
    clean = ab.analyze(str(path), experiment="e", metrics=METRICS[:1])
    assert clean.duplicates.count == 0


def test_three_variants_duplicates_between_treatments():
    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "variant": rng.choice(["control", "b", "c"], size=n),
            "converted": (rng.random(n) < 0.1).astype(int),
        }
    )
    in_b = df[df.variant == "b"].head(7).assign(variant="c")  # 7 units in b and c
    both = pd.concat([df, in_b], ignore_index=True)
    res = ab.analyze(both, experiment="e", metrics=[ab.Metric("converted", kind="proportion")])
    assert res.duplicates.count == 7
    assert res.duplicates.rows_by_variant == {"b": 7, "c": 7}
    assert set(res.table["variant"]) == {"control", "b", "c"}
    ref = stats.chisquare(df[~df.user_id.isin(in_b.user_id)].variant.value_counts().to_numpy())
    assert res.srm.p_value == pytest.approx(ref.pvalue, rel=1e-10)
