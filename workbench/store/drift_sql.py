"""Every DuckDB query that scans reference or current data for drift reports.

The data (DataFrames registered as views, or Parquet files and globs read by
DuckDB) is scanned in a private in-memory DuckDB connection; pandas never
holds the table. Each function returns a few numbers or one column as a numpy
array. Column names come from the data: they are validated against the
actual column list and quoted (``"`` doubled), values are bound as parameters.

>>> import pandas as pd
>>> scan = Scan.open(pd.DataFrame({"x": [1.0, None, 3.0], "c": ["a", "b", "a"]}))
>>> scan.n_rows, [c for c, _ in scan.columns]
(3, ['x', 'c'])
>>> scan.value_counts("c")
(['a', 'b'], [2, 1], 0)
"""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from workbench.errors import MonitoringInputError

NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                 "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL")
INTEGER_TYPES = NUMERIC_TYPES[:10]


def quote(name: str) -> str:
    """A SQL identifier for a column name: wrapped in ``"`` with ``"`` doubled."""
    return '"' + str(name).replace('"', '""') + '"'


def type_family(duck_type: str) -> str:
    """'integer', 'float', 'boolean', 'string', 'datetime' or 'other' for a DuckDB type name."""
    t = duck_type.upper()
    if t in INTEGER_TYPES:
        return "integer"
    if t in ("FLOAT", "DOUBLE", "REAL") or t.startswith("DECIMAL"):
        return "float"
    if t == "BOOLEAN":
        return "boolean"
    if t in ("VARCHAR", "ENUM") or t.startswith("ENUM") or t == "UUID":
        return "string"
    if t.startswith("TIMESTAMP") or t in ("DATE", "TIME"):
        return "datetime"
    return "other"


class Scan:
    """One side's data as a DuckDB view ``src`` in a private connection.

    Thread-safe: each call uses its own cursor, so columns can be read in
    parallel threads (DuckDB releases the GIL while it scans).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, label: str, frame: pd.DataFrame | None = None,
                 files: list[str] | None = None) -> None:
        self._con = con
        self._frame = frame
        self._files = files
        self._local = threading.local()
        self.label = label
        desc = self._cur().execute("DESCRIBE SELECT * FROM src").fetchall()
        self.columns: list[tuple[str, str]] = [(r[0], r[1]) for r in desc]
        self._names = {c for c, _ in self.columns}
        self.n_rows = int(self._cur().execute("SELECT count(*) FROM src").fetchone()[0])

    @classmethod
    def open(cls, data: pd.DataFrame | str | os.PathLike | Sequence[str], label: str = "data",
             threads: int | None = None) -> Scan:
        """A scan over a DataFrame or one or more Parquet paths/globs."""
        con = duckdb.connect(":memory:")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        if isinstance(data, pd.DataFrame):
            con.from_df(data).create_view("src")
            return cls(con, label, frame=data)
        paths = [str(data)] if isinstance(data, (str, os.PathLike)) else [str(p) for p in data]
        try:
            con.read_parquet(paths).create_view("src")
        except duckdb.Error as exc:
            raise MonitoringInputError(f"cannot read Parquet {paths}: {exc}") from None
        # DuckDB reads the files in the order given, each glob's matches sorted by name
        files = list(dict.fromkeys(f for p in paths
                                   for f in (sorted(glob.glob(p)) if any(ch in p for ch in "*?[") else [p])))
        return cls(con, label, files=files)

    def close(self) -> None:
        self._con.close()

    def _cur(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cur", None)
        if cur is None:
            cur = self._con.cursor()
            self._local.cur = cur
        return cur

    def _col(self, name: str) -> str:
        if name not in self._names:
            raise MonitoringInputError(f"{self.label} has no column {name!r}")
        return quote(name)

    # -- per column ---------------------------------------------------------
    def numeric(self, name: str, cast: bool = False, where: str = "") -> tuple[np.ndarray, int]:
        """The column as float64 (NULL -> NaN, row order kept) and how many non-null values
        could not be read as numbers (``cast=True`` for a text column expected to hold numbers)."""
        col = self._col(name)
        fast = self._fast_numeric(name) if not cast else None
        if fast is not None:
            return fast, 0
        if cast:
            row = self._cur().execute(
                f"SELECT count(*) FILTER (WHERE {col} IS NOT NULL AND TRY_CAST({col} AS DOUBLE) IS NULL) "
                f"FROM src").fetchone()
            bad = int(row[0])
            expr = f"coalesce(TRY_CAST({col} AS DOUBLE), 'NaN'::DOUBLE)"
        else:
            bad = 0
            expr = f"coalesce({col}::DOUBLE, 'NaN'::DOUBLE)"
        res = self._cur().execute(f"SELECT {expr} AS v FROM src").fetchnumpy()["v"]
        return np.asarray(res, dtype=np.float64), bad

    def _fast_numeric(self, name: str) -> np.ndarray | None:
        """A numeric column read without a query: straight from the DataFrame or the Parquet files
        (pyarrow, one column), in the same row order as DuckDB's scan."""
        family = type_family(dict(self.columns)[name])
        if family not in ("integer", "float", "boolean"):
            return None
        if self._frame is not None:
            col = self._frame[name]
            try:
                return col.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                return None
        if self._files:
            import pyarrow as pa
            import pyarrow.compute as pc
            import pyarrow.parquet as pq

            parts = []
            for f in self._files:
                arr = pq.read_table(f, columns=[name]).column(0)
                arr = pc.fill_null(arr.cast(pa.float64()), float("nan"))
                parts.append(arr.to_numpy())
            return parts[0] if len(parts) == 1 else np.concatenate(parts)
        return None

    def value_counts(self, name: str) -> tuple[list, list[int], int]:
        """Distinct non-null values, their counts, and the null count."""
        col = self._col(name)
        rows = self._cur().execute(f"SELECT {col} AS k, count(*) AS n FROM src GROUP BY 1").fetchall()
        keys, counts, nulls = [], [], 0
        for k, n in rows:
            if k is None or (isinstance(k, float) and k != k):
                nulls += int(n)
            else:
                keys.append(k)
                counts.append(int(n))
        order = sorted(range(len(keys)), key=lambda i: (-counts[i], str(keys[i])))
        return [keys[i] for i in order], [counts[i] for i in order], nulls

    def distinct_counts(self, names: Sequence[str]) -> dict[str, int]:
        """Exact distinct non-null values per column, in one scan."""
        if not names:
            return {}
        parts = ", ".join(f"count(DISTINCT {self._col(n)})" for n in names)
        row = self._cur().execute(f"SELECT {parts} FROM src").fetchone()
        return {n: int(v) for n, v in zip(names, row)}

    def null_counts(self, names: Sequence[str]) -> dict[str, int]:
        if not names:
            return {}
        parts = ", ".join(f"count(*) - count({self._col(n)})" for n in names)
        row = self._cur().execute(f"SELECT {parts} FROM src").fetchone()
        return {n: int(v) for n, v in zip(names, row)}

    def duplicated_rows(self, names: Sequence[str]) -> int:
        """Rows that repeat an earlier row on ``names`` (by a 64-bit row hash)."""
        if not names:
            return 0
        cols = ", ".join(self._col(n) for n in names)
        row = self._cur().execute(f"SELECT count(*) - count(DISTINCT hash({cols})) FROM src").fetchone()
        return int(row[0])

    def sample_rows(self, names: Sequence[str], n: int, seed: int) -> pd.DataFrame:
        """At most ``n`` rows of ``names``, a seeded reservoir sample (all rows when fewer)."""
        cols = ", ".join(self._col(c) for c in names)
        if self.n_rows <= n:
            return self._cur().execute(f"SELECT {cols} FROM src").df()
        return self._cur().execute(
            f"SELECT {cols} FROM src USING SAMPLE reservoir({int(n)} ROWS) REPEATABLE ({int(seed)})").df()

    def sample_texts(self, name: str, n: int, seed: int) -> list[str]:
        """At most ``n`` non-missing values of ``name`` as text, a seeded reservoir sample in row order
        (all of them when fewer)."""
        col = self._col(name)
        rows = self._cur().execute(
            f"SELECT t FROM (SELECT CAST({col} AS VARCHAR) AS t, row_number() OVER () AS i FROM src "
            f"WHERE {col} IS NOT NULL) USING SAMPLE reservoir({int(n)} ROWS) REPEATABLE ({int(seed)}) "
            "ORDER BY i").fetchall()
        return [r[0] for r in rows]

    # -- windows over time -----------------------------------------------------
    def time_windows(self, time_column: str, every: str) -> tuple[np.ndarray, list[Any]]:
        """Each row's window number (``time_bucket(every, t)``, row order kept) and the window starts."""
        col = self._col(time_column)
        try:
            rows = self._cur().execute(
                f"SELECT time_bucket(?::INTERVAL, {col}::TIMESTAMP) AS b, count(*) FROM src "
                f"WHERE {col} IS NOT NULL GROUP BY 1 ORDER BY 1", [every]).fetchall()
        except duckdb.Error as exc:
            raise MonitoringInputError(
                f"cannot cut {time_column!r} into windows of {every!r}: {exc}") from None
        starts = [r[0] for r in rows]
        ids = self._cur().execute(
            f"SELECT coalesce(list_position(?, time_bucket(?::INTERVAL, {col}::TIMESTAMP)), 0) - 1 AS w "
            f"FROM src", [starts, every]).fetchnumpy()["w"]
        return np.asarray(ids, dtype=np.int64), starts

    def window_value_counts(self, name: str, time_column: str | None = None, every: str | None = None,
                            starts: list | None = None, rows: int | None = None) -> pd.DataFrame:
        """Counts per (window, value) of a column: windows by ``time_bucket(every, t)`` (numbered by
        their position in ``starts``) or by consecutive blocks of ``rows`` rows."""
        col = self._col(name)
        if rows is not None:
            sql = (f"SELECT w, k, count(*) AS n FROM (SELECT (row_number() OVER () - 1) // ? AS w, "
                   f"{col} AS k FROM src) GROUP BY ALL")
            params: list[Any] = [int(rows)]
        else:
            tcol = self._col(time_column)
            sql = (f"SELECT list_position(?, time_bucket(?::INTERVAL, {tcol}::TIMESTAMP)) - 1 AS w, "
                   f"{col} AS k, count(*) AS n FROM src WHERE {tcol} IS NOT NULL GROUP BY ALL")
            params = [starts, every]
        return self._cur().execute(sql, params).df()
