"""Panel widgets that several screens share: the error banner, the confirmation bar.

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


class ConfirmBar(pn.viewable.Viewer):
    """A yellow bar that states what an action is about to do, with Confirm and Cancel.

    ``ask(payload, text_html)`` shows it; Confirm hands the payload to ``on_confirm`` once;
    Cancel or ``withdraw()`` drops it. Its parts carry the CSS classes ``{css}``,
    ``{css}-text``, ``{css}-yes`` and ``{css}-no``.

    >>> bar = ConfirmBar(on_confirm=print, css="wb-x")
    >>> bar.ask("stop", "<b>stop</b> the server"); bar.visible
    True
    >>> bar.confirm()
    stop
    >>> bar.visible, bar.pending
    (False, None)
    """

    def __init__(self, on_confirm: Any, css: str, **params: Any) -> None:
        super().__init__(**params)
        self._on_confirm = on_confirm
        self.pending: Any = None
        self.text = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=[f"{css}-text"])
        yes = pn.widgets.Button(label="Confirm", color="danger", width=95, css_classes=[f"{css}-yes"])
        no = pn.widgets.Button(label="Cancel", width=95, css_classes=[f"{css}-no"])
        yes.on_click(lambda e: self.confirm())
        no.on_click(lambda e: self.withdraw())
        self._row = pn.Row(self.text, yes, no, visible=False, sizing_mode="stretch_width", css_classes=[css],
                           styles={"background": "#fff3cd", "padding": "4px"})

    @property
    def visible(self) -> bool:
        """Whether a confirmation is waiting."""
        return self._row.visible

    def ask(self, payload: Any, text_html: str) -> None:
        """Show ``text_html`` (already escaped) and keep ``payload`` for Confirm."""
        self.pending = payload
        self.text.object = text_html
        self._row.visible = True

    def confirm(self) -> None:
        """Run the waiting payload (nothing when none is waiting)."""
        payload, self.pending = self.pending, None
        self._row.visible = False
        if payload is not None:
            self._on_confirm(payload)

    def withdraw(self) -> None:
        """Drop the waiting payload."""
        self.pending = None
        self._row.visible = False

    def __panel__(self) -> pn.viewable.Viewable:
        return self._row


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
