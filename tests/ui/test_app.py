"""The app shell without a browser: pages, navigation state, lazy imports."""

from __future__ import annotations

import subprocess
import sys

from workbench.ui.app import PAGES, AppState, WorkbenchApp, create_app


def test_every_page_builds_without_error(ui_store):
    app = WorkbenchApp(ui_store)
    for page in PAGES:
        app.state.page = page
        assert app.nav.value == page
        texts = [str(getattr(o, "object", "")) for o in app.main.objects]
        assert not any("could not be shown" in t for t in texts), (page, texts)


def test_open_run_and_compare_change_the_state(ui_store):
    app = WorkbenchApp(ui_store)
    table = app._pages["runs"]
    ids = list(table.model.rows["run_id"].iloc[:3])
    table.model.select(ids)
    assert app.state.runs == ",".join(ids)  # the selection is URL state
    app.compare(ids)
    assert app.state.page == "compare" and app.state.run_ids == ids
    app.open_run(ids[0])
    assert app.state.page == "run" and app._pages["run"].model.run_id == ids[0]
    app.open_run(ids[1])
    assert app._pages["run"].model.run_id == ids[1]


def test_state_from_a_bookmark(ui_store):
    state = AppState(page="runs", experiment="beta", filter="metrics.acc > 0.72")
    app = WorkbenchApp(ui_store, state)
    model = app._pages["runs"].model
    assert model.experiment == "beta" and model.total == 2
    model.experiment = "alpha"
    assert state.experiment == "alpha"


def test_the_runs_and_ab_pages_each_keep_their_own_experiment_in_the_url(ui_store):
    """``experiment`` names the Runs page's tracking experiment or the A/B page's experiment: a page
    change shows the value of the page now open, never the other page's."""
    from workbench.abtest.sample import SAMPLE_EXPERIMENT, analyze_sample

    analyze_sample(ui_store)
    app = WorkbenchApp(ui_store, AppState(page="runs", experiment="beta"))
    app.state.page = "abtests"
    ab = app._pages["abtests"].model
    ab.wait()
    assert app.state.experiment == ab.experiment == SAMPLE_EXPERIMENT
    app.state.page = "runs"
    assert app.state.experiment == "beta" and app._pages["runs"].model.experiment == "beta"
    app.state.page = "abtests"
    assert app.state.experiment == SAMPLE_EXPERIMENT and app._pages["runs"].model.experiment == "beta"


def test_create_app_is_a_bootstrap_template(ui_store):
    import panel as pn

    template = create_app(ui_store, sync_url=False)
    assert isinstance(template, pn.template.BootstrapTemplate)


def test_import_workbench_does_not_import_panel():
    code = (
        "import sys, workbench as wb; assert 'panel' not in sys.modules; "
        "ui = wb.ui; assert 'panel' in sys.modules; print(ui.RunTable.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "RunTable"
