"""A small real store with two registered versions of a scikit-learn pipeline, and helpers."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import workbench as wb


def run_async(coro):
    """``asyncio.run`` on a thread of its own: the browser tests' Playwright (sync API) keeps an
    event loop running on the main thread for the rest of the session."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _data(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "age": rng.integers(18, 80, n),
        "monthly": rng.normal(50, 15, n),
        "region": rng.choice(["north", "south", "east"], n),
    })
    y = ((X["monthly"] > 50) ^ (X["region"] == "east")).astype(int).to_numpy()
    return X, y


def _pipeline(C: float):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = make_column_transformer((StandardScaler(), ["age", "monthly"]),
                                  (OneHotEncoder(handle_unknown="ignore"), ["region"]))
    return make_pipeline(pre, LogisticRegression(C=C, max_iter=500))


VERSIONS = {
    1: "logistic regression, C=1",
    2: "logistic regression, C=0.01 (predicts differently from v1 on some rows)",
    3: "v1 that raises on any row with age == -1",
    4: "v1 that fails 50 % of its calls after 30 healthy ones",
}


@pytest.fixture(scope="session")
def model_store_path(tmp_path_factory):
    """A store with model 'churn' versions 1-4 (see VERSIONS); built once per session."""
    from workbench.serving.faults import FaultyModel

    folder = tmp_path_factory.mktemp("serving")
    store = wb.Store(folder / "s.duckdb")
    X, y = _data()
    v1 = _pipeline(1.0).fit(X, y)
    models = [v1, _pipeline(0.01).fit(X, y), FaultyModel(v1, fail_value=("age", -1)),
              FaultyModel(v1, error_rate=0.5, healthy_calls=30, seed=1)]
    for model in models:
        with wb.start_run(experiment="serving", store=store) as run:
            run.log_model(model, input_example=X.head(5))
        store.sync()
        wb.Registry(store, user="owner").register_model("churn", run_id=run.id)
    store.close()
    return folder / "s.duckdb"


@pytest.fixture
def model_store(model_store_path, tmp_path):
    """A private copy of the model store for one test."""
    import shutil

    src = model_store_path
    stem = src.with_suffix("")
    dst = tmp_path / "s.duckdb"
    shutil.copy(src, dst)
    shutil.copytree(f"{stem}.artifacts", tmp_path / "s.artifacts")
    return wb.Store(dst)


@pytest.fixture
def rows():
    X, _ = _data(20, seed=1)
    return X


def columns_of(X: pd.DataFrame) -> dict:
    return {"dataframe_split": {"columns": list(X.columns), "data": X.values.tolist()}}


_SPECS: dict = {}


def spec_of(store, version: int):
    """``resolve_spec`` of churn/version, cached for the session (every test's store is a copy of one)."""
    from workbench.serving.loading import resolve_spec

    if version not in _SPECS:
        _SPECS[version] = resolve_spec(store, f"models:/churn/{version}")
    return _SPECS[version]
