"""The pure graph: validation, order, layout, editing, diff, YAML; saving versions."""

from __future__ import annotations

import pandas as pd
import pytest

import workbench as wb
from workbench.errors import NotFoundError, PipelineValidationError
from workbench.pipelines import churn_template, diff_versions, list_versions, load_pipeline


@wb.step(retries=2, timeout=30)
def double(x: int, factor: int = 2) -> int:
    return x * factor


def add(a: int, b: int) -> int:
    return a + b


def _store_snapshot(store: wb.Store) -> tuple:
    with store.connection() as con:
        return tuple(
            con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("runs", "pipelines", "pipeline_versions", "pipeline_runs", "tags")
        )


def test_decorated_function_stays_plain_and_gives_defaults():
    assert double(3) == 6
    s = wb.Step("d", double, inputs=["src"])
    assert s.setting("retries") == 2 and s.setting("timeout") == 30
    assert s.setting("backoff") == 1.0 and s.setting("cache") is True
    assert s.ref.endswith(":double")
    assert wb.Step("x", "clean").ref == "workbench.steps:clean"


def test_cycle_error_names_the_steps_in_the_cycle():
    pipe = wb.Pipeline("p", [
        wb.Step("src", "identity", params={"value": 1}),
        wb.Step("a", "identity", inputs=["src", "c"][1:]),
        wb.Step("b", "identity", inputs=["a"]),
        wb.Step("c", "identity", inputs=["b"]),
    ])
    with pytest.raises(PipelineValidationError) as info:
        pipe.validate()
    assert set(info.value.cycle) == {"a", "b", "c"}
    assert info.value.cycle[0] == info.value.cycle[-1]
    assert "dependency cycle" in str(info.value)
    for name in "abc":
        assert name in str(info.value)


@pytest.mark.parametrize(
    ("steps", "fragment"),
    [
        ([wb.Step("a", "identity", inputs=["nope"])], "takes input 'nope', which no step produces"),
        ([wb.Step("a", "no_such_module_xyz.mod:f")], "unknown callable"),
        ([wb.Step("a", "workbench.steps:no_such_step")], "has no 'no_such_step'"),
        ([wb.Step("a", "identity", params={"colour": 1})], "parameter 'colour' is not accepted"),
        ([wb.Step("a", "identity", params={"value": 1}), wb.Step("a", "identity")],
         "duplicate step name 'a'"),
        ([wb.Step("a", add, inputs=["b"]), wb.Step("b", "identity", params={"value": 1})],
         "needs a value for 'b'"),
        ([wb.Step("a", "identity", params={"value": 1}),
          wb.Step("b", double, inputs={"y": "a"})], "input argument 'y' is not a parameter"),
        ([wb.Step("a", "identity", params={"value": 1}, retries=-1)], "retries must be an int"),
        ([wb.Step("bad name!", "identity")], "is not valid"),
    ],
)
def test_validation_problems_are_named(steps, fragment):
    with pytest.raises(PipelineValidationError, match=None) as info:
        wb.Pipeline("p", steps).validate()
    assert any(fragment in p for p in info.value.problems), info.value.problems


def test_invalid_pipeline_is_neither_saved_nor_run(store):
    good = wb.Pipeline("p", [wb.Step("a", "identity", params={"value": 1})])
    good.save(store)
    before = _store_snapshot(store)
    bad = good.with_step(wb.Step("b", "identity", inputs=["missing"]))
    with pytest.raises(PipelineValidationError):
        bad.save(store)
    with pytest.raises(PipelineValidationError):
        bad.run(store)
    assert _store_snapshot(store) == before


def test_order_layers_layout_and_downstream():
    pipe = churn_template()
    order = pipe.topological_order()
    assert order == ["extract", "clean", "features", "split", "validate", "train", "evaluate",
                     "register"]
    diamond = wb.Pipeline("d", [
        wb.Step("a", "identity", params={"value": 1}),
        wb.Step("b", "identity", inputs=["a"]),
        wb.Step("c", "identity", inputs=["a"]),
        wb.Step("d", add, inputs=["b", "c"]),
    ])
    assert diamond.layers() == [["a"], ["b", "c"], ["d"]]
    pos = diamond.layout()
    assert pos["a"][0] < pos["b"][0] == pos["c"][0] < pos["d"][0]
    assert pos["b"][1] != pos["c"][1]
    assert diamond.downstream("b") == ["b", "d"]


def test_editing_helpers_return_new_pipelines():
    p = wb.Pipeline("e", [wb.Step("a", "identity", params={"value": 1}),
                          wb.Step("b", "identity")])
    q = p.connected("a", "b")
    assert q.step("b").inputs == ["a"] and p.step("b").inputs == []
    assert q.disconnected("a", "b").step("b").inputs == []
    r = q.without_step("a")
    assert r.step_names == ["b"] and r.step("b").inputs == []
    assert q.connected("b", "a").problems()[1] is not None  # a cycle


def test_yaml_round_trip(tmp_path):
    pipe = churn_template()
    path = tmp_path / "churn.yaml"
    text = pipe.to_yaml(str(path))
    assert "callable: workbench.steps:read_table" in text
    again = wb.Pipeline.from_yaml(str(path))
    assert again == pipe and again.spec_hash() == pipe.spec_hash()
    assert wb.Pipeline.from_yaml(text).validate().step("evaluate").inputs == {
        "model": "train", "data": "validate"}
    with pytest.raises(PipelineValidationError, match="unknown fields"):
        wb.Pipeline.from_yaml("name: x\nsteps:\n  - {name: a, callable: identity, colour: red}\n")


def test_versions_and_diff(store):
    v1 = churn_template()
    assert v1.save(store) == 1
    assert v1.save(store) == 1  # unchanged spec: no new version
    v2 = v1.with_step(v1.step("train").replace(params={"model": "random_forest"}))
    v2 = v2.with_step(wb.Step("report", "identity", inputs=["evaluate"]))
    v2 = v2.without_step("register")
    assert v2.save(store, message="rf and a report") == 2
    versions = list_versions(store, "churn")
    assert versions["version"].tolist() == [1, 2]
    assert versions["message"].tolist()[1] == "rf and a report"
    d = diff_versions(store, "churn", 1, 2)
    assert d.added == ["report"] and d.removed == ["register"]
    assert d.changed_params == {"train": {"model": ("<absent>", "random_forest")}}
    assert ("evaluate", "report") in d.edges_added
    assert ("train", "register") in d.edges_removed
    frame = d.to_frame()
    assert isinstance(frame, pd.DataFrame) and "step added" in set(frame["change"])
    assert diff_versions(store, "churn", 2, 2).empty
    loaded = load_pipeline(store, "churn", 1)
    assert loaded == v1 and loaded.version == 1
    assert wb.load_pipeline(store, "churn").version == 2
    with pytest.raises(NotFoundError):
        load_pipeline(store, "churn", 9)
