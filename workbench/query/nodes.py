"""The filter language's tree: the nodes a parsed filter is made of, and the names it knows.

A parsed filter is a :data:`Node`: a :class:`Comparison` or an :class:`And`,
:class:`Or` or :class:`Not` of nodes; ``ORDER BY`` items are :class:`OrderKey`.
The tree knows nothing of SQL: :mod:`workbench.store.search_sql` compiles it.

>>> And((Comparison("metrics", "auc", ">", 0.9), Not(Comparison("tags", "team", "IS NULL", None))))
And(items=(Comparison(entity='metrics', key='auc', op='>', value=0.9, position=0), \
Not(item=Comparison(entity='tags', key='team', op='IS NULL', value=None, position=0))))
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ATTRIBUTES",
    "DATASET_FIELDS",
    "ENTITIES",
    "RUN_STATUSES",
    "And",
    "Comparison",
    "Node",
    "Not",
    "Or",
    "OrderKey",
    "Value",
]

#: The entities a comparison can name, in their normalised (plural) form.
ENTITIES: tuple[str, ...] = ("metrics", "params", "tags", "attributes", "datasets")

_ENTITY_ALIASES: dict[str, str] = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "parameters": "params",
    "parameter": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
    "datasets": "datasets",
    "dataset": "datasets",
}

#: Run attributes that can be filtered and ordered on. ``duration`` is
#: ``end_time - start_time`` in milliseconds; times are epoch milliseconds.
ATTRIBUTES: tuple[str, ...] = (
    "run_id",
    "run_name",
    "status",
    "start_time",
    "end_time",
    "duration",
    "user",
    "source",
    "git_commit",
    "parent_run_id",
    "experiment_id",
    "description",
)

# MLflow spellings accepted for some attributes.
_ATTRIBUTE_ALIASES: dict[str, str] = {"created": "start_time", "user_id": "user"}

#: Fields of a run's datasets that can be filtered on.
DATASET_FIELDS: tuple[str, ...] = ("name", "digest", "role", "source", "rows")

#: The statuses a run can have; ``attributes.status`` values are checked against these.
RUN_STATUSES: tuple[str, ...] = ("RUNNING", "FINISHED", "FAILED", "KILLED")

_TIME_ATTRIBUTES = frozenset({"start_time", "end_time"})
_INTEGER_ATTRIBUTES = frozenset({"start_time", "end_time", "duration", "experiment_id"})
_NUMERIC_DATASET_FIELDS = frozenset({"rows"})

_COMPARISON_OPS = ("=", "!=", "<", "<=", ">", ">=")
_ORDERING_OPS = frozenset({"<", "<=", ">", ">="})
_NULL_OPS = frozenset({"IS NULL", "IS NOT NULL"})
_METRIC_OPS = frozenset(_COMPARISON_OPS) | _NULL_OPS

#: A literal in a comparison: ``None`` for IS [NOT] NULL, a tuple after [NOT] IN.
Value = str | int | float | bool | None | tuple


@dataclass(frozen=True)
class Comparison:
    """One ``<entity>.<key> <op> <value>`` test.

    ``entity`` is one of :data:`ENTITIES`; ``op`` is upper-case (``'='``,
    ``'!='``, ``'LIKE'``, ``'NOT IN'``, ``'IS NULL'`` ...). ``value`` is a
    ``str`` for quoted literals, an ``int``/``float`` for numbers (times are
    converted to epoch milliseconds), a ``bool`` for ``true``/``false``, a
    tuple of those for ``IN`` lists and ``None`` for the null tests.
    ``position`` is the 0-based offset of the comparison in the filter text.

    >>> from workbench.query import parse_filter
    >>> parse_filter("tags.`team name` IS NULL")
    Comparison(entity='tags', key='team name', op='IS NULL', value=None, position=0)
    """

    entity: str
    key: str
    op: str
    value: Value
    position: int = 0


@dataclass(frozen=True)
class And:
    """All of ``items`` hold (at least two nodes; nested ``and`` chains are flattened)."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least one of ``items`` holds."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """``item`` does not hold."""

    item: Node


Node = Comparison | And | Or | Not


@dataclass(frozen=True)
class OrderKey:
    """One ``ORDER BY`` item: ``entity`` as in :class:`Comparison`, never ``datasets``.

    >>> from workbench.query import parse_order_by
    >>> parse_order_by("params.lr asc")
    [OrderKey(entity='params', key='lr', descending=False)]
    """

    entity: str
    key: str
    descending: bool = False
