"""Lineage from pipelines, and the evidence an approver sees for a request."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import workbench as wb
from workbench.registry.gates import signature_diff


def _model_in_run(store, **run_kwargs) -> str:
    X = pd.DataFrame(np.random.default_rng(1).normal(size=(30, 2)), columns=["a", "b"])
    y = (X["a"] > 0).astype(int)
    with wb.start_run(experiment="pipe", store=store, **run_kwargs) as run:
        run.log_metric("auc", 0.9)
        wb.log_model(LogisticRegression().fit(X, y), input_example=X.head(3))
    return run.id


def test_pipeline_version_comes_from_the_pipeline_run(store, reg):
    pipe = wb.Pipeline("prep", [wb.Step("a", "identity", params={"value": 1})])
    result = pipe.run(store)
    assert result.status == "FINISHED"
    parent_tags = store.get_run(result.run_id)["tags"]
    # a run nested under the pipeline run, tagged like the engine tags its step runs
    run_id = _model_in_run(
        store,
        parent_run_id=result.run_id,
        tags={"pipeline.name": "prep", "pipeline.step": "train"},
    )
    v = reg.register_model("piped", run_id=run_id)
    assert v.pipeline_version == f"prep v{parent_tags['pipeline.version']}"
    # an explicit value wins; a run outside any pipeline has none
    v2 = reg.register_model("piped", run_id=run_id, pipeline_version="manual")
    assert v2.pipeline_version == "manual"
    assert reg.register_model("plain", run_id=_model_in_run(store)).pipeline_version is None


def test_signature_diff_rows():
    a = {
        "inputs": {
            "kind": "dataframe",
            "columns": [{"name": "x", "type": "float64"}, {"name": "z", "type": "int64"}],
        }
    }
    b = {
        "inputs": {
            "kind": "dataframe",
            "columns": [{"name": "x", "type": "float64"}, {"name": "y", "type": "float64"}],
        }
    }
    rows = {r["column"]: r["change"] for r in signature_diff(a, b)}
    assert rows == {"x": "same", "z": "added", "y": "removed"}
    assert signature_diff(None, None) == [
        {"column": "(inputs)", "candidate": None, "production": None, "change": "same"}
    ]


def test_request_evidence_compares_with_production(store, reg, reg_bob, make_run):
    reg.register_model("churn", run_id=make_run(auc=0.8))
    reg_bob.approve(reg.request_transition("churn", 1, "Staging").id, comment="ok")
    reg_bob.approve(reg.request_transition("churn", 1, "Production").id, comment="ok")
    reg.register_model("churn", run_id=make_run(auc=0.9, columns=("tenure", "spend", "age")))
    reg.set_gate("churn", "metrics.auc >= 0.85")
    reg.set_gate("churn", "signature matches production")
    req = reg.request_transition("churn", 2, "Staging", comment="better")
    ev = reg.request_evidence(req.id)
    assert ev["candidate"].version == 2 and ev["production"].version == 1
    row = ev["metrics"].set_index("metric").loc["auc"]
    assert (row["candidate"], row["production"]) == (0.9, 0.8)
    assert [g.passed for g in ev["gates"]] == [True, False]
    diff = ev["signature_diff"].set_index("column")["change"].to_dict()
    assert diff["age"] == "added" and diff["tenure"] == "same"


def test_request_evidence_without_production(reg, make_run):
    reg.register_model("churn", run_id=make_run(auc=0.7))
    ev = reg.request_evidence(reg.request_transition("churn", 1, "Staging").id)
    assert ev["production"] is None
    assert ev["metrics"]["production"].isna().all()
    assert set(ev["signature_diff"]["change"]) == {"added"}
