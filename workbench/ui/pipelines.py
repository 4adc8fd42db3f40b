"""The Pipelines screen: a visual editor for pipeline graphs, their versions and their runs.

``PipelineEditorModel`` holds the state and the actions (pick a pipeline, add, delete,
connect and disconnect steps, edit a step's parameters, save a version, diff two
versions, run in the background and follow the steps' statuses, read a step's log and
output, the history of runs). It speaks only the pipelines API (no SQL), so tests drive it
directly. ``PipelineEditor`` is its view: the graph drawn left to right with Bokeh (nodes
coloured by step status), and the forms around it::

    wb.ui.pipelines.PipelineEditor(store)            # in a notebook or panel serve

Every edit makes a new draft and validates it first: an edit that would make the graph
invalid (a cycle, an unknown callable, a parameter the callable does not take, a duplicate
step name) is refused with the validation message and the draft stays as it was.
"""

from __future__ import annotations

import html
import inspect
import io
import json
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import panel as pn
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
from workbench.ui.widgets import ErrorBanner, error_message, short_id

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
def _graph_data(pipe: Pipeline | None, statuses: dict[str, str]) -> tuple[dict, dict, tuple]:
    """Bokeh column data of nodes and edges, and the plot's (x0, x1, y0, y1)."""
    nodes: dict[str, list] = {k: [] for k in ("name", "x", "y", "colour", "status", "callable",
                                              "label_y", "status_y")}
    edges: dict[str, list] = {k: [] for k in ("x0", "y0", "x1", "y1", "cx0", "cy0", "cx1", "cy1",
                                              "tip_x", "tip_y")}
    if pipe is None or not pipe.steps:
        return nodes, edges, (-1.0, 1.0, -1.0, 1.0)
    try:
        pos = pipe.layout()
    except Exception:  # a graph that cannot be laid out (never a valid draft): a column
        pos = {n: (0.0, -float(i)) for i, n in enumerate(pipe.step_names)}
    for s in pipe.steps:
        x, y = pos[s.name]
        status = statuses.get(s.name)
        nodes["name"].append(s.name)
        nodes["x"].append(x)
        nodes["y"].append(y)
        nodes["colour"].append(step_colour(status))
        nodes["status"].append(status or "not run")
        nodes["callable"].append(s.ref)
        nodes["label_y"].append(y + 0.07)
        nodes["status_y"].append(y - 0.14)
    # Edges are cubic Bezier curves from a node's right side to the next one's left side;
    # an edge that skips layers arcs over the steps between (alternately above and below).
    arc = 1.0
    for src, dst in pipe.edges():
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        sx, sy, ex, ey = x0 + 0.36, y0, x1 - 0.36, y1
        lift = 0.0
        if x1 - x0 > 1.0 and y0 == y1:
            lift, arc = arc * (0.6 + 0.1 * (x1 - x0 - 2)), -arc
        cx0, cy0, cx1, cy1 = sx + 0.25, sy + lift, ex - 0.25, ey + lift
        dx, dy = ex - cx1, ey - cy1
        norm = max((dx * dx + dy * dy) ** 0.5, 1e-9)
        for key, value in (("x0", sx), ("y0", sy), ("x1", ex), ("y1", ey), ("cx0", cx0),
                           ("cy0", cy0), ("cx1", cx1), ("cy1", cy1),
                           ("tip_x", ex - 0.02 * dx / norm), ("tip_y", ey - 0.02 * dy / norm)):
            edges[key].append(value)
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    return nodes, edges, (min(xs) - 0.6, max(xs) + 0.6, min(ys) - 0.6, max(ys) + 0.6)


class PipelineEditor(pn.viewable.Viewer):
    """The Pipelines page. ``on_open(run_id)`` opens a run; ``on_compare(run_ids)`` compares runs."""

    def __init__(self, store: Store | None = None, on_open: Callable[[str], None] | None = None,
                 on_compare: Callable[[list[str]], None] | None = None, *,
                 model: PipelineEditorModel | None = None) -> None:
        super().__init__()
        if model is None:
            if store is None:
                raise TypeError("PipelineEditor needs a store (or a model)")
            model = PipelineEditorModel(store)
        self.model = model
        self.on_open = on_open
        self.on_compare = on_compare
        self._poller = None
        self._syncing = False
        self._param_widgets: dict[str, Any] = {}
        self._build()

    # -- building ------------------------------------------------------------------------------
    def _build(self) -> None:
        m = self.model
        self._errors = ErrorBanner(message=m.error)
        m.param.watch(lambda e: setattr(self._errors, "message", e.new), "error")
        self._message = pn.pane.Alert("", alert_type="success", visible=False,
                                      sizing_mode="stretch_width", css_classes=["wb-message"])

        # choosing a pipeline
        self._pick = pn.widgets.Select(label="Pipeline", options=m.names, value=m.pipeline_name or None,
                                       width=220, css_classes=["wb-pl-pick"])
        self._pick.param.watch(self._on_pick, "value")
        self._template = pn.widgets.Button(label="New from template", width=150, align="end",
                                           css_classes=["wb-pl-template"])
        self._template.on_click(lambda e: m.new_from_template())
        self._new_name = pn.widgets.TextInput(label="New pipeline", placeholder="name", width=170,
                                              css_classes=["wb-pl-new-name"])
        self._new = pn.widgets.Button(label="New empty", width=100, align="end",
                                      css_classes=["wb-pl-new"])
        self._new.on_click(lambda e: m.new_pipeline(self._new_name.value))
        self._reload = pn.widgets.Button(label="Refresh", width=90, align="end",
                                         css_classes=["wb-pl-refresh"])
        self._reload.on_click(lambda e: m.reload())
        self._title = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-pl-title"],
                                   margin=(5, 10))

        # the graph
        self._build_graph()
        self._strip = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-pl-strip"],
                                   margin=(0, 10))

        # add a step
        self._add_name = pn.widgets.TextInput(label="Step name", width=200,
                                              css_classes=["wb-pl-add-name"])
        self._add_builtin = pn.widgets.Select(label="Built-in step", options=BUILTIN_STEPS,
                                              value="identity", width=200,
                                              css_classes=["wb-pl-add-builtin"])
        self._add_callable = pn.widgets.TextInput(
            label="…or a callable", placeholder="package.module:function", width=200,
            css_classes=["wb-pl-add-callable"])
        self._add_inputs = pn.widgets.MultiChoice(label="Takes outputs of", options=[], width=200,
                                                  css_classes=["wb-pl-add-inputs"])
        self._add = pn.widgets.Button(label="Add step", color="primary", width=200,
                                      css_classes=["wb-pl-add"])
        self._add.on_click(self._on_add)
        add_card = pn.Column(pn.pane.Markdown("#### Add a step", margin=(0, 10)), self._add_name,
                             self._add_builtin, self._add_callable, self._add_inputs, self._add,
                             width=225, css_classes=["wb-pl-card", "wb-pl-add-card"])

        # connect / disconnect
        self._from = pn.widgets.Select(label="From", options=[], width=200,
                                       css_classes=["wb-pl-from"])
        self._to = pn.widgets.Select(label="To", options=[], width=200, css_classes=["wb-pl-to"])
        self._argument = pn.widgets.TextInput(label="As argument (optional)", width=200,
                                              css_classes=["wb-pl-argument"])
        self._connect = pn.widgets.Button(label="Connect", color="primary", width=90,
                                          css_classes=["wb-pl-connect"])
        self._connect.on_click(lambda e: m.connect(self._from.value, self._to.value,
                                                   self._argument.value))
        self._disconnect = pn.widgets.Button(label="Disconnect", width=90,
                                             css_classes=["wb-pl-disconnect"])
        self._disconnect.on_click(lambda e: m.disconnect(self._from.value, self._to.value))
        connect_card = pn.Column(pn.pane.Markdown("#### Connect steps", margin=(0, 10)),
                                 self._from, self._to, self._argument,
                                 pn.Row(self._connect, self._disconnect),
                                 width=225, css_classes=["wb-pl-card", "wb-pl-connect-card"])

        # the selected step: parameters
        self._step = pn.widgets.Select(label="Step", options=[], width=200,
                                       css_classes=["wb-pl-step"])
        self._step.param.watch(self._on_step_pick, "value")
        self._delete = pn.widgets.Button(label="Delete step", color="danger", width=100,
                                         align="end", css_classes=["wb-pl-delete"])
        self._delete.on_click(lambda e: m.delete_step(m.selected))
        self._form = pn.Column(sizing_mode="stretch_width", css_classes=["wb-pl-form"])
        self._apply = pn.widgets.Button(label="Apply parameters", color="primary", width=150,
                                        css_classes=["wb-pl-apply"])
        self._apply.on_click(self._on_apply)
        step_card = pn.Column(pn.pane.Markdown("#### Step parameters", margin=(0, 10)),
                              pn.Row(self._step, self._delete), self._form, self._apply,
                              min_width=330, sizing_mode="stretch_width",
                              css_classes=["wb-pl-card", "wb-pl-step-card"])

        # save and run
        self._save_message = pn.widgets.TextInput(label="Version message", width=200,
                                                  css_classes=["wb-pl-save-message"])
        self._save = pn.widgets.Button(label="Save version", color="success", width=200,
                                       css_classes=["wb-pl-save"])
        self._save.on_click(lambda e: m.save(self._save_message.value))
        self._from_step = pn.widgets.Select(label="Run from step", options={"(all steps)": ""},
                                            value="", width=200, css_classes=["wb-pl-from-step"])
        self._force = pn.widgets.Checkbox(label="ignore the cache", value=False, width=200,
                                          css_classes=["wb-pl-force"])
        self._backend = pn.widgets.Select(
            label="Backend", options={"default": "", "loky (processes)": "loky",
                                      "dask (cluster)": "dask", "sequential": "sequential"},
            description="default: $WORKBENCH_PIPELINE_BACKEND, else loky",
            value="", width=200, css_classes=["wb-pl-backend"])
        self._n_jobs = pn.widgets.IntInput(label="Parallel steps (n_jobs)", value=1, start=1,
                                           end=16, width=200, css_classes=["wb-pl-n-jobs"])
        self._run = pn.widgets.Button(label="Run", color="primary", width=200,
                                      css_classes=["wb-pl-run"])
        self._run.on_click(self._on_run)
        self._progress = pn.indicators.Progress(active=False, visible=False, width=200,
                                                css_classes=["wb-pl-progress"])
        run_card = pn.Column(pn.pane.Markdown("#### Save and run", margin=(0, 10)),
                             self._save_message, self._save, self._from_step, self._force,
                             self._n_jobs, self._backend, self._run, self._progress,
                             width=225, css_classes=["wb-pl-card", "wb-pl-run-card"])

        # tabs: step details, versions, history, YAML
        self._detail = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-pl-detail"])
        self._open_step = pn.widgets.Button(label="Open the step's run", width=180,
                                            css_classes=["wb-pl-open-step"], visible=False)
        self._open_step.on_click(lambda e: self._open(m.detail.get("run_id")))
        self._log = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-pl-log"])
        self._va = pn.widgets.Select(label="Version A", options=[], width=120,
                                     css_classes=["wb-pl-va"])
        self._vb = pn.widgets.Select(label="Version B", options=[], width=120,
                                     css_classes=["wb-pl-vb"])
        self._show_diff = pn.widgets.Button(label="Show diff", width=110, align="end",
                                            css_classes=["wb-pl-diff"])
        self._show_diff.on_click(lambda e: m.show_diff(self._va.value, self._vb.value)
                                 if self._va.value and self._vb.value else None)
        self._load_version = pn.widgets.Button(label="Edit version A", width=130, align="end",
                                               css_classes=["wb-pl-load-version"])
        self._load_version.on_click(lambda e: m.load(m.pipeline_name, self._va.value)
                                    if self._va.value else None)
        self._versions = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False,
                                              sizing_mode="stretch_width", layout="fit_data_table",
                                              max_height=260, css_classes=["wb-pl-versions"])
        self._diff = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-pl-diff-out"])
        self._history = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False,
                                             selectable="checkbox", hidden_columns=["run_id"],
                                             sizing_mode="stretch_width", layout="fit_data_table",
                                             max_height=320, css_classes=["wb-pl-history"])
        self._open_run = pn.widgets.Button(label="Open run", width=110,
                                           css_classes=["wb-pl-open-run"])
        self._open_run.on_click(self._on_open_run)
        self._compare = pn.widgets.Button(label="Compare selected", width=150,
                                          css_classes=["wb-pl-compare"])
        self._compare.on_click(self._on_compare)
        self._yaml = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-pl-yaml"])
        self._yaml_download = pn.widgets.FileDownload(
            callback=lambda: io.StringIO(m.to_yaml()), filename="pipeline.yaml",
            label="Download YAML", width=160, css_classes=["wb-pl-yaml-download"])
        self._yaml_upload = pn.widgets.FileInput(accept=".yaml,.yml", width=260,
                                                 css_classes=["wb-pl-yaml-upload"])
        self._yaml_upload.param.watch(self._on_upload, "value")
        self._tabs = pn.Tabs(
            ("Step log & output", pn.Column(self._detail, self._open_step, self._log,
                                            sizing_mode="stretch_width")),
            ("Versions & diff", pn.Column(
                pn.Row(self._va, self._vb, self._show_diff, self._load_version),
                self._diff, self._versions, sizing_mode="stretch_width")),
            ("Run history", pn.Column(
                pn.pane.Markdown("Durations per step in seconds; tick runs to compare them.",
                                 margin=(0, 10)),
                pn.Row(self._open_run, self._compare), self._history,
                sizing_mode="stretch_width")),
            ("YAML", pn.Column(pn.Row(self._yaml_download, self._yaml_upload), self._yaml,
                               sizing_mode="stretch_width")),
            dynamic=False, sizing_mode="stretch_width", css_classes=["wb-pl-tabs"],
        )

        self._graph_block = pn.Column(self._title, self._graph_pane, self._strip,
                                      sizing_mode="stretch_width", css_classes=["wb-pl-graph-block"])
        self._editor = pn.Column(
            pn.Row(add_card, connect_card, step_card, run_card, sizing_mode="stretch_width"),
            self._tabs, sizing_mode="stretch_width", css_classes=["wb-pl-editor"],
        )
        self._empty = pn.pane.Alert(
            "No pipeline saved in this store yet. Click **New from template** for the lifecycle "
            "template (extract → clean → features → split → validate → train → evaluate → "
            "register on the sample churn data), or name a new pipeline and click **New empty**.",
            alert_type="info", sizing_mode="stretch_width", css_classes=["wb-pl-none"])
        # messages sit between the graph and the forms: refusals show where the user edits
        self._layout = pn.Column(
            pn.Row(self._pick, self._reload, self._template, self._new_name, self._new),
            self._empty, self._graph_block, self._errors, self._message, self._editor,
            sizing_mode="stretch_width", css_classes=["wb-pipelines"],
        )
        m.param.watch(self._sync_names, ["names", "pipeline_name"])
        m.param.watch(self._sync_graph, ["revision", "statuses"])
        m.param.watch(self._sync_structure, ["revision"])
        m.param.watch(self._sync_form, ["selected", "revision"])
        m.param.watch(self._sync_graph, ["selected", "running"])
        m.param.watch(self._sync_detail, ["detail"])
        m.param.watch(self._sync_versions, ["versions", "saved_version", "dirty"])
        m.param.watch(self._sync_diff, ["diff"])
        m.param.watch(self._sync_history, ["history"])
        m.param.watch(self._sync_message, ["message", "error"])
        m.param.watch(self._sync_running, ["running"])
        self._sync_everything()

    def _build_graph(self) -> None:
        self._nodes = None
        self._graph_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=260,
                                         css_classes=["wb-pl-graph"])

    def _figure(self, nodes: dict, edges: dict, ranges: tuple, height: int, selected: list[int]):
        """A new Bokeh figure of the graph (replacing the pane's object is safe from any
        callback, where changing a shown model in place is not)."""
        from bokeh.models import (
            Arrow,
            ColumnDataSource,
            HoverTool,
            Label,
            Range1d,
            TapTool,
            VeeHead,
        )
        from bokeh.plotting import figure

        x0, x1, y0, y1 = ranges
        source = ColumnDataSource(nodes)
        source.selected.indices = selected
        fig = figure(height=height, sizing_mode="stretch_width", x_range=Range1d(x0, x1),
                     y_range=Range1d(y0, y1), tools="", toolbar_location=None,
                     min_border=5, outline_line_color=None)
        fig.axis.visible = False
        fig.grid.visible = False
        if edges["x0"]:
            edge_source = ColumnDataSource(edges)
            fig.bezier("x0", "y0", "x1", "y1", "cx0", "cy0", "cx1", "cy1", source=edge_source,
                       line_color="#495057", line_width=2)
            fig.add_layout(Arrow(end=VeeHead(size=10, fill_color="#495057", line_color="#495057"),
                                 source=edge_source, x_start="tip_x", y_start="tip_y",
                                 x_end="x1", y_end="y1", line_color="#495057", line_width=1))
        rects = fig.rect("x", "y", width=0.72, height=0.5, source=source,
                         fill_color="colour", line_color="#343a40", line_width=1.5,
                         selection_line_color="#0d6efd", selection_line_width=4,
                         nonselection_fill_alpha=1.0, nonselection_line_alpha=1.0,
                         selection_fill_color="colour")
        fig.text("x", "label_y", text="name", source=source, text_align="center",
                 text_baseline="middle", text_font_size="13px", text_font_style="bold",
                 text_color="#212529", nonselection_text_alpha=1.0)
        fig.text("x", "status_y", text="status", source=source, text_align="center",
                 text_baseline="middle", text_font_size="10px", text_color="#343a40",
                 nonselection_text_alpha=1.0)
        fig.add_tools(TapTool(renderers=[rects]),
                      HoverTool(renderers=[rects], tooltips=[("step", "@name"),
                                                             ("callable", "@callable"),
                                                             ("status", "@status")]))
        if not nodes["name"]:
            fig.add_layout(Label(x=0, y=0, text="No steps yet: add one below.",
                                 text_align="center", text_baseline="middle",
                                 text_color="#6c757d", text_font_size="14px"))
        source.selected.on_change("indices", self._on_tap)
        self._nodes = source
        return fig

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # -- events ------------------------------------------------------------------------------
    def _on_pick(self, event: Any) -> None:
        m = self.model
        if event.new and event.new != m.pipeline_name and not m.load(event.new):
            self._pick.value = m.pipeline_name if m.pipeline_name in self._pick.options else None

    def _on_step_pick(self, event: Any) -> None:
        if not self._syncing and (event.new or "") != self.model.selected:
            self.model.select_step(event.new or "")

    def _on_tap(self, attr: str, old: list[int], new: list[int]) -> None:
        names = list(self._nodes.data.get("name", [])) if self._nodes is not None else []
        if new and new[0] < len(names) and names[new[0]] != self.model.selected:
            self.model.select_step(names[new[0]])

    def _on_add(self, event: Any) -> None:
        func = self._add_callable.value.strip() or self._add_builtin.value
        if self.model.add_step(self._add_name.value, func, list(self._add_inputs.value)):
            self._add_name.value = ""
            self._add_callable.value = ""
            self._add_inputs.value = []

    def _on_apply(self, event: Any) -> None:
        values, settings = {}, {}
        for key, widget in self._param_widgets.items():
            if key.startswith("setting:"):
                settings[key.split(":", 1)[1]] = widget.value
            else:
                values[key] = widget.value
        self.model.set_params(self.model.selected, values, settings)

    def _on_upload(self, event: Any) -> None:
        if not event.new:
            return
        data = event.new if isinstance(event.new, bytes) else str(event.new).encode()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.model.error = "Not imported: the file is not UTF-8 text"
            return
        self.model.import_yaml(text)

    def _on_run(self, event: Any) -> None:
        n_jobs = int(self._n_jobs.value or 1)
        if self.model.start_run(from_step=self._from_step.value or None,
                                force=bool(self._force.value), n_jobs=n_jobs,
                                backend=self._backend.value or None):
            self._start_polling()

    def _start_polling(self) -> None:
        if self._poller is not None:
            return
        try:
            self._poller = pn.state.add_periodic_callback(self._tick, period=POLL_MS)
        except Exception:  # no server/session (e.g. a static notebook render): poll once later
            self._poller = None

    def _tick(self) -> None:
        if not self.model.poll() and self._poller is not None:
            self._poller.stop()
            self._poller = None

    def _open(self, run_id: str | None) -> None:
        if not run_id:
            return
        if self.on_open is not None:
            self.on_open(run_id)
        else:
            self.model.message = f"Run id: {run_id}"

    def _selected_history(self) -> list[str]:
        h = self.model.history
        if h is None or h.empty:
            return []
        return [str(h.iloc[i]["run_id"]) for i in self._history.selection if i < len(h)]

    def _on_open_run(self, event: Any) -> None:
        ids = self._selected_history()
        if not ids and self.model.history is not None and len(self.model.history):
            ids = [str(self.model.history.iloc[0]["run_id"])]
        if ids:
            self._open(ids[0])

    def _on_compare(self, event: Any) -> None:
        ids = self._selected_history()
        if len(ids) < 2:
            self.model.error = "Tick two or more runs in the history to compare them."
            return
        self.model.error = ""
        if self.on_compare is not None:
            self.on_compare(ids)

    # -- sync ----------------------------------------------------------------------------------
    def _sync_everything(self) -> None:
        self._sync_names()
        self._sync_structure()
        self._sync_graph()
        self._sync_form()
        self._sync_detail()
        self._sync_versions()
        self._sync_diff()
        self._sync_history()
        self._sync_message()

    def _sync_names(self, *events: Any) -> None:
        m = self.model
        options = list(m.names)
        if m.pipeline_name and m.pipeline_name not in options:
            options.append(m.pipeline_name)
        self._pick.options = options
        self._pick.value = m.pipeline_name or None
        self._empty.visible = m.pipeline is None
        self._editor.visible = self._graph_block.visible = m.pipeline is not None

    def _sync_structure(self, *events: Any) -> None:
        m = self.model
        names = m.step_names
        self._empty.visible = m.pipeline is None
        self._editor.visible = self._graph_block.visible = m.pipeline is not None
        self._add_inputs.options = names
        self._add_inputs.value = [v for v in self._add_inputs.value if v in names]
        for widget in (self._from, self._to):
            keep = widget.value
            widget.options = names
            widget.value = keep if keep in names else (names[0] if names else None)
        if self._to.value == self._from.value and len(names) > 1:
            self._to.value = names[1]
        self._from_step.options = {"(all steps)": "", **{n: n for n in names}}
        if self._from_step.value not in ("", *names):
            self._from_step.value = ""
        self._yaml.object = f"<pre class='wb-pl-yaml-text'>{html.escape(m.to_yaml())}</pre>"
        self._yaml_download.filename = f"{m.pipeline.name if m.pipeline else 'pipeline'}.yaml"
        self._sync_title()

    def _sync_title(self, *events: Any) -> None:
        m = self.model
        if m.pipeline is None:
            self._title.object = ""
            return
        edges = m.pipeline.edges()
        version = f"version {m.saved_version}" if m.saved_version else "not saved yet"
        state = " · <b>unsaved changes</b>" if m.dirty else ""
        edge_text = ", ".join(f"{a} → {b}" for a, b in edges) or "none"
        self._title.object = (
            f"<div class='wb-pl-summary'><b>{html.escape(m.pipeline.name)}</b> · {version}{state}"
            f" · {len(m.pipeline.steps)} steps · edges: <span class='wb-pl-edges'>"
            f"{html.escape(edge_text)}</span></div>"
        )

    def _sync_graph(self, *events: Any) -> None:
        m = self.model
        nodes, edges, (x0, x1, y0, y1) = _graph_data(m.pipeline, m.statuses)
        rows = max(1.0, y1 - y0)
        height = int(min(520, max(220, 110 * rows)))
        selected = [i for i, n in enumerate(nodes["name"]) if n == m.selected]
        key = (repr(nodes), repr(edges), height, tuple(selected))
        if key != getattr(self, "_graph_key", None):
            self._graph_key = key
            fig = self._figure(nodes, edges, (x0, max(x1, x0 + 5.0), y0, y1), height, selected)
            with pn.io.hold():
                self._graph_pane.height = height
                self._graph_pane.object = fig
        badges = []
        for n in nodes["name"]:
            status = m.statuses.get(n)
            cls = (status or "none").lower()
            badges.append(
                f"<span class='wb-step-status wb-step-{cls}' data-step='{html.escape(n)}' "
                f"style='background:{step_colour(status)};padding:2px 8px;margin:2px;"
                f"border-radius:10px;display:inline-block;border:1px solid #adb5bd'>"
                f"{html.escape(n)}: {html.escape(status or 'not run')}</span>")
        run = f" (run {short_id(m.status_run_id)})" if m.status_run_id else ""
        live = " — running…" if m.running else ""
        legend = " ".join(
            f"<span style='display:inline-block;width:10px;height:10px;background:{colour};"
            f"border:1px solid #adb5bd;margin:0 3px 0 8px'></span>{label}"
            for label, colour in (("succeeded", STEP_COLOURS["SUCCEEDED"]),
                                  ("cached", STEP_COLOURS["CACHED"]),
                                  ("running", STEP_COLOURS["RUNNING"]),
                                  ("failed", STEP_COLOURS["FAILED"]),
                                  ("cancelled", STEP_COLOURS["CANCELLED"]),
                                  ("killed", STEP_COLOURS["KILLED"]),
                                  ("not run", STEP_COLOURS[None])))
        self._strip.object = (
            f"<div>Step status{run}{live}: {''.join(badges)}</div>"
            f"<div style='color:#6c757d;font-size:0.85em'>{legend}</div>" if badges else "")
        self._sync_title()

    def _sync_form(self, *events: Any) -> None:
        m = self.model
        self._syncing = True
        try:
            self._step.options = m.step_names
            self._step.value = m.selected if m.selected in m.step_names else None
        finally:
            self._syncing = False
        self._param_widgets = {}
        if not m.selected or m.pipeline is None:
            self._form.objects = [pn.pane.Markdown("Select a step (click it in the graph).",
                                                   margin=(0, 10))]
            self._delete.disabled = self._apply.disabled = True
            return
        self._delete.disabled = self._apply.disabled = m.running
        step = m.pipeline.step(m.selected)
        widgets = []
        for f in m.param_fields(m.selected):
            label = f"{f.name}{' *' if f.required else ''}" + (f" ({f.annotation})" if f.annotation else "")
            css = ["wb-pl-param", f"wb-pl-param-{f.name}"]
            if f.kind == "bool":
                w = pn.widgets.Checkbox(label=label, value=bool(f.value), css_classes=css,
                                        width=300)
            else:
                placeholder = "" if f.required else f"default: {_text(f.kind, f.default) or 'None'}"
                w = pn.widgets.TextInput(label=label, value=f.text, placeholder=placeholder,
                                         css_classes=css, width=300)
            self._param_widgets[f.name] = w
            widgets.append(w)
        for key in _SETTINGS:
            v = getattr(step, key)
            w = pn.widgets.TextInput(label=f"{key}{' (s)' if key != 'retries' else ''}",
                                     value="" if v is None else str(v),
                                     placeholder=f"default: {step.setting(key)}", width=95,
                                     css_classes=["wb-pl-setting", f"wb-pl-setting-{key}"])
            self._param_widgets[f"setting:{key}"] = w
        header = pn.pane.HTML(
            f"<span class='wb-pl-form-step' data-step='{html.escape(step.name)}'><b>"
            f"{html.escape(step.name)}</b></span> · <code>{html.escape(step.ref)}</code> · inputs: "
            f"{html.escape(', '.join(step.input_steps) or 'none')}", margin=(0, 10))
        settings = pn.Row(*[self._param_widgets[f"setting:{k}"] for k in _SETTINGS])
        if not widgets:
            widgets = [pn.pane.Markdown("The callable takes no parameters besides its inputs.",
                                        margin=(0, 10))]
        self._form.objects = [header, *widgets, settings]

    def _sync_detail(self, *events: Any) -> None:
        d = self.model.detail
        if not d:
            self._detail.object = "<p style='color:#6c757d'>Select a step to see its log and output.</p>"
            self._log.object = ""
            self._open_step.visible = False
            return
        rows = [("step", d.get("step")), ("callable", d.get("callable")),
                ("status", d.get("status") or "not run"), ("attempts", d.get("attempts")),
                ("duration (s)", None if d.get("duration_s") is None else f"{d['duration_s']:.3f}"),
                ("output hash", (d.get("output_sha") or "")[:16]), ("error", d.get("error"))]
        table = "".join(f"<tr><th style='padding-right:12px;text-align:left'>{html.escape(k)}</th>"
                        f"<td>{html.escape(str(v))}</td></tr>" for k, v in rows if v not in (None, ""))
        self._detail.object = f"<table class='wb-pl-detail-table'>{table}</table>"
        self._open_step.visible = bool(d.get("run_id"))
        parts = []
        if d.get("output"):
            parts.append("<h6>Output</h6><pre class='wb-pl-output' style='max-height:260px;"
                         f"overflow:auto;background:#f8f9fa;padding:6px'>{html.escape(d['output'])}</pre>")
        parts.append("<h6>Log</h6><pre class='wb-pl-log-text' style='max-height:320px;overflow:auto;"
                     f"background:#f8f9fa;padding:6px'>{html.escape(d.get('log') or '(empty)')}</pre>")
        self._log.object = "".join(parts)

    def _sync_versions(self, *events: Any) -> None:
        m = self.model
        df = m.versions
        if df is None or df.empty:
            self._versions.value = pd.DataFrame(columns=["version", "message", "steps", "created_at"])
            self._va.options = self._vb.options = []
        else:
            view = df[["version", "message", "steps", "created_by", "created_at"]].copy()
            view["created_at"] = view["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
            self._versions.value = view
            options = [int(v) for v in df["version"]]
            self._va.options = self._vb.options = options
            if self._vb.value not in options:
                self._vb.value = options[-1]
            if self._va.value not in options:
                self._va.value = options[-2] if len(options) > 1 else options[-1]
        self._sync_title()

    def _sync_diff(self, *events: Any) -> None:
        d = self.model.diff
        if d is None:
            self._diff.object = ""
            return
        a, b = self.model.diff_pair
        self._diff.object = (f"<h6>From version {a} to version {b}</h6>"
                             f"<pre class='wb-pl-diff-text'>{html.escape(str(d))}</pre>")

    def _sync_history(self, *events: Any) -> None:
        h = self.model.history
        self._history.value = h if h is not None else pd.DataFrame(columns=["run"])

    def _sync_message(self, *events: Any) -> None:
        m = self.model
        self._message.object = html.escape(m.message)
        self._message.visible = bool(m.message) and not m.error

    def _sync_running(self, *events: Any) -> None:
        running = self.model.running
        for w in (self._run, self._add, self._connect, self._disconnect, self._delete,
                  self._apply, self._save, self._template, self._new):
            w.disabled = running
        self._progress.visible = self._progress.active = running
        self._run.label = "Running…" if running else "Run"
        if not running:
            self._sync_form()
