"""A generic train function for a table: one dataset file, one target column, one model family.

This is what the Training screen sweeps. The dataset, the target and the
family are *fixed params* of the sweep (single-value choices), so every trial
records them with its hyper-parameters and ``wb.rerun(run_id)`` can train the
same model again from the run alone::

    space = {**fixed_space("sample_data/wine.parquet", "target", "random_forest"),
             **default_space("random_forest")}
    wb.sweep(train_tabular, space, n_trials=8, metric="accuracy", store=store)

Each trial splits the table 75/25 (stratified for classification, always
with ``random_state=0`` so every trial sees the same split), fits a
scikit-learn ``Pipeline`` (imputation, scaling, one-hot encoding, the
estimator) with ``random_state=trial.seed``, logs the validation metrics, the
content hashes of its train and validation parts, and the fitted pipeline
(``trial.log_model``; it takes the raw columns, so the registry and serving
get a model that works on the table as it is).

>>> sorted(FAMILIES)
['gradient_boosting', 'logistic_regression', 'random_forest']
>>> task_of(__import__("pandas").Series([0, 1, 1, 0]))
'classification'
"""

from __future__ import annotations

import copy
import functools
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import InvalidInputError

#: The fixed params every trial of a tabular sweep carries.
FIXED_PARAMS = ("dataset", "target", "family")

#: family -> label shown in the screen.
FAMILIES: dict[str, str] = {
    "logistic_regression": "Logistic regression (Ridge for a numeric target)",
    "random_forest": "Random forest",
    "gradient_boosting": "Gradient boosting (histogram)",
}

#: Metrics logged per task, and whether bigger is better.
METRICS: dict[str, dict[str, str]] = {
    "classification": {"accuracy": "max", "roc_auc": "max", "f1": "max", "log_loss": "min"},
    "regression": {"r2": "max", "rmse": "min", "mae": "min"},
}
DEFAULT_METRIC = {"classification": "roc_auc", "regression": "r2"}

#: Search spaces per family, as ``space_from_dict`` specs. Ranges carry ``num``
#: so that ``strategy="grid"`` has a small finite grid too.
_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "logistic_regression": {
        "C": {"type": "float_range", "low": 0.001, "high": 100.0, "log": True, "num": 6},
        "max_iter": {"type": "choice", "values": [500]},
    },
    "random_forest": {
        "n_estimators": {"type": "int_range", "low": 20, "high": 200, "log": False, "step": 1,
                         "num": 3},
        "max_depth": {"type": "choice", "values": [4, 8, 16, None]},
        "min_samples_leaf": {"type": "int_range", "low": 1, "high": 20, "log": False, "step": 1,
                             "num": 3},
        "max_features": {"type": "choice", "values": ["sqrt", 0.5]},
    },
    "gradient_boosting": {
        "learning_rate": {"type": "float_range", "low": 0.01, "high": 0.3, "log": True, "num": 3},
        "max_iter": {"type": "int_range", "low": 20, "high": 200, "log": False, "step": 1,
                     "num": 3},
        "max_leaf_nodes": {"type": "int_range", "low": 8, "high": 64, "log": True, "step": 1,
                           "num": 3},
        "min_samples_leaf": {"type": "int_range", "low": 5, "high": 50, "log": False, "step": 1,
                             "num": 2},
    },
}

#: Successive halving's budget per family: (param name, min, max).
BUDGETS: dict[str, tuple[str, float, float]] = {
    "logistic_regression": ("data_fraction", 0.1, 1.0),
    "random_forest": ("n_estimators", 20, 200),
    "gradient_boosting": ("max_iter", 20, 200),
}

_MAX_CLASSES = 20


def check_family(family: Any) -> str:
    if family not in FAMILIES:
        raise InvalidInputError(
            f"model family must be one of {', '.join(FAMILIES)}; got {family!r}"
        )
    return family


def default_space(family: str) -> dict[str, dict[str, Any]]:
    """The search space the screen proposes for ``family`` (a fresh copy, as dict specs)."""
    return copy.deepcopy(_SPACES[check_family(family)])


def fixed_space(dataset: str | os.PathLike, target: str, family: str) -> dict[str, dict[str, Any]]:
    """The fixed params of a tabular sweep as single-value choices."""
    return {
        "dataset": {"type": "choice", "values": [str(dataset)]},
        "target": {"type": "choice", "values": [str(target)]},
        "family": {"type": "choice", "values": [check_family(family)]},
    }


# -- reading the table ------------------------------------------------------------
def read_columns(path: str | os.PathLike) -> list[str]:
    """Column names of a Parquet or CSV file, without reading its rows."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    return list(pd.read_csv(path, nrows=0).columns)


def _read(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"dataset file {path} does not exist")
    if path.suffix == ".parquet":
        return pd.read_parquet(path, columns=columns)
    if path.suffix == ".csv":
        return pd.read_csv(path, usecols=columns)
    raise InvalidInputError(f"a dataset must be a .parquet or .csv file, got {path.name}")


def task_of(y: pd.Series) -> str:
    """``"classification"`` for labels (bools, strings, integers with few values), else regression."""
    kind = y.dtype.kind
    if kind in "bOUS" or str(y.dtype) in ("category", "string", "str") or kind == "T":
        return "classification"
    if kind in "iu" and y.nunique(dropna=True) <= _MAX_CLASSES:
        return "classification"
    return "regression"


def target_task(path: str | os.PathLike, target: str) -> str:
    """The task (classification or regression) the target column of a file asks for."""
    if target not in read_columns(path):
        raise InvalidInputError(f"{Path(path).name} has no column {target!r}")
    return task_of(_read(path, [target])[target])


def _feature_kinds(X: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Numeric and categorical feature columns; ids, timestamps and free text are left out."""
    numeric, categorical = [], []
    n = max(1, len(X))
    for column in X.columns:
        s = X[column]
        kind = s.dtype.kind
        if kind in "iufb":
            numeric.append(column)
        elif kind in "mM":
            continue  # timestamps: not a feature as they are
        elif s.nunique(dropna=True) <= max(50, int(0.05 * n)):
            categorical.append(column)  # low cardinality strings; ids are left out
    return numeric, categorical


@functools.lru_cache(maxsize=4)
def _load_split(path: str, mtime: float, target: str):
    df = _read(path)
    if target not in df.columns:
        raise InvalidInputError(f"{Path(path).name} has no column {target!r}")
    df = df[df[target].notna()]
    y = df[target]
    task = task_of(y)
    X = df.drop(columns=[target])
    numeric, categorical = _feature_kinds(X)
    if not numeric and not categorical:
        raise InvalidInputError(f"{Path(path).name} has no usable feature columns besides {target!r}")
    X = X[numeric + categorical].copy()
    X[numeric] = X[numeric].astype(float)
    for column in categorical:
        X[column] = X[column].astype(object).where(X[column].notna(), None)
    if task == "classification":
        y = y.astype(str) if y.dtype.kind not in "iub" else y.astype(int)
    else:
        y = y.astype(float)
    from sklearn.model_selection import train_test_split

    stratify = y if task == "classification" and y.value_counts().min() >= 2 else None
    X_train, X_val, y_train, y_val = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=stratify
    )
    return task, numeric, categorical, X_train, X_val, y_train.to_numpy(), y_val.to_numpy()


def load_split(path: str | os.PathLike, target: str):
    """``(task, numeric, categorical, X_train, X_val, y_train, y_val)``, cached per process."""
    path = str(Path(path).resolve())
    return _load_split(path, os.path.getmtime(path), target)


# -- the model ----------------------------------------------------------------------
def build_model(family: str, task: str, params: dict[str, Any], numeric: list[str],
                categorical: list[str], seed: int):
    """A scikit-learn Pipeline: imputation/scaling/one-hot encoding, then the estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    family = check_family(family)
    classify = task == "classification"
    params = dict(params)
    if family == "logistic_regression":
        C = float(params.pop("C", 1.0))
        max_iter = int(params.pop("max_iter", 500))
        if classify:
            from sklearn.linear_model import LogisticRegression

            est = LogisticRegression(C=C, max_iter=max_iter, **params)
        else:
            from sklearn.linear_model import Ridge

            est = Ridge(alpha=1.0 / C, max_iter=max_iter, random_state=seed, **params)
    elif family == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestClassifier if classify else RandomForestRegressor
        if "n_estimators" in params:
            params["n_estimators"] = int(params["n_estimators"])
        est = cls(random_state=seed, n_jobs=1, **params)
    else:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        if "max_iter" in params:
            params["max_iter"] = int(params["max_iter"])
        est = cls(random_state=seed, **params)
    numeric_steps = [SimpleImputer(strategy="median")]
    if family == "logistic_regression":
        numeric_steps.append(StandardScaler())
    prep = ColumnTransformer(
        [
            ("numeric", make_pipeline(*numeric_steps), numeric),
            ("categorical", make_pipeline(
                SimpleImputer(strategy="constant", fill_value="missing"),
                OneHotEncoder(handle_unknown="ignore"),
            ), categorical),
        ]
    )
    return Pipeline([("prep", prep), ("model", est)])


def evaluate(model: Any, task: str, X_val: pd.DataFrame, y_val: np.ndarray) -> dict[str, float]:
    """Validation metrics: accuracy, roc_auc, f1, log_loss for labels; r2, rmse, mae for numbers."""
    from sklearn import metrics as skm

    if task == "regression":
        pred = model.predict(X_val)
        return {
            "r2": float(skm.r2_score(y_val, pred)),
            "rmse": float(math.sqrt(skm.mean_squared_error(y_val, pred))),
            "mae": float(skm.mean_absolute_error(y_val, pred)),
        }
    pred = model.predict(X_val)
    proba = model.predict_proba(X_val)
    classes = list(model.classes_)
    out = {"accuracy": float(skm.accuracy_score(y_val, pred))}
    if len(classes) == 2:
        out["roc_auc"] = float(skm.roc_auc_score(y_val, proba[:, 1]))
        out["f1"] = float(skm.f1_score(y_val, pred, pos_label=classes[1]))
    else:
        out["roc_auc"] = float(skm.roc_auc_score(y_val, proba, multi_class="ovr", labels=classes))
        out["f1"] = float(skm.f1_score(y_val, pred, average="macro"))
    out["log_loss"] = float(skm.log_loss(y_val, proba, labels=classes))
    return out


def train_tabular(params: dict[str, Any], trial: Any) -> dict[str, float]:
    """Fit one model family on a table and evaluate it on a validation split.

    ``params``: ``dataset`` (a Parquet/CSV path), ``target`` (a column),
    ``family`` (one of :data:`FAMILIES`), the estimator's hyper-parameters,
    and optionally ``data_fraction`` (a halving budget: the share of training
    rows used). Logs the validation metrics, ``fit_seconds``, the train and
    validation parts' content hashes and the fitted pipeline.
    """
    params = dict(params)
    try:
        path, target, family = (params.pop(k) for k in FIXED_PARAMS)
    except KeyError as exc:
        raise InvalidInputError(
            f"train_tabular needs the params {', '.join(FIXED_PARAMS)}; {exc} is missing"
        ) from None
    fraction = float(params.pop("data_fraction", 1.0))
    task, numeric, categorical, X_train, X_val, y_train, y_val = load_split(path, target)
    if fraction < 1.0:
        n = max(20, int(len(X_train) * fraction))
        X_train, y_train = X_train.iloc[:n], y_train[:n]
    seed = int(getattr(trial, "seed", 0) or 0)
    model = build_model(family, task, params, numeric, categorical, seed)
    t0 = time.perf_counter()
    model.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - t0
    metrics = evaluate(model, task, X_val, y_val)
    metrics["fit_seconds"] = fit_seconds
    if trial is not None:
        stem = Path(path).stem
        trial.set_tags({"task": task, "model.family": family})
        trial.log_metrics(metrics)
        trial.log_dataset(X_train.assign(**{target: y_train}), name=f"{stem}-train", role="train",
                          source=str(path))
        trial.log_dataset(X_val.assign(**{target: y_val}), name=f"{stem}-validation",
                          role="validation", source=str(path))
        trial.log_model(model, input_example=X_val.iloc[:3])
    return metrics


__all__ = [
    "BUDGETS",
    "DEFAULT_METRIC",
    "FAMILIES",
    "FIXED_PARAMS",
    "METRICS",
    "build_model",
    "default_space",
    "evaluate",
    "fixed_space",
    "load_split",
    "read_columns",
    "target_task",
    "task_of",
    "train_tabular",
]
