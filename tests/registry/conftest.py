"""Fixtures for the registry tests: a store with runs that logged a model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import workbench as wb


def log_churn_run(
    store: wb.Store,
    auc: float = 0.9,
    columns: tuple[str, ...] = ("tenure", "spend"),
    example: bool = True,
) -> str:
    """A finished run that logged a training dataset, an ``auc`` metric and a model."""
    rng = np.random.default_rng(len(columns))
    X = pd.DataFrame(rng.normal(size=(40, len(columns))), columns=list(columns))
    y = (X.iloc[:, 0] > 0).astype(int)
    with wb.start_run(experiment="churn", store=store) as run:
        run.log_dataset(X.assign(churned=y), name="customers", role="train")
        run.log_metric("auc", auc)
        run.log_model(
            LogisticRegression().fit(X, y),
            name="model",
            input_example=X.head(5) if example else None,
        )
    return run.id


@pytest.fixture
def reg(store) -> wb.Registry:
    """The registry of a fresh store, acting as ``tester``, made its admin explicitly."""
    reg = wb.Registry(store)
    reg.init_admin()
    return reg


@pytest.fixture
def reg_bob(store, reg) -> wb.Registry:
    """An approver ``bob`` on the same store."""
    reg.grant("bob", "approver")
    return wb.Registry(store, user="bob")


@pytest.fixture
def make_run(store):
    """``make_run(auc=0.9, columns=(...), example=True)`` -> the id of a run that logged a model."""

    def make(**kwargs) -> str:
        return log_churn_run(store, **kwargs)

    return make
