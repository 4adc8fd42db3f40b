"""The Pipelines editor's runs: start one in the background, poll the steps' statuses, history, details.

A part of :class:`~workbench.ui.pipelines.model.PipelineEditorModel` (a mixin over
its params: ``statuses``, ``running``, ``history``, ``detail`` ...). No Panel here.
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any

import pandas as pd
import param

from workbench.errors import WorkbenchError
from workbench.pipelines import api as papi
from workbench.pipelines import cache as pcache
from workbench.pipelines.engine import (
    StepRecord,
    default_backend,
    lineage,
    run_pipeline,
    step_history,
)
from workbench.ui.components.format import error_message, short_id

#: Characters of a step's log and output preview shown.
LOG_CHARS = 20_000
OUTPUT_CHARS = 4_000


def _preview(value: Any) -> str:
    if isinstance(value, pd.DataFrame):
        return f"DataFrame: {value.shape[0]:,} rows x {value.shape[1]} columns\n" + \
            value.head(10).to_string(max_cols=12)
    if isinstance(value, dict) and value and all(isinstance(v, pd.DataFrame) for v in value.values()):
        return "\n".join(f"{k}: DataFrame {v.shape[0]:,} rows x {v.shape[1]} columns"
                         for k, v in value.items())
    text = repr(value)
    return text if len(text) <= OUTPUT_CHARS else text[:OUTPUT_CHARS] + " ..."


def _record_dict(rec: StepRecord) -> dict[str, Any]:
    return {"status": rec.status, "attempts": rec.attempts, "duration_s": rec.duration_s,
            "run_id": rec.run_id, "output_sha": rec.output_sha, "error": rec.error,
            "logs": rec.logs}


class _Running:
    """Runs of the draft pipeline, followed from the view's periodic callback."""

    def start_run(self, from_step: str | None = None, force: bool = False, n_jobs: int = 1,
                  backend: str | None = None, in_process: bool | None = None) -> bool:
        """Run the draft in a background thread (it is saved first if it changed).

        The steps run on worker processes (``in_process=False``), so the process showing
        the editor never runs step code, unless the backend is ``"sequential"``.

        Call :meth:`poll` to move the steps' statuses into ``statuses`` (the view does it
        periodically); ``running`` is False again when the run has ended.
        """
        pipe = self._require()
        if pipe is None:
            return False
        from_step = from_step or None
        try:
            pipe.validate()
            if from_step is not None and from_step not in pipe.step_names:
                raise ValueError(f"from_step {from_step!r} is not a step of {pipe.name!r}")
        except Exception as exc:
            return self._fail(f"Not run: {error_message(exc) if isinstance(exc, WorkbenchError) else exc}")
        run_steps = set(pipe.downstream(from_step)) if from_step else set(pipe.step_names)
        # steps upstream of from_step keep their colour until the run reports them (cached)
        statuses = {n: ("PENDING" if n in run_steps else self.statuses.get(n, "PENDING"))
                    for n in pipe.step_names}
        with self._lock:
            self._live = {n: {"status": st} for n, st in statuses.items()}
            self._outcome = {}
        self.error = ""
        self.message = f"Running {pipe.name!r}" + (f" from step {from_step!r}" if from_step else "") + "…"
        with param.parameterized.batch_call_watchers(self):
            self.statuses = statuses
            self.status_run_id = ""
            self.running = True
        self._run_started = time.perf_counter()
        snapshot = pipe.copy()
        if in_process is None:
            in_process = default_backend(backend)[0] == "sequential"

        def callback(event: str, rec: StepRecord) -> None:
            with self._lock:
                self._live[rec.name] = _record_dict(rec)

        self._cancel_event = cancel = threading.Event()

        def target() -> None:
            try:
                result = run_pipeline(snapshot, self.store, n_jobs=n_jobs, backend=backend,
                                      from_step=from_step, force=force, callback=callback,
                                      in_process=in_process, cancel=cancel, progress=False)
                outcome: dict[str, Any] = {"result": result}
            except BaseException as exc:  # reported by poll()
                if not isinstance(exc, WorkbenchError):
                    traceback.print_exc()
                outcome = {"error": exc}
            with self._lock:
                self._outcome = outcome

        self._thread = threading.Thread(target=target, daemon=True, name="workbench-pipeline-run")
        self._thread.start()
        return True

    def cancel_run(self) -> bool:
        """Cancel the run in progress: running steps are stopped, the others marked CANCELLED."""
        event = getattr(self, "_cancel_event", None)
        if not self.running or event is None:
            return False
        event.set()
        self.error = ""
        self.message = "Cancelling the run: stopping its running steps…"
        return True

    def poll(self) -> bool:
        """Apply what the background run reported since the last poll; True while it runs."""
        if not self.running:
            return False
        with self._lock:
            live = {n: dict(v) for n, v in self._live.items()}
            outcome = dict(self._outcome)
        statuses = {n: v.get("status", "PENDING") for n, v in live.items()}
        if statuses != self.statuses:
            self.statuses = statuses
            if self.selected in live:
                self._set_live_detail(self.selected, live[self.selected])
        if not outcome:
            return True
        self._thread = None
        self._stamp = None  # this session's own run: the next live check starts afresh
        if "error" in outcome:
            self.running = False
            self._fail(f"The run failed to start: {error_message(outcome['error'])}")
            return False
        result = outcome["result"]
        with param.parameterized.batch_call_watchers(self):
            self.statuses = result.statuses()
            self.status_run_id = result.run_id
            self.running = False
            if result.version is not None and self.saved_version != result.version:
                self.saved_version = result.version
            self.dirty = False
        self.refresh()
        self._load_versions()
        self._load_history()
        self._load_detail()
        took = result.duration_s or (time.perf_counter() - self._run_started)
        if result.status == "FINISHED":
            self.error = ""
            self.message = f"Run {short_id(result.run_id)} of version {result.version} finished in {took:.1f} s."
        elif result.status == "CANCELLED":
            stopped = [n for n, s in result.statuses().items() if s == "CANCELLED"]
            self.error = ""
            self.message = (f"Run {short_id(result.run_id)} was cancelled after {took:.1f} s: "
                            f"{len(stopped)} step(s) cancelled ({', '.join(stopped)}).")
        else:
            failed = [n for n, s in result.statuses().items() if s == "FAILED"]
            self._fail(f"Run {short_id(result.run_id)} {result.status}: step(s) "
                       f"{', '.join(failed) or '?'} failed; click a step to see its log.")
        return False

    def wait(self, timeout: float = 120.0) -> None:
        """Block until the background run ends, then poll (for tests and scripts)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        deadline = time.monotonic() + 5
        while self.poll() and time.monotonic() < deadline:
            time.sleep(0.05)

    def show_latest_run(self) -> None:
        """Statuses from the latest run of this pipeline, and the history of its runs."""
        self._load_history()
        statuses, run_id = {}, ""
        try:
            runs = papi.pipeline_runs(self.store, self.pipeline_name, limit=1)
            if len(runs):
                run_id = str(runs["run_id"].iloc[0])
                lin = lineage(self.store, run_id)
                statuses = dict(zip(lin["step"], lin["status"]))
        except Exception as exc:
            self._fail(exc)
        with param.parameterized.batch_call_watchers(self):
            self.statuses = statuses
            self.status_run_id = run_id
        self._load_detail()

    def _load_history(self) -> None:
        try:
            runs = papi.pipeline_runs(self.store, self.pipeline_name, limit=20)
            steps = step_history(self.store, self.pipeline_name, limit=20)
        except Exception as exc:
            self._fail(exc)
            return
        if runs.empty:
            self.history = pd.DataFrame(columns=["run", "version", "status", "started",
                                                 "duration_s", "run_id"])
            return
        out = pd.DataFrame({
            "run": [short_id(r) for r in runs["run_id"]],
            "version": runs["version"].astype("Int64"),
            "status": runs["status"].fillna(""),
            "started": runs["start_time"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "from_step": runs["from_step"].fillna(""),
            "duration_s": runs["duration_s"].round(2),
        })
        order = [n for n in self.step_names] or []
        if len(steps):
            wide = steps.pivot_table(index="pipeline_run_id", columns="step", values="duration_s",
                                     aggfunc="last")
            cols = [c for c in order if c in wide.columns] + \
                [c for c in wide.columns if c not in order]
            for c in cols:
                out[f"{c} (s)"] = runs["run_id"].map(wide[c]).round(3).to_numpy()
        out["run_id"] = runs["run_id"].to_numpy()
        self.history = out.reset_index(drop=True)

    def _set_live_detail(self, name: str, live: dict[str, Any]) -> None:
        detail = {"step": name, "callable": self._ref(name), **live,
                  "log": (live.get("logs") or "")[-LOG_CHARS:], "output": ""}
        detail.pop("logs", None)
        self.detail = detail

    def _ref(self, name: str) -> str:
        try:
            return self.pipeline.step(name).ref
        except Exception:
            return ""

    def _load_detail(self) -> None:
        name = self.selected
        if not name:
            self.detail = {}
            return
        if self.running:
            with self._lock:
                live = dict(self._live.get(name, {}))
            self._set_live_detail(name, live)
            return
        detail: dict[str, Any] = {"step": name, "callable": self._ref(name), "status": None,
                                  "run_id": None, "log": "", "output": "", "error": None,
                                  "attempts": None, "duration_s": None, "output_sha": None}
        if self.status_run_id:
            try:
                lin = lineage(self.store, self.status_run_id)
                rows = lin[lin["step"] == name]
            except Exception as exc:
                self._fail(exc)
                rows = pd.DataFrame()
            if len(rows):
                r = rows.iloc[-1]
                detail.update(status=r["status"], run_id=r["run_id"], error=r["error"],
                              attempts=r["attempts"], duration_s=r["duration_s"],
                              output_sha=r["output_hash"])
                detail["log"] = self._read_log(r["run_id"])
                sha = r["output_hash"]
                if isinstance(sha, str) and sha:
                    try:
                        detail["output"] = _preview(pcache.load_output(self.store.artifacts, sha))
                    except Exception as exc:
                        detail["output"] = f"(the output cannot be loaded: {error_message(exc)})"
        self.detail = {k: (None if isinstance(v, float) and pd.isna(v) else v)
                       for k, v in detail.items()}

    def _read_log(self, run_id: str | None) -> str:
        if not run_id:
            return ""
        try:
            data = self.store.read_artifact(run_id, "logs/step.log")
        except Exception:
            return ""
        return data.decode("utf-8", errors="replace")[-LOG_CHARS:]
