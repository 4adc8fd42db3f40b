"""Model versions for serving: resolved once to an immutable spec, loaded with their sha256 checked.

A :class:`VersionSpec` is everything the server needs to know about one
registered model version (name, number, sha256, signature, the logged input
example and the predictions the controlling process made on it). It is built
by the controlling process from the registry (:func:`resolve_spec`), stored
with the deployment, and handed to the server, which loads the model file
from the artifact store by its sha256 (:func:`load_spec`) without opening the
database.

>>> import tempfile, os, workbench as wb
>>> from sklearn.linear_model import LinearRegression
>>> import pandas as pd
>>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
>>> X = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
>>> with wb.start_run(experiment="e", store=store) as run:
...     _ = run.log_model(LinearRegression().fit(X, [0, 2, 4]), input_example=X)
>>> store.sync()
>>> _ = wb.Registry(store).register_model("lin", run_id=run.id)
>>> spec = resolve_spec(store, "models:/lin/1")
>>> loaded = load_spec(store, spec)
>>> [round(v, 6) for v in loaded.predict(X).tolist()]
[0.0, 2.0, 4.0]
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import ArtifactIntegrityError, ModelLoadError, NotFoundError
from workbench.serving.protocol import Columns, from_columns, input_columns, jsonable

EXAMPLE_FILE = "input_example.json"


@dataclass(frozen=True)
class VersionSpec:
    """One model version as the server sees it (immutable: a URI is resolved once, at deploy time)."""

    name: str
    version: int
    sha256: str
    signature: dict[str, Any] = field(default_factory=dict)
    example: dict[str, Any] | None = None  # {"columns": [...], "data": [[...]]}
    expected: list | None = None  # predictions on the example, made by the controlling process

    @property
    def variant(self) -> str:
        """The default variant name of this version: ``v<version>``."""
        return f"v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VersionSpec:
        return cls(name=d["name"], version=int(d["version"]), sha256=d["sha256"],
                   signature=d.get("signature") or {}, example=d.get("example"),
                   expected=d.get("expected"))


def _example_frame(example: dict[str, Any] | None, signature: dict[str, Any]) -> pd.DataFrame | None:
    if not example:
        return None
    cols = example["columns"]
    data = example["data"]
    return from_columns({c: [r[i] for r in data] for i, c in enumerate(cols)}, len(data), signature).frame()


def resolve_spec(store: Any, model: str, version: int | str | None = None) -> VersionSpec:
    """Resolve ``models:/name/Stage`` (or ``name`` + ``version``) to a :class:`VersionSpec`.

    Reads the registry and the run's input example, loads the model (sha256
    checked) and predicts the example, so that a server can later check that
    it predicts the same.
    """
    from workbench.registry import Registry, load_model

    uri = model if model.startswith("models:/") else f"models:/{model}/{version if version is not None else 'latest'}"
    mv = Registry(store).resolve(uri)
    example = None
    if mv.run_id and mv.artifact:
        try:
            raw = json.loads(store.read_artifact(mv.run_id, f"{mv.artifact}/{EXAMPLE_FILE}"))
            if "columns" in raw:
                example = {"columns": list(raw["columns"]), "data": raw["data"]}
        except NotFoundError:
            example = None
    spec = VersionSpec(mv.name, mv.version, mv.sha256, mv.signature or {}, example)
    expected = None
    frame = _example_frame(example, spec.signature)
    if frame is not None:
        expected = jsonable(load_model(mv.uri, store=store).predict(frame))
    return VersionSpec(mv.name, mv.version, mv.sha256, mv.signature or {}, example, expected)


# What scikit-learn says when given a matrix after being fitted on a DataFrame; the matrix path
# below only runs once the server has checked the names itself (see LoadedModel.enable_matrix_inputs).
FEATURE_NAMES_WARNING = "X does not have valid feature names"


class LoadedModel:
    """A model version in memory: ``predict(frame)``, warmed up and checked against its example."""

    def __init__(self, spec: VersionSpec, model: Any) -> None:
        self.spec = spec
        self.model = model
        self.loaded_at = time.time()
        self.warm = False
        self.matrix_dtype: np.dtype | None = None  # set by enable_matrix_inputs

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(frame))

    def predict_columns(self, cols: Columns) -> np.ndarray:
        if self.matrix_dtype is not None:
            return np.asarray(self.model.predict(_matrix(cols, self.matrix_dtype)))
        return self.predict(cols.frame())

    def enable_matrix_inputs(self) -> bool:
        """Feed a scikit-learn model the float matrix it would build from the frame itself.

        scikit-learn's DataFrame checks (dtypes, sparse accessor, feature names
        through narwhals) cost about three quarters of a single-row predict of a
        scaler + logistic regression. The server has already checked, ordered
        and cast every request's columns against the signature, so for an
        estimator fitted on exactly those all-numeric columns it hands over
        ``frame.to_numpy()``'s matrix, as MLServer's and Seldon's scikit-learn
        servers do. Only when the model predicts the input example identically
        both ways; otherwise (or for any other model) frames stay. Returns
        whether the matrix path is on. The caller silences
        ``FEATURE_NAMES_WARNING`` in its process (the server does: see
        :func:`silence_feature_names_warning`).
        """
        self.matrix_dtype = None
        names = [c["name"] for c in input_columns(self.spec.signature) or []]
        fitted = getattr(self.model, "feature_names_in_", None)
        frame = _example_frame(self.spec.example, self.spec.signature)
        if (not _is_sklearn(self.model) or frame is None or fitted is None or list(fitted) != names
                or not all(dt.kind in "iuf" for dt in frame.dtypes)):
            return False
        dtype = np.result_type(*frame.dtypes)
        try:
            same = np.array_equal(np.asarray(self.model.predict(frame.to_numpy(dtype=dtype))),
                                  self.predict(frame), equal_nan=True)
        except Exception:  # e.g. a ColumnTransformer that selects columns by name
            return False
        if same:
            self.matrix_dtype = dtype
        return same

    def warm_up(self, calls: int = 20, atol: float = 1e-9) -> None:
        """Predict the input example ``calls`` times; refuse the model if it disagrees with ``expected``."""
        frame = _example_frame(self.spec.example, self.spec.signature)
        if frame is None:
            self.warm = True
            return
        try:
            got = self.predict(frame)
            for _ in range(max(0, calls - 1)):
                self.predict(frame.head(1))
        except Exception as exc:
            raise ModelLoadError(f"{self.spec.name} v{self.spec.version} failed on its input example: "
                                 f"{type(exc).__name__}: {exc}") from exc
        if self.spec.expected is not None:
            want = np.asarray(self.spec.expected)
            same = (got.shape == want.shape) and (
                np.allclose(got, want, atol=atol, rtol=0) if got.dtype.kind in "biuf" and want.dtype.kind in "biuf"
                else bool((got.astype(str) == want.astype(str)).all()))
            if not same:
                raise ModelLoadError(
                    f"{self.spec.name} v{self.spec.version} predicts its input example differently "
                    f"from the deploying process: got {got.tolist()[:5]}, expected {want.tolist()[:5]}"
                )
        self.warm = True


def silence_feature_names_warning() -> None:
    """Ignore scikit-learn's matrix-after-DataFrame warning in this process (idempotent).

    Process-wide, because :func:`warnings.catch_warnings` is not thread-safe and
    requests are predicted in a thread pool; only the server calls it.
    """
    warnings.filterwarnings("ignore", message=FEATURE_NAMES_WARNING, category=UserWarning)


def _is_sklearn(model: Any) -> bool:
    from sklearn.base import BaseEstimator

    return isinstance(model, BaseEstimator)


def _matrix(cols: Columns, dtype: np.dtype) -> np.ndarray:
    out = np.empty((cols.n_rows, len(cols.names)), dtype=dtype)
    for j, name in enumerate(cols.names):
        out[:, j] = cols.arrays[name]
    return out


def load_spec(store: Any, spec: VersionSpec, warm: bool = True, matrix_inputs: bool = False) -> LoadedModel:
    """Load ``spec``'s model file from the artifact store (sha256 checked; no database access).

    ``matrix_inputs``: try :meth:`LoadedModel.enable_matrix_inputs` after the warm-up.
    """
    from workbench.tracking.models import load_model_bytes

    path = store.artifacts.path_for(spec.sha256)
    if not path.exists():
        raise ModelLoadError(f"{spec.name} v{spec.version}: model file {path} is missing")
    try:
        model = load_model_bytes(path.read_bytes(), spec.sha256)
    except ArtifactIntegrityError as exc:
        raise ModelLoadError(f"{spec.name} v{spec.version}: {exc}") from None
    loaded = LoadedModel(spec, model)
    if warm:
        loaded.warm_up()
    if matrix_inputs:
        loaded.enable_matrix_inputs()
    return loaded
