"""What changed between two versions of a pipeline: :class:`PipelineDiff` and :func:`diff_specs`.

>>> old = {"steps": [{"name": "a", "callable": "workbench.steps:identity", "params": {"value": 1}}]}
>>> new = {"steps": [{"name": "a", "callable": "workbench.steps:identity", "params": {"value": 2}}]}
>>> print(diff_specs(old, new))
~ a.params.value: 1 -> 2
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.pipelines.spec import _STEP_SETTINGS


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
