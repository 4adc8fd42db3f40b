"""Ready-made train functions: for the docs, the benchmarks, the tests and the Training screen.

They live in a module (not in a notebook or ``__main__``) because worker
processes import train functions by name, and :func:`workbench.rerun`
finds them again from the recorded ``"module:qualname"``.

>>> quadratic({"x": 1.5}, None)
{'score': -1.0}
"""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np


def quadratic(params: dict[str, Any], trial: Any) -> dict[str, float]:
    """Instant: ``score = -(x - 0.5)**2 - (y or 0)**2`` (maximum 0 at x=0.5, y=0)."""
    x = float(params.get("x", 0.0))
    y = float(params.get("y", 0.0) or 0.0)
    return {"score": -((x - 0.5) ** 2) - y**2}


def trivial(params: dict[str, Any], trial: Any) -> dict[str, float]:
    """Does nothing: measures the sweep's own overhead per trial."""
    return {"score": 1.0}


def sleepy(params: dict[str, Any], trial: Any) -> dict[str, float]:
    """Sleeps ``params["sleep"]`` seconds in 0.05 s steps, reporting progress (cancellable)."""
    total = float(params.get("sleep", 0.2))
    steps = max(1, int(round(total / 0.05)))
    x = float(params.get("x", 0.0))
    for step in range(steps):
        time.sleep(total / steps)
        if trial is not None:
            trial.report(step, -((x - 0.5) ** 2))
    return {"score": -((x - 0.5) ** 2)}


def busy(params: dict[str, Any], trial: Any) -> dict[str, float]:
    """Burns about ``params["seconds"]`` of CPU in pure Python (for the speed-up benchmark)."""
    seconds = float(params.get("seconds", 1.0))
    t_end = time.process_time() + seconds
    n = 0
    while time.process_time() < t_end:
        for _ in range(10_000):
            n += 1
    return {"score": float(params.get("x", 0.0)), "loops": float(n)}


def flaky(params: dict[str, Any], trial: Any) -> dict[str, float]:
    """Raises for ``x < 0`` (to show FAILED trials), else like :func:`quadratic`."""
    if float(params.get("x", 0.0)) < 0:
        raise ValueError(f"x={params['x']} is negative")
    return quadratic(params, trial)


@functools.lru_cache(maxsize=1)
def churn_split(seed: int = 0):
    """The sample churn table as numeric features, split 75/25 (cached per process)."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    from workbench.samples import load_sample

    df = load_sample("churn")
    y = df["churned"].to_numpy()
    X = df.drop(columns=["churned", "customer_id", "timestamp"])
    X = pd.get_dummies(
        X,
        columns=[
            c
            for c in X.columns
            if X[c].dtype.kind in "OUT"
            or str(X[c].dtype) in ("str", "string", "object", "category")
        ],
        dtype=float,
    )
    X = X.astype(float)
    return train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)


def random_forest_churn(params: dict[str, Any], trial: Any) -> dict[str, float]:
    """A random forest on the sample churn data; logs ``auc``, the model and the data hashes.

    ``params`` are RandomForestClassifier arguments, plus an optional
    ``data_fraction`` (a halving budget: the share of training rows used).
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score

    X_train, X_val, y_train, y_val = churn_split()
    params = dict(params)
    fraction = float(params.pop("data_fraction", 1.0))
    if fraction < 1.0:
        n = max(50, int(len(X_train) * fraction))
        X_train, y_train = X_train.iloc[:n], y_train[:n]
    seed = getattr(trial, "seed", 0)
    model = RandomForestClassifier(**params, random_state=seed, n_jobs=1).fit(X_train, y_train)
    auc = float(roc_auc_score(y_val, model.predict_proba(X_val)[:, 1]))
    if trial is not None:
        trial.log_metric("auc", auc)
        trial.log_model(model, input_example=X_val.iloc[:3])
    return {"auc": auc}


def noisy_objective(params: dict[str, Any], trial: Any) -> dict[str, float]:
    """A smooth 2-D objective (maximum near lr=0.1, depth=6) for comparing strategies."""
    lr = float(params.get("lr", 0.1))
    depth = float(params.get("depth", 6))
    rng = np.random.default_rng(getattr(trial, "seed", 0))
    value = -((np.log10(lr) + 1) ** 2) - ((depth - 6) / 4) ** 2 + rng.normal(0, 0.01)
    return {"score": float(value)}
