"""The Monitoring screen: ``MonitoringView(store)`` (the app's page) and ``DriftReportView(rep)``.

Importing this package (``workbench.ui`` does) lets a ``DriftReport`` display as
``DriftReportView`` in a notebook once ``wb.ui.extension()`` ran; the view itself
(and Panel's widgets) are imported only when a report is displayed.
"""

from __future__ import annotations

from typing import Any

from workbench.monitoring.report import register_display


def _notebook_view(report: Any, include: Any = None, exclude: Any = None) -> Any:
    from workbench.ui.components.notebook import _in_notebook_kernel, extension_loaded

    if not (_in_notebook_kernel() and extension_loaded()):
        return None  # the report's own HTML summary
    from workbench.ui.monitoring.view import DriftReportView

    return DriftReportView(report)._repr_mimebundle_(include, exclude)


register_display(_notebook_view)
