"""``wb.ui.extension()``: one call loads the components' resources inline; without it a
screen shown in a notebook says what to call instead of rendering an empty output."""

from __future__ import annotations

import panel as pn
import pytest

import workbench as wb
from workbench.ui.components import notebook


@pytest.fixture
def in_kernel(monkeypatch):
    monkeypatch.setattr(notebook, "_in_notebook_kernel", lambda: True)
    monkeypatch.setitem(notebook._state, "loaded", False)


def test_a_screen_shown_before_the_extension_says_what_to_call(in_kernel, tmp_path):
    table = wb.ui.RunTable(wb.Store(tmp_path / "s.duckdb"))
    data, meta = table._repr_mimebundle_()
    assert "wb.ui.extension()" in data["text/plain"]
    assert "wb.ui.extension()" in data["text/html"] and meta == {}
    assert "application/vnd.holoviews_exec.v0+json" not in data


def test_extension_loads_inline_with_the_components_extensions(monkeypatch, in_kernel):
    calls = []
    monkeypatch.setattr(pn, "extension", lambda *a, **k: calls.append((a, k)))
    wb.ui.extension("plotly", sizing_mode="stretch_width")
    assert calls == [(("tabulator", "echarts", "plotly"), {"sizing_mode": "stretch_width", "inline": True})]
    assert notebook.extension_loaded()
    assert notebook._inline_later_stylesheets in pn.viewable.Viewable._preprocessing_hooks


def test_outside_a_kernel_screens_render_as_usual(tmp_path, monkeypatch):
    monkeypatch.setitem(notebook._state, "loaded", False)
    table = wb.ui.RunTable(wb.Store(tmp_path / "s.duckdb"))
    assert not notebook._in_notebook_kernel()
    assert isinstance(table.__panel__(), pn.viewable.Viewable)
