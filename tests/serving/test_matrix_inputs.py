"""The matrix path: a scikit-learn model fitted on numeric columns gets the matrix it would build itself."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import run_async
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import workbench as wb
from workbench.serving.loading import (
    FEATURE_NAMES_WARNING,
    LoadedModel,
    VersionSpec,
    silence_feature_names_warning,
)
from workbench.serving.protocol import Columns, parse_mlflow_json
from workbench.serving.runtime import Runtime, ServerSettings
from workbench.serving.strategies import new_state
from workbench.tracking.models import infer_signature


def _numeric(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"tenure": rng.integers(0, 72, n), "monthly": rng.normal(60, 20, n),
                      "tickets": rng.integers(0, 9, n), "usage": rng.gamma(2.0, 3.0, n)})
    y = ((X["monthly"] / 20 - X["tenure"] / 24 + X["tickets"] / 3 + rng.normal(0, 1, n)) > 1).astype(int)
    return X, y.to_numpy()


def _loaded(model, X: pd.DataFrame) -> LoadedModel:
    example = X.head(5)
    spec = VersionSpec("m", 1, "0" * 64, infer_signature(model, example),
                       {"columns": list(example.columns), "data": example.values.tolist()})
    return LoadedModel(spec, model)


def _requests(X: pd.DataFrame, signature: dict) -> list[Columns]:
    return [parse_mlflow_json({"dataframe_split": {"columns": list(X.columns), "data": [row]}}, signature)
            for row in X.values.tolist()]


class _FrameOrMatrix(BaseEstimator, ClassifierMixin):
    """Predicts differently on a matrix than on a frame (what the load-time check must catch)."""

    def fit(self, X, y):
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        return self

    def predict(self, X):
        return np.ones(len(X), dtype=int) if isinstance(X, pd.DataFrame) else np.zeros(len(X), dtype=int)


@pytest.mark.parametrize("make", [
    lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
    lambda: RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0),
], ids=["scaler+logistic", "forest"])
def test_numeric_sklearn_models_get_matrices_and_predict_exactly_as_on_frames(make):
    X, y = _numeric()
    model = make().fit(X, y)
    loaded = _loaded(model, X)
    silence_feature_names_warning()
    assert loaded.enable_matrix_inputs() and loaded.matrix_dtype == np.float64
    test, _ = _numeric(300, seed=1)
    requests = _requests(test, loaded.spec.signature)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing else may warn (e.g. a dtype conversion)
        warnings.filterwarnings("ignore", message=FEATURE_NAMES_WARNING, category=UserWarning)
        one_by_one = np.concatenate([loaded.predict_columns(c) for c in requests])
        batched = loaded.predict_columns(Columns.concat(requests))
    want = model.predict(test)
    assert np.array_equal(one_by_one, want) and np.array_equal(batched, want)
    assert 0 < want.sum() < len(want)  # both classes: equality above is not trivial


def test_frames_stay_where_a_matrix_would_not_do():
    X, y = _numeric()
    by_name = make_pipeline(make_column_transformer((StandardScaler(), ["tenure", "monthly"]),
                                                    remainder="drop"), LogisticRegression()).fit(X, y)
    loaded = _loaded(by_name, X)
    assert not loaded.enable_matrix_inputs() and loaded.matrix_dtype is None  # raises on a matrix
    request = _requests(X.head(7), loaded.spec.signature)
    assert np.array_equal(np.concatenate([loaded.predict_columns(c) for c in request]), by_name.predict(X.head(7)))

    assert not _loaded(_FrameOrMatrix().fit(X, y), X).enable_matrix_inputs()  # predicts differently

    reordered = LogisticRegression().fit(X[["monthly", "tenure", "tickets", "usage"]], y)
    assert not _loaded(reordered, X).enable_matrix_inputs()  # fitted on other columns (order)

    with_text = X.assign(plan=np.where(y == 1, "a", "b"))
    assert not _loaded(LogisticRegression().fit(X, y), with_text).enable_matrix_inputs()  # a str column

    class NotSklearn:
        feature_names_in_ = np.asarray(list(X.columns), dtype=object)

        def predict(self, X):
            return np.zeros(len(X))

    assert not _loaded(NotSklearn(), X).enable_matrix_inputs()


def test_the_server_serves_a_numeric_model_through_the_matrix_path(tmp_path):
    import httpx

    from workbench.serving.app import create_app
    from workbench.serving.loading import resolve_spec

    X, y = _numeric()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    store = wb.Store(tmp_path / "s.duckdb")
    with wb.start_run(experiment="e", store=store) as run:
        run.log_model(model, input_example=X.head(5))
    store.sync()
    wb.Registry(store).register_model("numeric", run_id=run.id)
    runtime = Runtime(store, new_state("api", resolve_spec(store, "models:/numeric/1")), ServerSettings(log=False))
    test, _ = _numeric(40, seed=2)

    async def go():
        app = create_app(runtime, load_on_start=False)
        await runtime.start()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                return [await c.post("/invocations", json={"dataframe_split": {
                    "columns": list(test.columns), "data": [row]}}) for row in test.values.tolist()]
        finally:
            await runtime.stop()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # the runtime's own filter, added by load(), goes in front of it
        runtime.load()
        answers = run_async(go())
    assert runtime.variants["v1"].model.matrix_dtype == np.float64
    assert [r.status_code for r in answers] == [200] * len(test)
    assert [r.json()["predictions"][0] for r in answers] == model.predict(test).tolist()
    assert not [w for w in caught if FEATURE_NAMES_WARNING in str(w.message)]
