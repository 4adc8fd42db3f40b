"""Saved pipelines: versions, loading, diffs, runs, and the lifecycle template.

>>> import tempfile, os, workbench as wb
>>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
>>> pipe = churn_template()
>>> pipe.save(store), pipe.save(store)   # unchanged: the same version
(1, 1)
>>> pipe.with_step(pipe.step("train").replace(params={"model": "random_forest"})).save(store)
2
>>> print(diff_versions(store, "churn", 1, 2))
~ train.params.model: '<absent>' -> 'random_forest'
"""

from __future__ import annotations

import os

import pandas as pd

from workbench.config import current_user
from workbench.errors import NotFoundError
from workbench.pipelines.graph import Pipeline, PipelineDiff, Step, bind_action, diff_specs
from workbench.store import pipelines_store as ps
from workbench.store.store import Store
from workbench.tracking.fluent import resolve_store


def save_pipeline(store: Store | str | os.PathLike | None, pipeline: Pipeline,
                  message: str | None = None) -> int:
    """Validate and save; a new version unless the spec equals the latest one. Returns the version.

    An invalid pipeline raises :class:`PipelineValidationError` and the store is not touched.
    """
    pipeline.validate()
    spec = pipeline.to_spec()
    store = resolve_store(store)
    version, _created = ps.save_version(store, pipeline.name, spec, pipeline.spec_hash(),
                                        current_user(), pipeline.description, message)
    pipeline.version = version
    return version


def load_pipeline(store: Store | str | os.PathLike | None, name: str,
                  version: int | None = None) -> Pipeline:
    """A saved pipeline (the latest version by default). Not validated: call ``validate()``."""
    found = ps.get_version(resolve_store(store), name, version)
    if found is None:
        what = f"version {version} of pipeline {name!r}" if version else f"pipeline {name!r}"
        raise NotFoundError(f"no {what} in this store")
    v, spec = found
    pipeline = Pipeline.from_spec(spec)
    pipeline.version = v
    return pipeline


def list_pipelines(store: Store | str | os.PathLike | None = None) -> pd.DataFrame:
    """Saved pipelines: name, latest_version, description, created_by, created_at, runs, last_run."""
    return ps.list_pipelines(resolve_store(store))


def list_versions(store: Store | str | os.PathLike | None, name: str) -> pd.DataFrame:
    """Versions of one pipeline: version, spec_hash, message, created_by, created_at, steps."""
    return ps.list_versions(resolve_store(store), name)


def diff_versions(store: Store | str | os.PathLike | None, name: str, a: int, b: int) -> PipelineDiff:
    """What changed from version ``a`` to version ``b`` of a saved pipeline."""
    store = resolve_store(store)
    specs = []
    for v in (a, b):
        found = ps.get_version(store, name, v)
        if found is None:
            raise NotFoundError(f"no version {v} of pipeline {name!r} in this store")
        specs.append(found[1])
    return diff_specs(specs[0], specs[1])


def pipeline_runs(store: Store | str | os.PathLike | None, name: str, limit: int = 50) -> pd.DataFrame:
    """The latest runs of a pipeline, newest first (run_id, version, status, times, settings)."""
    return ps.pipeline_runs(resolve_store(store), name, limit=limit)


def change_stamp(store: Store | str | os.PathLike | None, name: str | None = None) -> tuple:
    """A value that changes when pipelines, their versions or ``name``'s latest run change.

    >>> import tempfile, os, workbench as wb
    >>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> before = change_stamp(store, "tiny")
    >>> _ = wb.Pipeline("tiny", [wb.Step("a", "identity")]).save(store)
    >>> change_stamp(store, "tiny") != before
    True
    """
    return ps.change_stamp(resolve_store(store), name)


def churn_template(path: str = "sample_data/churn.parquet", name: str = "churn",
                   model: str | None = None, model_name: str = "churn",
                   min_auc: float = 0.0) -> Pipeline:
    """The lifecycle as a pipeline on the bundled churn data.

    extract -> clean -> features -> split -> validate -> train -> evaluate -> register
    """
    train_params = {"model": model} if model else {}
    return Pipeline(name, description="extract -> clean -> features -> split -> validate -> "
                    "train -> evaluate -> register, on the sample churn data", steps=[
        Step("extract", "workbench.steps:read_table", params={"path": path}),
        Step("clean", "workbench.steps:clean", inputs=["extract"]),
        Step("features", "workbench.steps:features", inputs=["clean"]),
        Step("split", "workbench.steps:split", inputs=["features"], params={"test_size": 0.25}),
        Step("validate", "workbench.steps:validate", inputs=["split"]),
        Step("train", "workbench.steps:train", inputs=["validate"], params=train_params),
        Step("evaluate", "workbench.steps:evaluate", inputs={"model": "train", "data": "validate"}),
        Step("register", "workbench.steps:register",
             inputs={"model": "train", "evaluation": "evaluate", "data": "validate"},
             params={"name": model_name, "min_auc": min_auc}),
    ])


bind_action("save", save_pipeline)
