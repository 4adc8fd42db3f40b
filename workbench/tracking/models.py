"""Logging a trained model with its signature, checksum and requirements, and loading it back.

A logged model is three artifacts of a run under ``<name>/``:

- ``model.joblib``: the model, dumped with joblib;
- ``MLmodel.json``: flavour, class, the sha256 of ``model.joblib``, the
  signature (input columns and dtypes, output dtype and shape) and the
  package versions needed to load it;
- ``input_example.json``: a few input rows, when given.

Loading checks the sha256 of the bytes *before* unpickling them: a tampered
or corrupted model is refused with :class:`ArtifactIntegrityError`.

>>> import tempfile, os, numpy as np, workbench as wb
>>> from sklearn.linear_model import LogisticRegression
>>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
>>> X, y = np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2
>>> with wb.start_run(experiment="m", store=store) as run:
...     info = run.log_model(LogisticRegression().fit(X, y), input_example=X[:3])
>>> type(load_logged_model(store, run.id)).__name__
'LogisticRegression'
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import platform
from dataclasses import dataclass
from typing import Any

import joblib
import numpy as np
import pandas as pd

from workbench.errors import ArtifactIntegrityError, InvalidInputError, NotFoundError

MODEL_FILE = "model.joblib"
META_FILE = "MLmodel.json"
EXAMPLE_FILE = "input_example.json"
_BASE_REQUIREMENTS = ("numpy", "pandas", "scikit-learn", "joblib", "scipy")


@dataclass(frozen=True)
class ModelInfo:
    """What :func:`log_model` recorded."""

    run_id: str
    name: str
    sha256: str
    size: int
    flavor: str
    model_class: str
    signature: dict[str, Any]
    requirements: dict[str, str]

    @property
    def artifact_path(self) -> str:
        return f"{self.name}/{MODEL_FILE}"


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def model_requirements(model: Any) -> dict[str, str]:
    """Package versions needed to unpickle ``model`` (its own package and the basics)."""
    top = type(model).__module__.split(".")[0]
    names = {"sklearn": "scikit-learn"}.get(top, top)
    reqs = {"python": platform.python_version()}
    for dist in (*_BASE_REQUIREMENTS, names):
        version = _dist_version(dist)
        if version:
            reqs[dist] = version
    return reqs


def _describe(data: Any) -> dict[str, Any]:
    if isinstance(data, pd.DataFrame):
        return {"kind": "dataframe",
                "columns": [{"name": str(c), "type": str(t)} for c, t in data.dtypes.items()]}
    if isinstance(data, pd.Series):
        return {"kind": "series", "name": str(data.name), "type": str(data.dtype)}
    arr = np.asarray(data)
    return {"kind": "ndarray", "type": str(arr.dtype), "shape": [-1, *arr.shape[1:]]}


def infer_signature(model: Any, input_example: Any) -> dict[str, Any]:
    """Inputs described from ``input_example``; outputs from ``model.predict`` on it."""
    signature: dict[str, Any] = {"inputs": _describe(input_example)}
    predict = getattr(model, "predict", None)
    if callable(predict):
        try:
            signature["outputs"] = _describe(predict(input_example))
        except Exception as exc:  # the signature is advice; logging must not fail on it
            signature["outputs"] = {"kind": "unknown", "error": f"{type(exc).__name__}: {exc}"}
    return signature


def _example_json(input_example: Any) -> str:
    if isinstance(input_example, pd.DataFrame):
        return input_example.head(5).to_json(orient="split", index=False)
    arr = np.asarray(input_example)[:5]
    return json.dumps({"data": arr.tolist()})


def log_model(run: Any, model: Any, name: str = "model", input_example: Any = None) -> ModelInfo:
    """Store ``model`` as artifacts of ``run`` (see the module docstring)."""
    from workbench.store.artifacts import check_logical_path

    name = check_logical_path(name)
    buf = io.BytesIO()
    joblib.dump(model, buf)
    data = buf.getvalue()
    sha, size = run.store.artifacts.put_bytes(data)
    cls = type(model)
    flavor = "sklearn" if cls.__module__.startswith("sklearn") else "python"
    signature = infer_signature(model, input_example) if input_example is not None else {}
    requirements = model_requirements(model)
    meta = {
        "flavor": flavor,
        "model_class": f"{cls.__module__}.{cls.__qualname__}",
        "model_file": MODEL_FILE,
        "sha256": sha,
        "size": size,
        "signature": signature,
        "requirements": requirements,
        "run_id": run.id,
    }
    run._record_artifact(f"{name}/{MODEL_FILE}", sha, size)
    run.log_bytes(json.dumps(meta, indent=2).encode(), f"{name}/{META_FILE}")
    if input_example is not None:
        run.log_text(_example_json(input_example), f"{name}/{EXAMPLE_FILE}")
    return ModelInfo(run.id, name, sha, size, flavor, meta["model_class"], signature, requirements)


def logged_model_meta(store: Any, run_id: str, name: str = "model") -> dict[str, Any]:
    """The ``MLmodel.json`` of a model logged by ``run_id`` (hash-checked)."""
    try:
        return json.loads(store.read_artifact(run_id, f"{name}/{META_FILE}"))
    except NotFoundError:
        raise NotFoundError(f"run {run_id} has no logged model named {name!r}") from None


def load_model_bytes(data: bytes, expected_sha256: str) -> Any:
    """Unpickle model bytes only if they hash to ``expected_sha256``."""
    import hashlib

    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise ArtifactIntegrityError(
            f"model bytes do not match the recorded checksum (expected sha256 {expected_sha256}, "
            f"found {actual}); refusing to unpickle them"
        )
    return joblib.load(io.BytesIO(data))


def load_logged_model(store: Any, run_id: str, name: str = "model") -> Any:
    """Load a model logged by ``run_id``, refusing it if its bytes were altered."""
    meta = logged_model_meta(store, run_id, name)
    sha = store._artifact_sha(run_id, f"{name}/{MODEL_FILE}")
    if sha != meta.get("sha256"):
        raise ArtifactIntegrityError(
            f"model {name!r} of run {run_id}: the artifact's sha256 {sha} differs from the one in "
            f"{META_FILE} ({meta.get('sha256')})"
        )
    path = store.artifacts.path_for(sha)
    if not path.exists():
        raise NotFoundError(f"model file of run {run_id} is missing from {path.parent}")
    check_requirements(meta.get("requirements", {}))
    return load_model_bytes(path.read_bytes(), sha)


def check_requirements(requirements: dict[str, str]) -> list[str]:
    """Warn (and return the messages) when installed versions differ from the recorded ones."""
    import warnings

    messages = []
    for dist, wanted in requirements.items():
        if dist == "python":
            have = platform.python_version()
        else:
            have = _dist_version(dist)
        if have is not None and wanted and have.split(".")[:2] != wanted.split(".")[:2]:
            messages.append(f"{dist} {have} is installed but the model was saved with {wanted}")
    for message in messages:
        warnings.warn(f"workbench: {message}", stacklevel=3)
    return messages


def validate_input(signature: dict[str, Any], data: Any) -> None:
    """Raise :class:`InvalidInputError` when ``data`` does not fit the signature's inputs."""
    inputs = signature.get("inputs") if signature else None
    if not inputs:
        return
    if inputs["kind"] == "dataframe":
        if not isinstance(data, pd.DataFrame):
            raise InvalidInputError(f"the model expects a DataFrame, got {type(data).__name__}")
        expected = [c["name"] for c in inputs["columns"]]
        missing = [c for c in expected if c not in data.columns]
        if missing:
            raise InvalidInputError(f"input is missing columns the model needs: {missing}")
    elif inputs["kind"] == "ndarray":
        arr = np.asarray(data)
        want = inputs["shape"][1:]
        if list(arr.shape[1:]) != list(want):
            raise InvalidInputError(
                f"the model expects rows of shape {tuple(want)}, got {tuple(arr.shape[1:])}"
            )

