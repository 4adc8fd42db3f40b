"""The generic tabular train function the Training screen sweeps: real scikit-learn fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.errors import InvalidInputError
from workbench.samples import sample_data_dir
from workbench.tracking.models import load_logged_model
from workbench.training import tabular
from workbench.training.space import space_from_dict
from workbench.training.tabular import train_tabular


def sample(name: str) -> str:
    return str(sample_data_dir() / f"{name}.parquet")


def space(dataset: str, target: str, family: str, **changes) -> dict:
    spec = {**tabular.fixed_space(dataset, target, family), **tabular.default_space(family)}
    for name, values in changes.items():
        spec[name] = {"type": "choice", "values": values}
    return space_from_dict(spec)


def test_the_task_follows_the_target_column():
    assert tabular.task_of(pd.Series([True, False])) == "classification"
    assert tabular.task_of(pd.Series(["a", "b", "a"])) == "classification"
    assert tabular.task_of(pd.Series([0, 1, 2, 1])) == "classification"
    assert tabular.task_of(pd.Series(np.arange(100))) == "regression"  # many integer values
    assert tabular.task_of(pd.Series([0.5, 1.5])) == "regression"
    assert tabular.target_task(sample("wine"), "target") == "classification"
    assert tabular.target_task(sample("wine"), "alcohol") == "regression"
    assert tabular.target_task(sample("diabetes"), "target") == "regression"
    with pytest.raises(InvalidInputError, match="no column 'nope'"):
        tabular.target_task(sample("wine"), "nope")


def test_features_leave_out_ids_and_timestamps_and_encode_categories():
    task, numeric, categorical, X_train, X_val, y_train, y_val = tabular.load_split(
        sample("churn"), "churned"
    )
    assert task == "classification"
    assert "customer_id" not in numeric + categorical and "timestamp" not in numeric + categorical
    assert {"contract", "region", "payment_method"} <= set(categorical)
    assert {"age", "tenure_months", "senior"} <= set(numeric)
    assert len(X_train) == 15_000 and len(X_val) == 5_000
    assert abs(y_train.mean() - y_val.mean()) < 0.01  # stratified


def test_a_multiclass_sweep_logs_metrics_model_and_dataset_hashes_and_reruns(store):
    path = sample("wine")
    sweep = wb.sweep(
        train_tabular, space(path, "target", "random_forest", n_estimators=[15, 25]),
        n_trials=2, metric="accuracy", store=store, seed=3, datasets={"wine": path},
    )
    assert sweep.status == "FINISHED", sweep.results["error"].tolist()
    run = store.get_run(sweep.best_run_id)
    assert run["params"]["family"] == "random_forest" and run["params"]["target"] == "target"
    assert {"accuracy", "roc_auc", "f1", "log_loss", "fit_seconds"} <= set(run["metrics"])
    assert 0.8 <= run["metrics"]["accuracy"] <= 1.0
    assert run["tags"]["task"] == "classification"
    datasets = store.run_datasets(sweep.best_run_id).set_index("name")
    assert set(datasets.index) == {"wine", "wine-train", "wine-validation"}
    assert datasets.loc["wine-train", "n_rows"] + datasets.loc["wine-validation", "n_rows"] == 178
    assert datasets.loc["wine-validation", "role"] == "validation"
    # the logged model is the whole pipeline: it takes the table's raw columns
    model = load_logged_model(store, sweep.best_run_id)
    table = pd.read_parquet(path)
    predictions = model.predict(table.drop(columns=["target"]))
    assert (predictions == table["target"]).mean() > 0.9
    again = wb.rerun(sweep.best_run_id, store=store)
    assert again.status == "FINISHED" and again.value == pytest.approx(sweep.best_value)


def test_a_numeric_target_trains_regressors(store):
    path = sample("diabetes")
    for family, metric in (("logistic_regression", "rmse"), ("gradient_boosting", "r2")):
        sweep = wb.sweep(
            train_tabular, space(path, "target", family), n_trials=2, metric=metric,
            mode="min" if metric == "rmse" else "max", store=store, seed=0,
        )
        assert sweep.status == "FINISHED", sweep.results["error"].tolist()
        run = store.get_run(sweep.best_run_id)
        assert {"r2", "rmse", "mae"} <= set(run["metrics"]) and "accuracy" not in run["metrics"]
        assert run["metrics"]["r2"] > 0.1  # better than predicting the mean
        cls = load_logged_model(store, sweep.best_run_id).named_steps["model"]
        assert type(cls).__name__ == ("Ridge" if family == "logistic_regression"
                                      else "HistGradientBoostingRegressor")


def test_halving_over_a_data_fraction(store):
    path = sample("breast_cancer")
    spec = space(path, "target", "logistic_regression")
    sweep = wb.sweep(train_tabular, spec, strategy="halving", n_trials=3, eta=3,
                     budget=("data_fraction", 0.3, 0.9), metric="roc_auc", store=store, seed=0)
    res = sweep.results
    assert sweep.status == "FINISHED" and set(res["status"]) == {"FINISHED"}
    assert sorted(res["budget"].unique()) == [0.3, 0.9] and len(res) == 4
    assert store.get_run(sweep.best_run_id)["tags"]["sweep.rung"] == "1"


def test_bad_tabular_params_fail_the_trial_with_a_clear_message(store):
    path = sample("wine")
    sweep = wb.sweep(train_tabular, space_from_dict(tabular.fixed_space(path, "nope", "random_forest")),
                     n_trials=1, metric="accuracy", store=store, seed=0)
    assert sweep.results["status"].tolist() == ["FAILED"]
    assert "no column 'nope'" in sweep.results["error"].iloc[0]
    with pytest.raises(InvalidInputError, match="model family must be one of"):
        tabular.fixed_space(path, "target", "svm")
    with pytest.raises(InvalidInputError, match="needs the params"):
        train_tabular({"dataset": path}, None)
