"""DuckDB aggregation of A/B events into per-variant sufficient statistics.

An analysis never pulls rows into pandas: one scan of the events returns, per variant
(and per time bucket for ``over_time``), the number of units and for every needed
column its non-null count, sum and sum of squares, plus the cross-products of the
column pairs the statistics need (CUPED covariate x metric, ratio numerator x
denominator), and the number of values outside {0, 1} of each proportion column.

Events come from a DataFrame, a Parquet path / glob / list of paths (bound as a
parameter of ``read_parquet``), or a table of the store (validated against the store's
table list). Column names come from the user's data: each is checked against the
source's actual columns and quoted with :func:`quote_ident`.

Two row layouts (``rows=``):

- ``"unit"``: each row is one unit (an exposure table with its outcomes, like
  ``sample_data/ab_events.parquet``). Units present in more than one variant are found
  with a semi-join on ``hash(unit)`` between variants, then confirmed on the exact ids.
- ``"events"``: many rows per unit; rows are first aggregated per unit (``sum`` of
  metric columns, ``max`` of proportion and covariate columns, the first timestamp),
  and a unit whose rows carry two variants is a duplicate. Slower (a GROUP BY unit).

>>> quote_ident('we"ird')
'"we""ird"'
"""

from __future__ import annotations

import glob as _glob
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from workbench.errors import ExperimentDataError

NUMERIC_TYPES = re.compile(
    r"^(BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|"
    r"UHUGEINT|FLOAT|REAL|DOUBLE|DECIMAL.*|INT\d*)$",
    re.IGNORECASE,
)
TIME_TYPES = re.compile(r"^(TIMESTAMP.*|DATE)$", re.IGNORECASE)


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB (double any ``"``)."""
    return '"' + str(name).replace('"', '""') + '"'


@dataclass
class EventsSource:
    """An open events relation: the connection, the FROM clause, its parameters, columns."""

    con: duckdb.DuckDBPyConnection
    from_sql: str
    params: list
    columns: dict[str, str]
    description: str
    identity: tuple | None = None  # (path, size, mtime_ns) of every file, for caching

    def require(self, name: str, what: str, numeric: bool = False, time: bool = False) -> str:
        """The quoted column ``name`` after checking it exists (and is numeric / a time)."""
        if not isinstance(name, str) or name not in self.columns:
            raise ExperimentDataError(
                f"{what} column {name!r} is not in the events ({self.description}); "
                f"columns are {list(self.columns)}"
            )
        typ = self.columns[name]
        if numeric and not NUMERIC_TYPES.match(typ):
            raise ExperimentDataError(
                f"{what} column {name!r} must be numeric, but its type is {typ}"
            )
        if time and not TIME_TYPES.match(typ):
            raise ExperimentDataError(
                f"{what} column {name!r} must be a timestamp or date, but its type is {typ}"
            )
        return quote_ident(name)


def _is_path_like(events: Any) -> bool:
    if isinstance(events, Path):
        return True
    if (
        isinstance(events, (list, tuple))
        and events
        and all(isinstance(e, (str, Path)) for e in events)
    ):
        return True
    if isinstance(events, str):
        return (
            events.endswith(".parquet") or any(c in events for c in "*?[") or os.path.exists(events)
        )
    return False


@contextmanager
def open_events(events: Any, store: Any = None) -> Iterator[EventsSource]:
    """Open ``events`` (DataFrame, Parquet path/glob/list, or a store table name)."""
    if isinstance(events, pd.DataFrame):
        con = _connect()
        try:
            con.register("ab_events_frame", events)
            yield _source(con, "ab_events_frame", [], "a DataFrame")
        finally:
            con.close()
        return
    if _is_path_like(events):
        paths = [str(p) for p in events] if isinstance(events, (list, tuple)) else [str(events)]
        for p in paths:
            if not any(c in p for c in "*?[") and not os.path.exists(p):
                raise ExperimentDataError(f"events file {p!r} does not exist")
            if any(c in p for c in "*?[") and not _glob.glob(p):
                raise ExperimentDataError(f"events glob {p!r} matches no file")
        con = _connect()
        try:
            arg = paths if len(paths) > 1 else paths[0]
            src = _source(con, "read_parquet(?)", [arg], f"Parquet {arg}")
            src.identity = _files_identity(paths)
            yield src
        finally:
            con.close()
        return
    if isinstance(events, str):
        if store is None:
            raise ExperimentDataError(
                f"events {events!r} is neither a DataFrame nor an existing Parquet file; "
                "pass store= to read a table of the store"
            )
        with store.connection() as con:
            tables = [
                r[0]
                for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
            ]
            if events not in tables:
                raise ExperimentDataError(
                    f"the store has no table {events!r}; tables are {sorted(tables)}"
                )
            yield _source(con, quote_ident(events), [], f"store table {events!r}")
        return
    raise ExperimentDataError(
        f"events must be a DataFrame, a Parquet path or glob, or a store table name; "
        f"got {type(events).__name__}"
    )


def _files_identity(paths: list[str]) -> tuple:
    files = sorted(
        {f for p in paths for f in (_glob.glob(p) if any(c in p for c in "*?[") else [p])}
    )
    out = []
    for f in files:
        st = os.stat(f)
        out.append((os.path.realpath(f), st.st_size, st.st_mtime_ns))
    return tuple(out)


# Units found in two variants, per (files, unit, variant, rows): a Parquet file whose size
# and modification time are unchanged has the same units, so re-analysing it (another
# engine, another metric) skips the most expensive scan. Small LRU, this process only.
_DUPLICATE_CACHE: dict[tuple, tuple[Duplicates, pd.DataFrame]] = {}
_DUPLICATE_CACHE_SIZE = 16


def clear_duplicate_cache() -> None:
    """Forget the cached duplicate-unit checks (benchmarks measure cold analyses)."""
    _DUPLICATE_CACHE.clear()


def _connect() -> duckdb.DuckDBPyConnection:
    """A private in-memory connection (no progress bar on stdout)."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    return con


def _source(con, from_sql: str, params: list, description: str) -> EventsSource:
    rows = con.execute(f"DESCRIBE SELECT * FROM {from_sql}", params).fetchall()
    return EventsSource(con, from_sql, params, {r[0]: r[1] for r in rows}, description)


@dataclass
class StatsRequest:
    """What to aggregate: columns (with their per-unit aggregate), pairs, binary columns."""

    variant: str
    unit: str
    columns: list[str]
    pairs: list[tuple[str, str]] = field(default_factory=list)
    binary: list[str] = field(default_factory=list)
    unit_agg: dict[str, str] = field(default_factory=dict)  # rows="events": "sum" or "max"
    rows: str = "unit"


@dataclass
class Duplicates:
    """Units seen in more than one variant: how many, a few examples, rows per variant."""

    count: int
    examples: list[str]
    rows_by_variant: dict[str, int]


def _unit_relation(
    src: EventsSource, req: StatsRequest, time_col: str | None, exclude: bool
) -> tuple[str, list]:
    """A relation with one row per (valid) unit: variant, the columns, optionally t."""
    v = src.require(req.variant, "variant")
    cols = {c: src.require(c, "metric", numeric=True) for c in req.columns}
    t = src.require(time_col, "timestamp", time=True) if time_col else None
    if req.rows == "unit":
        sel = [f"CAST({v} AS VARCHAR) AS v"] + [
            f"CAST({q} AS DOUBLE) AS c{i}" for i, q in enumerate(cols.values())
        ]
        if t:
            sel.append(f"{t} AS t")
        where = "TRUE"  # rows without a variant form a NULL group, counted by the caller
        params = list(src.params)
        if exclude:
            u = src.require(req.unit, "unit")
            where = f"CAST({u} AS VARCHAR) NOT IN (SELECT unit FROM ab_duplicate_units)"
        return f"(SELECT {', '.join(sel)} FROM {src.from_sql} WHERE {where})", params
    u = src.require(req.unit, "unit")
    sel = [
        f"CAST({u} AS VARCHAR) AS unit",
        f"min(CAST({v} AS VARCHAR)) AS v",
        f"max(CAST({v} AS VARCHAR)) AS v_max",
    ]
    for i, (name, q) in enumerate(cols.items()):
        agg = req.unit_agg.get(name, "sum")
        if agg not in ("sum", "max", "min", "avg"):
            raise ExperimentDataError(f"unknown per-unit aggregate {agg!r} for column {name!r}")
        sel.append(f"{agg}(CAST({q} AS DOUBLE)) AS c{i}")
    if t:
        sel.append(f"min({t}) AS t")
    inner = (
        f"SELECT {', '.join(sel)} FROM {src.from_sql} WHERE {v} IS NOT NULL "
        f"GROUP BY CAST({u} AS VARCHAR)"
    )
    keep = "v = v_max" if exclude else "TRUE"
    return f"(SELECT * FROM ({inner}) WHERE {keep})", list(src.params)


def find_duplicates(
    src: EventsSource,
    req: StatsRequest,
    variants: Sequence[str] | None = None,
    max_examples: int = 5,
) -> Duplicates:
    """Units present in more than one variant (exact ids; registered for exclusion).

    ``variants``: the variant values present (found with a scan when not given). For
    Parquet files the answer is cached while their size and mtime stay the same.
    """
    v = src.require(req.variant, "variant")
    u = src.require(req.unit, "unit")
    con = src.con
    key = None if src.identity is None else (src.identity, req.unit, req.variant, req.rows)
    if key is not None and key in _DUPLICATE_CACHE:
        found, dup = _DUPLICATE_CACHE[key]
        con.register("ab_duplicate_units", dup)
        return found
    found = _find_duplicates(src, req, v, u, variants, max_examples)
    if key is not None:
        if len(_DUPLICATE_CACHE) >= _DUPLICATE_CACHE_SIZE:
            _DUPLICATE_CACHE.pop(next(iter(_DUPLICATE_CACHE)))
        _DUPLICATE_CACHE[key] = (found, src.con.execute("SELECT * FROM ab_duplicate_units").df())
    return found


def _find_duplicates(
    src: EventsSource,
    req: StatsRequest,
    v: str,
    u: str,
    variants: Sequence[str] | None,
    max_examples: int,
) -> Duplicates:
    con = src.con
    if req.rows == "unit":
        if variants is None:
            variants = [
                r[0]
                for r in con.execute(
                    f"SELECT DISTINCT CAST({v} AS VARCHAR) FROM {src.from_sql} "
                    f"WHERE {v} IS NOT NULL",
                    src.params,
                ).fetchall()
            ]
        names = sorted(str(x) for x in variants)
        hashes: set[int] = set()
        if len(names) > 1:
            # One scan hashes every unit once (materialised with its variant's index), then
            # a semi-join per variant finds the hashes also present in a later variant. The
            # unit is hashed in its own type: casting 10M integer ids to text cost ~2 s.
            cases = " ".join(f"WHEN ? THEN {i}" for i in range(len(names)))
            joins = " UNION ALL ".join(
                f"SELECT a.h FROM (SELECT h FROM ab_h WHERE c = {i}) a "
                f"SEMI JOIN (SELECT h FROM ab_h WHERE c > {i}) b USING (h)"
                for i in range(len(names) - 1)
            )
            rows = con.execute(
                f"""WITH ab_h AS MATERIALIZED (
                        SELECT hash({u}) AS h,
                               CASE CAST({v} AS VARCHAR) {cases} END AS c
                        FROM {src.from_sql} WHERE {v} IS NOT NULL)
                    SELECT DISTINCT h FROM ({joins})""",
                [*names, *src.params],
            ).fetchall()
            hashes.update(int(r[0]) for r in rows)
        if hashes:
            con.register(
                "ab_candidate_hashes", pd.DataFrame({"h": pd.array(sorted(hashes), dtype="UInt64")})
            )
            dup = con.execute(
                f"""SELECT CAST({u} AS VARCHAR) AS unit FROM {src.from_sql}
                    WHERE hash({u}) IN (SELECT h FROM ab_candidate_hashes)
                      AND {v} IS NOT NULL
                    GROUP BY 1 HAVING count(DISTINCT CAST({v} AS VARCHAR)) > 1 ORDER BY 1""",
                src.params,
            ).df()
            con.unregister("ab_candidate_hashes")
        else:
            dup = pd.DataFrame({"unit": pd.Series([], dtype=object)})
    else:
        dup = con.execute(
            f"""SELECT CAST({u} AS VARCHAR) AS unit FROM {src.from_sql} WHERE {v} IS NOT NULL
                GROUP BY 1 HAVING count(DISTINCT CAST({v} AS VARCHAR)) > 1 ORDER BY 1""",
            src.params,
        ).df()
    con.register("ab_duplicate_units", dup)
    by_variant: dict[str, int] = {}
    if len(dup):
        by_variant = dict(
            con.execute(
                f"""SELECT CAST({v} AS VARCHAR), count(*) FROM {src.from_sql}
                WHERE CAST({u} AS VARCHAR) IN (SELECT unit FROM ab_duplicate_units)
                GROUP BY 1 ORDER BY 1""",
                src.params,
            ).fetchall()
        )
    return Duplicates(len(dup), dup["unit"].head(max_examples).astype(str).tolist(), by_variant)


def null_variant_rows(src: EventsSource, variant: str) -> int:
    """How many rows have no variant (they are left out of every analysis)."""
    v = src.require(variant, "variant")
    return int(
        src.con.execute(
            f"SELECT count(*) FROM {src.from_sql} WHERE {v} IS NULL", src.params
        ).fetchone()[0]
    )


def sufficient_stats(
    src: EventsSource,
    req: StatsRequest,
    exclude_duplicates: bool = False,
    time_col: str | None = None,
    bucket_us: int | None = None,
) -> pd.DataFrame:
    """Per variant (and per time bucket ``t``): n, and per column n_/sum_/sumsq_, pairs, bad_.

    With ``rows="unit"`` the rows without a variant come back as a group whose
    ``variant`` is missing (None), so that one scan also counts them.

    Output columns: ``variant``, [``t``], ``n``, then for every column c:
    ``n_<c>``, ``sum_<c>``, ``sumsq_<c>``; ``bad_<c>`` for binary columns (values not in
    {0, 1}); ``sumprod_<a>__<b>`` for pairs. Rows with a NULL in any requested column
    still count in ``n`` (the per-column counts show them).
    """
    rel, params = _unit_relation(src, req, time_col, exclude_duplicates)
    idx = {c: i for i, c in enumerate(req.columns)}
    parts = ["v AS variant"]
    group = "1"
    if time_col is not None:
        parts.append("time_bucket(to_microseconds(CAST(? AS BIGINT)), t) AS t")
        group = "1, 2"
    parts.append("count(*) AS n")
    for c, i in idx.items():
        parts += [
            f"count(c{i}) AS n_{i}",
            f"sum(c{i}) AS sum_{i}",
            f"sum(c{i} * c{i}) AS sumsq_{i}",
        ]
        if c in req.binary:
            parts.append(f"count(*) FILTER (WHERE c{i} NOT IN (0, 1)) AS bad_{i}")
    for a, b in req.pairs:
        parts.append(f"sum(c{idx[a]} * c{idx[b]}) AS sumprod_{idx[a]}__{idx[b]}")
    sql = f"SELECT {', '.join(parts)} FROM {rel} GROUP BY {group} ORDER BY {group}"
    args = ([int(bucket_us)] if time_col is not None else []) + params
    frame = src.con.execute(sql, args).df()
    names = {f"n_{i}": f"n_{c}" for c, i in idx.items()}
    names.update({f"sum_{i}": f"sum_{c}" for c, i in idx.items()})
    names.update({f"sumsq_{i}": f"sumsq_{c}" for c, i in idx.items()})
    names.update({f"bad_{i}": f"bad_{c}" for c, i in idx.items()})
    names.update({f"sumprod_{idx[a]}__{idx[b]}": f"sumprod_{a}__{b}" for a, b in req.pairs})
    return frame.rename(columns=names)


def time_range(src: EventsSource, time_col: str) -> tuple[Any, Any]:
    """The first and last timestamp of the events."""
    t = src.require(time_col, "timestamp", time=True)
    return src.con.execute(f"SELECT min({t}), max({t}) FROM {src.from_sql}", src.params).fetchone()


def distinct_values(src: EventsSource, column: str, limit: int = 50) -> list[str]:
    """Up to ``limit`` distinct values of a column, as text (for error messages)."""
    q = src.require(column, "variant")
    rows = src.con.execute(
        f"SELECT DISTINCT CAST({q} AS VARCHAR) FROM {src.from_sql} WHERE {q} IS NOT NULL "
        f"ORDER BY 1 LIMIT {int(limit)}",
        src.params,
    ).fetchall()
    return [r[0] for r in rows]


def as_list(x: str | Sequence[str]) -> list[str]:
    return [x] if isinstance(x, str) else list(x)
