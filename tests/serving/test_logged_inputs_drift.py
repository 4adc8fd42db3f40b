"""A time range of a deployment's prediction log as the current data of a drift report."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import _data
from scipy import stats

import workbench as wb
from workbench.errors import MonitoringInputError, NotFoundError
from workbench.serving.predlog import PredictionLog
from workbench.serving.runtime import serving_folders

DAY_MS = 86_400_000


def _log(store, X: pd.DataFrame, ts0_ms: int, step_ms: int, role: str = "champion") -> None:
    """Log each row of ``X`` as one live request, ``step_ms`` apart from ``ts0_ms``."""
    log = PredictionLog(serving_folders(store.path)[0], flush_interval=None)
    for i, row in enumerate(X.itertuples(index=False)):
        log.add({"request_id": f"{role}-{ts0_ms}-{i}", "ts": ts0_ms + i * step_ms,
                 "deployment": "churn-api", "variant": "v1", "role": role, "status": "ok",
                 "http_status": 200, "total_ms": 2.0, "n_rows": 1, "fallback": False,
                 "inputs": json.dumps({"columns": list(X.columns), "data": [list(row)]},
                                      default=lambda v: v.item()),
                 "outputs": json.dumps([0])})
    log.flush()


@pytest.fixture
def logged(model_store):
    wb.deploy("churn-api", model="churn", version=1, store=model_store)
    now = pd.Timestamp.now(tz="UTC").value // 1_000_000
    before, _ = _data(600, seed=2)                     # two days ago: like the training data
    shifted, _ = _data(600, seed=3)
    shifted["monthly"] += 25                           # the last day: spending moved up
    _log(model_store, before, now - 2 * DAY_MS, 60_000)
    _log(model_store, shifted, now - DAY_MS // 2, 10)
    _log(model_store, shifted.assign(monthly=0.0), now - DAY_MS // 2, 10, role="shadow")
    return model_store, before, shifted


def test_drift_of_the_last_day_of_logged_inputs(logged):
    store, before, shifted = logged
    train, _ = _data()
    rep = wb.drift_report(train, wb.LoggedInputs("churn-api", last="24h"), store=store)
    assert "prediction log of churn-api (the last 24h)" in rep.current_label
    assert "600 rows" in rep.current_label  # the shadow copies are left out
    monthly = rep.columns.set_index("column").loc["monthly"]
    ks = stats.ks_2samp(train["monthly"], shifted["monthly"])
    assert monthly["method"] == "ks" and monthly["p_value"] == pytest.approx(ks.pvalue, rel=1e-9)
    assert bool(monthly["drifted"])
    # the text form (the screen's and URLs') reads the same range
    again = wb.drift_report(train, "predictions:churn-api@24h", store=store)
    assert again.columns["p_value"].tolist() == pytest.approx(rep.columns["p_value"].tolist())


def test_an_explicit_range_and_everything_logged(logged):
    store, before, _shifted = logged
    now = pd.Timestamp.now(tz="UTC")
    old = wb.LoggedInputs("churn-api", since=now - pd.Timedelta("3D"), until=now - pd.Timedelta("1D"))
    frame = old.read(store)
    assert len(frame) == 600 and frame["monthly"].tolist() == pytest.approx(before["monthly"].tolist())
    parsed = wb.LoggedInputs.parse(old.text())
    assert parsed.bounds() == old.bounds()
    assert len(wb.LoggedInputs("churn-api").read(store)) == 1200
    train, _ = _data()
    rep = wb.drift_report(train, old, store=store)
    assert not bool(rep.columns.set_index("column").loc["monthly", "drifted"])


def test_bad_ranges_are_clear_errors(logged):
    store, *_ = logged
    with pytest.raises(MonitoringInputError, match="not a duration"):
        wb.LoggedInputs("churn-api", last="yesterday")
    with pytest.raises(MonitoringInputError, match="not before"):
        wb.LoggedInputs("churn-api", since="2026-12-02", until="2026-12-01")
    with pytest.raises(MonitoringInputError, match="either last= or since="):
        wb.LoggedInputs("churn-api", since="2026-12-01", last="1h")
    with pytest.raises(NotFoundError, match="no deployment named 'nope'"):
        wb.drift_report(_data()[0], "predictions:nope", store=store)
    with pytest.raises(MonitoringInputError, match="holds no logged inputs"):
        wb.drift_report(_data()[0], wb.LoggedInputs("churn-api", since="2001-01-01",
                                                    until="2001-01-02"), store=store)
    with pytest.raises(MonitoringInputError, match="pass store="):
        wb.drift_report(_data()[0], "predictions:churn-api")
    assert wb.monitoring.list_reports(store).empty


def test_the_monitoring_page_offers_the_prediction_log(logged, tmp_path):
    from workbench.ui.monitoring.model import MonitoringModel

    store, _before, _shifted = logged
    m = MonitoringModel(store)
    choices = m.source_choices("predictions")
    assert choices["churn-api · last 24 hours"] == "predictions:churn-api@24h"
    assert choices["churn-api · everything logged"] == "predictions:churn-api"
    train, _ = _data()
    train.to_parquet(tmp_path / "train.parquet")
    m.preset(current="predictions:churn-api@24h")  # the Deployments page's link
    assert (m.current_kind, m.current) == ("predictions", "predictions:churn-api@24h")
    m.param.update(reference_kind="file", reference=str(tmp_path / "train.parquet"))
    assert m.start_report()
    m.wait(60)
    while m.poll():
        pass
    assert m.error == ""
    assert "prediction log of churn-api (the last 24h)" in m.report.current_label


def test_a_link_to_a_window_the_form_does_not_offer_is_kept(logged):
    """``?current=predictions:churn-api@12h`` (the list offers 1h, 24h, 7D, all): the form shows and runs
    what the link names, never the first option instead; an unknown model reference says so."""
    from workbench.ui.monitoring.view import MonitoringView

    store, _before, _shifted = logged
    view = MonitoringView(store)
    view.preset(current="predictions:churn-api@12h", reference="model:churn:99")
    assert view._cur_kind.value == "predictions" and view._cur_pick.value == "predictions:churn-api@12h"
    assert "predictions:churn-api@12h (from the link)" in view._cur_pick.options
    assert "model:churn:99" in view.model.error and "no logged training dataset" in view.model.error
