"""A step's parameter form, as data: one :class:`ParamField` per parameter, and typed parsing.

The editor's form shows a field per parameter of the step's callable, its kind
taken from the annotation or the default (``int``, ``float``, ``bool``, ``json``,
``str``); :func:`parse_value` turns the text typed into a value of that kind, or
says what was expected.

>>> parse_value("int", "3", "n")
3
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any

from workbench.pipelines.graph import Step


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
