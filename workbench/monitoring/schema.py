"""The monitoring tables: created on first use in a store (a module of its own, below storage and alerts).

>>> callable(ensure_schema)
True
"""

from __future__ import annotations

from typing import Any

from workbench.store import monitoring_store as ms
from workbench.store.schema import migrate, schema_version

_READY: set[str] = set()


def ensure_schema(store: Any) -> None:
    """Create the monitoring tables if this store does not have them yet."""
    key = str(store.path)
    if key in _READY:
        return
    with store.connection() as con:
        if schema_version(con, "monitoring") < len(ms.MIGRATIONS):
            migrate(con)
    _READY.add(key)
