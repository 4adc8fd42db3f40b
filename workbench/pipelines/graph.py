"""The pipeline graph, pure: validation, order, layout and YAML over the steps of :mod:`.spec`.

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

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from workbench.errors import PipelineValidationError
from workbench.pipelines.diff import PipelineDiff, diff_specs
from workbench.pipelines.spec import (
    _NAME_RE,
    BUILTIN_MODULE,
    Step,
    callable_ref,
    check_signature,
    code_hash,
    normalise_ref,
    resolve_callable,
    step,
)

__all__ = [
    "BUILTIN_MODULE", "Pipeline", "PipelineDiff", "Step", "bind_action", "callable_ref",
    "check_signature", "code_hash", "diff_specs", "find_cycle", "normalise_ref",
    "resolve_callable", "step",
]

#: The store and engine functions behind :meth:`Pipeline.save` and :meth:`Pipeline.run`.
#: The graph model imports neither (they import it): :mod:`workbench.pipelines.api` and
#: :mod:`workbench.pipelines.engine` bind them, and importing this module imports the
#: ``workbench.pipelines`` package (hence both) first.
_ACTIONS: dict[str, Callable[..., Any]] = {}


def bind_action(name: str, func: Callable[..., Any]) -> None:
    """Bind ``"save"`` or ``"run"`` to the function that does it (called once, at import)."""
    _ACTIONS[name] = func


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

    # -- store and engine (bound by workbench.pipelines.api and .engine) -----------------
    def save(self, store, message: str | None = None) -> int:
        """Validate and save as a new version (unchanged spec: the latest version); returns it."""
        return _ACTIONS["save"](store, self, message=message)

    def run(self, store, **kwargs: Any):
        """Run the pipeline; see :func:`workbench.pipelines.engine.run_pipeline`."""
        return _ACTIONS["run"](self, store, **kwargs)

    def start(self, store, **kwargs: Any):
        """Run in the background, cancellable; see :func:`workbench.pipelines.handle.start_pipeline`."""
        return _ACTIONS["start"](self, store, **kwargs)
