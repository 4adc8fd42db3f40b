"""Panel screens of the workbench: usable in ``panel serve`` and in JupyterLab.

In a notebook, load the components' JavaScript once (inline: no CDN, works offline),
then end a cell with a screen::

    import workbench as wb
    wb.ui.extension()
    wb.ui.RunTable(wb.Store("demo.duckdb"))

``RunComparison`` (the Compare screen) is imported lazily from ``workbench.ui.compare.view``.
"""

from __future__ import annotations

from typing import Any

from workbench.ui import monitoring as _monitoring  # noqa: F401  (DriftReport -> DriftReportView)
from workbench.ui.app import AppState, create_app, serve
from workbench.ui.components.notebook import extension
from workbench.ui.runs.detail import RunDetail
from workbench.ui.runs.detail_model import RunDetailModel
from workbench.ui.runs.table import RunTable
from workbench.ui.runs.table_model import RunTableModel

__all__ = [
    "ABTestModel",
    "ABTestView",
    "AppState",
    "CompareModel",
    "DeploymentsModel",
    "DeploymentsView",
    "DriftReportView",
    "MonitoringView",
    "RunComparison",
    "RunDetail",
    "RunDetailModel",
    "RunTable",
    "RunTableModel",
    "create_app",
    "extension",
    "serve",
]


_SCREENS = ("components", "runs", "compare", "pipelines", "training", "registry", "monitoring",
            "abtests", "deployments")


def __getattr__(name: str) -> Any:
    if name in ("RunComparison", "CompareModel"):
        from workbench.ui.compare import view

        return getattr(view, name)
    if name in ("DriftReportView", "MonitoringView", "MonitoringModel"):
        from workbench.ui.monitoring import model as _m
        from workbench.ui.monitoring import view as _v

        return getattr(_v, name, None) or getattr(_m, name)
    if name in ("ABTestView", "ABTestModel"):  # wb.ui.ABTestView(res) in JupyterLab
        from workbench.ui.abtests import view as _ab

        return getattr(_ab, name)
    if name in ("DeploymentsView", "DeploymentsModel"):
        from workbench.ui.deployments import view as _dv

        return getattr(_dv, name)
    if name in _SCREENS:  # wb.ui.registry.RegistryView(store) without importing the folder first
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'workbench.ui' has no attribute {name!r}")
