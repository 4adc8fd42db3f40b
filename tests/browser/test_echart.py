"""The EChart component in a real browser: it loads Panel's bundled ECharts from the
server on first use, draws an option once laid out, redraws a new one, and says in the
page when ECharts cannot be loaded."""

from __future__ import annotations

import textwrap

from browser_harness import assert_no_console_errors, assert_offline, screenshot

ECHART_APP = textwrap.dedent(
    """
    import numpy as np
    import panel as pn

    from workbench.ui.components.echart import EChart

    pn.extension()

    def option(n_lines):
        steps = np.arange(100.0)
        return {
            "animation": False, "xAxis": {"type": "value"}, "yAxis": {"type": "value"},
            "series": [{"type": "line", "name": f"run {i}", "showSymbol": False,
                        "data": np.column_stack([steps, np.sqrt(steps) * (i + 1)]).ravel()}
                       for i in range(n_lines)],
        }

    chart = EChart(option=option(3), height=300, sizing_mode="stretch_width",
                   css_classes=["chart"])
    button = pn.widgets.Button(name="Five lines", css_classes=["five"])
    button.on_click(lambda _: setattr(chart, "option", option(5)))
    # no way to load ECharts: no bundled URL and no pn.extension("echarts")
    broken = EChart(option=option(1), echarts_src="", height=100, sizing_mode="stretch_width",
                    css_classes=["broken"])
    pn.Column(button, chart, broken, sizing_mode="stretch_width").servable()
    """
)


def test_echart_loads_draws_and_redraws(serve_app, page, tmp_path):
    path = tmp_path / "echart_app.py"
    path.write_text(ECHART_APP)
    page.goto(serve_app(path))
    page.locator(".chart .wb-echart[data-drawn-series='3']").wait_for(timeout=60_000)
    # the chart drew at its laid-out width, not a placeholder's
    width = page.locator(".chart .wb-echart canvas").first.bounding_box()["width"]
    assert width > 500
    page.locator(".five button").click()
    page.locator(".chart .wb-echart[data-drawn-series='5']").wait_for(timeout=30_000)
    screenshot(page, "echart")
    assert_no_console_errors(page)
    assert_offline(page)  # ECharts came from this server, not a CDN


def test_echart_without_a_url_uses_the_loaded_echarts(serve_app, page, tmp_path):
    path = tmp_path / "echart_app.py"
    path.write_text(ECHART_APP)
    page.goto(serve_app(path))
    page.locator(".chart .wb-echart[data-drawn-series='3']").wait_for(timeout=60_000)
    # the first chart loaded ECharts into the page, so the second one draws too ...
    page.locator(".broken .wb-echart[data-drawn-series='1']").wait_for(timeout=30_000)


def test_echart_error_message_when_it_cannot_load(serve_app, page, tmp_path):
    path = tmp_path / "echart_broken.py"
    path.write_text(ECHART_APP.replace("chart = EChart(option=option(3)",
                                       "chart = pn.Spacer(); _ = EChart(option=option(3)"))
    page.goto(serve_app(path))
    page.get_by_text("ECharts is not loaded: call pn.extension('echarts') first").wait_for(
        timeout=30_000)
    assert page.locator(".broken .wb-echart canvas").count() == 0
