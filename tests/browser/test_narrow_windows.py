"""Every page of the app reflows in a 1024x700 window (issue 13, "Narrow windows").

The app runs on a small demo store (the README's sample data, ``scale=0.1``): each page is
opened at 1024x700 in headless Chromium, screenshotted (``test-artifacts/screenshots/
narrow-<page>-1024x700.png``) and checked: nothing is wider than the window (no sideways
scrolling that slides content under the sidebar) and no workbench widget is cut off at the
right or hidden under the sidebar. A table may scroll its own columns sideways; the widget
holding it must still fit.
"""

from __future__ import annotations

import re

import pytest
from browser_harness import (
    assert_no_console_errors,
    assert_no_server_errors,
    assert_offline,
    screenshot,
    wait_for_idle,
    wait_for_panel,
)

import workbench as wb
from workbench.demo import build_demo_store

APP = "apps/workbench_app.py"
WIDTH, HEIGHT = 1024, 700

# Every workbench widget on the page (Playwright locators pierce Panel's shadow roots) with
# its box; those inside a table's own scrolling area (cells) and the sidebar are left out.
_BOXES = """els => els.filter(e => (e.offsetParent !== null || e.getClientRects().length)
                             && !e.closest('.tabulator, #sidebar'))
    .map(e => { const r = e.getBoundingClientRect();
                return {cls: [...e.classList].filter(c => c.startsWith('wb-')).join(' '),
                        x: r.x, right: r.right, width: r.width, height: r.height}; })
    .filter(b => b.width > 0 && b.height > 0)"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("narrow") / "demo.duckdb"
    store = wb.Store(path)
    build_demo_store(store, scale=0.1, n_jobs=2, progress=False)
    runs = store.search_runs("churn", max_results=2)
    ids = list(runs["run_id"])
    store.close()
    return path, ids


@pytest.fixture(scope="module")
def app(serve_app_module, demo):
    path, _ids = demo
    return serve_app_module(APP, env={"WORKBENCH_STORE": str(path), "WORKBENCH_USER": "admin"})


def _pages(ids: list[str]) -> dict[str, str]:
    return {
        "runs": "page=runs",
        "run": f"page=run&run={ids[0]}",
        "compare": f"page=compare&runs={','.join(ids)}",
        "experiments": "page=experiments",
        "datasets": "page=datasets",
        "pipelines": "page=pipelines",
        "training": "page=training",
        "registry": "page=registry",
        "monitoring": "page=monitoring",
        "abtests": "page=abtests",
        "deployments": "page=deployments",
    }


def test_every_page_reflows_at_1024x700(app, demo, open_page):
    _path, ids = demo
    assert len(ids) == 2
    problems: list[str] = []
    pages = []
    for key, query in _pages(ids).items():
        # a fresh page per screen: leaving a page mid-render raises errors in BokehJS there
        page = open_page(viewport=(WIDTH, HEIGHT))
        pages.append(page)
        page.goto(f"{app}?{query}")
        wait_for_panel(page)
        wait_for_idle(page)
        page.wait_for_timeout(500)  # charts and tables settle their widths
        wait_for_idle(page)
        screenshot(page, f"narrow-{key}-1024x700")
        assert page.get_by_text("Traceback").count() == 0, key
        assert page.get_by_text(re.compile("could not be shown")).count() == 0, key
        widths = page.evaluate("""() => {
            const main = document.querySelector('#main') || document.body;
            return [document.documentElement.scrollWidth, document.documentElement.clientWidth,
                    main.scrollWidth, main.clientWidth];
        }""")
        if widths[0] > widths[1] + 1 or widths[2] > widths[3] + 1:
            problems.append(f"{key}: the page is wider than the window {widths}")
        sidebar = page.locator("#sidebar").bounding_box()
        left = sidebar["x"] + sidebar["width"] if sidebar else 0
        boxes = page.locator("[class*='wb-']").evaluate_all(_BOXES)
        assert boxes, f"{key}: no workbench widget found"
        for b in boxes:
            if b["right"] > WIDTH + 1 or b["x"] < left - 1:
                problems.append(f"{key}: .{b['cls']} spans x={b['x']:.0f}..{b['right']:.0f} "
                                f"(content area {left:.0f}..{WIDTH})")
    assert not problems, "\n".join(problems)
    for page in pages:
        assert_no_console_errors(page)
        assert_offline(page)
    assert_no_server_errors(app)
