"""Panel widgets that several screens share: the error banner.

The badges, messages and formatting helpers need no Panel and live in
:mod:`workbench.ui.components.format`.
"""

from __future__ import annotations

import html
from typing import Any

import panel as pn
import param


class ErrorBanner(pn.viewable.Viewer):
    """A dismissable red banner bound to a string parameter (hidden when the string is empty)."""

    message = param.String(default="")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._alert = pn.pane.Alert(
            "", alert_type="danger", visible=False, sizing_mode="stretch_width",
            css_classes=["wb-error"],
        )
        self._sync()

    @param.depends("message", watch=True)
    def _sync(self) -> None:
        text = self.message or ""
        # a <pre> keeps the filter parser's caret under the right character
        self._alert.object = f"<pre style='margin:0;white-space:pre-wrap'>{html.escape(text)}</pre>"
        self._alert.visible = bool(text)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._alert


def wrapping_row(*objects: Any, **params: Any) -> pn.FlexBox:
    """A row of form widgets that wraps onto the next line when the window is too narrow
    (a ``pn.Row`` pushes them past the right edge at 1024 px).

    >>> row = wrapping_row(pn.widgets.TextInput(width=300), pn.widgets.Button(label="Go"))
    >>> row.flex_wrap
    'wrap'
    """
    params.setdefault("sizing_mode", "stretch_width")
    params.setdefault("align_items", "flex-end")
    return pn.FlexBox(*objects, flex_direction="row", flex_wrap="wrap", **params)


def lazy_tabs(*tabs: tuple[str, Any], **params: Any) -> pn.Tabs:
    """Tabs whose contents join the page when first shown (then stay), not all at once.

    A page with many tables opens faster when only the open tab's widgets are sent to the
    browser and rendered there. Unlike ``pn.Tabs(dynamic=True)`` a shown tab keeps its
    widgets, and nothing links an asset from outside the installed packages.

    >>> t = lazy_tabs(("A", pn.pane.Markdown("a")), ("B", pn.pane.Markdown("b")))
    >>> [len(c.objects) for c in t.objects]
    [1, 0]
    >>> t.active = 1; [len(c.objects) for c in t.objects]
    [1, 1]
    """
    contents = [content for _, content in tabs]
    holders = [pn.Column(sizing_mode="stretch_width") for _ in tabs]
    out = pn.Tabs(*[(title, holder) for (title, _), holder in zip(tabs, holders)], **params)

    def show(index: int) -> None:
        if 0 <= index < len(holders) and not holders[index].objects:
            holders[index].objects = [contents[index]]

    show(out.active)
    out.param.watch(lambda e: show(e.new), "active")
    return out
