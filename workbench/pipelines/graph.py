"""The pipeline graph, pure: steps, validation, order, layout, diff and YAML.

A pipeline is a list of :class:`Step`; a step names a callable (a function
object, ``"package.module:function"`` or the name of a built-in step in
:mod:`workbench.steps`), its parameters, and the steps whose outputs it takes.
Nothing here touches a store or runs a step.

>>> p = Pipeline("demo", steps=[
...     Step("a", "workbench.steps:identity", params={"value": 1}),
...     Step("b", "workbench.steps:identity", inputs=["a"]),
... ])
>>> p.topological_order()
['a', 'b']
>>> Pipeline("bad", steps=[Step("a", "identity", inputs=["b"]),
...                        Step("b", "identity", inputs=["a"])]).validate()
Traceback (most recent call last):
...
workbench.errors.PipelineValidationError: dependency cycle: a -> b -> a
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib
import inspect
import json
import marshal
import re
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import PipelineValidationError

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


@functools.lru_cache(maxsize=4096)
def code_hash(func: Callable) -> str:
    """sha256 of a function's source (its bytecode and constants when the source is unavailable)."""
    target = inspect.unwrap(func)
    try:
        text = textwrap.dedent(inspect.getsource(target)).encode()
    except (OSError, TypeError):
        code = getattr(target, "__code__", None)
        if code is None:
            text = callable_ref(target).encode()
        else:
            try:
                text = marshal.dumps(code)
            except ValueError:
                text = code.co_code + repr(code.co_consts).encode()
    return hashlib.sha256(text).hexdigest()


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


def find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """One dependency cycle as a list of names (first repeated last), or None.

    ``edges`` maps each step to the steps it takes inputs from.
    """
    white, grey, black = 0, 1, 2
    colour = {n: white for n in edges}
    stack_path: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = grey
        stack_path.append(node)
        for dep in edges.get(node, []):
            if dep not in colour:
                continue
            if colour[dep] == grey:
                cycle = stack_path[stack_path.index(dep):] + [dep]
                return list(reversed(cycle))  # in data-flow order
            if colour[dep] == white:
                found = visit(dep)
                if found:
                    return found
        stack_path.pop()
        colour[node] = black
        return None

    for node in edges:
        if colour[node] == white:
            found = visit(node)
            if found:
                return found
    return None


# -- Pipeline ------------------------------------------------------------------------------
class Pipeline:
    """A named graph of steps. Build it in code, load it from YAML or from a store.

    >>> p = Pipeline("demo", [Step("a", "identity", params={"value": 1})])
    >>> p.step("a").ref
    'workbench.steps:identity'
    """

    def __init__(self, name: str, steps: Iterable[Step] = (), description: str | None = None) -> None:
        if not isinstance(name, str) or not _NAME_RE.match(name.strip()):
            raise PipelineValidationError(
                f"pipeline name must be 1-100 letters, digits, '_', '-', '.' starting with a "
                f"letter or '_', got {name!r}"
            )
        self.name = name.strip()
        self.steps: list[Step] = [s if isinstance(s, Step) else Step.from_dict(s) for s in steps]
        self.description = description
        self.version: int | None = None  # set when saved to or loaded from a store

    def __repr__(self) -> str:
        v = f" v{self.version}" if self.version else ""
        return f"<Pipeline {self.name!r}{v}: {len(self.steps)} steps>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pipeline) and self.to_spec() == other.to_spec()

    # -- access ---------------------------------------------------------------------
    @property
    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]

    def step(self, name: str) -> Step:
        """The step called ``name``; ``KeyError`` when there is none."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"pipeline {self.name!r} has no step {name!r}")

    def edges(self) -> list[tuple[str, str]]:
        """(producer, consumer) pairs, in step order."""
        return [(src, s.name) for s in self.steps for src in s.input_steps]

    def copy(self) -> Pipeline:
        p = Pipeline(self.name, [s.replace() for s in self.steps], self.description)
        p.version = self.version
        return p

    # -- validation -----------------------------------------------------------------
    def problems(self, resolve: bool = True) -> tuple[list[str], list[str] | None]:
        """Every problem found, and the cycle if there is one (``validate`` raises them)."""
        problems: list[str] = []
        seen: set[str] = set()
        for s in self.steps:
            if not isinstance(s.name, str) or not _NAME_RE.match(s.name):
                problems.append(
                    f"step name {s.name!r} is not valid (1-100 letters, digits, '_', '-', '.', "
                    "starting with a letter or '_')"
                )
            if s.name in seen:
                problems.append(f"duplicate step name {s.name!r}")
            seen.add(s.name)
        if not self.steps:
            problems.append(f"pipeline {self.name!r} has no steps")
        names = set(self.step_names)
        for s in self.steps:
            for src in s.input_steps:
                if src not in names:
                    problems.append(f"step {s.name!r} takes input {src!r}, which no step produces")
                elif src == s.name:
                    pass  # reported as a cycle
            for key in ("retries",):
                v = getattr(s, key)
                if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                    problems.append(f"step {s.name!r}: retries must be an int >= 0, got {v!r}")
            for key in ("backoff", "timeout"):
                v = getattr(s, key)
                if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0
                                      or (key == "timeout" and v == 0)):
                    problems.append(f"step {s.name!r}: {key} must be a positive number, got {v!r}")
            try:
                json.dumps(s.params)
            except (TypeError, ValueError):
                problems.append(f"step {s.name!r}: params must be JSON-serialisable, got {s.params!r}")
            if resolve:
                try:
                    func = s.resolve()
                except LookupError as exc:
                    problems.append(f"step {s.name!r}: {exc}")
                else:
                    problems.extend(check_signature(s, func))
        cycle = find_cycle({s.name: s.input_steps for s in self.steps})
        if cycle:
            problems.insert(0, "dependency cycle: " + " -> ".join(cycle))
        return problems, cycle

    def validate(self) -> Pipeline:
        """Raise :class:`PipelineValidationError` listing every problem; returns self when valid."""
        problems, cycle = self.problems()
        if problems:
            raise PipelineValidationError(problems, cycle=cycle)
        return self

    @property
    def is_valid(self) -> bool:
        return not self.problems()[0]

    # -- order and layout ------------------------------------------------------------
    def topological_order(self) -> list[str]:
        """Step names so that every step comes after its inputs (ties in definition order)."""
        self._check_acyclic()
        order, done = [], set()
        remaining = list(self.steps)
        while remaining:
            for s in remaining:
                if all(d in done for d in s.input_steps):
                    order.append(s.name)
                    done.add(s.name)
                    remaining.remove(s)
                    break
        return order

    def _check_acyclic(self) -> None:
        cycle = find_cycle({s.name: s.input_steps for s in self.steps})
        if cycle:
            raise PipelineValidationError("dependency cycle: " + " -> ".join(cycle), cycle=cycle)
        missing = [(s.name, d) for s in self.steps for d in s.input_steps if d not in self.step_names]
        if missing:
            raise PipelineValidationError(
                [f"step {a!r} takes input {b!r}, which no step produces" for a, b in missing]
            )

    def layers(self) -> list[list[str]]:
        """Steps grouped by depth (longest path from a source), left to right."""
        depth: dict[str, int] = {}
        for name in self.topological_order():
            deps = self.step(name).input_steps
            depth[name] = 1 + max((depth[d] for d in deps), default=-1)
        out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for name in self.step_names:
            out[depth[name]].append(name)
        return out

    def layout(self) -> dict[str, tuple[float, float]]:
        """(x, y) per step: x is the layer, y spreads a layer's steps around 0.

        Within a layer, steps are ordered by the mean position of their inputs
        (one barycentre pass), which keeps most edges from crossing.
        """
        pos: dict[str, tuple[float, float]] = {}
        for x, layer in enumerate(self.layers()):
            def bary(name: str, _layer=layer) -> float:
                ys = [pos[d][1] for d in self.step(name).input_steps if d in pos]
                return sum(ys) / len(ys) if ys else float(_layer.index(name))
            ordered = sorted(layer, key=bary) if x else layer
            n = len(ordered)
            for i, name in enumerate(ordered):
                pos[name] = (float(x), (n - 1) / 2.0 - i)
        return pos

    def downstream(self, name: str) -> list[str]:
        """``name`` and every step that depends on it, directly or not, in order."""
        self.step(name)
        hit = {name}
        for n in self.topological_order():
            if any(d in hit for d in self.step(n).input_steps):
                hit.add(n)
        return [n for n in self.topological_order() if n in hit]

    # -- editing (each returns a new pipeline; validity is the caller's choice) ------
    def with_step(self, new: Step) -> Pipeline:
        """A copy with ``new`` added, or replacing the step of the same name."""
        p = self.copy()
        for i, s in enumerate(p.steps):
            if s.name == new.name:
                p.steps[i] = new
                return p
        p.steps.append(new)
        return p

    def without_step(self, name: str) -> Pipeline:
        """A copy without the step ``name`` (steps that took its output lose that input)."""
        self.step(name)
        p = self.copy()
        p.steps = [s for s in p.steps if s.name != name]
        for i, s in enumerate(p.steps):
            if name in s.input_steps:
                if isinstance(s.inputs, dict):
                    inputs: Any = {k: v for k, v in s.inputs.items() if v != name}
                else:
                    inputs = [v for v in s.inputs if v != name]
                p.steps[i] = s.replace(inputs=inputs)
        return p

    def connected(self, src: str, dst: str, argument: str | None = None) -> Pipeline:
        """A copy where ``dst`` also takes the output of ``src`` (as ``argument`` if given)."""
        self.step(src)
        s = self.step(dst)
        if src in s.input_steps:
            return self.copy()
        if argument or isinstance(s.inputs, dict):
            inputs: Any = dict(s.inputs) if isinstance(s.inputs, dict) else None
            if inputs is None:
                raise PipelineValidationError(
                    f"step {dst!r} takes positional inputs; connect without an argument name"
                )
            inputs[argument or src] = src
        else:
            inputs = [*s.inputs, src]
        return self.with_step(s.replace(inputs=inputs))

    def disconnected(self, src: str, dst: str) -> Pipeline:
        """A copy where ``dst`` no longer takes the output of ``src``."""
        s = self.step(dst)
        if isinstance(s.inputs, dict):
            inputs: Any = {k: v for k, v in s.inputs.items() if v != src}
        else:
            inputs = [v for v in s.inputs if v != src]
        return self.with_step(s.replace(inputs=inputs))

    # -- spec, hash, YAML ---------------------------------------------------------------
    def to_spec(self) -> dict[str, Any]:
        """The pipeline as plain data: ``{"name", "description", "steps": [...]}``."""
        spec: dict[str, Any] = {"name": self.name}
        if self.description:
            spec["description"] = self.description
        spec["steps"] = [s.to_dict() for s in self.steps]
        return spec

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Pipeline:
        if not isinstance(spec, dict) or not isinstance(spec.get("steps"), list):
            raise PipelineValidationError("a pipeline spec needs a 'name' and a list of 'steps'")
        name = spec.get("name") or spec.get("pipeline")
        return cls(name, [Step.from_dict(s) for s in spec["steps"]], spec.get("description"))

    def spec_hash(self) -> str:
        """sha256 of the canonical JSON of the spec (equal specs, equal hashes)."""
        text = json.dumps(self.to_spec(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_yaml(self, path: str | None = None) -> str:
        """The pipeline as readable YAML (written to ``path`` too, if given)."""
        import yaml

        text = yaml.safe_dump(self.to_spec(), sort_keys=False, default_flow_style=None, width=100)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    @classmethod
    def from_yaml(cls, source: str) -> Pipeline:
        """Load from a YAML file path or YAML text (not validated: call ``validate``)."""
        import os

        import yaml

        text = source
        if "\n" not in source and os.path.exists(source):
            with open(source, encoding="utf-8") as fh:
                text = fh.read()
        try:
            spec = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PipelineValidationError(f"the pipeline YAML cannot be parsed: {exc}") from None
        return cls.from_spec(spec)

    # -- diff --------------------------------------------------------------------------
    def diff(self, other: Pipeline) -> PipelineDiff:
        """What changes from ``self`` to ``other``."""
        return diff_specs(self.to_spec(), other.to_spec())

    # -- store and engine ---------------------------------------------------------------
    def save(self, store, message: str | None = None) -> int:
        """Validate and save as a new version (unchanged spec: the latest version); returns it."""
        from workbench.pipelines.api import save_pipeline

        return save_pipeline(store, self, message=message)

    def run(self, store, **kwargs: Any):
        """Run the pipeline; see :func:`workbench.pipelines.engine.run_pipeline`."""
        from workbench.pipelines.engine import run_pipeline

        return run_pipeline(self, store, **kwargs)


@dataclass
class PipelineDiff:
    """Steps added and removed, changed callables, params and settings, edges added and removed."""

    added: list[str]
    removed: list[str]
    changed_callables: dict[str, tuple[str, str]]
    changed_params: dict[str, dict[str, tuple[Any, Any]]]
    changed_settings: dict[str, dict[str, tuple[Any, Any]]]
    edges_added: list[tuple[str, str]]
    edges_removed: list[tuple[str, str]]

    @property
    def empty(self) -> bool:
        return not any([self.added, self.removed, self.changed_callables, self.changed_params,
                        self.changed_settings, self.edges_added, self.edges_removed])

    def to_frame(self):
        """One row per change: kind, step, key, old, new."""
        import pandas as pd

        rows = [("step added", s, None, None, None) for s in self.added]
        rows += [("step removed", s, None, None, None) for s in self.removed]
        rows += [("callable changed", s, None, a, b) for s, (a, b) in self.changed_callables.items()]
        for kind, changes in (("param changed", self.changed_params),
                              ("setting changed", self.changed_settings)):
            for s, keys in changes.items():
                rows += [(kind, s, k, a, b) for k, (a, b) in keys.items()]
        rows += [("edge added", b, a, None, None) for a, b in self.edges_added]
        rows += [("edge removed", b, a, None, None) for a, b in self.edges_removed]
        return pd.DataFrame(rows, columns=["change", "step", "key", "old", "new"])

    def __str__(self) -> str:
        if self.empty:
            return "no changes"
        lines = [f"+ step {s}" for s in self.added] + [f"- step {s}" for s in self.removed]
        lines += [f"~ {s}: callable {a} -> {b}" for s, (a, b) in self.changed_callables.items()]
        for s, keys in {**self.changed_params}.items():
            lines += [f"~ {s}.params.{k}: {a!r} -> {b!r}" for k, (a, b) in keys.items()]
        for s, keys in self.changed_settings.items():
            lines += [f"~ {s}.{k}: {a!r} -> {b!r}" for k, (a, b) in keys.items()]
        lines += [f"+ edge {a} -> {b}" for a, b in self.edges_added]
        lines += [f"- edge {a} -> {b}" for a, b in self.edges_removed]
        return "\n".join(lines)


_MISSING = "<absent>"


def diff_specs(old: dict[str, Any], new: dict[str, Any]) -> PipelineDiff:
    """Diff two pipeline specs (as :meth:`Pipeline.to_spec` returns them)."""
    a = {s["name"]: s for s in old["steps"]}
    b = {s["name"]: s for s in new["steps"]}
    changed_callables, changed_params, changed_settings = {}, {}, {}
    for name in a.keys() & b.keys():
        sa, sb = a[name], b[name]
        if sa["callable"] != sb["callable"]:
            changed_callables[name] = (sa["callable"], sb["callable"])
        pa_, pb = sa.get("params", {}), sb.get("params", {})
        keys = {k: (pa_.get(k, _MISSING), pb.get(k, _MISSING)) for k in pa_.keys() | pb.keys()
                if pa_.get(k, _MISSING) != pb.get(k, _MISSING)}
        if keys:
            changed_params[name] = dict(sorted(keys.items()))
        sets = {k: (sa.get(k), sb.get(k)) for k in _STEP_SETTINGS if sa.get(k) != sb.get(k)}
        if sets:
            changed_settings[name] = sets

    def edges(spec_steps: dict[str, dict]) -> list[tuple[str, str]]:
        out = []
        for name, s in spec_steps.items():
            inputs = s.get("inputs") or []
            for src in (inputs.values() if isinstance(inputs, dict) else inputs):
                out.append((src, name))
        return out

    ea, eb = edges(a), edges(b)
    return PipelineDiff(
        added=[n for n in b if n not in a],
        removed=[n for n in a if n not in b],
        changed_callables=dict(sorted(changed_callables.items())),
        changed_params=dict(sorted(changed_params.items())),
        changed_settings=dict(sorted(changed_settings.items())),
        edges_added=[e for e in eb if e not in ea],
        edges_removed=[e for e in ea if e not in eb],
    )
