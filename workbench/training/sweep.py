"""Hyper-parameter sweeps: ``wb.sweep``, the ``Sweep`` handle, ``wb.resume_sweep`` and ``wb.rerun``.

A sweep is a parent run; each trial is a nested run. The sweep's process
(the *driver*) asks the strategy for trials, creates each trial's run,
hands the train function to an executor and ends the run when the result
comes back. Executors:

- ``"sequential"``: one trial at a time in a thread of this process
  (the default when ``n_jobs=1``);
- ``"loky"``: ``n_jobs`` worker processes of joblib's loky (the default when
  ``n_jobs > 1``), driven through its ``concurrent.futures`` interface so
  that pending trials can be dropped and running ones killed on cancel;
- ``"dask"``: a dask.distributed cluster (``address=`` a scheduler address
  or a ``Client``), driven through futures.

Workers get the store's *path*, open ``Store(path)`` and log through the
store's write path (buffer -> spool files), so no worker ever needs the
database file. The train function must be picklable: define it at module
level (cloudpickle also takes closures, but only a module-level function can
be re-run later by its import path).

>>> import tempfile, os, workbench as wb
>>> from workbench.training.examples import quadratic
>>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
>>> sweep = wb.sweep(quadratic, {"x": wb.float_range(-2, 2)}, strategy="random", n_trials=4,
...                  metric="score", mode="max", experiment="demo", store=store, seed=0)
>>> sweep.progress["finished"], len(sweep.results)
(4, 4)
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import InvalidInputError, NotFoundError, SearchSpaceError, SweepError
from workbench.pipelines.progress import progress_bar
from workbench.store.store import Store
from workbench.tracking.fluent import resolve_store
from workbench.tracking.run import Run
from workbench.training.executors import shutdown_workers
from workbench.training.runner import (
    BACKENDS,
    KIND_TAG,
    Sweep,
    TrialResult,
    _check_datasets,
    import_train,
    live_sweep,
    live_sweeps,
    train_ref,
)
from workbench.training.space import check_space, space_from_dict, space_to_dict
from workbench.training.strategies import DoneTrial, Strategy, make_strategy
from workbench.training.trial import execute_trial


# -- the public functions ---------------------------------------------------------
def check_train_signature(train: Callable) -> None:
    """Refuse a train function that cannot be called as ``train(params, trial)``.

    >>> check_train_signature(lambda params, trial: 0.5)
    >>> check_train_signature(lambda params: 0.5)
    Traceback (most recent call last):
    ...
    workbench.errors.InvalidInputError: the train function <lambda> must accept two positional arguments, train(params: dict, trial: Trial); its signature is (params)
    """
    try:
        sig = inspect.signature(train)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check
        return
    try:
        sig.bind({}, None)
    except TypeError:
        name = getattr(train, "__qualname__", None) or type(train).__name__
        raise InvalidInputError(
            f"the train function {name} must accept two positional arguments, "
            f"train(params: dict, trial: Trial); its signature is {sig}"
        ) from None


def _check_common(train, metric, mode, n_jobs, backend, address):
    if not callable(train):
        raise InvalidInputError(
            f"train must be a function train(params, trial), got {type(train).__name__}"
        )
    check_train_signature(train)
    if mode not in ("max", "min"):
        raise InvalidInputError(f"mode must be 'max' or 'min', got {mode!r}")
    if metric is not None and not isinstance(metric, str):
        raise InvalidInputError(f"metric must be a metric name (str), got {metric!r}")
    if backend is None and address is not None:
        backend = "dask"
    if n_jobs is None:
        n_jobs = -1 if backend == "dask" else 1  # dask: one trial per worker thread
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise InvalidInputError(f"n_jobs must be a positive int or -1 (all cores), got {n_jobs!r}")
    if n_jobs == -1 and backend != "dask":
        n_jobs = os.cpu_count() or 1
    if backend is None:
        backend = "loky" if n_jobs > 1 else "sequential"
    if backend == "threading":
        backend = "sequential"
    if backend not in BACKENDS:
        raise InvalidInputError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend == "sequential" and n_jobs != 1:
        raise InvalidInputError("backend='sequential' runs one trial at a time: use n_jobs=1")
    if backend in ("loky", "dask"):
        try:
            import cloudpickle as pickler  # what loky and dask use
        except ImportError:  # pragma: no cover
            import pickle as pickler
        try:
            pickler.dumps(train)
        except Exception as exc:
            raise InvalidInputError(
                f"the train function {train_ref(train)} cannot be pickled for worker processes "
                f"({type(exc).__name__}: {exc}); define it at module level"
            ) from exc
    return n_jobs, backend


def sweep_config(store: Store, sweep_run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A sweep's run (``Store.get_run``) and the settings it recorded (its ``sweep.config`` tag).

    Raises :class:`SweepError` when there is no such run or it is not a sweep.
    """
    try:
        info = store.get_run(sweep_run_id)
    except NotFoundError:
        raise SweepError(f"no sweep run {sweep_run_id!r} in {store.path}") from None
    raw = info["tags"].get("sweep.config")
    if raw is None:
        raise SweepError(f"run {sweep_run_id} is not a sweep (it has no 'sweep.config' tag)")
    return info, json.loads(raw)


def sweep(
    train: Callable[[dict[str, Any], Any], Any],
    space: dict[str, Any] | None = None,
    strategy: str | Strategy = "random",
    n_trials: int | None = None,
    n_jobs: int | None = None,
    metric: str | None = None,
    mode: str = "max",
    experiment: str | int | None = None,
    store: Store | str | os.PathLike | None = None,
    seed: int | None = None,
    *,
    backend: str | None = None,
    address: Any = None,
    budget: tuple | None = None,
    eta: int = 3,
    strategy_options: dict[str, Any] | None = None,
    datasets: dict[str, Any] | None = None,
    run_name: str | None = None,
    tags: dict[str, Any] | None = None,
    callback: Callable[[TrialResult, Sweep], None] | None = None,
    wait: bool = True,
    resume: str | None = None,
    progress: bool | None = None,
) -> Sweep:
    """Run a hyper-parameter sweep of ``train(params, trial)`` and track every trial.

    ``space`` maps names to :func:`int_range`, :func:`float_range` or
    :func:`choice`. ``strategy`` is ``"grid"``, ``"random"``, ``"halving"``
    (successive halving over ``budget=(name, min, max)`` with factor ``eta``)
    or ``"tpe"`` (Optuna). ``train`` returns a dict of metrics (or a number)
    and may log through ``trial``; ``metric``/``mode`` name the objective.
    ``n_jobs`` trials run at once: in loky worker processes, or on a
    dask.distributed cluster with ``backend="dask", address=...``. With
    ``wait=False`` the sweep runs in a background thread and the returned
    handle offers ``.progress``, ``.wait()`` and ``.cancel()``. ``resume=``
    a sweep run id continues a crashed or cancelled sweep (see
    :func:`resume_sweep`). ``datasets={"train": df, ...}`` records the
    datasets' content hashes on the sweep and on every trial.
    """
    if resume is not None:
        return resume_sweep(
            resume,
            train,
            store=store,
            n_jobs=n_jobs,
            backend=backend,
            address=address,
            wait=wait,
            callback=callback,
        )
    n_jobs, backend = _check_common(train, metric, mode, n_jobs, backend, address)
    space = check_space(space)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    if n_trials is not None and (
        isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1
    ):
        raise InvalidInputError(f"n_trials must be a positive int, got {n_trials!r}")
    strat = make_strategy(
        strategy, space, n_trials, seed, mode, budget=budget, eta=eta, options=strategy_options
    )
    if strat.name in ("halving", "tpe") and metric is None:
        raise InvalidInputError(f"strategy={strat.name!r} needs metric= (the value to optimise)")
    store = resolve_store(store)
    experiment = "Default" if experiment is None else experiment
    datasets_in = _check_datasets(datasets)
    config = {
        "version": 1,
        "space": space_to_dict(space),
        **strat.config(),
        "n_trials": n_trials,
        "seed": seed,
        "metric": metric,
        "mode": mode,
        "train": train_ref(train),
        "budget": list(budget) if budget else None,
        "eta": eta,
        "strategy_options": strategy_options or {},
    }
    try:
        config_json = json.dumps(config)
    except TypeError:
        config["space"] = None  # choices that JSON cannot hold: resume needs space= again
        config_json = json.dumps(config, default=repr)
    run = Run.create(
        store,
        experiment,
        run_name=run_name or f"sweep-{strat.name}",
        tags={
            KIND_TAG: "sweep",
            "sweep.config": config_json,
            "sweep.train": train_ref(train),
            **(tags or {}),
        },
    )
    run.log_params(
        {
            "strategy": strat.name,
            "n_trials": strat.total,
            "seed": seed,
            "metric": metric,
            "mode": mode,
            "n_jobs": n_jobs,
            "backend": backend,
        }
    )
    linked = []
    for name, data, role in datasets_in:
        digest = run.log_dataset(data, name=name, role=role)
        linked.append((name, digest, role))
    handle = Sweep(
        train=train,
        store=store,
        strategy=strat,
        space=space,
        metric=metric,
        mode=mode,
        seed=seed,
        experiment=experiment,
        n_jobs=n_jobs,
        backend=backend,
        address=address,
        datasets=linked,
        run=run,
        done=[],
        callback=callback,
    )
    bar = progress_bar(strat.total, f"sweep {strat.name}", "trial",
                       enabled=progress if progress is not None else (None if wait else False))
    if bar is not None:
        handle.callback = _with_bar(bar, callback)
    try:
        handle._start(wait)
    finally:
        if bar is not None and wait:
            bar.close()
    return handle


def _with_bar(bar: Any, callback: Callable | None) -> Callable:
    def on_trial(result: TrialResult, handle: Sweep) -> None:
        bar.update(1)
        best = handle.best_value
        bar.set_postfix_str(f"{result.status.lower()}" + (f", best {best:.4g}" if best is not None
                                                          else ""), refresh=False)
        if callback is not None:
            callback(result, handle)
        if bar.total and bar.n >= bar.total:  # the last trial: close it also when nobody waits
            bar.close()

    return on_trial


def stop_all(timeout: float = 10.0) -> int:
    """Cancel every sweep running in this process and stop its loky workers; returns how many.

    What an app calls when it is stopped (``workbench app`` on SIGTERM or Ctrl-C): the
    sweeps' runs end KILLED (their pending trials too) and no worker process outlives
    the app.

    >>> stop_all()
    0
    """
    running = [s for s in live_sweeps() if not s.done]
    for s in running:
        s.cancel(wait=False)
    for s in running:
        s._finished.wait(timeout)
    shutdown_workers()
    return len(running)


def _load_trials(store: Store, sweep_run_id: str) -> list[dict[str, Any]]:
    df = store.search_runs(
        filter=f"attributes.parent_run_id = '{sweep_run_id}'", max_results=1_000_000
    )
    return df.to_dict("records")


def resume_sweep(
    sweep_run_id: str,
    train: Callable | None = None,
    store: Store | str | os.PathLike | None = None,
    n_jobs: int | None = None,
    *,
    backend: str | None = None,
    address: Any = None,
    space: dict[str, Any] | None = None,
    wait: bool = True,
    callback: Callable | None = None,
) -> Sweep:
    """Continue a crashed or cancelled sweep: run only its missing trials.

    Trials that FINISHED or FAILED are kept; KILLED and never-run ones run
    again with the same params (grid, random and halving recompute them from
    the seed; TPE re-tells Optuna the finished trials and asks for the rest).
    ``train`` defaults to the function recorded on the sweep (``module:qualname``).
    The new trials are nested under the same sweep run.
    """
    store = resolve_store(store)
    from workbench.store.ingest import mark_dead_runs

    with store.connection() as con:  # ingests everything waiting first
        mark_dead_runs(con, store.spool_dir)  # a crashed sweep's runs become KILLED
    info, config = sweep_config(store, sweep_run_id)
    if info["status"] == "RUNNING":
        raise SweepError(f"sweep {sweep_run_id} is still running; cancel it before resuming")
    if space is not None:
        space = check_space(space)
    elif config.get("space") is not None:
        space = space_from_dict(config["space"])
    else:
        raise SearchSpaceError(
            f"sweep {sweep_run_id} recorded no space (its choices were not JSON); pass space="
        )
    if train is None:
        train = import_train(config["train"])
    n_jobs, backend = _check_common(
        train, config["metric"], config["mode"], n_jobs, backend, address
    )
    options = dict(config.get("strategy_options") or {})
    strategy_name = config["strategy"]
    budget = tuple(config["budget"]) if config.get("budget") else None
    strat = make_strategy(
        strategy_name,
        space,
        config["n_trials"],
        config["seed"],
        config["mode"],
        budget=budget,
        eta=config.get("eta", 3),
        options=options,
    )
    done: list[TrialResult] = []
    by_index: dict[int, TrialResult] = {}
    metric = config["metric"]
    for row in _load_trials(store, sweep_run_id):
        status = row.get("status")
        index = row.get("tags.sweep.index")
        if status not in ("FINISHED", "FAILED") or index is None or pd.isna(index):
            continue
        index = int(index)
        params = json.loads(row.get("tags.sweep.params") or "{}")
        value = row.get(f"metrics.{metric}") if metric else None
        value = None if value is None or pd.isna(value) else float(value)
        metrics = {
            k[len("metrics.") :]: float(v)
            for k, v in row.items()
            if k.startswith("metrics.") and v is not None and not pd.isna(v)
        }
        seed = row.get("tags.sweep.trial_seed")
        rung = row.get("tags.sweep.rung")
        result = TrialResult(
            index,
            row["run_id"],
            status,
            params,
            value,
            metrics,
            None if seed is None or pd.isna(seed) else int(seed),
            None if rung is None or pd.isna(rung) else int(rung),
            params.get(budget[0]) if budget else None,
            row.get("duration_s"),
            row.get("tags.error") if status == "FAILED" else None,
        )
        old = by_index.get(index)
        if old is None or (old.status != "FINISHED" and status == "FINISHED"):
            by_index[index] = result
    done = sorted(by_index.values(), key=lambda r: r.index)
    strat.start([DoneTrial(r.index, r.params, r.value, r.status, None, r.rung) for r in done])
    experiment = info["experiment"]
    run = Run(store, experiment, sweep_run_id, info["run_name"], info["parent_run_id"])
    run.set_tags({"sweep.resumed": str(int(info["tags"].get("sweep.resumed", "0")) + 1)})
    handle = Sweep(
        train=train,
        store=store,
        strategy=strat,
        space=space,
        metric=metric,
        mode=config["mode"],
        seed=config["seed"],
        experiment=experiment,
        n_jobs=n_jobs,
        backend=backend,
        address=address,
        datasets=[],
        run=run,
        done=done,
        callback=callback,
    )
    handle._start(wait)
    return handle


def rerun(
    run_id: str,
    train: Callable | None = None,
    store: Store | str | os.PathLike | None = None,
    experiment: str | int | None = None,
) -> TrialResult:
    """Run one trial again, alone, in this process: same params, same per-trial seed.

    ``train`` defaults to the function recorded on the trial (``module:qualname``).
    The new run is a top-level run tagged ``rerun_of=<run_id>``; the result
    says how it ended and what it measured.
    """
    store = resolve_store(store)
    info = store.get_run(run_id)
    tags = info["tags"]
    if "sweep.params" not in tags:
        raise SweepError(f"run {run_id} is not a sweep trial (it has no 'sweep.params' tag)")
    params = json.loads(tags["sweep.params"])
    seed = int(tags["sweep.trial_seed"]) if "sweep.trial_seed" in tags else 0
    if train is None:
        train = import_train(tags.get("sweep.train", "?:?"))
    metric = None
    sweep_id = tags.get("sweep.id")
    if sweep_id:
        try:
            sweep_info = store.get_run(sweep_id)
            metric = json.loads(sweep_info["tags"].get("sweep.config", "{}")).get("metric")
        except NotFoundError:
            pass
    index = int(tags.get("sweep.index", 0))
    rung = int(tags["sweep.rung"]) if "sweep.rung" in tags else None
    new_tags = {
        KIND_TAG: "rerun",
        "rerun_of": run_id,
        "sweep.params": tags["sweep.params"],
        "sweep.trial_seed": seed,
        "sweep.train": train_ref(train),
        "sweep.index": index,
    }
    run = Run.create(
        store,
        experiment if experiment is not None else info["experiment"],
        run_name=f"rerun-{info['run_name']}",
        tags=new_tags,
    )
    run.log_params({**params, **({"trial_seed": seed} if "trial_seed" not in params else {})})
    budget = tags.get("sweep.budget")
    res = execute_trial(
        {
            "store_path": str(store.path),
            "experiment": run.experiment,
            "run_id": run.id,
            "run_name": run.name,
            "parent_run_id": None,
            "train": train,
            "params": params,
            "index": index,
            "seed": seed,
            "config": None,
            "rung": rung,
            "budget": budget,
            "metric": metric,
            "cancel_path": None,
            "flush": False,
        }
    )
    if res.get("error"):
        run.set_tag("error", res["error"])
    run.end(res["status"])
    store.flush()
    return TrialResult(
        index,
        run.id,
        res["status"],
        params,
        res["value"],
        res["metrics"],
        seed,
        rung,
        budget,
        res["seconds"],
        res["error"],
    )


__all__ = [
    "Sweep",
    "TrialResult",
    "import_train",
    "live_sweep",
    "live_sweeps",
    "rerun",
    "resume_sweep",
    "shutdown_workers",
    "stop_all",
    "sweep",
    "train_ref",
]
