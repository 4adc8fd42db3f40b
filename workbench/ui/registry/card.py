"""The Registry screen's model-card tab: view, edit and download a version's card.

A part of :class:`~workbench.ui.registry.view.RegistryView` (a mixin: it builds its widgets
on the view and keeps them in sync with the shared :class:`RegistryModel`).
"""

from __future__ import annotations

import io
from typing import Any

import panel as pn

from workbench.registry.cards import SECTIONS, TITLES
from workbench.ui.components.widgets import wrapping_row
from workbench.ui.registry.model import (
    RegistryModel,
)


class _CardPanel:
    """The model card of the selected version."""

    model: RegistryModel

    def _build_card(self, m: RegistryModel) -> None:
        self._card_version = pn.widgets.Select(
            label="Version", options=[], width=110, css_classes=["wb-card-version"]
        )
        self._card_version.param.watch(self._on_card_version, "value")
        self._card_view = pn.pane.Markdown(
            "", css_classes=["wb-card-view"], sizing_mode="stretch_width"
        )
        self._card_inputs = {
            key: pn.widgets.TextAreaInput(
                label=TITLES[key],
                height=80,
                sizing_mode="stretch_width",
                css_classes=[f"wb-card-{key}"],
            )
            for key in SECTIONS
        }
        self._card_save = pn.widgets.Button(
            label="Save card", color="primary", width=120, css_classes=["wb-card-save"]
        )
        self._card_save.on_click(
            lambda e: m.save_card(**{k: w.value for k, w in self._card_inputs.items()})
        )
        self._card_md = pn.widgets.FileDownload(
            callback=lambda: io.StringIO(m.card_markdown()),
            filename="model-card.md",
            label="Download Markdown",
            width=170,
            align="end",
            css_classes=["wb-card-md"],
        )
        self._card_html = pn.widgets.FileDownload(
            callback=lambda: io.StringIO(m.card_html()),
            filename="model-card.html",
            label="Download HTML",
            width=170,
            align="end",
            css_classes=["wb-card-html"],
        )

    def _card_tab(self) -> pn.viewable.Viewable:
        return pn.Column(
            wrapping_row(self._card_version, self._card_md, self._card_html),
            pn.Row(  # the card beside its editor: two columns sharing the width
                pn.Column(
                    self._card_view,
                    sizing_mode="stretch_width",
                    styles={"border": "1px solid #dee2e6", "padding": "0 12px"},
                ),
                pn.Column(
                    *self._card_inputs.values(),
                    self._card_save,
                    sizing_mode="stretch_width",
                ),
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )

    def _on_card_version(self, event: Any) -> None:
        if event.new is not None and event.new != self.model.version:
            self.model.select_version(int(event.new))

    def _sync_card(self) -> None:
        m = self.model
        card = m.card
        if card is None:
            self._card_view.object = "_No version selected._"
            for w in self._card_inputs.values():
                w.value = ""
            return
        # the preview's headings one level down, so the card does not shout over the page
        self._card_view.object = "\n".join(
            "###" + line if line.startswith("#") else line
            for line in card.to_markdown().splitlines()
        )
        for key, widget in self._card_inputs.items():
            widget.value = card.sections.get(key) or ""
        stem = f"{card.name}-v{card.version}-card"
        self._card_md.filename, self._card_html.filename = f"{stem}.md", f"{stem}.html"
