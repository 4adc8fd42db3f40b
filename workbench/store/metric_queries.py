"""Metrics: histories downsampled in SQL (spikes kept), several runs or keys in one query, key lists.

A part of :class:`~workbench.store.store.Store` (a mixin: it uses the store's
connection plumbing, ``_db``, ``_query_df`` and ``_query_one``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import InvalidInputError, NotFoundError
from workbench.store.run_queries import _to_datetime


class _MetricQueries:
    """Metric histories and key lists of a :class:`~workbench.store.store.Store`."""

    # -- metrics ---------------------------------------------------------
    def metric_history(self, run_id: str, key: str, max_points: int | None = None) -> pd.DataFrame:
        """The history of one metric: ``step``, ``timestamp``, ``value``, by step.

        With ``max_points``, long histories are cut into ``max_points // 2``
        buckets of steps and each bucket keeps its minimum and maximum point,
        so spikes survive downsampling.
        """
        if max_points is not None and (not isinstance(max_points, int) or max_points < 2):
            raise InvalidInputError(f"max_points must be an int >= 2, got {max_points!r}")
        with self._db() as con:
            n = con.execute(
                "SELECT n_points FROM latest_metrics WHERE run_id = ? AND key = ?", [run_id, key]
            ).fetchone()
            if n is None:
                self._require_run(con, run_id)
                return pd.DataFrame(
                    {"step": pd.Series(dtype="int64"), "timestamp": pd.Series(dtype="datetime64[ms, UTC]"),
                     "value": pd.Series(dtype="float64")}
                )
            if max_points is None or n[0] <= max_points:
                df = con.execute(
                    "SELECT step, ts, value FROM metrics WHERE run_id = ? AND key = ? ORDER BY step, ts",
                    [run_id, key],
                ).df()
            else:
                df = con.execute(_DOWNSAMPLE_SQL, [run_id, key, max_points // 2]).df()
        df["timestamp"] = _to_datetime(df.pop("ts"))
        return df[["step", "timestamp", "value"]]

    def metric_histories(
        self, run_ids: list[str], key: str, max_points: int | None = None
    ) -> pd.DataFrame:
        """The histories of one metric for several runs, in one query.

        Returns ``run_id``, ``step``, ``timestamp``, ``value``: each run's points
        together (runs in the order of ``run_ids``), by step. Each run is downsampled
        on its own exactly as :meth:`metric_history` does it (``max_points // 2``
        step buckets per run, each keeping its minimum and maximum point); runs with at most
        ``max_points`` points come back whole. Runs without the metric have no
        rows; an unknown run id raises :class:`~workbench.errors.NotFoundError`.

        >>> import tempfile, os, workbench as wb
        >>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
        >>> store.metric_histories([], "loss").columns.tolist()
        ['run_id', 'step', 'timestamp', 'value']
        """
        if not isinstance(key, str):
            raise InvalidInputError(f"key must be a metric name (str), got {key!r}")
        return self.metric_histories_by_key(run_ids, [key], max_points)[key]

    def metric_histories_by_key(
        self, run_ids: list[str], keys: list[str], max_points: int | None = None
    ) -> dict[str, pd.DataFrame]:
        """:meth:`metric_histories` of several metrics in one query: ``{key: DataFrame}``.

        Every key of ``keys`` is in the result (an empty frame when no run logged it).

        >>> import tempfile, os, workbench as wb
        >>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
        >>> with wb.start_run(experiment="e", store=store) as run:
        ...     run.log_metric_history("loss", [0.9, 0.5, 0.4])
        ...     run.log_metric_history("acc", [0.6, 0.7, 0.8])
        >>> h = store.metric_histories_by_key([run.id], ["loss", "acc", "f1"], max_points=2)
        >>> {k: len(df) for k, df in h.items()}
        {'loss': 2, 'acc': 2, 'f1': 0}
        """
        if max_points is not None and (
            not isinstance(max_points, int) or isinstance(max_points, bool) or max_points < 2
        ):
            raise InvalidInputError(f"max_points must be an int >= 2, got {max_points!r}")
        if isinstance(run_ids, str) or not all(isinstance(r, str) for r in run_ids):
            raise InvalidInputError(f"run_ids must be a list of run id strings, got {run_ids!r}")
        if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
            raise InvalidInputError(f"keys must be a list of metric names, got {keys!r}")
        ids = list(dict.fromkeys(run_ids))
        wanted = list(dict.fromkeys(keys))
        if not ids or not wanted:
            empty = pd.DataFrame(
                {"run_id": pd.Series(dtype="object"), "step": pd.Series(dtype="int64"),
                 "timestamp": pd.Series(dtype="datetime64[ms, UTC]"),
                 "value": pd.Series(dtype="float64")}
            )
            return {k: empty.copy() for k in wanted}
        limit = max_points if max_points is not None else 2**62
        with self._db() as con:
            found = {
                r[0] for r in con.execute(
                    "SELECT run_id FROM runs WHERE list_contains(?, run_id)", [ids]
                ).fetchall()
            }
            missing = [r for r in ids if r not in found]
            if missing:
                raise NotFoundError(
                    f"no run with id {missing[0]!r}"
                    + (f" (and {len(missing) - 1} more unknown ids)" if len(missing) > 1 else "")
                )
            # Keys and runs come back as their positions in ``wanted``/``ids``: 100k
            # strings per query cost more to sort and convert than the points themselves.
            arrays = con.execute(
                _DOWNSAMPLE_MANY_SQL, [wanted, ids, limit, limit, limit // 2, wanted, ids]
            ).fetchnumpy()
        key_pos = np.asarray(arrays["k"], dtype=np.int64)
        run_ids = np.asarray(ids, dtype=object)[np.asarray(arrays["r"], dtype=np.int64) - 1]
        frame = pd.DataFrame({"run_id": run_ids, "step": np.asarray(arrays["step"]),
                              "timestamp": _to_datetime(pd.Series(np.asarray(arrays["ts"]))),
                              "value": np.asarray(arrays["value"], dtype=float)})
        starts = np.searchsorted(key_pos, np.arange(1, len(wanted) + 2))
        return {k: frame.iloc[starts[i]:starts[i + 1]].reset_index(drop=True)
                for i, k in enumerate(wanted)}

    def _distinct_keys(self, table: str, run_ids: list[str] | None, experiment: str | int | None) -> list[str]:
        sql = f"SELECT DISTINCT key FROM {table} k"
        args: list[Any] = []
        if run_ids is not None:
            sql += " WHERE k.run_id IN (SELECT unnest(?::VARCHAR[]))"
            args.append(list(run_ids))
        elif experiment is not None:
            sql += " JOIN runs r USING (run_id) WHERE r.experiment_id = ? AND r.deleted_at IS NULL"
            args.append(self._resolve_experiment(experiment))
        with self._db() as con:
            return [row[0] for row in con.execute(sql + " ORDER BY key", args).fetchall()]

    def metric_keys(self, run_ids: list[str] | None = None, experiment: str | int | None = None) -> list[str]:
        """Distinct metric keys of some runs, of an experiment, or of the store; sorted."""
        return self._distinct_keys("latest_metrics", run_ids, experiment)

    def param_keys(self, experiment: str | int | None = None, run_ids: list[str] | None = None) -> list[str]:
        """Distinct param keys of an experiment, of some runs, or of the store; sorted."""
        return self._distinct_keys("params", run_ids, experiment)

    def tag_keys(self, experiment: str | int | None = None, run_ids: list[str] | None = None) -> list[str]:
        """Distinct tag keys of an experiment, of some runs, or of the store; sorted."""
        return self._distinct_keys("tags", run_ids, experiment)

    def latest_metrics(self, run_ids: list[str]) -> pd.DataFrame:
        """Latest, min and max value and point count of every metric of some runs (long form)."""
        return self._query_df(
            "SELECT run_id, key, value, step, min_value, max_value, n_points FROM latest_metrics "
            "WHERE list_contains(?, run_id) ORDER BY key, run_id",
            [list(run_ids)],
        )


_DOWNSAMPLE_SQL = """
WITH h AS (SELECT step, ts, value FROM metrics WHERE run_id = ? AND key = ?),
bounds AS (SELECT min(step) AS lo, max(step) AS hi FROM h),
b AS (
  SELECT least(floor((step - lo) * ?::DOUBLE / (hi - lo + 1)), 1e18)::BIGINT AS bucket,
         step, ts, value
  FROM h, bounds
),
agg AS (
  SELECT bucket,
         arg_min(struct_pack(step := step, ts := ts, value := value),
                 struct_pack(v := value, s := step)) AS lo_pt,
         arg_max(struct_pack(step := step, ts := ts, value := value),
                 struct_pack(v := value, s := -step)) AS hi_pt
  FROM b GROUP BY bucket
)
SELECT DISTINCT pt.step AS step, pt.ts AS ts, pt.value AS value FROM (
  SELECT lo_pt AS pt FROM agg UNION ALL SELECT hi_pt AS pt FROM agg
) ORDER BY step, ts
"""


# Ties (equal values in a bucket) go to the earliest step, so every query and every call
# keeps the same points. The same buckets as _DOWNSAMPLE_SQL, computed per run (a window of its own
# per run_id) for many runs in one pass; runs short enough come back whole.
# Parameters: key, run ids, key, max_points, max_points, buckets per run.
_DOWNSAMPLE_MANY_SQL = """
WITH sizes AS (
  SELECT run_id, key, n_points FROM latest_metrics
  WHERE list_contains(?, key) AND list_contains(?, run_id)
),
h AS (
  SELECT m.key, m.run_id, m.step, m.ts, m.value, s.n_points
  FROM metrics m JOIN sizes s USING (run_id, key)
),
whole AS (SELECT key, run_id, step, ts, value FROM h WHERE n_points <= ?),
big AS (
  SELECT key, run_id, step, ts, value,
         min(step) OVER (PARTITION BY key, run_id) AS lo,
         max(step) OVER (PARTITION BY key, run_id) AS hi
  FROM h WHERE n_points > ?
),
b AS (
  SELECT key, run_id,
         least(floor((step - lo) * ?::DOUBLE / (hi - lo + 1)), 1e18)::BIGINT AS bucket,
         step, ts, value
  FROM big
),
agg AS (
  SELECT key, run_id, bucket,
         arg_min(struct_pack(step := step, ts := ts, value := value),
                 struct_pack(v := value, s := step)) AS lo_pt,
         arg_max(struct_pack(step := step, ts := ts, value := value),
                 struct_pack(v := value, s := -step)) AS hi_pt
  FROM b GROUP BY key, run_id, bucket
),
sampled AS (
  SELECT DISTINCT key, run_id, pt.step AS step, pt.ts AS ts, pt.value AS value FROM (
    SELECT key, run_id, lo_pt AS pt FROM agg UNION ALL SELECT key, run_id, hi_pt AS pt FROM agg
  )
)
SELECT list_position(?, key) AS k, list_position(?, run_id) AS r, step, ts, value FROM (
  SELECT key, run_id, step, ts, value FROM whole
  UNION ALL
  SELECT key, run_id, step, ts, value FROM sampled
)
ORDER BY k, r, step, ts
"""
