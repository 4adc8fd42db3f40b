"""The Pipelines editor's view-model: the draft graph, edits with validation, versions, runs.

No Panel here: the view (``workbench.ui.pipelines.view``) lays it out; tests drive it directly.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any

import param

import workbench.steps as builtin_steps
from workbench.errors import PipelineValidationError, WorkbenchError
from workbench.pipelines import api as papi
from workbench.pipelines.graph import Pipeline, PipelineDiff, Step, normalise_ref
from workbench.store.store import Store
from workbench.ui.components.format import error_message
from workbench.ui.pipelines.fields import ParamField, param_fields, parse_value
from workbench.ui.pipelines.live import _Live
from workbench.ui.pipelines.running import LOG_CHARS, OUTPUT_CHARS, _Running

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
_SETTINGS = ("retries", "backoff", "timeout")
_EMPTY_PROBLEM = "has no steps"


def step_colour(status: str | None) -> str:
    return STEP_COLOURS.get(status, STEP_COLOURS[None])


class PipelineEditorModel(_Running, _Live, param.Parameterized):
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
        if name != self.pipeline_name:
            self.clear_drafts()
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
            self.clear_drafts(step)
            return True
        if self._apply(new, f"Updated the parameters of step {step!r}.", select=step):
            self.clear_drafts(step)
            return True
        return False

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
        self._stamp = None  # our own change: the next live check starts afresh
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


__all__ = [
    "BUILTIN_STEPS", "LOG_CHARS", "OUTPUT_CHARS", "POLL_MS", "STEP_COLOURS", "ParamField",
    "PipelineEditorModel", "param_fields", "parse_value", "step_colour",
]
