"""Shared bits of the screens that need no Panel: status colours and badges, messages, formatting.

View-models import these (a view-model never imports Panel); the widgets built on
Panel are in :mod:`workbench.ui.components.widgets`. Nothing here talks to the
store; view-models do (through the Store API).
"""

from __future__ import annotations

import html
import traceback
from collections.abc import Callable
from typing import Any

import pandas as pd
import param

from workbench.errors import WorkbenchError

#: Background colour of each run status in tables (light, readable with black text).
STATUS_COLOURS: dict[str, str] = {
    "RUNNING": "#cfe2ff",
    "FINISHED": "#d1e7dd",
    "FAILED": "#f8d7da",
    "KILLED": "#fff3cd",
}

#: Tabulator formatter for the ``status`` column: a coloured badge.
STATUS_FORMATTER: dict[str, Any] = {"type": "html"}


def badge(value: Any, colours: dict[str, str], kind: str) -> str:
    """An HTML badge: ``value`` on its colour from ``colours``, CSS class ``wb-<kind>``.

    >>> badge("FAILED", {"FAILED": "#f8d7da"}, "status")[:52]
    '<span class="wb-status wb-status-failed" style="back'
    """
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    colour = colours.get(text, "#e9ecef")
    return (
        f'<span class="wb-{kind} wb-{kind}-{html.escape(text.lower())}" '
        f'style="background:{colour};padding:1px 6px;border-radius:4px">{html.escape(text)}</span>'
    )


def status_badge(status: Any) -> str:
    """An HTML badge for a run status (``RUNNING``, ``FINISHED``, ``FAILED``, ``KILLED``)."""
    return badge(status, STATUS_COLOURS, "status")


def error_message(exc: BaseException) -> str:
    """The readable message of an error, for showing to the user.

    Errors the workbench raises on purpose carry a message written for users; anything
    else also names its type, so the user has something to report.
    """
    if isinstance(exc, WorkbenchError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def guarded(model: param.Parameterized, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``action``; on an error, put its message into ``model.error`` instead of raising.

    Returns the action's result, or ``None`` after an error. Unexpected errors are also
    printed with their traceback to the server log.
    """
    try:
        result = action(*args, **kwargs)
    except Exception as exc:  # shown to the user, never swallowed silently
        if not isinstance(exc, WorkbenchError):
            traceback.print_exc()
        model.error = error_message(exc)
        return None
    return result


def short_id(run_id: str | None) -> str:
    return (run_id or "")[:8]


def format_value(value: Any) -> str:
    """A compact string for a param, metric or tag value."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def frame_of_dict(mapping: dict[str, Any], key: str = "key", value: str = "value") -> pd.DataFrame:
    """A two-column DataFrame of a dict, values formatted as strings."""
    return pd.DataFrame(
        {key: list(mapping), value: [format_value(v) for v in mapping.values()]}
    )


def column_widths(shown: pd.DataFrame) -> dict[str, int]:
    """Pixel widths of a Tabulator's columns from the text shown (before any HTML, such as
    run-name links): the bold header with its sort arrow or the cells, whichever is wider;
    the status column holds a badge (HTML), so it gets a fixed width.

    Given to Tabulator so it need not measure every cell on each update (its
    ``fit_data_table`` measuring was most of the time a filter took in the browser).

    >>> column_widths(pd.DataFrame({"lr": ["0.001"], "model": ["a-very-long-model-name"]}))
    {'lr': 76, 'model': 226}
    """
    widths = {}
    for col in shown.columns:
        if col == "run_id":
            continue
        cells = shown[col].map(lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v))
                               else str(v))
        longest = int(cells.str.len().max()) if len(cells) else 0
        widths[col] = int(min(max(12 * len(str(col)) + 52, 9 * longest + 28, 70), 360))
    if "status" in widths:
        widths["status"] = 120
    return widths
