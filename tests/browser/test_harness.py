"""Proves the browser harness (tests/browser/conftest.py) on a throwaway Panel app."""

from __future__ import annotations

import textwrap

import pytest
from browser_harness import (
    PageRecord,
    assert_no_console_errors,
    assert_no_server_errors,
    assert_offline,
    record_of,
    screenshot,
    wait_for_idle,
    wait_for_panel,
)

pytestmark = pytest.mark.browser

COUNTER_APP = textwrap.dedent(
    """
    import os
    import sys

    import pandas as pd
    import panel as pn

    pn.extension("tabulator")

    start = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    count = pn.pane.Markdown(f"Count: {start}", name="counter")
    button = pn.widgets.Button(name="Increment", button_type="primary")

    def increment(event):
        count.object = f"Count: {int(count.object.split(':')[1]) + 1}"

    button.on_click(increment)
    table = pn.widgets.Tabulator(
        pd.DataFrame({"model": ["ridge", "lasso", "forest"], "rmse": [0.41, 0.44, 0.37]}),
        disabled=True,
    )
    home = pn.pane.Markdown(f"home={os.environ['WORKBENCH_HOME']} store={os.environ.get('WORKBENCH_STORE')}")

    template = pn.template.BootstrapTemplate(title="Harness check")
    template.main.append(pn.Column(button, count, table, home))
    template.servable()
    """
)


@pytest.fixture
def counter_app(tmp_path):
    path = tmp_path / "counter.py"
    path.write_text(COUNTER_APP)
    return path


def test_counter_app_renders_clicks_and_stays_offline(serve_app, page, counter_app, tmp_path):
    store = tmp_path / "custom.duckdb"
    app = serve_app(counter_app, "5", env={"WORKBENCH_STORE": str(store)})
    assert app.url == f"http://127.0.0.1:{app.port}/counter"

    page.goto(app)
    wait_for_panel(page)
    page.get_by_text("Count: 5").wait_for()
    page.get_by_role("button", name="Increment").click()
    page.get_by_text("Count: 6").wait_for()
    page.get_by_role("button", name="Increment").click()
    page.get_by_text("Count: 7").wait_for()

    # the Tabulator rendered its rows, and the env overrides reached the app
    page.locator(".tabulator-row").filter(has_text="forest").wait_for()
    assert page.locator(".tabulator-row").count() == 3
    page.get_by_text(f"store={store}").wait_for()
    page.get_by_text("home=").filter(has_text="workbench-home-").wait_for()

    wait_for_idle(page)
    path = screenshot(page, "harness-counter")
    assert path.is_file() and path.stat().st_size > 5_000
    assert path.parent.name == "screenshots" and path.parent.parent.name == "test-artifacts"

    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(app)
    # the served page came over loopback: the document, Bokeh's JS and the websocket
    rec = record_of(page)
    assert any("/static/js/bokeh" in u for u in rec.requests)
    assert any(u.startswith(f"ws://127.0.0.1:{app.port}/") for u in rec.websockets)


def test_assert_offline_catches_external_requests(page, recorded):
    page.set_content("<p>hello</p>")
    page.evaluate("() => fetch('https://cdn.example.invalid/lib.js').catch(() => null)")
    page.wait_for_timeout(200)
    assert "https://cdn.example.invalid/lib.js" in recorded.requests
    with pytest.raises(pytest.fail.Exception, match="cdn.example.invalid"):
        assert_offline(recorded)
    assert_offline(recorded, allow=[r"^https://cdn\.example\.invalid/"])


def test_assert_no_console_errors_catches_errors(page, recorded):
    page.set_content("<p>hello</p>")
    page.evaluate(
        "() => { console.error('boom from console'); setTimeout(() => { throw new Error('uncaught boom') }, 0) }"
    )
    page.wait_for_timeout(200)
    with pytest.raises(pytest.fail.Exception) as info:
        assert_no_console_errors(recorded)
    assert "boom from console" in str(info.value) and "uncaught boom" in str(info.value)
    assert_no_console_errors(recorded, ignore=["boom"])


def test_record_helpers_without_browser():
    rec = PageRecord(
        requests=[
            "http://127.0.0.1:5006/app",
            "data:image/png;base64,xx",
            "blob:http://127.0.0.1/1",
            "http://localhost:5006/static/x.js",
            "https://fonts.googleapis.com/css?family=Lato",
        ],
        websockets=["ws://127.0.0.1:5006/app/ws"],
    )
    assert rec.external_requests() == ["https://fonts.googleapis.com/css?family=Lato"]
    with pytest.raises(pytest.fail.Exception, match="fonts.googleapis.com"):
        assert_offline(rec)


def test_serve_app_reports_early_exit(serve_app, tmp_path):
    with pytest.raises(pytest.fail.Exception) as info:
        serve_app(tmp_path / "counter.py", serve_args=["--no-such-option"])
    assert "exited early" in str(info.value)
    assert "no-such-option" in str(info.value)  # panel's own complaint, from its stderr


def test_serve_app_reports_broken_app(serve_app, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('broken on purpose')\n")
    with pytest.raises(pytest.fail.Exception) as info:
        serve_app(broken)
    message = str(info.value)
    assert "the app raised" in message and "broken on purpose" in message
    # a test about the error page itself can opt out, and then check the log
    app = serve_app(broken, fail_on_app_error=False)
    with pytest.raises(pytest.fail.Exception, match="broken on purpose"):
        assert_no_server_errors(app)


def test_serve_app_reports_timeout(serve_app, tmp_path):
    slow = tmp_path / "slow.py"
    slow.write_text(
        "import time\ntime.sleep(120)\nimport panel as pn\npn.pane.Markdown('late').servable()\n"
    )
    # 12 s: long enough for `panel serve` itself to start on a loaded machine.
    with pytest.raises(pytest.fail.Exception) as info:
        serve_app(slow, timeout=12)
    message = str(info.value)
    assert "did not answer 200" in message and "within 12s" in message
    assert "Bokeh app running at" in message  # the server's own output is shown


def test_server_is_stopped_after_use(serve_app, counter_app):
    app = serve_app(counter_app)
    app.stop()
    assert app.proc.poll() is not None
