"""Gates: rules a model version must pass before a request to Staging or Production is approved.

A gate rule is one of:

- a **filter expression** over the version's run, in the run-search language
  (:mod:`workbench.query`) restricted to ``metrics``, ``params``
  and ``tags``: ``metrics.auc >= 0.85 and metrics.log_loss < 0.4``. It is
  evaluated here in Python: a missing key makes a comparison false (and
  ``IS NULL`` true). ``tags`` are the version's tags over its run's tags.
- ``signature matches production``: the version's input signature (column
  names and types) equals that of the current Production version (passes
  when there is none, or when the version is itself that version).
- ``model card complete``: every section of the version's model card is filled in.

>>> g = parse_gate("metrics.auc >= 0.85")
>>> g.kind, evaluate_expression(g.tree, {"metrics": {"auc": 0.9}})
('expression', (True, {'metrics.auc': 0.9}))
>>> parse_gate("The signature matches the current Production version").kind
'signature'
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.errors import InvalidInputError
from workbench.query import And, Comparison, Node, Not, Or, parse_filter

SIGNATURE_RULE = "signature matches production"
CARD_RULE = "model card complete"
_FILLER = {"the", "a", "an", "is", "current", "version", "must", "be", "of", "s"}


@dataclass(frozen=True)
class ParsedGate:
    """A checked gate rule: ``kind`` is ``expression``, ``signature`` or ``card``."""

    rule: str
    kind: str
    tree: Node | None = None


@dataclass(frozen=True)
class Gate:
    """A gate of a registered model, as stored."""

    gate_id: int
    name: str
    rule: str
    kind: str
    stages: tuple[str, ...]
    created_by: str | None = None


@dataclass(frozen=True)
class GateResult:
    """One gate evaluated for one request: passed or not, with the value(s) it saw."""

    gate_id: int
    rule: str
    kind: str
    passed: bool
    value: Any = None
    message: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _words(rule: str) -> str:
    words = re.findall(r"[a-z]+", rule.lower())
    return " ".join(w for w in words if w not in _FILLER)


def parse_gate(rule: object) -> ParsedGate:
    """Check a gate rule and say what kind it is (raises on a bad rule, naming the problem)."""
    if not isinstance(rule, str) or not rule.strip():
        raise InvalidInputError(f"a gate rule must be a non-empty string, got {rule!r}")
    rule = rule.strip()
    words = _words(rule)
    if words in ("signature matches production", "signature matches production signature"):
        return ParsedGate(rule, "signature")
    if words in ("model card complete", "card complete"):
        return ParsedGate(rule, "card")
    tree = parse_filter(rule)
    _check_entities(tree, rule)
    return ParsedGate(rule, "expression", tree)


def _check_entities(node: Node | None, rule: str) -> None:
    if isinstance(node, Comparison):
        if node.entity not in ("metrics", "params", "tags"):
            raise InvalidInputError(
                f"gate {rule!r}: gates can test metrics, params and tags of the version's run, "
                f"not {node.entity}.{node.key}"
            )
    elif isinstance(node, (And, Or)):
        for item in node.items:
            _check_entities(item, rule)
    elif isinstance(node, Not):
        _check_entities(node.item, rule)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "IS NULL":
        return actual is None
    if op == "IS NOT NULL":
        return actual is not None
    if actual is None:
        return False
    if op in ("IN", "NOT IN"):
        found = any(_compare(actual, "=", item) for item in expected)
        return found if op == "IN" else not found
    if op in ("LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"):
        text, pattern = str(actual), str(expected)
        if "ILIKE" in op:
            text, pattern = text.lower(), pattern.lower()
        regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
        matched = re.fullmatch(regex, text, flags=re.DOTALL) is not None
        return not matched if op.startswith("NOT") else matched
    a, b = _as_number(actual), _as_number(expected)
    if a is None or b is None or isinstance(expected, bool):
        if isinstance(expected, bool):
            a, b = str(actual).lower(), str(expected).lower()
        else:
            a, b = str(actual), str(expected)
    if op == "=":
        return a == b
    if op in ("!=", "<>"):
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    raise InvalidInputError(f"unsupported operator in a gate: {op}")


def evaluate_expression(node: Node | None, values: dict[str, dict[str, Any]]) -> tuple[bool, dict]:
    """Evaluate a parsed rule against ``{"metrics": {...}, "params": {...}, "tags": {...}}``.

    Returns ``(passed, {"metrics.auc": 0.91, ...})``: the values it looked at.
    """
    seen: dict[str, Any] = {}

    def walk(n: Node | None) -> bool:
        if n is None:
            return True
        if isinstance(n, Comparison):
            actual = values.get(n.entity, {}).get(n.key)
            seen[f"{n.entity}.{n.key}"] = actual
            return _compare(actual, n.op, n.value)
        if isinstance(n, And):
            return all([walk(i) for i in n.items])
        if isinstance(n, Or):
            return any([walk(i) for i in n.items])
        if isinstance(n, Not):
            return not walk(n.item)
        raise InvalidInputError(f"unexpected node in a gate rule: {n!r}")

    return walk(node), seen


def signature_inputs(signature: dict | None) -> Any:
    """The comparable part of a signature: its inputs (kind and columns/shape)."""
    if not signature:
        return None
    return signature.get("inputs")


def signature_diff(candidate: dict | None, production: dict | None) -> list[dict[str, Any]]:
    """Column by column, how a candidate's input signature differs from Production's.

    Each row: ``column``, ``candidate`` (type or None), ``production`` (type or None) and
    ``change`` (``same``, ``added``, ``removed``, ``type changed``). Signatures without
    columns (arrays) compare as one row named ``(inputs)``; the outputs as ``(outputs)``.

    >>> a = {"inputs": {"kind": "dataframe", "columns": [{"name": "x", "type": "float64"}]}}
    >>> b = {"inputs": {"kind": "dataframe", "columns": [{"name": "x", "type": "int64"},
    ...                                                  {"name": "y", "type": "float64"}]}}
    >>> [(r["column"], r["change"]) for r in signature_diff(b, a)]
    [('x', 'type changed'), ('y', 'added')]
    """

    def columns(sig: dict | None) -> dict[str, str] | None:
        inputs = (sig or {}).get("inputs")
        if not isinstance(inputs, dict) or not isinstance(inputs.get("columns"), list):
            return None
        return {str(c.get("name")): str(c.get("type")) for c in inputs["columns"]}

    def change(mine: Any, theirs: Any) -> str:
        if mine == theirs:
            return "same"
        if theirs is None:
            return "added"
        if mine is None:
            return "removed"
        return "type changed"

    rows: list[dict[str, Any]] = []
    mine, theirs = columns(candidate), columns(production)
    if mine is not None or theirs is not None:
        mine, theirs = mine or {}, theirs or {}
        for name in [*mine, *(c for c in theirs if c not in mine)]:
            a, b = mine.get(name), theirs.get(name)
            rows.append({"column": name, "candidate": a, "production": b, "change": change(a, b)})
    else:
        a, b = signature_inputs(candidate), signature_inputs(production)
        a_s, b_s = (None if a is None else str(a)), (None if b is None else str(b))
        rows.append(
            {"column": "(inputs)", "candidate": a_s, "production": b_s, "change": change(a_s, b_s)}
        )

    def output(sig: dict | None) -> str | None:
        out = (sig or {}).get("outputs")
        if out is None:
            return None
        if isinstance(out, dict):
            parts = [str(out[k]) for k in ("kind", "type") if out.get(k) is not None]
            if out.get("shape") is not None:
                parts.append(str(list(out["shape"])))
            return " ".join(parts) or str(out)
        return str(out)

    a_s, b_s = output(candidate), output(production)
    if a_s is not None or b_s is not None:
        rows.append(
            {"column": "(outputs)", "candidate": a_s, "production": b_s, "change": change(a_s, b_s)}
        )
    return rows
