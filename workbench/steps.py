"""The built-in pipeline steps: plain functions, usable by name in a pipeline.

A step names them as ``"workbench.steps:clean"`` or just ``"clean"``. Together
they make the lifecycle template (:func:`workbench.pipelines.churn_template`):
extract -> clean -> features -> split -> validate -> train -> evaluate -> register.

Steps know nothing of the engine. Those that have figures to report log
them on the active run (the engine makes each step's run the active run),
and do nothing when there is none, so every step can be called directly:

>>> import pandas as pd
>>> raw = pd.DataFrame({"a": [1.0, None, 3.0], "b": ["x", "y", "x"]})
>>> len(clean(raw))
clean: kept 2 of 3 rows
2
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "clean", "evaluate", "features", "identity", "noop", "read_table", "register", "sleep",
    "split", "train", "validate",
]

MODELS = ("logistic_regression", "random_forest", "gradient_boosting")


def _log_metrics(metrics: dict[str, float]) -> None:
    from workbench.tracking.fluent import active_run

    run = active_run()
    if run is not None:
        run.log_metrics({k: float(v) for k, v in metrics.items()})


def _resolve_path(path: str) -> Path:
    p = Path(path).expanduser()
    if p.exists():
        return p
    from workbench.samples import sample_data_dir

    for candidate in (sample_data_dir().parent / path, sample_data_dir() / p.name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"no table at {path!r} (looked in {os.getcwd()} and {sample_data_dir()})")


# -- small utility steps -------------------------------------------------------------------
def identity(data: Any = None, value: Any = None) -> Any:
    """Return the input (or ``value`` when there is no input)."""
    return value if data is None else data


def noop(*inputs: Any, **params: Any) -> None:
    """Do nothing (the benchmark's step)."""
    return None


def sleep(*inputs: Any, seconds: float = 1.0, value: Any = None) -> Any:
    """Wait ``seconds``, then return ``value``."""
    time.sleep(seconds)
    return value


# -- the lifecycle --------------------------------------------------------------------------
def read_table(path: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet or CSV table (relative paths also resolve against the sample data)."""
    p = _resolve_path(path)
    if p.suffix.lower() in (".csv", ".txt"):
        df = pd.read_csv(p, usecols=columns)
    else:
        df = pd.read_parquet(p, columns=columns)
    print(f"read {len(df)} rows x {df.shape[1]} columns from {p.name}")
    return df


def _file_fingerprint(params: dict[str, Any]) -> str:
    """read_table's cache key includes the file's content hash, not just its path."""
    p = _resolve_path(params["path"])
    digest = hashlib.sha256()
    with open(p, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


read_table.__wb_fingerprint__ = _file_fingerprint


def clean(raw: pd.DataFrame, drop_na: bool = True, drop_duplicates: bool = True,
          drop_columns: list[str] | None = None) -> pd.DataFrame:
    """Drop duplicate rows, rows with missing values and unwanted columns."""
    df = raw.drop(columns=list(drop_columns or []))
    before = len(df)
    if drop_duplicates:
        df = df.drop_duplicates()
    if drop_na:
        df = df.dropna()
    else:
        df = df.fillna(df.median(numeric_only=True))
    print(f"clean: kept {len(df)} of {before} rows")
    _log_metrics({"rows_in": before, "rows_out": len(df)})
    return df.reset_index(drop=True)


def features(df: pd.DataFrame, target: str = "churned",
             drop: list[str] | None = ("customer_id", "timestamp"),
             one_hot: bool = True) -> pd.DataFrame:
    """Numeric feature table: identifiers dropped, booleans as 0/1, categories one-hot."""
    out = df.drop(columns=[c for c in (drop or []) if c in df.columns])
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = out[col].astype(int)
    if one_hot:
        cats = [c for c in out.columns if c != target and not pd.api.types.is_numeric_dtype(out[c])]
        out = pd.get_dummies(out, columns=cats, dtype=float)
    print(f"features: {out.shape[1] - 1} feature columns")
    return out


def split(df: pd.DataFrame, target: str = "churned", test_size: float = 0.25,
          random_state: int = 0, stratify: bool = True) -> dict[str, pd.DataFrame]:
    """``{"train": ..., "test": ...}`` split (stratified on ``target`` by default)."""
    from sklearn.model_selection import train_test_split

    train_df, test_df = train_test_split(
        df, test_size=test_size, random_state=random_state,
        stratify=df[target] if stratify else None,
    )
    return {"train": train_df.reset_index(drop=True), "test": test_df.reset_index(drop=True)}


def validate(data: dict[str, pd.DataFrame], target: str = "churned", min_rows: int = 100,
             max_missing: float = 0.0, max_class_ratio_gap: float = 0.1) -> dict[str, pd.DataFrame]:
    """Data checks before training; raises ``ValueError`` naming every failed check.

    Checks: enough rows, the same columns in train and test, missing values
    at most ``max_missing`` (a fraction), numeric features only, the target
    having two or more classes, and similar class rates in train and test.
    Passes the data through unchanged.
    """
    train_df, test_df = data["train"], data["test"]
    failures = []
    if len(train_df) < min_rows:
        failures.append(f"train has {len(train_df)} rows; at least {min_rows} needed")
    if list(train_df.columns) != list(test_df.columns):
        failures.append("train and test have different columns")
    for name, part in (("train", train_df), ("test", test_df)):
        missing = float(part.isna().mean().max()) if len(part) else 0.0
        if missing > max_missing:
            failures.append(f"{name} has a column with {missing:.1%} missing values")
    non_numeric = [c for c in train_df.columns if not pd.api.types.is_numeric_dtype(train_df[c])]
    if non_numeric:
        failures.append(f"non-numeric columns: {non_numeric}")
    if target not in train_df.columns:
        failures.append(f"target column {target!r} is missing")
    else:
        if train_df[target].nunique() < 2:
            failures.append(f"target {target!r} has one class only")
        gap = abs(float(train_df[target].mean()) - float(test_df[target].mean()))
        if gap > max_class_ratio_gap:
            failures.append(f"target rate differs by {gap:.3f} between train and test")
    _log_metrics({"checks_failed": len(failures), "train_rows": len(train_df),
                  "test_rows": len(test_df)})
    if failures:
        raise ValueError("data validation failed: " + "; ".join(failures))
    print("validate: all data checks passed")
    return data


def train(data: dict[str, pd.DataFrame], target: str = "churned",
          model: str = "logistic_regression", random_state: int = 0, C: float = 1.0,
          n_estimators: int = 100, max_depth: int | None = None):
    """Fit a classifier on ``data["train"]``: logistic_regression, random_forest or gradient_boosting."""
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    df = data["train"]
    x, y = df.drop(columns=[target]), df[target].to_numpy()
    if model == "logistic_regression":
        est = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))
    elif model == "random_forest":
        est = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth,
                                     random_state=random_state, n_jobs=1)
    else:
        est = GradientBoostingClassifier(n_estimators=n_estimators, max_depth=max_depth or 3,
                                         random_state=random_state)
    est.fit(x, y)
    print(f"train: fitted {model} on {len(df)} rows")
    return est


def evaluate(model, data: dict[str, pd.DataFrame], target: str = "churned") -> dict[str, float]:
    """Test-set metrics: auc, accuracy, f1, precision, recall (logged on the step's run)."""
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    df = data["test"]
    x, y = df.drop(columns=[target]), df[target].to_numpy()
    proba = model.predict_proba(x)[:, 1]
    pred = (proba >= 0.5).astype(int)
    metrics = {
        "auc": float(roc_auc_score(y, proba)),
        "accuracy": float(accuracy_score(y, pred)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "test_rows": float(len(df)),
    }
    _log_metrics(metrics)
    print("evaluate: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return metrics


def register(model, evaluation: dict[str, float] | None = None, name: str = "churn",
             min_auc: float = 0.0, data: dict[str, pd.DataFrame] | None = None) -> dict[str, Any]:
    """Log the model on the step's run and register it in the model registry.

    Registers only when ``evaluation["auc"] >= min_auc``. The evaluation's
    metrics are logged on this step's run too, so the registered version carries
    them (the registry's gates read a version's run metrics); the registry
    records the pipeline and its version as lineage.
    """
    from workbench.registry import Registry
    from workbench.tracking.fluent import active_run

    run = active_run()
    auc = (evaluation or {}).get("auc")
    if auc is not None and auc < min_auc:
        print(f"register: auc {auc:.4f} is below min_auc {min_auc}; not registered")
        return {"registered": False, "reason": f"auc {auc:.4f} < min_auc {min_auc}"}
    if run is None:
        return {"registered": False, "reason": "no active run to log the model to"}
    example = None
    if data is not None:
        example = data["test"].drop(columns=[c for c in ("churned",) if c in data["test"]]).head(5)
    run.log_model(model, name="model", input_example=example)
    if evaluation:
        run.log_metrics({k: float(v) for k, v in evaluation.items()})
    run.store.sync()  # the run and its model must be in the database to register
    version = Registry(run.store).register_model(name, run_id=run.id, artifact="model")
    run.set_tags({"registered_model": name, "registered_version": str(version.version)})
    print(f"register: {name} version {version.version}")
    return {"registered": True, "name": name, "version": int(version.version), "run_id": run.id,
            "auc": auc if auc is None else float(np.round(auc, 6))}
