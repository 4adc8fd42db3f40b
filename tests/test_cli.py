"""The `workbench` command, run as a real subprocess on a real store."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import workbench as wb
import workbench.pipelines.api


def _cli(*args: str, env_store=None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True, env=env,
        timeout=300,
    )


@pytest.fixture
def seeded(tmp_path):
    path = tmp_path / "cli.duckdb"
    store = wb.Store(path)
    for i, model in enumerate(["rf", "rf", "lr"]):
        with wb.start_run(experiment="churn", run_name=f"run-{i}", store=store) as run:
            run.log_params({"model": model, "n": 100 * (i + 1)})
            run.log_metric("auc", 0.8 + i / 100)
    store.close()
    return path


def test_runs_prints_the_matching_runs(seeded):
    out = _cli("runs", "--store", str(seeded), "-e", "churn", "-f", "params.model = 'rf'",
               "-o", "metrics.auc DESC")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "run-1" in lines[1] and "run-0" in lines[2]
    assert "run-2" not in out.stdout
    assert "2 of 2 matching runs" in out.stdout


def test_a_bad_filter_prints_the_parser_message_and_exits_2(seeded):
    out = _cli("runs", "--store", str(seeded), "-f", "metrics.auc >")
    assert out.returncode == 2
    assert "position" in out.stderr and "expected a value" in out.stderr


def test_info_prints_counts_and_experiments(seeded):
    out = _cli("info", "--store", str(seeded))
    assert out.returncode == 0, out.stderr
    assert "schema_version" in out.stdout
    assert "churn" in out.stdout and "3 runs" in out.stdout


def test_runs_as_csv(seeded):
    out = _cli("runs", "--store", str(seeded), "--format", "csv", "-c", "auc")
    assert out.returncode == 0
    header = out.stdout.splitlines()[0].split(",")
    assert header[-1] == "metrics.auc" and len(out.stdout.splitlines()) == 4


@pytest.mark.slow
def test_demo_builds_a_small_store_and_if_missing_leaves_it(tmp_path):
    path = tmp_path / "demo.duckdb"
    out = _cli("demo", "--store", str(path), "--scale", "0.1", "--quiet")
    assert out.returncode == 0, out.stderr
    store = wb.Store(path)
    names = set(store.list_experiments()["name"])
    assert names == {"churn", "breast-cancer-mlp", "diabetes", "wine", "churn-sweep",
                     "pipeline/churn"}
    n = store.count_runs()
    assert n > 20
    nested = store.search_runs(filter="attributes.parent_run_id IS NOT NULL", max_results=5)
    assert len(nested) == 5
    assert not store.list_datasets().empty
    churn = store.search_runs("churn", "attributes.parent_run_id IS NULL", max_results=1)
    assert "plots/confusion.png" in store.list_artifacts(churn["run_id"][0])["path"].tolist()
    # the lifecycle screens have content: a finished pipeline run, a sweep, registry decisions
    pipeline_runs = wb.pipelines.api.pipeline_runs(store, "churn")
    assert pipeline_runs["status"].tolist() == ["FINISHED"]
    trials = store.search_runs("churn-sweep", "attributes.parent_run_id IS NOT NULL")
    assert len(trials) == 8 and set(trials["status"]) == {"FINISHED"}
    registry = wb.Registry(store)
    assert registry.get_version("churn", 1).stage == "Staging"
    assert registry.get_version("churn", 2).stage == "None"
    assert [a for a in registry.audit_log("churn")["action"]] == [
        "register", "register", "request", "approve", "alias", "gate", "request"]
    store.close()
    again = _cli("demo", "--store", str(path), "--if-missing")
    assert again.returncode == 0 and "already has runs" in again.stdout
    assert wb.Store(path).count_runs() == n
