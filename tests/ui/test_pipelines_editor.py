"""The pipeline editor's view-model, driven without a browser, on real stores in tmp_path."""

from __future__ import annotations

import time

import pandas as pd
import pytest

import workbench as wb
from workbench.pipelines import list_versions, load_pipeline, pipeline_runs
from workbench.ui.pipelines.model import (
    STEP_COLOURS,
    PipelineEditorModel,
    parse_value,
    step_colour,
)
from workbench.ui.pipelines.view import PipelineEditor


@pytest.fixture
def store(tmp_path) -> wb.Store:
    return wb.Store(tmp_path / "editor.duckdb")


def chain_model(store: wb.Store, name: str = "demo") -> PipelineEditorModel:
    m = PipelineEditorModel(store)
    assert m.new_pipeline(name)
    for step in ("a", "b", "c"):
        assert m.add_step(step, "identity"), m.error
    assert m.set_params("a", {"value": "7"}), m.error
    assert m.connect("a", "b") and m.connect("b", "c"), m.error
    return m


def test_empty_store_then_new_from_template(store):
    m = PipelineEditorModel(store)
    assert m.names == [] and m.pipeline is None
    assert m.new_from_template()
    assert m.names == ["churn"] and m.pipeline_name == "churn" and m.saved_version == 1
    assert m.pipeline.step_names == ["extract", "clean", "features", "split", "validate", "train",
                                     "evaluate", "register"]
    assert not m.dirty and "churn template" in m.message
    # a second template does not overwrite the first
    assert m.new_from_template()
    assert m.names == ["churn", "churn-2"] and m.pipeline_name == "churn-2"
    # switching pipelines: version 1 of "churn" is its latest, so nothing is unsaved
    assert m.set_params("train", {"model": "random_forest"}) and m.save() == 2
    assert m.load("churn", 1) and not m.dirty and m.saved_version == 1
    assert m.load("churn-2", 1) and m.dirty  # an older version: saving makes a new one
    # a new model on the same store opens the first saved pipeline
    assert PipelineEditorModel(store).pipeline_name == "churn"


def test_edits_build_a_graph(store):
    m = chain_model(store)
    assert m.pipeline.edges() == [("a", "b"), ("b", "c")]
    assert m.pipeline.step("a").params == {"value": 7}
    assert m.dirty and m.saved_version is None and m.error == ""
    assert m.disconnect("b", "c") and m.pipeline.edges() == [("a", "b")]
    assert m.connect("a", "c") and m.pipeline.edges() == [("a", "b"), ("a", "c")]
    assert m.delete_step("b") and m.pipeline.step_names == ["a", "c"]
    assert m.add_step("d", "workbench.steps:sleep", inputs=["c"], params={"seconds": 0.01})
    assert m.pipeline.step("d").input_steps == ["c"] and m.selected == "d"


@pytest.mark.parametrize("edit, fragment", [
    (lambda m: m.connect("c", "a"), "dependency cycle: a -> b -> c -> a"),
    (lambda m: m.connect("b", "b"), "dependency cycle: b -> b"),
    (lambda m: m.add_step("a", "identity"), "duplicate step name 'a'"),
    (lambda m: m.add_step("x", "no_such_module:f"), "unknown callable 'no_such_module:f'"),
    (lambda m: m.add_step("x", "workbench.steps:nope"), "has no 'nope'"),
    (lambda m: m.add_step("x", "clean"), "needs a value for 'raw'"),
    (lambda m: m.add_step("bad name!", "identity"), "step name 'bad name!' is not valid"),
    (lambda m: m.add_step("x", "identity", inputs=["ghost"]), "'ghost', which no step produces"),
    (lambda m: m.set_params("a", {"colour": "red"}), "parameter 'colour' is not accepted"),
    (lambda m: m.set_params("a", {}, {"retries": "-1"}), "retries must be an int >= 0"),
    (lambda m: m.set_params("a", {}, {"timeout": "soon"}), "timeout of step 'a' must be a number"),
    (lambda m: m.disconnect("a", "c"), "'c' does not take the output of 'a'"),
    (lambda m: m.delete_step("ghost"), "there is no step 'ghost'"),
])
def test_invalid_edits_are_refused_in_place(store, edit, fragment):
    m = chain_model(store)
    before, revision = m.pipeline.to_spec(), m.revision
    assert edit(m) is False
    assert m.error.startswith("Refused: ") and fragment in m.error, m.error
    assert m.pipeline.to_spec() == before and m.revision == revision  # the graph is unchanged
    # the next valid edit clears the message
    assert m.add_step("z", "identity") and m.error == ""


def test_parameter_form_from_the_signature(store):
    m = PipelineEditorModel(store)
    m.new_from_template()
    fields = {f.name: f for f in m.param_fields("train")}
    assert "data" not in fields  # given by the input
    assert (fields["model"].kind, fields["random_state"].kind, fields["C"].kind) == ("str", "int", "float")
    assert fields["max_depth"].kind == "int" and fields["max_depth"].default is None
    clean = {f.name: f for f in m.param_fields("clean")}
    assert clean["drop_na"].kind == "bool" and clean["drop_columns"].kind == "json"

    assert m.set_params("train", {"model": "random_forest", "n_estimators": "50", "C": "1.0",
                                  "max_depth": ""}, {"retries": "2", "timeout": "30"})
    step = m.pipeline.step("train")
    assert step.params == {"model": "random_forest", "n_estimators": 50}  # C=1.0 is the default
    assert (step.retries, step.timeout) == (2, 30.0)
    assert m.set_params("clean", {"drop_na": False, "drop_columns": "[tenure_months]"})
    assert m.pipeline.step("clean").params == {"drop_na": False, "drop_columns": ["tenure_months"]}
    before = m.pipeline.to_spec()
    assert not m.set_params("train", {"n_estimators": "many"})
    assert "parameter 'n_estimators' of step 'train' must be an integer, got 'many'" in m.error
    assert m.pipeline.to_spec() == before


def test_parse_value_kinds():
    assert parse_value("int", " 3 ", "x") == 3
    assert parse_value("float", "0.5", "x") == 0.5
    assert parse_value("bool", "yes", "x") is True
    assert parse_value("json", "[1, two]", "x") == [1, "two"]
    assert parse_value("json", "null", "x") is None
    with pytest.raises(ValueError, match="x must be a number"):
        parse_value("float", "abc", "x")
    with pytest.raises(ValueError, match="true or false"):
        parse_value("bool", "maybe", "x")


def test_save_versions_and_diff(store):
    m = chain_model(store)
    assert m.save("first") == 1
    assert m.names == ["demo"] and not m.dirty and "version 1" in m.message
    assert m.save() == 1 and "No changes" in m.message
    assert m.set_params("a", {"value": "8"}) and m.add_step("d", "identity", inputs=["c"])
    assert m.dirty and m.save("second") == 2
    assert list(m.versions["version"]) == [1, 2]
    assert list(m.versions["message"]) == ["first", "second"]
    d = m.show_diff(1, 2)
    assert d.added == ["d"] and d.changed_params == {"a": {"value": (7, 8)}}
    assert d.edges_added == [("c", "d")] and m.diff_pair == (1, 2)
    assert m.show_diff(1, 9) is None and "no version 9" in m.error
    # editing an older version, then saving, makes a third version equal to the first
    assert m.load("demo", 1) and m.pipeline.step("a").params == {"value": 7} and m.dirty
    assert m.save() == 3 and load_pipeline(store, "demo", 3) == load_pipeline(store, "demo", 1)


def test_empty_pipeline_cannot_be_saved_or_run(store):
    m = PipelineEditorModel(store)
    assert m.new_pipeline("empty")
    assert m.save() is None and "has no steps" in m.error and m.error.startswith("Not saved")
    assert not m.start_run() and "has no steps" in m.error and not m.running
    assert m.names == [] and list_versions(store, "empty").empty


def test_new_pipeline_name_checks(store):
    m = chain_model(store)
    m.save()
    assert not m.new_pipeline("demo") and "exists already" in m.error
    assert not m.new_pipeline("no spaces allowed") and "pipeline name" in m.error
    assert m.pipeline_name == "demo"


def test_run_in_background_and_follow_statuses(store):
    m = PipelineEditorModel(store)
    assert m.new_pipeline("slow")
    assert m.add_step("first", "identity", params={"value": 3})
    assert m.add_step("nap", "sleep", inputs=["first"], params={"seconds": 1.5, "value": "done"})
    assert m.add_step("last", "identity", inputs=["nap"])
    t0 = time.perf_counter()
    assert m.start_run()
    assert time.perf_counter() - t0 < 1.0  # returns at once: the run is in a thread
    assert m.running and set(m.statuses.values()) == {"PENDING"}
    seen = set()
    deadline = time.monotonic() + 60
    while m.poll() and time.monotonic() < deadline:
        seen.add(m.statuses.get("nap"))
        # edits wait for the run to end
        if m.statuses.get("nap") == "RUNNING" and not m.add_step("x", "identity"):
            assert "a run is in progress" in m.error
        time.sleep(0.05)
    assert "RUNNING" in seen  # the statuses changed live
    assert not m.running and m.error == ""
    assert m.statuses == {"first": "SUCCEEDED", "nap": "SUCCEEDED", "last": "SUCCEEDED"}
    assert m.saved_version == 1 and m.names == ["slow"]  # running saved the draft
    assert m.status_run_id == pipeline_runs(store, "slow")["run_id"].iloc[0]
    assert "finished in" in m.message
    assert len(m.history) == 1
    assert m.history.loc[0, "nap (s)"] >= 1.4 and m.history.loc[0, "status"] == "FINISHED"
    m.select_step("last")
    assert m.detail["status"] == "SUCCEEDED" and m.detail["output"] == "'done'"
    assert m.detail["run_id"] == store.search_runs("pipeline/slow", filter="attributes.run_name = 'last'")["run_id"].iloc[0]

    # re-run from a step: upstream from the cache
    assert m.start_run(from_step="nap")
    assert m.statuses == {"first": "SUCCEEDED", "nap": "PENDING", "last": "PENDING"}
    m.wait()
    assert m.statuses == {"first": "CACHED", "nap": "SUCCEEDED", "last": "SUCCEEDED"}
    # steps ran on worker processes, never in the process showing the editor
    params = store.get_run(m.status_run_id)["params"]
    assert params["in_process"] == "False" and params["backend"] == "loky"
    assert m.start_run(backend="sequential", force=True)  # unless asked to run here
    m.wait()
    assert store.get_run(m.status_run_id)["params"]["in_process"] == "True"
    assert len(m.history) == 3 and m.history.loc[1, "from_step"] == "nap"
    # a new model shows the latest run's statuses
    assert PipelineEditorModel(store).statuses == m.statuses


def test_failed_run_is_a_readable_message_and_the_log_a_click_away(store, tmp_path):
    m = PipelineEditorModel(store)
    assert m.new_pipeline("broken")
    assert m.add_step("extract", "read_table", params={"path": str(tmp_path / "missing.csv")})
    assert m.add_step("clean", "clean", inputs=["extract"])
    m.start_run()
    m.wait()
    assert m.statuses == {"extract": "FAILED", "clean": "CANCELLED"}
    assert m.error.startswith("Run ") and "FAILED" in m.error and "extract" in m.error
    assert "Traceback" not in m.error
    m.select_step("extract")
    assert "FileNotFoundError" in m.detail["error"] and "missing.csv" in m.detail["log"]


def test_template_runs_end_to_end_from_the_editor(store):
    m = PipelineEditorModel(store)
    m.new_from_template()
    m.start_run()
    m.wait(timeout=300)
    assert m.error == "", m.error
    assert set(m.statuses.values()) == {"SUCCEEDED"}
    m.select_step("extract")
    assert "rows" in m.detail["log"] and "DataFrame" in m.detail["output"]
    m.start_run()
    m.wait(timeout=300)
    assert set(m.statuses.values()) == {"CACHED"}


def test_view_builds_and_follows_the_model(store):
    opened, compared = [], []
    m = chain_model(store)
    m.save()
    m.start_run()
    m.wait()
    view = PipelineEditor(model=m, on_open=opened.append, on_compare=compared.append)
    view.__panel__()
    assert view._strip.object.count("wb-step-succeeded") == 3
    assert view._nodes.data["name"] == ["a", "b", "c"]
    assert view._nodes.data["colour"] == [STEP_COLOURS["SUCCEEDED"]] * 3
    assert view._graph_pane.object is not None
    # clicking a node selects the step; its form and details follow
    view._nodes.selected.indices = [1]
    assert m.selected == "b" and m.detail["step"] == "b"
    assert "wb-pl-form-step' data-step='b'" in view._form.objects[0].object
    view._open_step.clicks += 1
    assert opened == [m.detail["run_id"]]
    # a refused edit shows its message in the banner
    view._from.value, view._to.value = "c", "a"
    view._connect.clicks += 1
    assert "dependency cycle" in view._errors.message and view._errors._alert.visible
    # compare two runs of the history
    m.start_run(force=True)
    m.wait()
    view._history.selection = [0, 1]
    view._compare.clicks += 1
    assert compared == [list(m.history["run_id"][:2])]


def test_view_on_an_empty_store_offers_the_template(store):
    view = PipelineEditor(store)
    assert view._empty.visible and not view._editor.visible
    view._template.clicks += 1
    assert view.model.pipeline_name == "churn" and view._editor.visible
    assert view._pick.value == "churn" and view._pick.options == ["churn"]
    assert len(view._nodes.data["name"]) == 8
    assert isinstance(view._versions.value, pd.DataFrame) and len(view._versions.value) == 1


def test_status_colours():
    assert step_colour("SUCCEEDED") != step_colour("FAILED") != step_colour(None)
    assert step_colour("unheard of") == STEP_COLOURS[None]


def test_reload_shows_a_run_made_elsewhere(store):
    m = chain_model(store)
    m.save()
    assert m.statuses == {}
    load_pipeline(store, "demo").run(store)  # e.g. from a script or the CLI
    m.reload()
    assert m.statuses == {"a": "SUCCEEDED", "b": "SUCCEEDED", "c": "SUCCEEDED"}
    assert len(m.history) == 1


def test_yaml_tab_exports_the_draft(store):
    m = chain_model(store)
    view = PipelineEditor(model=m)
    assert view._yaml_download.filename == "demo.yaml"
    text = view._yaml_download.callback().getvalue()
    assert wb.Pipeline.from_yaml(text) == m.pipeline
    assert "callable: workbench.steps:identity" in view._yaml.object
    assert m.add_step("d", "noop", inputs=["c"])
    assert "name: d" in view._yaml.object  # the tab follows the draft


def test_a_run_that_cannot_start_is_a_readable_message(store):
    m = chain_model(store)
    assert m.start_run(backend="dask", n_jobs=2)  # no dask client: the run thread reports it
    m.wait()
    assert not m.running
    assert m.error.startswith("The run failed to start: backend='dask' needs address=")
    assert "Traceback" not in m.error and pipeline_runs(store, "demo").empty


def test_import_yaml_makes_a_draft(store):
    m = chain_model(store)
    assert m.save() == 1
    edited = m.pipeline.with_step(wb.Step("d", "noop", inputs=["c"]))
    view = PipelineEditor(model=m)
    view._yaml_upload.value = edited.to_yaml().encode()  # what the file input receives
    assert m.pipeline == edited and m.dirty and m.saved_version == 1
    assert "Imported 'demo' from YAML (4 steps)" in m.message
    assert m.save() == 2
    # a YAML of another name starts a new pipeline; an invalid one is refused
    assert m.import_yaml(wb.Pipeline("other", [wb.Step("x", "identity")]).to_yaml())
    assert m.pipeline_name == "other" and m.saved_version is None and m.statuses == {}
    before = m.pipeline.to_spec()
    bad = "name: loop\nsteps:\n- {name: a, callable: identity, inputs: [b]}\n" \
          "- {name: b, callable: identity, inputs: [a]}\n"
    assert not m.import_yaml(bad)
    assert m.error == "Not imported: dependency cycle: a -> b -> a"
    assert not m.import_yaml("steps: [")
    assert m.error.startswith("Not imported: the pipeline YAML cannot be parsed")
    assert m.pipeline.to_spec() == before and m.pipeline_name == "other"


def test_apply_keeps_the_fields_nobody_touched_and_takes_typed_text(store):
    """Apply reads what each field shows: untouched values stay, typed (uncommitted) text is applied."""
    m = PipelineEditorModel(store)
    m.new_from_template()
    assert m.set_params("train", {"model": "random_forest", "n_estimators": "50"}, {"timeout": "30"}), m.error
    view = PipelineEditor(model=m, sync_url=False)
    view.__panel__()
    m.select_step("train")
    view._apply.clicks += 1  # nothing edited
    step = m.pipeline.step("train")
    assert step.params == {"model": "random_forest", "n_estimators": 50} and step.timeout == 30.0
    view._param_widgets["n_estimators"].value_input = "80"  # typed, not yet committed by Enter or blur
    view._apply.clicks += 1
    step = m.pipeline.step("train")
    assert step.params == {"model": "random_forest", "n_estimators": 80} and step.timeout == 30.0
    # a typed value not applied comes back with the form, and Apply takes it
    view._param_widgets["n_estimators"].value_input = "90"
    view._param_widgets["n_estimators"].value = "90"
    m.select_step("clean")
    m.select_step("train")
    assert view._param_widgets["n_estimators"].value_input == "90"
    view._apply.clicks += 1
    assert m.pipeline.step("train").params["n_estimators"] == 90
