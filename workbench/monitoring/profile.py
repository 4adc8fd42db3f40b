"""Reference profiles: the reference summarised once, reused by every later report.

``reference_profile(train_df, name="churn-train", store=store)`` scans the
reference once and keeps, per column, a :class:`ColumnProfile` (counts,
missing, min/max, mean, std, decile edges, value counts, a display histogram)
and, for numerical columns, the sorted finite values, so that exact KS and
Wasserstein against the profile need no reference scan. In the store the
summaries are a row of ``drift_profiles`` and the sorted values one Parquet
file in the content-addressed artifact folder (read back one column at a time).

>>> import numpy as np, pandas as pd
>>> from workbench.monitoring import reference_profile
>>> prof = reference_profile(pd.DataFrame({"x": np.arange(2000.0), "c": ["a", "b"] * 1000}))
>>> prof.types
{'x': 'numerical', 'c': 'categorical'}
>>> prof["x"].deciles[:2]
[199.9, 399.8]
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.errors import MonitoringInputError, NotFoundError
from workbench.monitoring.columns import (
    ColumnProfile,
    check_column_type,
    infer_types,
    profile_column,
)
from workbench.monitoring.stattests import NUMERICAL
from workbench.store.drift_sql import Scan


@dataclass
class ReferenceProfile:
    """A reusable reference: per-column summaries plus the numerical columns' sorted values."""

    name: str | None
    columns: dict[str, ColumnProfile]
    n_rows: int
    source: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)
    table_stats: dict[str, Any] = field(default_factory=dict)
    values_sha256: str | None = None
    _values: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _values_path: str | None = field(default=None, repr=False)

    def __getitem__(self, column: str) -> ColumnProfile:
        if column not in self.columns:
            raise MonitoringInputError(f"profile {self.name or self.id!r} has no column {column!r}")
        return self.columns[column]

    @property
    def types(self) -> dict[str, str]:
        return {c: p.type for c, p in self.columns.items()}

    def values(self, column: str) -> np.ndarray | None:
        """The sorted finite reference values of a numerical column (read lazily from the store)."""
        if column in self._values:
            return self._values[column]
        if self._values_path is None or self.columns[column].type != NUMERICAL:
            return None
        import pyarrow.parquet as pq

        table = pq.read_table(self._values_path, columns=[column])
        arr = table.column(0).to_numpy()
        return arr[: self.columns[column].n]

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "n_rows": self.n_rows, "source": self.source,
                "columns": len(self.columns)}

    def __repr__(self) -> str:
        return f"ReferenceProfile(name={self.name!r}, n_rows={self.n_rows}, columns={list(self.columns)})"

    # -- persistence -------------------------------------------------------------
    def _write_values(self) -> str | None:
        """The sorted values as one Parquet file (columns padded with NaN to equal length)."""
        numeric = [c for c, p in self.columns.items() if p.type == NUMERICAL and c in self._values]
        if not numeric:
            return None
        import pyarrow as pa
        import pyarrow.parquet as pq

        length = max(self._values[c].size for c in numeric)
        arrays = []
        for c in numeric:
            v = self._values[c]
            if v.size < length:
                v = np.concatenate([v, np.full(length - v.size, np.nan)])
            arrays.append(pa.array(v))
        fd, path = tempfile.mkstemp(suffix=".parquet", prefix="wb-profile-")
        os.close(fd)
        pq.write_table(pa.table(arrays, names=numeric), path, compression="none")
        return path


def build_profile(scan: Scan, name: str | None, columns: list[str] | None,
                  column_types: dict[str, str] | None, keep_values: bool = True,
                  n_jobs: int = 2, source: str = "") -> ReferenceProfile:
    """Scan a reference once into a :class:`ReferenceProfile`."""
    from workbench.monitoring.report import run_columns

    names = [c for c, _ in scan.columns]
    if columns is not None:
        missing = [c for c in columns if c not in set(names)]
        if missing:
            raise MonitoringInputError(f"columns not in the reference: {missing}")
        names = list(columns)
    if scan.n_rows == 0:
        raise MonitoringInputError(f"the {scan.label} is empty (0 rows)")
    types = infer_types(scan, [c for c in names if c not in (column_types or {})])
    for c, t in (column_types or {}).items():
        if c in set(names):
            types[c] = check_column_type(t, c)

    def job(c: str):
        return lambda: profile_column(scan, c, types[c])

    results = run_columns([job(c) for c in names], n_jobs)
    prof = ReferenceProfile(name, {c: r[0] for c, r in zip(names, results)}, scan.n_rows, source=source)
    if keep_values:
        prof._values = {c: r[1] for c, r in zip(names, results) if r[1] is not None}
    unique = any(p.n_distinct == scan.n_rows and p.n_missing == 0 for p in prof.columns.values())
    dup = 0 if unique else scan.duplicated_rows([c for c, _ in scan.columns])
    prof.table_stats = {"columns": names, "all_columns": [c for c, _ in scan.columns],
                        "duplicated_rows": dup}
    return prof


def save_profile(store: Any, prof: ReferenceProfile) -> str:
    """Save a profile (summaries in ``drift_profiles``, values as an artifact); returns its id."""
    from workbench.monitoring.schema import ensure_schema
    from workbench.store import monitoring_store as ms

    ensure_schema(store)
    path = prof._write_values()
    sha = None
    try:
        if path is not None:
            sha, _ = store.artifacts.put_file(path)
    finally:
        if path is not None:
            os.unlink(path)
    prof.values_sha256 = sha
    with store.transaction() as con:
        ms.insert_profile(con, {
            "profile_id": prof.id, "name": prof.name or prof.id, "created_at": int(prof.created_at * 1000),
            "n_rows": prof.n_rows, "source": prof.source,
            "columns": [p.to_dict() for p in prof.columns.values()],
            "table_stats": prof.table_stats, "values_sha256": sha})
    if sha is not None:
        prof._values_path = str(store.artifacts.path_for(sha))
    return prof.id


def load_profile(store: Any, name_or_id: str) -> ReferenceProfile:
    """A saved profile by id, or the newest one with that name."""
    from workbench.monitoring.schema import ensure_schema
    from workbench.store import monitoring_store as ms

    ensure_schema(store)
    with store.connection() as con:
        row = ms.find_profile(con, name_or_id)
    if row is None:
        raise NotFoundError(f"no reference profile named or with id {name_or_id!r}")
    cols = {d["name"]: ColumnProfile.from_dict(d) for d in row["columns"]}
    prof = ReferenceProfile(row["name"], cols, int(row["n_rows"]), source=row["source"] or "",
                            id=row["profile_id"], created_at=row["created_at"] / 1000,
                            table_stats=row["table_stats"] or {}, values_sha256=row["values_sha256"])
    if row["values_sha256"]:
        path = store.artifacts.path_for(row["values_sha256"])
        if not path.is_file():
            raise NotFoundError(f"the values file of profile {prof.name!r} is missing from the artifact store")
        prof._values_path = str(path)
    return prof
