"""Following a sweep from the store: whichever process runs it, and after the tab that started it closed.

A sweep's driver records everything in the store (the sweep run, one nested
run per trial, RUNNING while it runs). :class:`SweepRecord` reads that back
with the same ``progress`` / ``results`` / ``best_run_id`` / ``done`` /
``cancel`` vocabulary as a live :class:`~workbench.training.sweep.Sweep`
handle, so a screen can show a sweep started by a notebook, another server
or an earlier browser session. :func:`running_sweeps` lists the sweeps still
RUNNING; :func:`cancel_sweep` stops one from any process (the driver watches
its cancel marker file).

>>> import tempfile, os, workbench as wb
>>> from workbench.training.examples import quadratic
>>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
>>> s = wb.sweep(quadratic, {"x": wb.float_range(0, 1)}, n_trials=3, metric="score",
...              store=store, seed=0)
>>> record = SweepRecord(store, s.run_id)
>>> record.progress["finished"], record.best_run_id == s.best_run_id, record.done
(3, True, True)
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pandas as pd

from workbench.store.store import Store
from workbench.training.sweep import sweep_config

KIND_TAG = "workbench.kind"


def running_sweeps(store: Store, experiment: str | int | None = None) -> pd.DataFrame:
    """Sweep runs still RUNNING (newest first); runs of dead processes are marked KILLED first."""
    from workbench.store.ingest import mark_dead_runs

    with store.connection() as con:
        mark_dead_runs(con, store.spool_dir)
    return store.search_runs(
        experiment=experiment,
        filter=f"tags.`{KIND_TAG}` = 'sweep' AND attributes.status = 'RUNNING'",
        order_by=["attributes.start_time DESC"],
    )


def cancel_sweep(store: Store, sweep_run_id: str) -> None:
    """Ask the driver of a sweep (in this or any other process) to cancel it.

    Writes the sweep's cancel marker file; the driver notices it within a
    fraction of a second and cancels as :meth:`Sweep.cancel` does.
    """
    from workbench.training.sweep import live_sweep

    handle = live_sweep(sweep_run_id)
    if handle is not None:
        handle.cancel(wait=False)
        return
    path = store.spool_dir / "sweeps" / f"{sweep_run_id}.cancel"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


class SweepRecord:
    """A sweep as the store records it; :meth:`update` reads it again.

    Offers what the Training screen needs of a live handle: ``run_id``,
    ``metric``, ``mode``, ``status``, ``progress``, ``results``,
    ``best_run_id``, ``best_value``, ``done``, ``error`` and ``cancel()``.
    """

    def __init__(self, store: Store, sweep_run_id: str) -> None:
        self.store = store
        self.run_id = sweep_run_id
        info, self.config = sweep_config(store, sweep_run_id)
        self.metric: str | None = self.config.get("metric")
        self.mode: str = self.config.get("mode") or "max"
        self.strategy_name: str = self.config.get("strategy", "?")
        self.experiment = info["experiment"]
        self.error = None
        self.started_at = time.time()
        self._info = info
        self._results = pd.DataFrame()
        self._running = 0
        self.update()

    def __repr__(self) -> str:
        return f"<SweepRecord {self.run_id} {self.status}>"

    # -- reading -----------------------------------------------------------------
    def update(self) -> SweepRecord:
        """Read the sweep run and its trials again."""
        info = self.store.get_run(self.run_id)
        self._info = info
        trials = self.store.search_runs(
            filter=f"attributes.parent_run_id = '{self.run_id}'", max_results=1_000_000
        )
        self._running = int((trials["status"] == "RUNNING").sum()) if len(trials) else 0
        self._results = self._frame(trials[trials["status"] != "RUNNING"] if len(trials) else trials)
        return self

    def _frame(self, trials: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for row in trials.to_dict("records"):
            index = row.get("tags.sweep.index")
            params = json.loads(row.get("tags.sweep.params") or "{}")
            metrics = {
                k[len("metrics."):]: float(v)
                for k, v in row.items()
                if k.startswith("metrics.") and _num(v) is not None
            }
            seed, rung = row.get("tags.sweep.trial_seed"), row.get("tags.sweep.rung")
            item = {
                "trial": None if _num(index) is None else int(float(index)),
                "run_id": row["run_id"],
                "status": row["status"],
                "value": metrics.get(self.metric)
                if self.metric and row["status"] == "FINISHED" else None,
                "seconds": _num(row.get("duration_s")),
                "seed": None if _num(seed) is None else int(float(seed)),
                "rung": None if _num(rung) is None else int(float(rung)),
                "budget": row.get("tags.sweep.budget"),
            }
            item.update({f"params.{k}": v for k, v in params.items()})
            item.update({f"metrics.{k}": v for k, v in metrics.items()})
            item["error"] = row.get("tags.error")
            rows.append(item)
        columns = ["trial", "run_id", "status", "value", "seconds", "seed", "rung", "budget",
                   "error"]
        if not rows:
            return pd.DataFrame(columns=columns)
        df = pd.DataFrame(rows)
        # A resumed sweep may have re-run a trial index: keep the FINISHED one, else the latest.
        df["_ok"] = df["status"] == "FINISHED"
        df = df.sort_values(["trial", "_ok"]).drop_duplicates("trial", keep="last")
        return df.drop(columns="_ok").sort_values("trial").reset_index(drop=True)

    @property
    def status(self) -> str:
        return self._info["status"]

    @property
    def done(self) -> bool:
        return self.status != "RUNNING"

    @property
    def results(self) -> pd.DataFrame:
        return self._results.copy()

    def _best_row(self) -> dict[str, Any] | None:
        df = self._results
        if df.empty:
            return None
        ok = df[(df["status"] == "FINISHED") & df["value"].notna()]
        if ok.empty:
            return None
        if ok["rung"].notna().any():
            top = ok["rung"].fillna(0).max()
            ok = ok[ok["rung"].fillna(0) == top]
        ok = ok.sort_values(["value", "trial"], ascending=[self.mode != "max", True])
        return ok.iloc[0].to_dict()

    @property
    def best_run_id(self) -> str | None:
        best = self._best_row()
        return None if best is None else best["run_id"]

    @property
    def best_value(self) -> float | None:
        best = self._best_row()
        return None if best is None else float(best["value"])

    @property
    def progress(self) -> dict[str, Any]:
        df = self._results
        counts = {s: int((df["status"] == s).sum()) if len(df) else 0
                  for s in ("FINISHED", "FAILED", "KILLED")}
        total = int(_num(self._info["params"].get("n_trials")) or 0)
        done = counts["FINISHED"] + counts["FAILED"]
        pending = 0
        if self.status == "RUNNING" and total:
            pending = max(0, total - done - counts["KILLED"] - self._running)
        start = self._info.get("start_time")
        end = self._info.get("end_time")
        elapsed = None
        if start is not None and not pd.isna(start):
            stop = pd.Timestamp.now(tz=getattr(start, "tz", None)) if end is None or pd.isna(end) else end
            elapsed = (stop - start).total_seconds()
        return {
            "total": total,
            "finished": counts["FINISHED"],
            "failed": counts["FAILED"],
            "killed": counts["KILLED"],
            "running": self._running,
            "pending": pending,
            "done": done,
            "status": self.status,
            "best_value": self.best_value,
            "elapsed_s": elapsed,
        }

    # -- acting ------------------------------------------------------------------
    def cancel(self, wait: bool = False, timeout: float | None = 60) -> SweepRecord:
        """Ask the sweep's driver, wherever it runs, to cancel; with ``wait``, until it ended."""
        cancel_sweep(self.store, self.run_id)
        if wait:
            deadline = None if timeout is None else time.time() + timeout
            while not self.update().done:
                if deadline is not None and time.time() > deadline:
                    raise TimeoutError(f"sweep {self.run_id} still running after {timeout} s")
                time.sleep(0.2)
        return self


__all__ = ["SweepRecord", "cancel_sweep", "running_sweeps"]
