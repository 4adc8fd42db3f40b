"""The same sweep on a dask.distributed cluster (a LocalCluster with two worker processes)."""

from __future__ import annotations

import os

import distributed  # noqa: F401 - a dependency: if it is missing the tests must fail, not skip
import pytest

import workbench as wb
from workbench.training.examples import flaky

pytestmark = pytest.mark.slow


def where(params, trial):
    """Reports which process ran the trial."""
    trial.log_metric("score", -((params["x"] - 0.5) ** 2))
    return {"score": -((params["x"] - 0.5) ** 2), "pid": os.getpid()}


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    ) as cluster:
        yield cluster


def test_a_sweep_runs_on_a_dask_cluster_by_address(cluster, store):
    sweep = wb.sweep(
        where,
        {"x": wb.float_range(0, 1)},
        strategy="random",
        n_trials=8,
        backend="dask",
        address=cluster.scheduler_address,
        metric="score",
        experiment="dask",
        store=store,
        seed=0,
    )
    res = sweep.results
    assert sweep.status == "FINISHED" and list(res["status"]) == ["FINISHED"] * 8
    assert os.getpid() not in set(res["metrics.pid"].astype(int))
    assert store.get_run(sweep.run_id)["params"]["backend"] == "dask"
    store.sync()
    children = store.child_runs(sweep.run_id)
    assert len(children) == 8 and set(children["status"]) == {"FINISHED"}
    for row in res.itertuples():
        assert store.get_run(row.run_id)["metrics"]["score"] == pytest.approx(row.value)
    local = wb.sweep(
        where, {"x": wb.float_range(0, 1)}, n_trials=8, metric="score", store=store, seed=0
    )
    assert list(local.results["params.x"]) == list(res["params.x"])  # same seed, same params


def test_a_dask_client_works_too_and_failures_are_recorded(cluster, store):
    from distributed import Client

    with Client(cluster) as client:
        sweep = wb.sweep(
            flaky,
            {"x": wb.choice([-1.0, 0.5, 0.25])},
            strategy="grid",
            backend="dask",
            address=client,
            metric="score",
            store=store,
            tags={"t": "1"},
        )
        assert client.status == "running"  # the caller's client is left open
    res = sweep.results.set_index("trial")
    assert list(res["status"]) == ["FAILED", "FINISHED", "FINISHED"]
    assert "x=-1.0 is negative" in store.get_run(res.loc[0, "run_id"])["tags"]["error"]
    assert sweep.n_jobs == 2  # one trial per worker thread of the cluster
