"""Saved reports and profiles, logged datasets as inputs, alert rules and events, drift over time,
and the planted drift in sample_data/churn.parquet."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import workbench as wb
from workbench.errors import InvalidInputError, MonitoringInputError, NotFoundError
from workbench.monitoring import (
    add_alert_rule,
    alert_events,
    drift_report,
    list_reports,
    load_profile,
    load_report,
    reference_profile,
    stat_test,
)
from workbench.monitoring.over_time import DriftOverTime, change_points, drift_over_time
from workbench.monitoring.sample import SAMPLE_REFERENCE_END, build_sample_reports, churn_frame


def frames(n=3000, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(shift, 1, n), "c": rng.choice(["a", "b", "c"], n)})


def test_report_saved_and_loaded(store):
    ref, cur = frames(), frames(shift=0.5, seed=1)
    rep = drift_report(ref, cur, store=store, name="daily")
    back = load_report(store, rep.id)
    assert back.id == rep.id and back.name == "daily" and back.dataset_drift == rep.dataset_drift
    cols = ["column", "method", "statistic", "p_value", "threshold", "drifted", "rule"]
    pd.testing.assert_frame_equal(back.columns[cols], rep.columns[cols], check_dtype=False)
    assert back.histograms["x"]["edges"] == rep.histograms["x"]["edges"]
    assert back.to_html().startswith("<!DOCTYPE html>")
    listed = list_reports(store)
    assert listed["report_id"].tolist() == [rep.id] and bool(listed["dataset_drift"][0]) == rep.dataset_drift
    with pytest.raises(NotFoundError):
        load_report(store, "nope")


def test_nothing_half_saved_when_a_report_fails(store):
    ref = frames()
    with pytest.raises(MonitoringInputError):
        drift_report(ref, ref.iloc[:0], store=store, name="bad")
    assert list_reports(store).empty


def test_profile_saved_loaded_and_used_by_name(store):
    ref, cur = frames(), frames(shift=0.3, seed=2)
    prof = reference_profile(ref, name="train", store=store)
    loaded = load_profile(store, "train")
    assert loaded.id == prof.id and loaded.types == prof.types
    assert np.array_equal(loaded.values("x"), np.sort(ref.x.to_numpy()))
    by_name = drift_report("train", cur, store=store, num_method="ks")
    direct = stats.ks_2samp(ref.x, cur.x)
    row = by_name.columns.set_index("column").loc["x"]
    assert abs(row.p_value - direct.pvalue) <= 1e-9 * max(direct.pvalue, 1e-300)
    assert by_name.profile_id == prof.id and by_name.reference_label == "profile train"


def test_logged_dataset_by_name_and_digest(store, tmp_path):
    ref, cur = frames(), frames(shift=0.4, seed=3)
    with wb.start_run(store=store, experiment="drift"):
        wb.log_dataset(ref, name="churn-train", role="train", save=True)
    store.sync()
    digest = store.list_datasets()["digest"].iloc[0]
    a = drift_report("churn-train", cur, store=store)
    b = drift_report(digest, cur, store=store)
    c = drift_report(ref, cur)
    assert np.allclose(a.columns["statistic"], c.columns["statistic"], rtol=1e-12)
    assert np.allclose(b.columns["statistic"], c.columns["statistic"], rtol=1e-12)
    assert a.reference_label.startswith("dataset churn-train@")


class _Hook(BaseHTTPRequestHandler):
    got: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.got.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_alert_rules_fire_on_consecutive_reports_and_reach_webhooks(store):
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        wb.Registry(store).add_webhook(f"http://127.0.0.1:{server.server_port}/hook", events=["drift_alert"])
        rule = add_alert_rule(store, "psi high", "column_score", method="psi", op=">", value=0.2,
                              consecutive=2)
        add_alert_rule(store, "any drift", "dataset_drift")
        ref = frames()
        calm = drift_report(ref, frames(seed=5), store=store, name="daily", method="psi")
        assert calm.alerts == []
        first = drift_report(ref, frames(shift=1.5, seed=6), store=store, name="daily", method="psi")
        first_rules = {a["rule"] for a in first.alerts}
        assert "psi high" not in first_rules  # one report is not two consecutive ones
        assert ("any drift" in first_rules) == first.dataset_drift
        second = drift_report(ref, frames(shift=1.5, seed=7), store=store, name="daily", method="psi")
        fired = {a["rule"]: a for a in second.alerts}
        assert "psi high" in fired and fired["psi high"]["details"]["columns"] == ["x"]
        events = alert_events(store)
        assert (events["rule_id"] == rule).sum() == 1
        assert events.loc[events["rule_id"] == rule, "report_id"].tolist() == [second.id]
        wb.registry.wait_for_webhooks(5)
        assert any(p.get("event") == "drift_alert" and p.get("rule") == "psi high" for p in _Hook.got)
    finally:
        server.shutdown()
    with pytest.raises(InvalidInputError, match="alert kind"):
        add_alert_rule(store, "x", "sometimes")
    with pytest.raises(InvalidInputError, match="consecutive"):
        add_alert_rule(store, "x", "dataset_drift", consecutive=0)


def test_drift_over_time_by_rows_matches_direct_reports():
    rng = np.random.default_rng(0)
    ref = frames(4000)
    cur = pd.DataFrame({"x": np.concatenate([rng.normal(0, 1, 3000), rng.normal(0.6, 1, 3000)]),
                        "c": rng.choice(["a", "b", "c"], 6000)})
    ot = drift_over_time(cur, reference=ref, rows=1000, min_rows=500)
    assert ot.scores["window"].nunique() == 6
    x = ot.scores[ot.scores["column"] == "x"].reset_index(drop=True)
    for w in range(6):
        part = cur.x.iloc[w * 1000:(w + 1) * 1000]
        expected = stats.wasserstein_distance(ref.x, part) / np.std(ref.x)
        assert abs(x.loc[w, "statistic"] - expected) <= 1e-9 * expected
    assert x["drifted"].tolist() == [False] * 3 + [True] * 3
    c = ot.scores[ot.scores["column"] == "c"].reset_index(drop=True)
    for w in range(6):  # categorical windows counted in DuckDB: the same rows as a slice
        direct = stat_test("jensenshannon", ref.c, cur.c.iloc[w * 1000:(w + 1) * 1000])
        assert abs(c.loc[w, "statistic"] - direct.statistic) <= 1e-12
    assert ot.change_points["x"] == [3] and ot.change_points.get("c", []) == []
    assert ot.matrix("relative").shape == (6, 2)


def test_small_windows_are_reported_too_small():
    cur = frames(1200, seed=9)
    ot = drift_over_time(cur, reference=frames(), rows=400, min_rows=500)
    assert (ot.scores["status"] == "too small (< 500 rows)").all()
    assert not ot.scores["drifted"].any()
    with pytest.raises(InvalidInputError, match="exactly one of"):
        drift_over_time(cur, reference=frames(), rows=10, freq="1D", time_column="t")
    with pytest.raises(InvalidInputError, match="freq 'daily'"):
        drift_over_time(cur.assign(t=pd.Timestamp("2025-01-01")), reference=frames(),
                        freq="daily", time_column="t")


def test_change_points_on_a_step():
    s = np.r_[np.full(10, 0.02), np.full(8, 0.3)] + np.tile([0.003, -0.003], 9)
    idx, pen = change_points(s, min_jump=0.1)
    assert idx == [10] and pen >= 0.01
    assert change_points(np.full(12, 0.05) + np.tile([0.001, -0.001], 6), min_jump=0.1)[0] == []


def test_churn_sample_drift_found_in_documented_columns_and_month():
    df = churn_frame()
    ref = df[df["timestamp"] < SAMPLE_REFERENCE_END]
    late = df[df["timestamp"] >= "2025-10-01"]
    rep = drift_report(ref, late)
    drifted = set(rep.drifted_columns)
    assert {"monthly_charges", "support_calls", "contract", "region"} <= drifted
    assert not drifted & {"age", "gender", "internet_service", "num_products", "payment_method"}
    q = rep.quality.set_index("column")
    assert q.loc["monthly_charges", "out_of_range_current"] >= 1  # outliers above Q1's max
    stable = drift_report(ref[ref["timestamp"] < "2025-02-15"], ref[ref["timestamp"] >= "2025-02-15"])
    assert not stable.dataset_drift
    ot = drift_over_time(df, reference=ref, time_column="timestamp", freq="1M")
    for col in ("monthly_charges", "support_calls", "contract"):
        assert [str(t)[:7] for t in ot.change_points[col]] == ["2025-07"], col
    first_region = ot.change_points["region"][0]
    assert pd.Timestamp("2025-07-01") <= first_region <= pd.Timestamp("2025-08-01")
    for col in ("age", "gender", "internet_service", "payment_method"):
        assert ot.change_points[col] == [], col


def test_build_sample_reports(store):
    ids = build_sample_reports(store)
    monthly = list_reports(store, name="churn-monthly")
    assert len(monthly) == 9
    drifted = [set(load_report(store, i).drifted_columns) for i in ids["monthly"]]  # April..December
    assert drifted[:3] == [set(), set(), set()]
    assert all({"monthly_charges", "support_calls", "contract"} <= d for d in drifted[3:])
    events = alert_events(store)
    fired = {r: set(g["report_id"]) for r, g in events.groupby("rule_name")}
    assert fired["a quarter of the columns drifted"] == set(ids["monthly"][3:])
    assert fired["score >= 0.2 twice"] == set(ids["monthly"][4:])  # from August: July + August
    assert load_report(store, ids["multivariate"]).multivariate.drifted
    ot = DriftOverTime.load(store, "churn-2-weekly")
    assert ot.id == ids["over_time"] and ot.scores["window"].nunique() >= 26
    assert str(ot.change_points["monthly_charges"][0])[:10] == "2025-06-30"  # the window holding July 1
    assert ot.matrix().shape[1] == len(ot.change_points)
