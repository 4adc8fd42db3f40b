"""The A/B screen in headless Chromium: the demo experiment, engines, a decision.

The store holds the sample experiment (``analyze_sample``). The test opens its stable URL
(``?page=abtests&experiment=checkout-redesign-2025``), sees the forest plot and the SRM
state, switches the engine to Bayesian and to sequential (re-analysed in a background
thread), runs a bandit simulation, records a decision and checks the store. Screenshots
at 1400x900 and 1024x700 go to ``test-artifacts/screenshots/abtests-*.png``.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
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
from workbench import abtest as ab
from workbench.abtest.sample import SAMPLE_EXPERIMENT, SAMPLE_METRICS, analyze_sample, sample_path

APP = "apps/workbench_app.py"
SRM_EXPERIMENT = "checkout-srm-planted"


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("ab") / "ab.duckdb"
    store = wb.Store(path)
    analyze_sample(store)
    # a second experiment with a planted sample-ratio mismatch (6 % of control dropped)
    events = pd.read_parquet(sample_path())
    control = events.index[events["variant"] == "control"]
    drop = np.random.default_rng(7).choice(control, size=int(0.06 * len(control)), replace=False)
    events.drop(index=drop).to_parquet(path.parent / "srm.parquet")
    ab.analyze(str(path.parent / "srm.parquet"), experiment=SRM_EXPERIMENT, metrics=SAMPLE_METRICS,
               weights={"control": 0.5, "treatment": 0.5}, store=store)
    store.close()
    return path


@pytest.fixture(scope="module")
def app(serve_app_module, store_path):
    return serve_app_module(APP, env={"WORKBENCH_STORE": str(store_path)})


def _open(page, app, experiment: str = SAMPLE_EXPERIMENT) -> None:
    page.goto(f"{app}?page=abtests&experiment={experiment}")
    wait_for_panel(page)
    wait_for_idle(page)
    page.locator(".wb-ab-forest .wb-echart[data-drawn-series]").wait_for(timeout=30_000)


def _tab(page, label: str) -> None:
    page.locator(".bk-tab", has_text=re.compile(rf"^{label}$")).first.click()
    wait_for_idle(page)


def _engine(page, engine: str) -> None:
    page.locator(".wb-ab-engine button", has_text=engine).click()
    _wait_text(page, ".wb-ab-headline", f"Re-analysed with the {engine} engine")
    wait_for_idle(page)


_DEEP_TEXT = """(els) => els.map((el) => {
  const walk = (n) => (n.shadowRoot ? walk(n.shadowRoot) : "") +
    Array.from(n.childNodes).map((c) => c.nodeType === 3 ? c.textContent : walk(c)).join(" ");
  return walk(el);
}).join(" ")"""


def _text(page, css: str) -> str:
    """The text of every element matching ``css``, shadow roots included."""
    page.locator(css).first.wait_for(timeout=20_000)
    return " ".join(page.locator(css).evaluate_all(_DEEP_TEXT).split())


def _wait_text(page, css: str, text: str, timeout: float = 30.0) -> None:
    """Wait until an element matching ``css`` holds ``text`` (shadow roots included)."""
    deadline = time.monotonic() + timeout
    while text not in (seen := _text(page, css)):
        if time.monotonic() > deadline:
            raise AssertionError(f"{css} never showed {text!r}; it shows {seen[:500]!r}")
        page.wait_for_timeout(100)


def _drawn(page, css: str) -> int:
    box = page.locator(f"{css} .wb-echart[data-drawn-series]")
    box.wait_for(timeout=20_000)
    return int(box.get_attribute("data-drawn-series"))


def test_demo_experiment_engines_and_decision(app, open_page, store_path, log_mark):
    page = open_page(viewport=(1400, 900))
    _open(page, app)
    # the forest plot (one interval per metric x treatment + the points) and the SRM state
    assert _drawn(page, ".wb-ab-forest") == 5
    assert "no sample-ratio mismatch" in _text(page, ".wb-ab-srm")
    assert page.locator(".wb-ab-srm-flagged").count() == 0
    assert "+10.10 % on converted (significant, frequentist)" in _text(page, ".wb-ab-headline")
    assert "26.2 % less variance" in _text(page, ".wb-ab-cuped-note")
    assert "page_load_ms" in _text(page, ".wb-ab-table")
    assert "pass" in _text(page, ".wb-ab-guards")
    assert _drawn(page, ".wb-ab-overtime") == 5
    assert _drawn(page, ".wb-ab-posterior") == 3
    screenshot(page, "abtests-results-1400x900")
    page.locator(".wb-ab-posterior").scroll_into_view_if_needed()
    screenshot(page, "abtests-results-posterior-1400x900")
    page.locator(".wb-ab-guards").scroll_into_view_if_needed()
    screenshot(page, "abtests-results-overtime-1400x900")
    page.locator(".wb-ab-srm").scroll_into_view_if_needed()

    _engine(page, "bayesian")
    assert "(significant, bayesian)" in _text(page, ".wb-ab-headline")
    _engine(page, "sequential")
    assert "(significant, sequential)" in _text(page, ".wb-ab-headline")
    screenshot(page, "abtests-sequential-1400x900")

    _tab(page, "Design")
    assert "14,749 users per arm" in _text(page, ".wb-ab-design")
    assert _drawn(page, ".wb-ab-curve") == 2
    screenshot(page, "abtests-design-1400x900")

    _tab(page, "Bandits")
    page.locator(".wb-ab-simulate button").click()
    _wait_text(page, ".wb-ab-bandit-summary", "regret")
    assert _drawn(page, ".wb-ab-weights") == 3
    assert _drawn(page, ".wb-ab-regret") == 2
    screenshot(page, "abtests-bandits-1400x900")

    _tab(page, "Decision")
    page.locator(".wb-ab-decision button", has_text="ship").click()
    page.locator(".wb-ab-comment textarea").fill("conversion +10 %, guardrail passed")
    page.locator(".wb-ab-comment textarea").press("Tab")
    wait_for_idle(page)
    page.locator(".wb-ab-record button").click()
    _wait_text(page, ".wb-ab-decided", "Recorded decision")
    _wait_text(page, ".wb-ab-decisions", "conversion +10 %")
    screenshot(page, "abtests-decision-1400x900")

    _tab(page, "Experiments")
    _wait_text(page, ".wb-ab-experiments", "decided")
    screenshot(page, "abtests-experiments-1400x900")

    assert page.get_by_text("Traceback").count() == 0
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(app, log_mark)

    store = wb.Store(store_path)
    try:
        decisions = ab.list_decisions(store, SAMPLE_EXPERIMENT)
        assert decisions["decision"].tolist() == ["ship"]
        assert decisions["variant"].tolist() == ["treatment"]
        assert decisions["comment"].tolist() == ["conversion +10 %, guardrail passed"]
        saved = ab.get_analysis(store, int(decisions["analysis_id"].iloc[0]))
        assert saved["engine"] == "sequential"  # the analysis that was shown
        status = ab.experiments(store).set_index("name")["status"]
        assert status[SAMPLE_EXPERIMENT] == "decided"
    finally:
        store.close()


def test_planted_srm_by_its_url_in_a_small_window(app, open_page, log_mark):
    page = open_page(viewport=(1024, 700))
    _open(page, app, SRM_EXPERIMENT)
    assert SRM_EXPERIMENT in _text(page, ".wb-ab-title")
    assert page.locator(".wb-ab-srm-flagged").count() == 1
    assert "SRM flagged — sample-ratio mismatch" in _text(page, ".wb-ab-srm")
    assert "no winner while the SRM check is flagged" in _text(page, ".wb-ab-headline")
    assert _drawn(page, ".wb-ab-forest") == 5
    screenshot(page, "abtests-srm-1024x700")
    _tab(page, "Experiments")  # the list: one flagged, one decided by the other test or running
    _wait_text(page, ".wb-ab-experiments", "FLAGGED")
    screenshot(page, "abtests-experiments-1024x700")
    assert page.get_by_text("Traceback").count() == 0
    assert_no_console_errors(page)
    assert_offline(page)
    assert_no_server_errors(app, log_mark)
