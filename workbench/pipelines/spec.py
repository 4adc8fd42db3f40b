"""A pipeline step's specification: the ``@step`` decorator, callable references and :class:`Step`.

A step names a callable (a function object, ``"package.module:function"`` or the
name of a built-in step in :mod:`workbench.steps`), its parameters, and the
steps whose outputs it takes. Nothing here touches a store or runs a step.

>>> Step("b", "identity", inputs=["a"]).ref
'workbench.steps:identity'
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import PipelineValidationError
from workbench.pipelines.codehash import transitive_code_hash

BUILTIN_MODULE = "workbench.steps"
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$")
_STEP_SETTINGS = ("retries", "backoff", "timeout", "cache")


# -- the @step decorator and callables --------------------------------------------------
def step(func: Callable | None = None, *, retries: int | None = None, backoff: float | None = None,
         timeout: float | None = None, cache: bool | None = None):
    """Mark a plain function as a pipeline step, optionally with default settings.

    The function is returned unchanged (it stays callable as before); the
    settings become the defaults of every :class:`Step` that uses it.

    >>> @step(retries=2)
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> double(2), double.__wb_step__["retries"]
    (4, 2)
    """

    def mark(f: Callable) -> Callable:
        if not callable(f):
            raise TypeError(f"@step decorates a function, got {type(f).__name__}")
        settings = {"retries": retries, "backoff": backoff, "timeout": timeout, "cache": cache}
        f.__wb_step__ = {k: v for k, v in settings.items() if v is not None}
        return f

    return mark(func) if func is not None else mark


def callable_ref(func: Callable) -> str:
    """``"module:qualname"`` of a function (built-in steps keep their module path)."""
    module = getattr(func, "__module__", None) or "__main__"
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func))
    return f"{module}:{qualname}"


def normalise_ref(ref: str) -> str:
    """A bare name means a built-in step: ``"clean"`` -> ``"workbench.steps:clean"``."""
    ref = ref.strip()
    return ref if ":" in ref else f"{BUILTIN_MODULE}:{ref}"


def resolve_callable(ref: str) -> Callable:
    """Import ``"package.module:function"`` (or a built-in step name); raises ``LookupError``."""
    ref = normalise_ref(ref)
    module_name, _, qualname = ref.partition(":")
    if not module_name or not qualname or "<locals>" in qualname:
        raise LookupError(f"callable {ref!r} cannot be imported (use 'package.module:function')")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise LookupError(f"unknown callable {ref!r}: cannot import module {module_name!r} ({exc})") from None
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise LookupError(f"unknown callable {ref!r}: module {module_name!r} has no {qualname!r}") from None
    if not callable(obj):
        raise LookupError(f"{ref!r} is not callable")
    return obj


def code_hash(func: Callable) -> str:
    """sha256 of a step's code: its source and the project code it reaches.

    See :mod:`workbench.pipelines.codehash` for exactly what is covered (helpers in
    the same or another module of the user's project, their classes and simple
    module-level constants; not installed packages).
    """
    return transitive_code_hash(func)


def _jsonable(value: Any, where: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise PipelineValidationError(
            f"{where} must be JSON-serialisable (numbers, strings, lists, dicts), got {value!r}"
        ) from None


# -- Step ---------------------------------------------------------------------------------
@dataclass
class Step:
    """One step: a callable, its params and the steps whose outputs it takes.

    ``inputs`` is a list of step names, passed positionally to the callable's
    first parameters, or a dict ``{argument: step name}``. ``retries`` (extra
    attempts after a failure, waiting ``backoff * 2**k`` seconds before the
    k-th retry), ``timeout`` (seconds per attempt) and ``cache`` (reuse the
    recorded output when code, params and inputs are unchanged) default to
    the callable's ``@step`` settings, else 0, 1.0, None and True.
    """

    name: str
    func: str | Callable
    params: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] | dict[str, str] = field(default_factory=list)
    retries: int | None = None
    backoff: float | None = None
    timeout: float | None = None
    cache: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.func, str):
            self.ref = normalise_ref(self.func)
            self._func: Callable | None = None
        elif callable(self.func):
            self._func = self.func
            self.ref = callable_ref(self.func)
            if self.ref.startswith(BUILTIN_MODULE + ":"):
                pass
        else:
            raise PipelineValidationError(
                f"step {self.name!r}: func must be a callable or 'package.module:function', "
                f"got {type(self.func).__name__}"
            )
        self.params = dict(self.params or {})
        if isinstance(self.inputs, str):
            self.inputs = [self.inputs]
        self.inputs = dict(self.inputs) if isinstance(self.inputs, dict) else list(self.inputs or [])

    # -- resolution -------------------------------------------------------------
    def resolve(self) -> Callable:
        """The callable (imported from ``ref`` when the step was built from text)."""
        if self._func is None:
            self._func = resolve_callable(self.ref)
        return self._func

    def setting(self, key: str) -> Any:
        value = getattr(self, key)
        if value is not None:
            return value
        try:
            defaults = getattr(self.resolve(), "__wb_step__", {}) or {}
        except LookupError:
            defaults = {}
        if defaults.get(key) is not None:
            return defaults[key]
        return {"retries": 0, "backoff": 1.0, "timeout": None, "cache": True}[key]

    @property
    def input_steps(self) -> list[str]:
        """The names of the steps this step takes outputs from, in argument order."""
        return list(self.inputs.values()) if isinstance(self.inputs, dict) else list(self.inputs)

    # -- spec ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The step as plain data (what is saved and written to YAML)."""
        out: dict[str, Any] = {"name": self.name, "callable": self.ref}
        if self.params:
            out["params"] = _jsonable(self.params, f"params of step {self.name!r}")
        if self.inputs:
            out["inputs"] = dict(self.inputs) if isinstance(self.inputs, dict) else list(self.inputs)
        for key in _STEP_SETTINGS:
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        if not isinstance(data, dict) or "name" not in data:
            raise PipelineValidationError(f"a step must be a mapping with a 'name', got {data!r}")
        func = data.get("callable", data.get("func"))
        if not isinstance(func, str):
            raise PipelineValidationError(f"step {data['name']!r} needs 'callable: package.module:function'")
        unknown = set(data) - {"name", "callable", "func", "params", "inputs", *_STEP_SETTINGS}
        if unknown:
            raise PipelineValidationError(
                f"step {data['name']!r} has unknown fields {sorted(unknown)}"
            )
        return cls(
            name=data["name"], func=func, params=dict(data.get("params") or {}),
            inputs=data.get("inputs") or [],
            **{k: data[k] for k in _STEP_SETTINGS if data.get(k) is not None},
        )

    def replace(self, **changes: Any) -> Step:
        """A copy with some fields changed."""
        data = {
            "name": self.name, "func": self._func or self.ref, "params": copy.deepcopy(self.params),
            "inputs": copy.deepcopy(self.inputs),
            **{k: getattr(self, k) for k in _STEP_SETTINGS},
        }
        data.update(changes)
        return Step(**data)


# -- validation helpers ------------------------------------------------------------------
def check_signature(step_: Step, func: Callable) -> list[str]:
    """Problems binding a step's inputs and params to its callable's signature."""
    problems = []
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return problems
    ps = list(sig.parameters.values())
    var_kw = any(p.kind is p.VAR_KEYWORD for p in ps)
    var_pos = any(p.kind is p.VAR_POSITIONAL for p in ps)
    names = [p.name for p in ps if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    positional = [p.name for p in ps if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    taken: list[str] = []
    if isinstance(step_.inputs, dict):
        for arg in step_.inputs:
            if arg not in names and not var_kw:
                problems.append(
                    f"step {step_.name!r}: input argument {arg!r} is not a parameter of "
                    f"{step_.ref} (it accepts: {', '.join(names) or 'nothing'})"
                )
            taken.append(arg)
    else:
        n = len(step_.inputs)
        if n > len(positional) and not var_pos:
            problems.append(
                f"step {step_.name!r} takes {n} inputs but {step_.ref} has only "
                f"{len(positional)} positional parameters ({', '.join(positional) or 'none'})"
            )
        taken = positional[:n]
    accepted = [n for n in names if n not in taken]
    for key in step_.params:
        if key in taken:
            problems.append(f"step {step_.name!r}: parameter {key!r} is already given by an input")
        elif key not in names and not var_kw:
            problems.append(
                f"step {step_.name!r}: parameter {key!r} is not accepted by {step_.ref} "
                f"(it accepts: {', '.join(accepted) or 'no parameters'})"
            )
    for p in ps:
        if (p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                and p.default is p.empty and p.name not in taken and p.name not in step_.params):
            problems.append(f"step {step_.name!r}: {step_.ref} needs a value for {p.name!r} "
                            "(an input or a parameter)")
    return problems
