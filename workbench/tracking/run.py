"""``Run``: an open run that logs params, metrics, tags, datasets and artifacts.

Every ``log_*`` call checks its input and appends to this process's spool
buffer; nothing waits for the database. Use it directly or through the
module-level functions in :mod:`workbench.tracking.fluent`.

>>> import tempfile, os, workbench as wb
>>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
>>> with wb.start_run(experiment="demo", store=store) as run:
...     run.log_param("lr", 0.1)
...     run.log_metric("loss", 0.5, step=0)
>>> store.get_run(run.id)["params"]
{'lr': '0.1'}
"""

from __future__ import annotations

import json
import os
import socket
import threading
import traceback
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa

from workbench.errors import InvalidInputError, MetricValueError, ParamConflictError, RunStateError
from workbench.store.artifacts import check_logical_path
from workbench.store.keys import check_key, check_metric_value, check_step
from workbench.store.spool import METRIC_SCHEMA, now_ms
from workbench.store.store import RUN_STATUSES, Store
from workbench.tracking.datasets import check_role, dataset_to_parquet_bytes, describe_dataset
from workbench.tracking.environment import capture_environment, git_state_for_source, source_file

_PROCESS: dict[str, Any] = {}
_ENV_SENT: set[tuple[str, str]] = set()  # (store path, env id) already spooled by this process


def _process_identity() -> dict[str, Any]:
    pid = os.getpid()
    if _PROCESS.get("pid") != pid:
        _PROCESS.clear()
        _PROCESS.update(
            pid=pid, host=socket.gethostname(), proc_start=psutil.Process(pid).create_time()
        )
    return _PROCESS


def _check_experiment_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 250:
        raise InvalidInputError(f"experiment name must be 1 to 250 characters, got {name!r}")
    return name


class Run:
    """An open (or, after :meth:`end`, finished) run in a store."""

    def __init__(
        self,
        store: Store,
        experiment: str | int,
        run_id: str,
        run_name: str,
        parent_run_id: str | None,
    ) -> None:
        self.store = store
        self.experiment = experiment  # a name, or an id when the run was started with one
        self.id = run_id
        self.name = run_name
        self.parent_run_id = parent_run_id
        self.status = "RUNNING"
        self._writer = store.writer
        self._params: dict[str, str] = {}
        self._next_step: dict[str, int] = {}
        self._lock = threading.Lock()

    @classmethod
    def create(
        cls,
        store: Store,
        experiment: str | int | None = None,
        run_name: str | None = None,
        parent_run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        description: str | None = None,
    ) -> Run:
        """Start a new run (status RUNNING) in ``experiment`` (default ``"Default"``)."""
        if experiment is None:
            experiment = "Default"
        # Logging never waits for the database: a run names its experiment and
        # the ingester creates it if needed. Only an id given by the caller is
        # checked here.
        if isinstance(experiment, int) and not isinstance(experiment, bool):
            experiment_id: int | None = store._resolve_experiment(experiment)
            experiment_name = None
        elif isinstance(experiment, str):
            experiment_name = _check_experiment_name(experiment)
            experiment_id = store._handle.experiment_ids.get(experiment_name)
        else:
            raise InvalidInputError(
                f"experiment must be a name (str) or an id (int), got {type(experiment).__name__}"
            )
        run_id = uuid.uuid4().hex
        run_name = run_name or f"run-{run_id[:8]}"
        source = source_file()
        commit, dirty = git_state_for_source(source)
        env = capture_environment()
        ident = _process_identity()
        writer = store.writer
        if (str(store.path), env["env_id"]) not in _ENV_SENT:
            writer.add({"kind": "env", **env})
            _ENV_SENT.add((str(store.path), env["env_id"]))
        from workbench.config import current_user

        writer.add(
            {
                "kind": "run_start",
                "run_id": run_id,
                "experiment_id": experiment_id,
                "experiment_name": experiment_name,
                "run_name": run_name,
                "parent_run_id": parent_run_id,
                "status": "RUNNING",
                "start_time": now_ms(),
                "user_name": current_user(),
                "source": source,
                "git_commit": commit,
                "git_dirty": dirty,
                "env_id": env["env_id"],
                "host": ident["host"],
                "pid": ident["pid"],
                "proc_start": ident["proc_start"],
                "description": description,
            }
        )
        writer.run_started(run_id)
        run = cls(store, experiment, run_id, run_name, parent_run_id)
        if tags:
            run.set_tags(tags)
        return run

    def __repr__(self) -> str:
        return f"<Run {self.name!r} id={self.id} status={self.status}>"

    @property
    def experiment_id(self) -> int:
        """The experiment's id (reads the store if the run was started by name)."""
        if isinstance(self.experiment, int):
            return self.experiment
        return self.store.experiment_id(self.experiment)

    # -- context manager ---------------------------------------------------
    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.status != "RUNNING":
            return
        if exc_type is None:
            self.end("FINISHED")
        else:
            status = "KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED"
            self.set_tag("error", "".join(traceback.format_exception(exc_type, exc, tb))[-5000:])
            self.end(status)

    def _check_open(self) -> None:
        if self.status != "RUNNING":
            raise RunStateError(f"run {self.id} has ended ({self.status}); it takes no more records")

    # -- params ------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        """Log one param; logging a key again with a different value is an error."""
        self.log_params({key: value})

    def log_params(self, params: dict[str, Any]) -> None:
        """Log several params at once (stored as strings, compared as numbers where numeric)."""
        self._check_open()
        if not isinstance(params, dict):
            raise ParamConflictError(f"params must be a dict, got {type(params).__name__}")
        items = []
        with self._lock:
            for key, value in params.items():
                check_key(key, "param")
                text = str(value)
                old = self._params.get(key)
                if old is not None and old != text:
                    raise ParamConflictError(
                        f"param {key!r} of run {self.id} is already {old!r}; cannot change it to {text!r}"
                    )
                if old is None:
                    items.append([key, text])
            for key, text in items:
                self._params[key] = text
        if items:
            self._writer.add({"kind": "params", "run_id": self.id, "items": items})

    # -- metrics -----------------------------------------------------------
    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Log one point. ``step`` defaults to one more than this key's last step.

        ``timestamp`` is in epoch milliseconds (default: now).
        """
        if self.status != "RUNNING":
            self._check_open()
        key = check_key(key, "metric")
        value = check_metric_value(key, value)
        with self._lock:
            if step is None:
                step = self._next_step.get(key, 0)
            else:
                step = check_step(step)
            self._next_step[key] = step + 1
        self._writer.add_metric(self.id, key, value, step, timestamp or now_ms())

    def log_metrics(
        self, metrics: dict[str, float], step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Log several metrics at one step (each key's own next step if ``step`` is None)."""
        self._check_open()
        if not isinstance(metrics, dict):
            raise TypeError(f"metrics must be a dict, got {type(metrics).__name__}")
        keys = [check_key(k, "metric") for k in metrics]
        values = [check_metric_value(k, v) for k, v in metrics.items()]
        ts = timestamp or now_ms()
        with self._lock:
            if step is None:
                steps = [self._next_step.get(k, 0) for k in keys]
            else:
                steps = [check_step(step)] * len(keys)
            for k, s in zip(keys, steps):
                self._next_step[k] = s + 1
        self._writer.add_metrics(self.id, keys, values, steps, [ts] * len(keys))

    def log_metric_history(
        self,
        key: str,
        values: Any,
        steps: Any = None,
        timestamps: Any = None,
    ) -> None:
        """Log a whole history of one metric at once from arrays (the bulk path).

        ``steps`` default to 0..n-1 after this key's last step; ``timestamps``
        (epoch ms) default to now.
        """
        self._check_open()
        key = check_key(key, "metric")
        vals = np.asarray(values)
        if vals.ndim != 1 or vals.dtype.kind not in "biuf":
            raise MetricValueError(
                f"metric {key!r} history must be a 1-D array of numbers, got dtype {vals.dtype} "
                f"and shape {vals.shape}"
            )
        n = len(vals)
        with self._lock:
            if steps is None:
                start = self._next_step.get(key, 0)
                step_arr = np.arange(start, start + n, dtype=np.int64)
            else:
                step_arr = np.asarray(steps)
                if step_arr.shape != (n,) or step_arr.dtype.kind not in "iu":
                    raise TypeError(f"steps for {key!r} must be {n} integers")
                step_arr = step_arr.astype(np.int64)
            if n:
                self._next_step[key] = int(step_arr.max()) + 1
        ts = np.full(n, now_ms(), dtype=np.int64) if timestamps is None else np.asarray(timestamps, dtype=np.int64)
        table = pa.Table.from_arrays(
            [
                pa.array(np.full(n, self.id, dtype=object), pa.string()),
                pa.array(np.full(n, key, dtype=object), pa.string()),
                pa.array(vals.astype(np.float64)),
                pa.array(step_arr),
                pa.array(ts),
            ],
            schema=METRIC_SCHEMA,
        )
        self._writer.add_metric_table(table)

    # -- tags ----------------------------------------------------------------
    def set_tag(self, key: str, value: Any) -> None:
        """Set one tag (tags, unlike params, can change)."""
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Set several tags."""
        if not isinstance(tags, dict):
            raise TypeError(f"tags must be a dict, got {type(tags).__name__}")
        items = [[check_key(k, "tag"), str(v)] for k, v in tags.items()]
        self._writer.add({"kind": "tags", "run_id": self.id, "items": items})

    def delete_tag(self, key: str) -> None:
        """Remove a tag."""
        self._writer.add({"kind": "tag_delete", "run_id": self.id, "key": check_key(key, "tag")})

    # -- artifacts -------------------------------------------------------------
    def log_artifact(self, local_path: str | os.PathLike, artifact_path: str | None = None) -> list[str]:
        """Copy a file (or every file under a folder) into the store; returns logical paths.

        The logical path is ``artifact_path/<file name>`` (``artifact_path`` is a
        folder inside the run's artifacts, as in MLflow).
        """
        self._check_open()
        src = Path(local_path)
        prefix = check_logical_path(artifact_path) + "/" if artifact_path else ""
        if src.is_dir():
            files = sorted(p for p in src.rglob("*") if p.is_file())
            pairs = [(p, prefix + src.name + "/" + p.relative_to(src).as_posix()) for p in files]
        else:
            pairs = [(src, prefix + src.name)]
        logged = []
        for path, logical in pairs:
            logical = check_logical_path(logical)
            sha, size = self.store.artifacts.put_file(path)
            self._record_artifact(logical, sha, size)
            logged.append(logical)
        return logged

    def log_bytes(self, data: bytes, artifact_path: str) -> str:
        """Store bytes as an artifact at ``artifact_path``."""
        self._check_open()
        logical = check_logical_path(artifact_path)
        sha, size = self.store.artifacts.put_bytes(bytes(data))
        self._record_artifact(logical, sha, size)
        return logical

    def log_text(self, text: str, artifact_path: str) -> str:
        """Store text (UTF-8) as an artifact."""
        return self.log_bytes(text.encode("utf-8"), artifact_path)

    def log_dict(self, obj: Any, artifact_path: str) -> str:
        """Store a JSON-serialisable object as a ``.json`` artifact."""
        return self.log_bytes(json.dumps(obj, indent=2, default=str).encode(), artifact_path)

    def _record_artifact(self, logical: str, sha: str, size: int) -> None:
        self._writer.add(
            {"kind": "artifact", "run_id": self.id, "path": logical, "sha256": sha,
             "size": size, "ts": now_ms()}
        )

    def log_model(self, model: Any, name: str = "model", input_example: Any = None):
        """Store a trained model with its sha256, signature and requirements.

        Returns a :class:`workbench.tracking.models.ModelInfo`; see that module.
        """
        from workbench.tracking.models import log_model

        self._check_open()
        return log_model(self, model, name=name, input_example=input_example)

    # -- datasets --------------------------------------------------------------
    def log_dataset(
        self,
        data: Any,
        name: str,
        role: str = "train",
        source: str | None = None,
        save: bool = False,
    ) -> str:
        """Record that this run used ``data`` in ``role``; returns the content digest.

        ``data`` is a DataFrame, array or a Parquet/CSV path. With ``save=True``
        a Parquet copy goes to the artifact store, so the run can be reproduced
        from the store alone.
        """
        self._check_open()
        name = check_key(name, "dataset name")
        role = check_role(role)
        described = describe_dataset(data)
        artifact_sha = None
        if save:
            artifact_sha, _ = self.store.artifacts.put_bytes(dataset_to_parquet_bytes(data))
        self._writer.add(
            {"kind": "dataset", "name": name, "digest": described["digest"],
             "schema": described["schema"], "n_rows": described["n_rows"],
             "n_cols": described["n_cols"], "source": source or described["source"],
             "artifact_sha256": artifact_sha, "ts": now_ms()}
        )
        self._writer.add(
            {"kind": "run_dataset", "run_id": self.id, "digest": described["digest"],
             "name": name, "role": role}
        )
        return described["digest"]

    # -- lifecycle -------------------------------------------------------------
    def end(self, status: str = "FINISHED") -> None:
        """Finish the run with ``status`` (FINISHED, FAILED or KILLED)."""
        if status not in RUN_STATUSES or status == "RUNNING":
            raise RunStateError(
                f"a run ends as FINISHED, FAILED or KILLED; got {status!r}"
            )
        if self.status != "RUNNING":
            return
        self.status = status
        self._writer.add(
            {"kind": "run_update", "run_id": self.id, "status": status, "end_time": now_ms()}
        )
        self._writer.run_ended(self.id)

    @property
    def info(self) -> dict[str, Any]:
        """The run as the store has it now (see :meth:`Store.get_run`)."""
        return self.store.get_run(self.id)
