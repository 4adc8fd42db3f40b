"""The source a run records, also for runs created in worker processes (issue 13)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import workbench as wb
from workbench.tracking.environment import SOURCE_ENV, _is_worker_bootstrap, source_file
from workbench.tracking.run import Run


def nested_run_in_worker(params, trial):
    """Creates a run of its own in the loky worker, as a user's train function may."""
    own = Run.create(trial.run.store, trial.run.experiment, run_name=f"inner-{params['x']:.3f}",
                     parent_run_id=trial.run.id)
    own.end()
    trial.log_metric("pid", os.getpid())
    return {"score": params["x"], "pid": os.getpid()}


def _worker_runs(store: wb.Store, sweep_run_id: str) -> list[dict]:
    store.sync()
    trials = store.child_runs(sweep_run_id)["run_id"]
    inner = [r for t in trials for r in store.child_runs(t)["run_id"]]
    return [store.get_run(r) for r in inner]


def test_runs_created_in_loky_workers_record_the_launching_source(store):
    sweep = wb.sweep(nested_run_in_worker, {"x": wb.float_range(0, 1)}, n_trials=4, n_jobs=2,
                     metric="score", store=store, seed=0)
    assert sweep.status == "FINISHED"
    assert os.getpid() not in set(sweep.results["metrics.pid"].astype(int))  # real workers
    runs = _worker_runs(store, sweep.run_id)
    assert len(runs) == 4
    expected = source_file()
    assert expected and "loky" not in expected
    assert {r["source"] for r in runs} == {expected} == {store.get_run(sweep.run_id)["source"]}


def test_a_script_running_a_sweep_is_the_source_of_its_workers_runs(tmp_path):
    script = tmp_path / "my_sweep.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import workbench as wb\n"
        "from test_recorded_source import nested_run_in_worker\n"
        f"store = wb.Store({str(tmp_path / 's.duckdb')!r})\n"
        "sweep = wb.sweep(nested_run_in_worker, {'x': wb.float_range(0, 1)}, n_trials=2,\n"
        "                 n_jobs=2, metric='score', store=store, seed=0)\n"
        "print(sweep.run_id)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != SOURCE_ENV}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    store = wb.Store(tmp_path / "s.duckdb")
    runs = _worker_runs(store, out.stdout.strip().splitlines()[-1])
    assert len(runs) == 2 and {r["source"] for r in runs} == {str(script.resolve())}


def test_worker_bootstraps_are_recognised():
    import joblib

    loky_main = Path(joblib.__file__).parent / "externals/loky/backend/popen_loky_posix.py"
    assert _is_worker_bootstrap(str(loky_main))
    assert not _is_worker_bootstrap(__file__)


def test_a_jupyter_kernel_records_its_notebook():
    """In a kernel __main__ has no __file__ and argv[0] is the launcher: the notebook Jupyter names wins."""
    code = ("import sys, types, ipykernel; sys.modules['__main__'] = types.ModuleType('__main__'); "
            "sys.argv = ['/venv/lib/site-packages/ipykernel_launcher.py', '-f', 'kernel.json']; "
            "from workbench.tracking.environment import source_file; print(source_file())")
    env = {**os.environ, "JPY_SESSION_NAME": "/home/me/tour.ipynb"}
    env.pop(SOURCE_ENV, None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "/home/me/tour.ipynb"
    env.pop("JPY_SESSION_NAME")  # a plain interpreter with ipykernel imported: not a notebook
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().endswith("ipykernel_launcher.py")
