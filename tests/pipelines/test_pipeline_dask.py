"""The same pipeline on a dask.distributed LocalCluster with two worker processes."""

from __future__ import annotations

import os
import sys

import cloudpickle
import distributed
import pytest

import workbench as wb

pytestmark = pytest.mark.slow
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def source(value: int = 1) -> int:
    return value


def square_and_log(x: int, side: str = "left") -> tuple[int, int]:
    wb.log_metric("x", float(x))
    return x * x, os.getpid()


def total(a: tuple, b: tuple) -> int:
    return a[0] + b[0]


def test_pipeline_runs_on_a_dask_cluster(store):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pipe = wb.Pipeline("dasky", [
            wb.Step("src", source, params={"value": 3}),
            wb.Step("left", square_and_log, inputs=["src"], params={"side": "left"}),
            wb.Step("right", square_and_log, inputs=["src"], params={"side": "right"}),
            wb.Step("sum", total, inputs=["left", "right"]),
        ])
        result = pipe.run(store, backend="dask", address=client, n_jobs=2)
        assert result.ok, result.to_frame()
        assert result.output("sum") == 18
        worker_pids = {result.output("left")[1], result.output("right")[1]}
        assert os.getpid() not in worker_pids
        # what a step logged in a dask worker reaches the store
        assert store.get_run(result.steps["left"].run_id)["metrics"]["x"] == 3.0
        again = pipe.run(store, backend="dask", address=client, n_jobs=2)
        assert set(again.statuses().values()) == {"CACHED"}
