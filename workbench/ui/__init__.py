"""Panel screens of the workbench: usable in ``panel serve`` and in JupyterLab.

In a notebook, load Panel's Tabulator and ECharts once, then end a cell with a screen::

    import panel as pn, workbench as wb
    pn.extension("tabulator", "echarts")
    wb.ui.RunTable(wb.Store("demo.duckdb"))

``RunComparison`` (the Compare screen) is imported lazily from ``workbench.ui.compare``.
"""

from __future__ import annotations

from typing import Any

from workbench.ui.app import AppState, create_app, serve
from workbench.ui.run_detail import RunDetail, RunDetailModel
from workbench.ui.runs_table import RunTable
from workbench.ui.runs_table_model import RunTableModel

__all__ = [
    "AppState",
    "CompareModel",
    "RunComparison",
    "RunDetail",
    "RunDetailModel",
    "RunTable",
    "RunTableModel",
    "create_app",
    "serve",
]


def __getattr__(name: str) -> Any:
    if name in ("RunComparison", "CompareModel"):
        from workbench.ui import compare

        return getattr(compare, name)
    raise AttributeError(f"module 'workbench.ui' has no attribute {name!r}")
