"""The A/B screen's view-model (no browser) on the sample experiment and a planted SRM."""

from __future__ import annotations

import math
import threading

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import workbench as wb
from workbench import abtest as ab
from workbench.abtest.sample import SAMPLE_EXPERIMENT, SAMPLE_METRICS, analyze_sample, sample_path
from workbench.ui._fixtures import copy_store_folder
from workbench.ui.abtests.model import ABTestModel, design_curve

SRM_EXPERIMENT = "checkout-srm-planted"


def plant_srm(store: wb.Store, folder) -> ab.ABTestResult:
    """The sample events with 6 % of the control units dropped: a sample-ratio mismatch."""
    events = pd.read_parquet(sample_path())
    control = events.index[events["variant"] == "control"]
    drop = np.random.default_rng(7).choice(control, size=int(0.06 * len(control)), replace=False)
    path = folder / "srm_events.parquet"
    events.drop(index=drop).to_parquet(path)
    return ab.analyze(str(path), experiment=SRM_EXPERIMENT, metrics=SAMPLE_METRICS,
                      weights={"control": 0.5, "treatment": 0.5}, store=store)


@pytest.fixture(scope="module")
def _template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ab-ui")
    store = wb.Store(folder / "s.duckdb")
    analyze_sample(store)
    plant_srm(store, folder)
    store.close()
    return folder


@pytest.fixture
def store(_template, tmp_path):
    dest = tmp_path / "copy"
    copy_store_folder(_template, dest)
    s = wb.Store(dest / "s.duckdb")
    yield s
    s.close()


def _model(store, **kw) -> ABTestModel:
    m = ABTestModel(store=store, **kw)
    m.wait()
    assert not m.running and m.error == ""
    return m


def test_experiments_list_status_srm_headline(store):
    m = _model(store, experiment=SAMPLE_EXPERIMENT)
    df = m.experiments.set_index("name")
    assert set(df.index) == {SAMPLE_EXPERIMENT, SRM_EXPERIMENT}
    assert df.loc[SAMPLE_EXPERIMENT, "status"] == "running"
    assert not df.loc[SAMPLE_EXPERIMENT, "srm_flagged"]
    assert df.loc[SRM_EXPERIMENT, "srm_flagged"]
    assert df.loc[SAMPLE_EXPERIMENT, "winner"] == "treatment"
    assert pd.isna(df.loc[SRM_EXPERIMENT, "winner"])  # no winner while the SRM is flagged
    assert m.experiment == SAMPLE_EXPERIMENT


def test_results_match_the_saved_analysis_and_scipy(store):
    m = _model(store, experiment=SAMPLE_EXPERIMENT)
    assert not m.srm_flagged and m.srm["observed"] == {"control": 24955, "treatment": 25045}
    chi2, p = stats.chisquare([24955, 25045])
    assert m.srm["p_value"] == pytest.approx(p, abs=1e-12)
    table = m.results_table().set_index("metric")
    assert list(table.index) == ["converted", "revenue", "revenue_per_converter", "page_load_ms"]
    # the proportion row is the pooled two-proportion z-test on the sample's counts
    n_c, n_t = 24955, 25045
    x_c = round(m.table.set_index(["metric", "variant"]).loc[("converted", "control"), "mean"] * n_c)
    x_t = round(m.table.set_index(["metric", "variant"]).loc[("converted", "treatment"), "mean"] * n_t)
    pooled = (x_c + x_t) / (n_c + n_t)
    z = (x_t / n_t - x_c / n_c) / math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    assert table.loc["converted", "p"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    assert table.loc["converted", "lift %"] == pytest.approx(10.1021, abs=1e-3)  # the built-in lift
    assert bool(table.loc["converted", "significant"]) and not bool(table.loc["revenue_per_converter",
                                                                            "significant"])
    # Holm over the 3 non-guardrail metrics, as statsmodels
    from statsmodels.stats.multitest import multipletests

    raw = table.loc[["converted", "revenue", "revenue_per_converter"], "p"].to_numpy()
    adj = multipletests(raw, method="holm")[1]
    np.testing.assert_allclose(table.loc[["converted", "revenue", "revenue_per_converter"],
                                         "p adjusted"], adj, rtol=1e-12)
    assert m.guardrails()["passed"].tolist() == ["pass"]
    assert m.variance_reduction["revenue"] == pytest.approx(0.2621, abs=1e-4)
    lifts = m.lifts().set_index("metric")
    assert lifts["good"].to_dict() == {"converted": True, "revenue": True,
                                       "revenue_per_converter": False, "page_load_ms": False}
    # over time: the last day equals the full analysis
    ot = m.over_time[m.over_time["metric"] == "converted"]
    assert ot["rel_lift"].iloc[-1] == pytest.approx(lifts.loc["converted", "rel_lift"], rel=1e-9)
    assert (ot["rel_cs_high"] - ot["rel_cs_low"] > ot["rel_fixed_high"] - ot["rel_fixed_low"]).all()
    assert "+10.10 % on converted (significant, frequentist)" in m.headline()


def test_engine_switch_runs_in_the_background(store):
    m = _model(store, experiment=SAMPLE_EXPERIMENT)
    started = threading.Event()
    release = threading.Event()
    original = ab.analyze

    def slow(*args, **kwargs):
        started.set()
        release.wait(10)
        return original(*args, **kwargs)

    ab.analyze = slow
    try:
        assert m.reanalyse(engine="bayesian")
        assert started.wait(10)
        assert m.running and m.poll() is True  # not done, and the caller was not blocked
        assert not m.reanalyse(engine="sequential")  # one at a time
    finally:
        release.set()
        ab.analyze = original
    m.wait()
    assert m.engine == "bayesian" and not m.running
    row = m.table.set_index(["metric", "variant"]).loc[("converted", "treatment")]
    assert row["p_value"] != row["p_value"]  # NaN: the Bayesian engine gives no p-value
    assert bool(row["significant"]) == (row["chance_to_win"] > 0.95)
    first = m.analysis_id
    m.reanalyse(engine="sequential")
    m.wait()
    row = m.table.set_index(["metric", "variant"]).loc[("converted", "treatment")]
    assert row["p_value"] == row["always_valid_p"] and m.analysis_id == first + 1
    saved = ab.get_analysis(store, m.analysis_id)
    assert saved["engine"] == "sequential"


def test_cuped_off_shows_the_raw_interval(store):
    m = _model(store, experiment=SAMPLE_EXPERIMENT)
    on = m.lifts().set_index("metric").loc["revenue"]
    m.cuped = False
    m.reanalyse(cuped=False)
    m.wait()
    off = m.lifts().set_index("metric").loc["revenue"]
    assert m.variance_reduction == {}
    # CUPED's variance is (1 - reduction) times the raw one
    assert (on["se"] / off["se"]) ** 2 == pytest.approx(1 - 0.26211, abs=2e-4)


def test_planted_srm_is_flagged(store):
    m = _model(store, experiment=SRM_EXPERIMENT)
    assert m.srm_flagged and m.srm["p_value"] < 1e-3
    assert "SRM check is flagged" in m.headline()


def test_switching_experiment_loads_it(store):
    m = _model(store, experiment=SAMPLE_EXPERIMENT)
    m.experiment = SRM_EXPERIMENT
    m.wait()
    assert m.srm_flagged and m.definition["name"] == SRM_EXPERIMENT


def test_design_curve_and_duration(store):
    m = _model(store, experiment=SAMPLE_EXPERIMENT)
    # the saved design of the sample: +10 % relative on 10 %, 1,786 users a day
    assert m.design["n_per_arm"] == 14749 and m.design["days"] == math.ceil(2 * 14749 / 1786)
    curve = m.curve
    assert curve["n_per_arm"].is_monotonic_decreasing
    # each point is the closed form (z_{1-a/2} + z_{1-b})^2 (p_c q_c + p_t q_t) / d^2, rounded up
    zs = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    for mde_rel, n in zip(curve["mde"].iloc[::10], curve["n_per_arm"].iloc[::10]):
        pt = 0.1 * (1 + mde_rel)
        exact = zs**2 * (0.1 * 0.9 + pt * (1 - pt)) / (pt - 0.1) ** 2
        assert n == math.ceil(exact - 1e-9)
    m.power = 0.9
    assert m.design["n_per_arm"] == ab.sample_size(baseline=0.1, mde=0.1, relative=True,
                                                   power=0.9).n_per_arm
    m.baseline = 0.0
    assert "error" in m.design and m.curve.empty
    assert design_curve(10.0, metric="mean", sd=2.0, points=5)["n_per_arm"].iloc[0] > 0


def test_reloading_after_editing_the_design_restores_the_saved_design(store):
    """Loading sets several design inputs at once: one batched update, no TypeError, the new table shown."""
    m = _model(store, experiment=SAMPLE_EXPERIMENT)
    m.baseline, m.power = 0.5, 0.6
    m.load()
    m.wait()
    assert m.error == "" and m.design["n_per_arm"] == 14749 and m.power == 0.8
    m.experiment = SRM_EXPERIMENT
    m.wait()
    assert m.error == "" and m.definition["name"] == SRM_EXPERIMENT


def test_a_saved_design_outside_the_form_s_range_still_shows_the_experiment(store):
    """The design API takes power 0.995 and alpha 0.25; the form clamps them, the results still show."""
    ab.save_design(store, ab.sample_size(baseline=0.2, mde=0.05, power=0.995, alpha=0.25),
                   experiment=SAMPLE_EXPERIMENT, daily_users=500)
    m = _model(store, experiment=SAMPLE_EXPERIMENT)
    assert m.error == "" and not m.table.empty
    assert (m.power, m.alpha) == (0.99, 0.2)


def test_bandit_simulation_and_bad_rates(store):
    m = _model(store, experiment=SAMPLE_EXPERIMENT)
    m.true_rates, m.steps, m.policy = "a=0.10, b=0.20", 2000, "ucb1"
    sim = m.simulate()
    ref = ab.simulate_bandit(ab.UCB1(["a", "b"], seed=0), {"a": 0.1, "b": 0.2}, n=2000)
    np.testing.assert_array_equal(sim.regret, ref.regret)
    assert sim.regret[-1] < sim.fixed_regret[-1]
    m.true_rates = "a=0.1, b=1.5"
    assert m.simulate() is None and "'b=1.5'" in m.error
    m.true_rates = "a=0.1"
    assert m.simulate() is None and "at least 2 arms" in m.error


def test_record_decision(store):
    m = _model(store, experiment=SAMPLE_EXPERIMENT)
    did = m.record_decision("ship", comment="clear win")
    assert did is not None and m.error == ""
    d = ab.list_decisions(store, SAMPLE_EXPERIMENT)
    assert d[["decision", "variant", "comment"]].values.tolist() == [["ship", "treatment",
                                                                        "clear win"]]
    assert int(d["analysis_id"].iloc[0]) == m.analysis_id
    assert m.definition["status"] == "decided"
    assert m.experiments.set_index("name").loc[SAMPLE_EXPERIMENT, "status"] == "decided"
    assert m.record_decision("maybe") is None and "decision must be one of" in m.error
    assert len(ab.list_decisions(store, SAMPLE_EXPERIMENT)) == 1  # nothing half-saved


def test_from_a_result_for_jupyterlab(tmp_path):
    s = wb.Store(tmp_path / "n.duckdb")
    res = analyze_sample(s)
    m = ABTestModel(result=res)
    assert m.experiment == SAMPLE_EXPERIMENT and m.analysis_id == res.analysis_id
    assert not m.over_time.empty and m.results_table().shape[0] == 4
    m.reanalyse(engine="bayesian")
    m.wait()
    assert m.engine == "bayesian"
    s.close()


def test_view_builds_and_follows_the_model(store):
    from workbench.ui.abtests.view import ABTestView, forest_option

    v = ABTestView(store, experiment=SAMPLE_EXPERIMENT)
    v.model.wait()
    opt = v.forest.option
    colours = [s["lineStyle"]["color"] for s in opt["series"] if s["type"] == "line"]
    assert colours.count("#198754") == 2 and len(colours) == 4  # two significant good lifts
    assert v.srm_banner.alert_type == "success"
    v.model.experiment = SRM_EXPERIMENT
    v.model.wait()
    assert v.srm_banner.alert_type == "danger" and "sample-ratio mismatch" in v.srm_banner.object
    assert forest_option(pd.DataFrame()) == {}
    assert len(v.over_time.option["series"]) == 5
    import workbench.ui as wbui

    assert wbui.ABTestView is ABTestView


def test_an_empty_store_shows_an_empty_screen(tmp_path):
    from workbench.ui.abtests.view import ABTestView

    s = wb.Store(tmp_path / "empty.duckdb")
    v = ABTestView(s)
    assert v.model.experiment == "" and v.model.experiments.empty and v.tabs.active == 0
    assert v.forest.option == {} and not v.srm_banner.visible
    assert v.model.reanalyse() is False and "cannot be re-run" in v.model.error
    assert v.model.record_decision("ship") is None and v.model.error
    s.close()


def test_the_cuped_switch_follows_the_analysis_shown(tmp_path):
    """A saved analysis whose events were a DataFrame cannot be re-analysed from the page: the switches are
    disabled. A re-analysis that runs moves the model's CUPED setting with the table it shows."""
    from workbench.ui.abtests.view import ABTestView

    s = wb.Store(tmp_path / "n.duckdb")
    ab.analyze(pd.read_parquet(sample_path()), experiment="from-a-frame", metrics=SAMPLE_METRICS, store=s)
    v = ABTestView(s, experiment="from-a-frame")  # saved, but its events were a DataFrame in memory
    v.model.wait()
    assert not v.model.can_reanalyse and v.cuped_switch.disabled and v.engine_switch.disabled
    v2 = ABTestView(analyze_sample(s))
    assert not v2.cuped_switch.disabled and v2.model.cuped is True
    v2.cuped_switch.value = False
    assert v2.model.cuped is True  # nothing shown without CUPED yet
    v2.model.wait()
    assert v2.model.cuped is False and v2.cuped_switch.value is False and "CUPED off" in v2.model.message
    s.close()
