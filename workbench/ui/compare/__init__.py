"""The Compare screen: its view-model (``model``), its metrics chart (``chart``, an ECharts
option), its Bokeh plots (``plots``) and its view (``view``).

``wb.ui.compare.RunComparison(store)`` works as before the screen became a folder: the
classes are imported lazily, so importing the view-model never imports Panel.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {'RunComparison': 'view', 'CompareModel': 'model'}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
