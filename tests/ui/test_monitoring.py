"""The Monitoring screen's view-model, charts and views without a browser, on a real store."""

from __future__ import annotations

import math
import threading

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.monitoring import storage
from workbench.monitoring.multivariate import DomainClassifierResult
from workbench.ui._fixtures import copy_store_folder
from workbench.ui.app import AppState, WorkbenchApp
from workbench.ui.monitoring import charts
from workbench.ui.monitoring.fixtures import build_monitoring_store
from workbench.ui.monitoring.model import MonitoringModel


@pytest.fixture(scope="module")
def _template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("monitoring-ui")
    ids = build_monitoring_store(folder / "m.duckdb", multivariate=False)
    return folder, ids


@pytest.fixture
def store_ids(_template, tmp_path):
    folder, ids = _template
    dest = tmp_path / "copy"
    copy_store_folder(folder, dest)
    files = {k: str(dest / v.rsplit("/", 1)[-1]) for k, v in ids["files"].items()}
    store = wb.Store(dest / "m.duckdb")
    yield store, {**ids, "files": files}
    store.close()


def test_opens_the_newest_report_and_a_bookmarked_one(store_ids):
    store, ids = store_ids
    m = MonitoringModel(store)
    assert m.report_id == ids["q4"]  # the newest saved
    assert list(m.report_choices().values()) == [ids["q4"], ids["series"][1], ids["series"][0],
                                                 ids["tickets"]]
    m2 = MonitoringModel(store, report_id=ids["series"][0])
    assert m2.report.id == ids["series"][0] and m2.report.name == "churn-monthly"
    m2.open_report("no-such-report")
    assert "no-such-report" in m2.error and m2.report is None


def test_summary_counts_columns_by_status(store_ids):
    store, ids = store_ids
    m = MonitoringModel(store, report_id=ids["q4"])
    s = m.summary()
    rep = m.report
    assert s["by_status"] == {"drifted": rep.n_drifted, "not drifted": len(rep.tested) - rep.n_drifted,
                              "not tested": len(rep.columns) - len(rep.tested)}
    assert s["share_drifted"] == rep.n_drifted / len(rep.tested)
    assert s["dataset_drift"] == (s["share_drifted"] >= 0.5)


def test_planted_shift_is_found_in_q4_and_since_july(store_ids):
    store, ids = store_ids
    m = MonitoringModel(store, report_id=ids["q4"])
    drifted = set(m.report.drifted_columns)
    assert {"monthly_charges", "support_calls"} <= drifted  # sample_data/README.md: x1.15, x1.5 from July
    april = MonitoringModel(store, report_id=ids["series"][0]).report
    assert not april.drifted_columns  # April, before the shift: nothing drifted
    since = m.first_drift().set_index("column")["since"]
    for col in ("monthly_charges", "support_calls"):
        # the 4-week window that contains July 1st 2025 or the next one
        assert "2025-06-02" <= since[col] <= "2025-07-28", (col, since[col])


def test_column_table_sorted_by_score_relative_to_threshold_and_filtered(store_ids):
    store, ids = store_ids
    m = MonitoringModel(store, report_id=ids["q4"])
    t = m.column_table()
    tested = t[t["status"] == "tested"]
    assert list(t["status"].iloc[:len(tested)]) == ["tested"] * len(tested)  # tested first
    rel = tested["score / threshold"].to_numpy()
    assert np.all(np.diff(rel) <= 0)
    expect = [s / th for s, th in zip(tested["score"], tested["threshold"])]  # distances by default here
    assert np.allclose(rel, expect, rtol=1e-12)
    assert (tested["drifted"] == (rel >= 1)).all()
    assert m.column == t["column"].iloc[0]  # the top column is opened
    assert t.set_index("column").loc["monthly_charges", "distribution"].startswith("<svg")
    m.drifted_only = True
    only = m.column_table()
    assert set(only["column"]) == set(m.report.drifted_columns) and only["drifted"].all()


def test_column_detail_histogram_ecdf_quality_and_over_time(store_ids):
    store, ids = store_ids
    m = MonitoringModel(store, report_id=ids["q4"])
    m.column = "monthly_charges"
    d = m.column_detail()
    h = m.report.histograms["monthly_charges"]
    ref, cur = d["histogram"]["series"][0]["data"], d["histogram"]["series"][1]["data"]
    assert np.allclose(ref, np.asarray(h["reference"]) / sum(h["reference"]), rtol=1e-12)
    assert np.allclose(cur, np.asarray(h["current"]) / sum(h["current"]), rtol=1e-12)
    # the ECDF gap marked is the largest difference of the cumulated shares
    fr = np.cumsum(h["reference"]) / sum(h["reference"])
    fc = np.cumsum(h["current"]) / sum(h["current"])
    i = int(np.argmax(np.abs(fr - fc)))
    gap = d["ecdf"]["series"][2]["data"]
    assert gap == [[h["edges"][i + 1], pytest.approx(fr[i])], [h["edges"][i + 1], pytest.approx(fc[i])]]
    assert f"{abs(fr[i] - fc[i]):.4f}" in d["ecdf"]["title"]["subtext"]
    assert d["quality"]["missing_current"] == 0.0 and "out_of_range_share" in d["quality"]
    line = d["over_time"]["series"][0]
    ot = m.over_time.scores
    mine = ot[ot["column"] == "monthly_charges"].sort_values("window_start")
    assert len(line["data"]) == len(mine)
    marks = line["markLine"]["data"]
    assert marks[0]["yAxis"] == 0.1  # Wasserstein's threshold
    cps = [charts._win_label(c) for c in m.over_time.change_points["monthly_charges"]]
    assert [x["xAxis"] for x in marks[1:]] == cps and cps
    m.column = "contract"  # categorical: grouped bars, no ECDF
    d = m.column_detail()
    assert d["histogram"]["series"][0]["barGap"] == "10%" and d["ecdf"] == {}
    assert "month-to-month" in d["histogram"]["xAxis"]["data"]


def test_ecdf_of_a_ks_column_is_labelled_with_the_exact_statistic():
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(size=400)})
    cur = pd.DataFrame({"x": rng.normal(0.6, 1, 400)})
    rep = wb.drift_report(ref, cur)
    m = MonitoringModel(None)
    m.set_report(rep)
    d = m.column_detail("x")
    assert rep.columns.loc[0, "method"] == "ks"
    stat = ks_2samp(ref["x"], cur["x"]).statistic
    assert float(rep.columns.loc[0, "statistic"]) == pytest.approx(stat, rel=1e-12)
    assert f"KS distance {stat:.4f}" in d["ecdf"]["title"]["subtext"]


def test_heatmap_is_score_over_threshold_capped_and_skips_small_windows(store_ids):
    store, ids = store_ids
    m = MonitoringModel(store)
    ot = m.over_time
    assert ot.id == ids["over_time"]
    opt = m.heatmap()
    cells = opt["series"][0]["data"]
    tested = ot.scores[ot.scores["status"] == "tested"]
    assert len(cells) == len(tested)
    windows = sorted(ot.scores["window_start"].unique())
    cols = list(dict.fromkeys(ot.scores["column"]))
    for x, y, v in cells[:40]:
        r = tested[(tested["window_start"] == windows[x]) & (tested["column"] == cols[y])].iloc[0]
        rel = r["score"] / r["threshold"] if r["kind"] == "distance" else r["threshold"] / r["score"]
        assert v == pytest.approx(min(rel, 3.0), abs=1e-4)
    small = ot.scores[ot.scores["status"] != "tested"]
    assert len(small) + len(tested) == len(ot.scores)


def test_run_a_report_in_the_background_with_progress(store_ids):
    store, ids = store_ids
    m = MonitoringModel(store)
    before = len(m.reports)
    seen = []
    m.param.watch(lambda e: seen.append(e.new), "progress")
    m.param.update(reference_kind="profile", reference="churn-reference", current_kind="file",
                   current=ids["files"]["q4"], report_name="from-the-screen")
    main = threading.get_ident()
    assert m.start_report() is True
    assert m.running and m._thread.ident != main  # not on the caller's (server's) thread
    assert m.start_report() is False  # one at a time
    m.wait()
    while m.poll():
        pass
    assert not m.running and m.progress == 100 and m.error == ""
    assert len(m.reports) == before + 1 and m.report.name == "from-the-screen"
    assert m.report_id == m.reports.iloc[0]["report_id"]
    again = storage.load_report(store, m.report_id)
    assert set(again.drifted_columns) >= {"monthly_charges", "support_calls"}


def test_progress_callback_counts_every_column():
    calls = []
    ref = pd.DataFrame({"a": np.arange(50.0), "b": np.arange(50.0) % 3, "c": list("xy") * 25})
    wb.drift_report(ref, ref, progress=lambda d, t, w: calls.append((d, t, w)))
    assert calls[0] == (0, 3, "starting") and calls[-1] == (3, 3, "done")
    assert sorted(d for d, _, w in calls[1:-1]) == [1, 2, 3]
    assert {w for _, _, w in calls[1:-1]} == {"a", "b", "c"}


def test_a_bad_input_shows_an_error_and_saves_nothing(store_ids, tmp_path):
    store, ids = store_ids
    m = MonitoringModel(store)
    before = len(m.reports)
    m.param.update(reference_kind="profile", reference="churn-reference", current_kind="file",
                   current=str(tmp_path / "missing.parquet"))
    m.start_report()
    m.wait()
    m.poll()
    assert "missing.parquet" in m.error
    assert not m.running and len(storage.list_reports(store)) == before
    m.param.update(current="")
    assert m.start_report() is False and "current" in m.error


def test_sources_list_profiles_datasets_and_model_training_data(store_ids):
    store, ids = store_ids
    df = pd.read_parquet(ids["files"]["april"])
    with wb.start_run(experiment="churn", store=store) as run:
        run.log_dataset(df.head(200), name="customers", role="train", save=True)
    m = MonitoringModel(store)
    assert list(m.source_choices("profile").values()) == ["churn-reference"]
    digests = list(m.source_choices("dataset").values())
    assert len(digests) == 1
    rep = wb.drift_report("churn-reference", digests[0], store=store)
    # 13 of the 14 columns: all but the timestamp (customer_id is tested as text)
    assert rep.current_label.startswith("dataset customers@") and len(rep.tested) == 13


def test_app_page_follows_the_report_in_the_url(store_ids):
    store, ids = store_ids
    state = AppState(page="monitoring", report=ids["series"][0])
    app = WorkbenchApp(store, state)
    view = app._pages["monitoring"]
    assert view.model.report_id == ids["series"][0]
    state.report = ids["q4"]
    assert view.model.report.id == ids["q4"]
    view.model.open_report(ids["series"][1])
    assert state.report == ids["series"][1]
    assert ids["series"][1][:8] in view._export().getvalue() or "churn-monthly" in view._export().getvalue()


def test_drift_report_view_and_notebook_display(monkeypatch):
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"x": rng.normal(size=300), "c": rng.choice(list("abc"), 300)})
    rep = wb.drift_report(ref, ref.assign(x=ref["x"] + 1))
    rep.multivariate = DomainClassifierResult.from_dict(
        {"roc_auc": 0.9, "threshold": 0.55, "drifted": True, "n_reference": 300, "n_current": 300,
         "importance": [{"column": "x", "importance": 0.3, "std": 0.01}], "conventions": {"cv": "5-fold"},
         "current_like_rows": [{"x": 1.0, "c": "a", "p_current": 0.9}], "method": "domain_classifier"})
    view = wb.ui.DriftReportView(rep)
    assert view.model.report is rep and view.model.column == "x"
    assert "dataset drift" in view._summary.object
    assert view._mv_chart.option["yAxis"]["data"] == ["x"] and len(view._mv_rows.value) == 1
    assert rep._repr_mimebundle_() is None  # outside a notebook: the HTML summary
    from workbench.ui.components import notebook

    monkeypatch.setattr(notebook, "_in_notebook_kernel", lambda: True)
    monkeypatch.setattr(notebook, "extension_loaded", lambda: True)
    from workbench.ui.monitoring.view import DriftReportView

    shown = []
    monkeypatch.setattr(DriftReportView, "_repr_mimebundle_",
                        lambda self, include=None, exclude=None: shown.append(self) or {"text/html": "v"})
    assert rep._repr_mimebundle_() == {"text/html": "v"}  # in a notebook: the screen's view
    assert shown[0].model.report is rep


def test_relative_score_conventions():
    assert charts.relative_score(0.2, 0.1, "distance") == pytest.approx(2.0)
    assert charts.relative_score(0.01, 0.05, "p_value") == pytest.approx(5.0)
    assert charts.relative_score(0.0, 0.05, "p_value") == math.inf
    assert math.isnan(charts.relative_score(math.nan, 0.1, "distance"))


def test_the_view_runs_a_report_from_its_form(store_ids, monkeypatch):
    import panel as pn

    from workbench.ui.monitoring.view import MonitoringView

    store, ids = store_ids

    class _Periodic:
        stopped = False

        def stop(self):
            self.stopped = True

    periodic = _Periodic()
    monkeypatch.setattr(pn.state, "add_periodic_callback", lambda cb, period: periodic)
    view = MonitoringView(store)
    assert view._ref_pick.value == "churn-reference"  # the first saved profile is chosen
    view._cur_kind.value = "file"
    assert view._cur_file.visible and not view._cur_pick.visible
    view._cur_file.value = ids["files"]["april"]
    view._name.value = "april-again"
    view._on_run()
    assert view._run.disabled and view._progress.visible
    view.model.wait()
    view._tick()
    assert periodic.stopped and not view._run.disabled and not view._progress.visible
    assert "report saved" in view._status.object
    assert view.model.report.name == "april-again" and view._reports.value == view.model.report_id
    assert "april-again" in view._summary.object
    assert len(view._table.value) == 14


def test_alert_rules_from_the_screen_fire_on_the_next_saved_report(tmp_path):
    from workbench.ui.monitoring.alerts_model import AlertRulesModel, describe_rule
    from workbench.ui.monitoring.view import MonitoringView

    store = wb.Store(tmp_path / "a.duckdb")
    view = MonitoringView(store)
    a = view.alerts
    assert a.rules.empty and a.events.empty
    assert a.add_rule("", "column_score", value=0.2) is False and "non-empty name" in a.error
    assert a.add_rule("x", "column_score", value=None) is False and "numeric value" in a.error
    assert a.add_rule("x", "nope") is False and "alert kind must be one of" in a.error
    assert a.add_rule("x", "dataset_drift", consecutive=None) is False and "reports in a row" in a.error
    assert a.rules.empty  # nothing saved by a refused rule
    # the method field is hidden for "column flagged drifted": its value must not narrow the rule
    assert a.add_rule("any-drifted", "column_drifted", method="psi") is True
    from workbench.monitoring.alerts import alert_rules

    assert alert_rules(store)["spec"].iloc[0] == {"column": "*", "consecutive": 1, "report_name": None}
    assert a.delete_rule(int(a.rules["rule_id"].iloc[0])) is True
    assert a.add_rule("psi-high", "column_score", method="psi", op=">", value=0.2) is True
    assert a.rules["condition"].tolist() == ["any column's psi score > 0.2, in a report"]
    assert describe_rule("dataset_drift", {"consecutive": 3, "report_name": "daily"}) == \
        "dataset drift, in 3 consecutive reports of series 'daily'"
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=3000), "y": rng.normal(size=3000)})
    cur = ref.assign(x=ref["x"] + 1.0)  # x drifts: its PSI is far above 0.2, y's is not
    rep = wb.drift_report(ref, cur, store=store, name="daily", method="psi")
    psi = rep.columns.set_index("column")["score"]
    assert psi["x"] > 0.2 > psi["y"]
    view.model.refresh()  # the screen re-reads its reports after a run: the alerts follow
    assert a.events["rule"].tolist() == ["psi-high"] and "x" in a.events["message"].iloc[0]
    rule_id = int(a.rules["rule_id"].iloc[0])
    assert a.delete_rule(rule_id) is True and a.rules.empty
    assert a.delete_rule(rule_id) is False and "no active alert rule" in a.error
    assert len(AlertRulesModel(store).events) == 1  # past events stay


def test_a_text_column_opens_with_its_length_chart_and_typical_words(store_ids):
    store, ids = store_ids
    m = MonitoringModel(store, report_id=ids["tickets"])
    m.column = "note"
    d = m.column_detail()
    assert d["row"]["method"] == "abs_text_content_drift" and d["row"]["drifted"]
    chart = d["histogram"]
    assert "text length" in chart["title"]["text"] and d["ecdf"] == {}
    labels = chart["xAxis"]["data"]
    assert "inf" not in labels[0] + labels[-1] and labels[-1].endswith("]")  # lengths: closed bins
    assert set(d["text"]["words_current"][:3]) <= {"refund", "invoice", "payment", "failed", "charge", "dispute"}
    assert len(d["text"]["examples_current"]) == 5
    assert d["quality"]["unseen_word_share_current"] > 0
