"""Turn a parsed search filter into DuckDB SQL over the ``runs`` table (aliased ``r``).

This is the only module that writes SQL for run search. User text never enters
the SQL text: keys, values and patterns are always bound as ``?`` parameters,
and only the fixed column names of the whitelists below are spelled into SQL.

Semantics (each comparison is always TRUE or FALSE, never SQL NULL):

* ``metrics.k`` compares the run's latest value of ``k``; ``params.k`` and
  ``tags.k`` the stored value. A run *without the key* matches no comparison,
  including ``!=`` and ``NOT IN`` (so ``metrics.auc != 0.5`` only returns runs
  that logged ``auc``); ``IS NULL`` is true exactly when the run lacks the key
  and ``IS NOT NULL`` when it has it. Because comparisons are two-valued,
  ``not metrics.auc = 0.5`` *does* match runs without ``auc``.
* A NaN metric matches ``!=`` (and ``IS NOT NULL``) but never ``=``, ``<``,
  ``<=``, ``>``, ``>=`` (as in IEEE arithmetic; DuckDB would otherwise order
  NaN above every number).
* ``params`` with a number literal (unquoted) compare numerically against
  ``value_num`` (the value parsed as a DOUBLE at write time), so
  ``params.n_estimators > 100`` is true for ``'200'`` and false for ``'50'``;
  a param whose value is not a number never matches a numeric comparison. A
  quoted literal compares strings (MLflow semantics): ``params.lr = '0.1'``
  does not match ``'0.10'`` but ``params.lr = 0.1`` does. ``true``/``false``
  compare case-insensitively with the text (``'True'`` matches ``true``).
* ``attributes.x`` compares the run's column; a NULL column (e.g. the
  ``end_time`` of a running run) matches nothing but ``IS NULL``.
  ``duration`` is ``end_time - start_time`` in milliseconds.
* ``datasets.f`` is true when *some* dataset linked to the run satisfies the
  comparison (so ``datasets.role != 'train'`` means "has a non-train dataset";
  write ``not datasets.role = 'train'`` for "has no train dataset").
  ``datasets.f IS NULL`` means no linked dataset has a non-null ``f``.
* ``LIKE``/``ILIKE`` use SQL wildcards ``%`` and ``_`` with no escape character.

The filter does not exclude deleted runs or restrict the experiment: the
caller adds those conditions. Parameters of the ``WHERE`` part come before
those of the ``ORDER BY`` part, as the ``?`` appear in that order in the text.

>>> from workbench.query import parse_filter, parse_order_by
>>> sql, params = compile_filter(parse_filter("params.model = 'rf'"))
>>> sql
'r.run_id IN (SELECT run_id FROM params WHERE key = ? AND value = ?)'
>>> params
['model', 'rf']
>>> compile_order_by(parse_order_by("attributes.run_name desc"))
('r.run_name DESC NULLS LAST, r.start_time DESC, r.run_id', [])
"""

from __future__ import annotations

from workbench.errors import InvalidInputError
from workbench.query import And, Comparison, Node, Not, Or, OrderKey

__all__ = ["ATTRIBUTE_COLUMNS", "DATASET_COLUMNS", "compile_filter", "compile_order_by"]

#: Attribute name -> SQL expression over ``runs r``.
ATTRIBUTE_COLUMNS: dict[str, str] = {
    "run_id": "r.run_id",
    "run_name": "r.run_name",
    "status": "r.status",
    "start_time": "r.start_time",
    "end_time": "r.end_time",
    "duration": "(r.end_time - r.start_time)",
    "user": "r.user_name",
    "source": "r.source",
    "git_commit": "r.git_commit",
    "parent_run_id": "r.parent_run_id",
    "experiment_id": "r.experiment_id",
    "description": "r.description",
}

#: Dataset field -> SQL column over ``run_datasets rd JOIN datasets d``.
DATASET_COLUMNS: dict[str, str] = {
    "name": "rd.name",
    "digest": "rd.digest",
    "role": "rd.role",
    "source": "d.source",
    "rows": "d.n_rows",
}

_COMPARE = frozenset({"=", "!=", "<", "<=", ">", ">="})
_ORDERING = frozenset({"<", "<=", ">", ">="})
_LIKE = frozenset({"LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"})
_IN = frozenset({"IN", "NOT IN"})
_NULL = frozenset({"IS NULL", "IS NOT NULL"})
_KEYED_TABLES = {"metrics": "latest_metrics", "params": "params", "tags": "tags"}
_DATASET_JOIN = (
    "SELECT rd.run_id FROM run_datasets rd JOIN datasets d "
    "ON rd.digest = d.digest AND rd.name = d.name"
)


def compile_filter(node: Node | None) -> tuple[str, list]:
    """A boolean SQL expression over ``runs r`` and its parameters, in order.

    ``None`` (no filter) compiles to ``"TRUE"``. Use it as
    ``SELECT ... FROM runs r WHERE <sql>``.

    >>> from workbench.query import parse_filter
    >>> compile_filter(None)
    ('TRUE', [])
    >>> compile_filter(parse_filter("metrics.auc > 0.9 or attributes.status = 'FAILED'"))
    ('(r.run_id IN (SELECT run_id FROM latest_metrics WHERE key = ? AND value > ? \
AND NOT isnan(value)) OR COALESCE(r.status = ?, FALSE))', ['auc', 0.9, 'FAILED'])
    """
    if node is None:
        return "TRUE", []
    params: list = []
    sql = _compile(node, params)
    return sql, params


def compile_order_by(keys: list[OrderKey]) -> tuple[str, list]:
    """An ``ORDER BY`` list (without the keyword) over ``runs r`` and its parameters.

    Missing values (and NaN metrics) sort last in both directions; the list
    always ends with ``r.start_time DESC, r.run_id`` so that the order is total.
    Params sort by their numeric value first, then by their text.

    >>> from workbench.query import parse_order_by
    >>> compile_order_by(parse_order_by("metrics.auc DESC"))
    ('(SELECT CASE WHEN isnan(value) THEN NULL ELSE value END FROM latest_metrics \
WHERE run_id = r.run_id AND key = ?) DESC NULLS LAST, r.start_time DESC, r.run_id', ['auc'])
    """
    parts: list[str] = []
    params: list = []
    for item in keys:
        direction = "DESC" if item.descending else "ASC"
        if item.entity == "attributes":
            column = _attribute_column(item.key)
            parts.append(f"{column} {direction} NULLS LAST")
        elif item.entity == "metrics":
            parts.append(
                "(SELECT CASE WHEN isnan(value) THEN NULL ELSE value END FROM latest_metrics "
                f"WHERE run_id = r.run_id AND key = ?) {direction} NULLS LAST"
            )
            params.append(item.key)
        elif item.entity == "params":
            parts.append(
                "(SELECT CASE WHEN isnan(value_num) THEN NULL ELSE value_num END FROM params "
                f"WHERE run_id = r.run_id AND key = ?) {direction} NULLS LAST"
            )
            parts.append(
                f"(SELECT value FROM params WHERE run_id = r.run_id AND key = ?) "
                f"{direction} NULLS LAST"
            )
            params.extend([item.key, item.key])
        elif item.entity == "tags":
            parts.append(
                f"(SELECT value FROM tags WHERE run_id = r.run_id AND key = ?) "
                f"{direction} NULLS LAST"
            )
            params.append(item.key)
        else:
            raise InvalidInputError(
                f"cannot order runs by {item.entity}.{item.key} "
                "(order by metrics, params, tags or attributes)"
            )
    parts.append("r.start_time DESC")
    parts.append("r.run_id")
    return ", ".join(parts), params


# ------------------------------------------------------------------ internals


def _compile(node: Node, params: list) -> str:
    if isinstance(node, Comparison):
        return _comparison(node, params)
    if isinstance(node, Not):
        return f"NOT ({_compile(node.item, params)})"
    if isinstance(node, (And, Or)):
        if not node.items:
            return "TRUE" if isinstance(node, And) else "FALSE"
        joiner = " AND " if isinstance(node, And) else " OR "
        return "(" + joiner.join(_compile(item, params) for item in node.items) + ")"
    raise InvalidInputError(f"not a filter node: {node!r}")


def _check_op(op: str) -> None:
    if op not in _COMPARE | _LIKE | _IN | _NULL:
        raise InvalidInputError(f"unknown filter operator {op!r}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _condition(column: str, op: str, value: object, params: list) -> str:
    """``column op value`` with the value bound; the caller handles IS [NOT] NULL."""
    if op in _IN:
        items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if not items:
            return "FALSE" if op == "IN" else "TRUE"
        params.extend(items)
        return f"{column} {op} ({', '.join('?' for _ in items)})"
    params.append(value)
    return f"{column} {op} ?"


def _comparison(c: Comparison, params: list) -> str:
    _check_op(c.op)
    if c.entity in _KEYED_TABLES:
        return _keyed(c, params)
    if c.entity == "attributes":
        column = _attribute_column(c.key)
        if c.op in _NULL:
            return f"{column} {c.op}"
        return f"COALESCE({_condition(column, c.op, c.value, params)}, FALSE)"
    if c.entity == "datasets":
        column = DATASET_COLUMNS.get(c.key)
        if column is None:
            raise InvalidInputError(
                f"unknown dataset field {c.key!r} (expected {', '.join(DATASET_COLUMNS)})"
            )
        if c.op == "IS NULL":
            return f"r.run_id NOT IN ({_DATASET_JOIN} WHERE {column} IS NOT NULL)"
        if c.op == "IS NOT NULL":
            return f"r.run_id IN ({_DATASET_JOIN} WHERE {column} IS NOT NULL)"
        return f"r.run_id IN ({_DATASET_JOIN} WHERE {_condition(column, c.op, c.value, params)})"
    raise InvalidInputError(f"unknown filter entity {c.entity!r}")


def _keyed(c: Comparison, params: list) -> str:
    """metrics / params / tags: a semi-join on the (run_id, key) table."""
    table = _KEYED_TABLES[c.entity]
    params.append(c.key)
    head = f"SELECT run_id FROM {table} WHERE key = ?"
    if c.op == "IS NULL":
        return f"r.run_id NOT IN ({head})"
    if c.op == "IS NOT NULL":
        return f"r.run_id IN ({head})"
    if c.entity == "metrics":
        if c.op not in _COMPARE:
            raise InvalidInputError(f"metrics cannot be compared with {c.op}")
        params.append(float(c.value))  # type: ignore[arg-type]
        guard = " AND NOT isnan(value)" if c.op in _ORDERING else ""
        return f"r.run_id IN ({head} AND value {c.op} ?{guard})"
    value = c.value
    if c.entity == "params" and isinstance(value, bool) and c.op in ("=", "!="):
        params.append("true" if value else "false")
        return f"r.run_id IN ({head} AND lower(value) {c.op} ?)"
    if c.entity == "params" and _is_number(value) and c.op in _COMPARE:
        params.append(float(value))  # type: ignore[arg-type]
        guard = " AND NOT isnan(value_num)" if c.op in _ORDERING else ""
        return f"r.run_id IN ({head} AND value_num {c.op} ?{guard})"
    if (
        c.entity == "params"
        and c.op in _IN
        and isinstance(value, (tuple, list))
        and value
        and all(_is_number(v) for v in value)
    ):
        condition = _condition("value_num", c.op, tuple(float(v) for v in value), params)
        return f"r.run_id IN ({head} AND {condition})"
    return f"r.run_id IN ({head} AND {_condition('value', c.op, value, params)})"


def _attribute_column(key: str) -> str:
    column = ATTRIBUTE_COLUMNS.get(key)
    if column is None:
        raise InvalidInputError(
            f"unknown attribute {key!r} (expected {', '.join(ATTRIBUTE_COLUMNS)})"
        )
    return column
