"""The tour notebook in a real JupyterLab 4, offline: every component renders and reacts.

A JupyterLab server runs on localhost (token, temporary root and config/runtime dirs, the
Panel preview server extension off); headless Chromium opens ``tour.ipynb``, runs all cells,
and every request that is not to localhost is recorded and aborted (the ``open_page``
fixture). ``wb.ui.extension()`` must make the run table and the Compare chart render from
inline resources alone.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_harness import assert_offline, screenshot

REPO = Path(__file__).resolve().parents[2]
TOUR = REPO / "notebooks" / "tour.ipynb"

_KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && !!document.querySelector('.jp-Notebook');
}"""
_PROMPTS = "[...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(e => e.textContent)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on localhost serving a copy of the tour notebook; yields its URL."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(TOUR, root / "tour.ipynb")
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    token = secrets.token_hex(12)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOKEH_", "PANEL_", "WORKBENCH_"))}
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
               JUPYTER_DATA_DIR=str(tmp_path / "data"))
    log = open(tmp_path / "lab.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
         "--ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
         f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
         "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         '--ServerApp.jpserver_extensions={"panel.io.jupyter_server_extension": False, '
         '"jupyter_lsp": False}'],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited: {(tmp_path / 'lab.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("jupyter lab did not answer within 60 s")
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/lab/tree/tour.ipynb?token={token}", root
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def test_tour_notebook_renders_offline_in_jupyterlab(jupyterlab, open_page):
    url, _root = jupyterlab
    page = open_page(viewport=(1400, 900))
    page.goto(url)
    page.wait_for_function(_KERNEL_IDLE, timeout=60_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.monotonic() + 120
    while True:
        prompts = page.evaluate(_PROMPTS)
        if prompts and all(p.strip("[]: ").isdigit() for p in prompts):
            break
        assert time.monotonic() < deadline, f"cells did not all run: {prompts}"
        page.wait_for_timeout(500)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    tracebacks = [t for t in errors.all_inner_texts() if "Traceback" in t or "Error" in t]
    assert not tracebacks, tracebacks

    # The run table: one Tabulator row per logged run (6), rendered from inline resources.
    table_cell = page.locator(".jp-CodeCell").filter(has_text="wb.ui.RunTable(store)")
    rows = table_cell.locator(".tabulator-row")
    rows.nth(5).wait_for(timeout=30_000)
    assert rows.count() == 6
    # The Compare chart: ECharts drew every series on its canvas.
    chart = page.locator(".wb-echart[data-drawn-series]").first
    chart.wait_for(state="attached", timeout=30_000)
    assert int(chart.get_attribute("data-drawn-series")) > 0
    assert page.locator(".wb-echart canvas").count() >= 1
    chart.scroll_into_view_if_needed()
    screenshot(page, "jupyterlab-tour-compare-1400")

    assert_offline(page)  # rendered from inline resources alone

    # A control reacts through the kernel comm: log scale redraws the chart.
    drawn_at = chart.get_attribute("data-drawn-at")
    page.locator(".wb-log-y input[type=checkbox]").first.check()
    deadline = time.monotonic() + 20
    while chart.get_attribute("data-drawn-at") == drawn_at:
        assert time.monotonic() < deadline, "the chart did not redraw after Log y was checked"
        page.wait_for_timeout(200)

    # A control of the run table reacts too: a filter typed in its box narrows the rows.
    box = table_cell.locator("input[placeholder^='e.g. metrics.auc']")
    box.scroll_into_view_if_needed()
    box.fill("params.optimizer = 'adam'")
    box.press("Enter")
    deadline = time.monotonic() + 30  # Panel sends a held event after its 5 s ACK timeout
    while rows.count() != 3:
        assert time.monotonic() < deadline, f"the filter did not narrow the table: {rows.count()} rows"
        page.wait_for_timeout(200)
    screenshot(page, "jupyterlab-tour-table-1400")
    assert_offline(page)
