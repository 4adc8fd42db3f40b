"""The Pipelines editor's view-model: the draft graph, edits with validation, versions, runs.

No Panel here: the view (``workbench.ui.pipelines``) lays it out; tests drive it directly.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

import pandas as pd
import param

import workbench.steps as builtin_steps
from workbench.errors import PipelineValidationError, WorkbenchError
from workbench.pipelines import api as papi
from workbench.pipelines import cache as pcache
from workbench.pipelines.engine import (
    StepRecord,
    default_backend,
    lineage,
    run_pipeline,
    step_history,
)
from workbench.pipelines.graph import Pipeline, PipelineDiff, Step, normalise_ref
from workbench.store.store import Store
from workbench.ui.widgets import error_message, short_id

#: Built-in steps offered in the "Add step" form (``workbench.steps``).
BUILTIN_STEPS: list[str] = sorted(builtin_steps.__all__)

#: Fill colour of a step node per step status (``None``: the step has not run yet).
STEP_COLOURS: dict[str | None, str] = {
    "SUCCEEDED": "#5cb85c",
    "CACHED": "#a3d9a5",
    "RUNNING": "#6ea8fe",
    "PENDING": "#dee2e6",
    "FAILED": "#e35d6a",
    "CANCELLED": "#ced4da",
    "SKIPPED": "#ced4da",
    "KILLED": "#ffc107",
    None: "#f8f9fa",
}

#: Seconds between two polls of a background run by the view.
POLL_MS = 300
#: Characters of a step's log and output preview shown.
LOG_CHARS = 20_000
OUTPUT_CHARS = 4_000
_SETTINGS = ("retries", "backoff", "timeout")
_EMPTY_PROBLEM = "has no steps"


def step_colour(status: str | None) -> str:
    return STEP_COLOURS.get(status, STEP_COLOURS[None])


@dataclass
class ParamField:
    """One parameter of a step's callable, as the parameter form shows it.

    ``kind`` is ``"bool"``, ``"int"``, ``"float"``, ``"str"`` or ``"json"`` (any
    other value, typed as YAML/JSON: ``[1, 2]``, ``null``, ``{"a": 1}``).
    ``text`` is the current value as the form's text box shows it ('' = the default).
    """

    name: str
    kind: str
    default: Any
    required: bool
    set: bool
    value: Any
    text: str
    annotation: str


def _kind(annotation: Any, default: Any) -> str:
    if isinstance(annotation, str):
        base = annotation.replace("Optional[", "").replace("]", "").split("|")[0].strip()
    elif annotation in (bool, int, float, str):
        base = annotation.__name__
    else:
        base = ""
    if base in ("bool", "int", "float", "str"):
        return base
    if annotation is inspect.Parameter.empty or base == "":
        for typ in (bool, int, float, str):
            if isinstance(default, typ):
                return typ.__name__
    return "json"


def _text(kind: str, value: Any) -> str:
    if value is None and kind != "json":
        return ""
    if kind == "str":
        return str(value)
    if kind in ("int", "float"):
        return repr(value)
    return json.dumps(value)


def param_fields(step: Step) -> list[ParamField]:
    """The parameters a step's callable accepts that its inputs do not already give."""
    func = step.resolve()
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    ps = [p for p in sig.parameters.values() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    if isinstance(step.inputs, dict):
        taken = set(step.inputs)
    else:
        positional = [p.name for p in ps if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        taken = set(positional[: len(step.inputs)])
    fields = []
    for p in ps:
        if p.name in taken:
            continue
        default = None if p.default is p.empty else p.default
        if isinstance(default, tuple):
            default = list(default)
        kind = _kind(p.annotation, default)
        is_set = p.name in step.params
        value = step.params[p.name] if is_set else default
        ann = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", "")
        fields.append(ParamField(
            name=p.name, kind=kind, default=default, required=p.default is p.empty, set=is_set,
            value=value, text=_text(kind, value) if is_set else "",
            annotation="" if p.annotation is p.empty else str(ann),
        ))
    return fields


def parse_value(kind: str, text: Any, where: str) -> Any:
    """A form value converted to the parameter's kind; ``ValueError`` says what was expected."""
    if kind == "bool":
        if isinstance(text, bool):
            return text
        low = str(text).strip().lower()
        if low in ("true", "yes", "1"):
            return True
        if low in ("false", "no", "0"):
            return False
        raise ValueError(f"{where} must be true or false, got {text!r}")
    text = str(text)
    if kind == "str":
        return text
    if kind == "int":
        try:
            return int(text.strip())
        except ValueError:
            raise ValueError(f"{where} must be an integer, got {text!r}") from None
    if kind == "float":
        try:
            return float(text.strip())
        except ValueError:
            raise ValueError(f"{where} must be a number, got {text!r}") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise ValueError(f"{where} must be a YAML/JSON value (e.g. 3, abc, [1, 2], "
                         f"{{a: 1}}, null), got {text!r}") from None


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


class PipelineEditorModel(param.Parameterized):
    """State and actions of the pipeline editor; drive it directly in tests.

    ``pipeline`` is the draft being edited (``None`` before one is picked); edits replace
    it with a new, validated draft, or leave it and set ``error``. ``statuses`` maps step
    -> status of the run shown (the latest one, or the one running).
    """

    store = param.ClassSelector(class_=Store, allow_refs=False)
    names = param.List(default=[], doc="saved pipelines")
    pipeline_name = param.String(default="", doc="the pipeline being edited")
    pipeline = param.ClassSelector(class_=Pipeline, default=None, allow_None=True,
                                   allow_refs=False, doc="the draft")
    saved_version = param.Integer(default=None, allow_None=True,
                                  doc="the version the draft was loaded from or saved as")
    dirty = param.Boolean(default=False, doc="the draft differs from the saved version")
    revision = param.Integer(default=0, doc="bumped on every change of the draft")
    selected = param.String(default="", doc="the step whose form and details are shown")
    statuses = param.Dict(default={}, doc="step -> status in the run shown")
    status_run_id = param.String(default="", doc="the pipeline run whose statuses are shown")
    running = param.Boolean(default=False)
    versions = param.DataFrame(default=None)
    diff = param.ClassSelector(class_=PipelineDiff, default=None, allow_None=True,
                               allow_refs=False)
    diff_pair = param.Tuple(default=(0, 0), length=2)
    history = param.DataFrame(default=None, doc="one row per run; a duration column per step")
    detail = param.Dict(default={}, doc="status, log and output of the selected step")
    message = param.String(default="")
    error = param.String(default="")

    def __init__(self, store: Store, name: str = "", **params: Any) -> None:
        super().__init__(store=store, **params)
        self._lock = threading.Lock()
        self._live: dict[str, dict[str, Any]] = {}
        self._thread: threading.Thread | None = None
        self._outcome: dict[str, Any] = {}
        self._run_started = 0.0
        self.refresh()
        target = name or (self.names[0] if self.names else "")
        if target:
            self.load(target)

    # -- helpers ---------------------------------------------------------------------
    def _fail(self, exc: BaseException | str) -> bool:
        if isinstance(exc, BaseException):
            if not isinstance(exc, (WorkbenchError, LookupError, ValueError, TypeError)):
                traceback.print_exc()
            text = error_message(exc) if isinstance(exc, WorkbenchError) else str(exc)
            if isinstance(exc, KeyError) and not isinstance(exc, WorkbenchError):
                text = str(exc.args[0]) if exc.args else str(exc)
        else:
            text = exc
        self.message = ""
        self.error = text
        return False

    @property
    def step_names(self) -> list[str]:
        return self.pipeline.step_names if self.pipeline is not None else []

    # -- choosing a pipeline ---------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the list of saved pipelines."""
        try:
            df = papi.list_pipelines(self.store)
        except Exception as exc:
            self._fail(exc)
            return
        self.names = [str(n) for n in df["name"]]

    def load(self, name: str, version: int | None = None) -> bool:
        """Edit a saved pipeline (its latest version by default)."""
        if self.running:
            return self._fail("a run is in progress; wait for it to end before switching")
        try:
            pipe = papi.load_pipeline(self.store, name, version)
        except Exception as exc:
            return self._fail(exc)
        self.error = self.message = ""
        self.diff = None
        with param.parameterized.batch_call_watchers(self):
            self.pipeline_name = name
            self.pipeline = pipe
            self.saved_version = pipe.version
            self.dirty = version is not None and version != self._latest_version(name)
            self.selected = pipe.step_names[0] if pipe.step_names else ""
            self.revision += 1
        self._load_versions()
        self.show_latest_run()
        return True

    def reload(self) -> None:
        """Re-read the saved pipelines and the latest run (e.g. one started elsewhere)."""
        self.refresh()
        if self.running or not self.pipeline_name or self.pipeline_name not in self.names:
            return
        self._load_versions()
        self.show_latest_run()

    def new_from_template(self, name: str = "churn") -> bool:
        """Save the lifecycle template (extract -> ... -> register) as a new pipeline and edit it."""
        if self.running:
            return self._fail("a run is in progress; wait for it to end")
        name = (name or "churn").strip()
        base, i = name, 2
        while name in self.names:
            name, i = f"{base}-{i}", i + 1
        try:
            pipe = papi.churn_template(name=name)
            papi.save_pipeline(self.store, pipe, message="created from the churn template")
        except Exception as exc:
            return self._fail(exc)
        self.refresh()
        self.load(name)
        self.message = f"Created pipeline {name!r} (version 1) from the churn template."
        return True

    def new_pipeline(self, name: str) -> bool:
        """Start an empty draft called ``name`` (saved once it has a step)."""
        name = (name or "").strip()
        if self.running:
            return self._fail("a run is in progress; wait for it to end")
        if name in self.names:
            return self._fail(f"a pipeline called {name!r} exists already: pick it in the list")
        try:
            pipe = Pipeline(name, [])
        except Exception as exc:
            return self._fail(exc)
        self.error = ""
        with param.parameterized.batch_call_watchers(self):
            self.pipeline_name = name
            self.pipeline = pipe
            self.saved_version = None
            self.dirty = True
            self.selected = ""
            self.statuses = {}
            self.status_run_id = ""
            self.versions = None
            self.history = None
            self.diff = None
            self.detail = {}
            self.revision += 1
        self.message = f"New pipeline {name!r}: add steps, then save it."
        return True

    # -- editing -------------------------------------------------------------------------------
    def _apply(self, new: Pipeline, message: str, select: str | None = None) -> bool:
        """Adopt ``new`` as the draft if it is valid; else refuse with the validation message."""
        problems, _cycle = new.problems()
        problems = [p for p in problems if not p.endswith(_EMPTY_PROBLEM)]
        if problems:
            text = problems[0] if len(problems) == 1 else \
                f"{len(problems)} problems:\n" + "\n".join(f"- {p}" for p in problems)
            return self._fail(f"Refused: {text}")
        new.version = self.saved_version
        with param.parameterized.batch_call_watchers(self):
            self.pipeline = new
            self.dirty = True
            if select is not None:
                self.selected = select
            elif self.selected not in new.step_names:
                self.selected = new.step_names[0] if new.step_names else ""
            self.revision += 1
        self.error = ""
        self.message = message
        self._load_detail()
        return True

    def _require(self) -> Pipeline | None:
        if self.pipeline is None:
            self._fail("pick a pipeline, create one from the template, or start a new one")
            return None
        if self.running:
            self._fail("a run is in progress; edit the pipeline once it has ended")
            return None
        return self.pipeline

    def add_step(self, name: str, func: str, inputs: list[str] | dict[str, str] | None = None,
                 params: dict[str, Any] | None = None) -> bool:
        """Add a step running ``func`` (a built-in step name or ``"module:function"``)."""
        pipe = self._require()
        if pipe is None:
            return False
        name, func = (name or "").strip(), (func or "").strip()
        if not name:
            return self._fail("Refused: the new step needs a name")
        if not func:
            return self._fail("Refused: choose a built-in step or type a callable "
                              "('package.module:function')")
        try:
            step = Step(name, normalise_ref(func), params=dict(params or {}), inputs=inputs or [])
        except Exception as exc:
            return self._fail(f"Refused: {error_message(exc)}")
        new = pipe.copy()
        new.steps.append(step)
        return self._apply(new, f"Added step {name!r} ({step.ref}).", select=name)

    def delete_step(self, name: str) -> bool:
        pipe = self._require()
        if pipe is None:
            return False
        if name not in pipe.step_names:
            return self._fail(f"Refused: there is no step {name!r}")
        return self._apply(pipe.without_step(name), f"Deleted step {name!r}.")

    def connect(self, src: str, dst: str, argument: str | None = None) -> bool:
        """``dst`` also takes the output of ``src`` (as ``argument`` when given)."""
        pipe = self._require()
        if pipe is None:
            return False
        for n in (src, dst):
            if n not in pipe.step_names:
                return self._fail(f"Refused: there is no step {n!r}")
        if src in pipe.step(dst).input_steps:
            return self._fail(f"Refused: {dst!r} already takes the output of {src!r}")
        try:
            new = pipe.connected(src, dst, (argument or "").strip() or None)
        except Exception as exc:
            return self._fail(f"Refused: {error_message(exc)}")
        return self._apply(new, f"Connected {src} -> {dst}.")

    def disconnect(self, src: str, dst: str) -> bool:
        pipe = self._require()
        if pipe is None:
            return False
        if dst not in pipe.step_names or src not in pipe.step(dst).input_steps:
            return self._fail(f"Refused: {dst!r} does not take the output of {src!r}")
        return self._apply(pipe.disconnected(src, dst), f"Disconnected {src} -> {dst}.")

    def param_fields(self, step: str | None = None) -> list[ParamField]:
        """The form of a step's parameters, from its callable's signature."""
        name = step or self.selected
        if self.pipeline is None or name not in self.step_names:
            return []
        try:
            return param_fields(self.pipeline.step(name))
        except Exception:
            return []

    def set_params(self, step: str, values: dict[str, Any],
                   settings: dict[str, Any] | None = None) -> bool:
        """Set a step's parameters from form values (text, or bool for check boxes).

        An empty text leaves the parameter at its default; a value equal to the default is
        not stored. ``settings`` may hold ``retries``, ``backoff`` and ``timeout`` (text,
        '' = default). Values that do not convert, or that the callable does not accept,
        are refused and the draft is unchanged.
        """
        pipe = self._require()
        if pipe is None:
            return False
        if step not in pipe.step_names:
            return self._fail(f"Refused: there is no step {step!r}")
        current = pipe.step(step)
        fields = {f.name: f for f in param_fields(current)} if self._resolvable(current) else {}
        params = dict(current.params)
        try:
            for key, raw in values.items():
                where = f"parameter {key!r} of step {step!r}"
                f = fields.get(key)
                if f is None:  # not in the signature: validation names the problem
                    if raw is None or (isinstance(raw, str) and not raw.strip()):
                        params.pop(key, None)
                    else:
                        params[key] = parse_value("json", raw, where)
                    continue
                if f.kind != "bool" and (raw is None or (isinstance(raw, str) and not raw.strip())):
                    params.pop(key, None)
                    continue
                value = parse_value(f.kind, raw, where)
                if not f.required and value == f.default and type(value) is type(f.default):
                    params.pop(key, None)
                else:
                    params[key] = value
            changes: dict[str, Any] = {"params": params}
            for key, raw in (settings or {}).items():
                if key not in _SETTINGS:
                    raise ValueError(f"unknown step setting {key!r} (settings: {', '.join(_SETTINGS)})")
                text = "" if raw is None else str(raw).strip()
                if not text:
                    changes[key] = None
                elif key == "retries":
                    changes[key] = parse_value("int", text, f"retries of step {step!r}")
                else:
                    changes[key] = parse_value("float", text, f"{key} of step {step!r}")
        except ValueError as exc:
            return self._fail(f"Refused: {exc}")
        new = pipe.with_step(current.replace(**changes))
        if new == pipe:
            self.error = ""
            self.message = f"Step {step!r}: nothing changed."
            return True
        return self._apply(new, f"Updated the parameters of step {step!r}.", select=step)

    @staticmethod
    def _resolvable(step: Step) -> bool:
        try:
            step.resolve()
            return True
        except LookupError:
            return False

    def select_step(self, name: str) -> None:
        """Show a step's form, status, log and output."""
        self.selected = name if name in self.step_names else ""
        self._load_detail()

    def import_yaml(self, text: str) -> bool:
        """Edit a pipeline read from YAML text (validated first; saved only by :meth:`save`).

        Its name says which pipeline it becomes a draft of: an existing one (saving makes a
        new version) or a new one.
        """
        if self.running:
            return self._fail("a run is in progress; wait for it to end")
        try:
            pipe = Pipeline.from_yaml(text)
        except Exception as exc:
            return self._fail(f"Not imported: {error_message(exc)}")
        problems = [p for p in pipe.problems()[0] if not p.endswith(_EMPTY_PROBLEM)]
        if problems:
            return self._fail("Not imported: " + "; ".join(problems))
        exists = pipe.name in self.names
        with param.parameterized.batch_call_watchers(self):
            self.pipeline_name = pipe.name
            self.pipeline = pipe
            self.saved_version = self._latest_version(pipe.name) if exists else None
            self.dirty = True
            self.selected = pipe.step_names[0] if pipe.step_names else ""
            self.diff = None
            self.revision += 1
        if exists:
            self._load_versions()
            self.show_latest_run()
        else:
            with param.parameterized.batch_call_watchers(self):
                self.versions = None
                self.history = None
                self.statuses = {}
                self.status_run_id = ""
            self._load_detail()
        self.error = ""
        self.message = (f"Imported {pipe.name!r} from YAML ({len(pipe.steps)} steps): "
                        "save it to make a new version.")
        return True

    def to_yaml(self) -> str:
        return self.pipeline.to_yaml() if self.pipeline is not None else ""

    # -- versions ---------------------------------------------------------------------------------
    def _latest_version(self, name: str | None = None) -> int | None:
        try:
            df = papi.list_versions(self.store, name or self.pipeline_name)
        except Exception:
            return None
        return int(df["version"].max()) if len(df) else None

    def _load_versions(self) -> None:
        try:
            self.versions = papi.list_versions(self.store, self.pipeline_name)
        except Exception as exc:
            self._fail(exc)

    def save(self, message: str = "") -> int | None:
        """Validate and save the draft as a new version (an unchanged draft keeps its version)."""
        pipe = self._require()
        if pipe is None:
            return None
        before = self._latest_version() if self.pipeline_name in self.names else None
        try:
            version = papi.save_pipeline(self.store, pipe, message=(message or "").strip() or None)
        except PipelineValidationError as exc:
            self._fail(f"Not saved: {exc}")
            return None
        except Exception as exc:
            self._fail(exc)
            return None
        self.refresh()
        with param.parameterized.batch_call_watchers(self):
            self.saved_version = version
            self.dirty = False
        self._load_versions()
        self.error = ""
        self.message = (f"No changes since version {version}: nothing saved." if version == before
                        else f"Saved {pipe.name!r} as version {version}.")
        return version

    def show_diff(self, a: int, b: int) -> PipelineDiff | None:
        """The changes from version ``a`` to version ``b``."""
        try:
            d = papi.diff_versions(self.store, self.pipeline_name, int(a), int(b))
        except Exception as exc:
            self._fail(exc)
            return None
        self.error = ""
        self.diff_pair = (int(a), int(b))
        self.diff = d
        return d

    # -- runs -----------------------------------------------------------------------------------------
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

        def target() -> None:
            try:
                result = run_pipeline(snapshot, self.store, n_jobs=n_jobs, backend=backend,
                                      from_step=from_step, force=force, callback=callback,
                                      in_process=in_process)
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


# --------------------------------------------------------------------------------- the view
