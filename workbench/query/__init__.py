"""The run-search filter language, below both the store and the tracking API.

Three modules, one idea each: :mod:`~workbench.query.tokenizer` (characters,
words, quoted literals, numbers), :mod:`~workbench.query.parser` (the grammar
and the checks of each literal against what its key holds) and
:mod:`~workbench.query.nodes` (the tree it returns). Nothing here knows SQL:
:mod:`workbench.store.search_sql` compiles the tree to bound SQL, and
:mod:`workbench.registry.gates` evaluates it on one version's evidence.

>>> from workbench.query import parse_filter
>>> parse_filter("metrics.auc > 0.9")
Comparison(entity='metrics', key='auc', op='>', value=0.9, position=0)
"""

from __future__ import annotations

from workbench.query.nodes import (
    ATTRIBUTES,
    DATASET_FIELDS,
    ENTITIES,
    RUN_STATUSES,
    And,
    Comparison,
    Node,
    Not,
    Or,
    OrderKey,
    Value,
)
from workbench.query.parser import parse_filter, parse_order_by

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
    "parse_filter",
    "parse_order_by",
]
