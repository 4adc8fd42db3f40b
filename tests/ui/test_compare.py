"""CompareModel driven directly (no browser): params, best runs, curves, axes, smoothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
import pytest

import workbench as wb
from workbench.ui.compare.model import MAX_RUNS, NA_POSITION, CompareModel, ema, guess_direction
from workbench.ui.compare.plots import parallel_plot, scatter_plot
from workbench.ui.compare.view import RunComparison

T0 = 1_767_000_000_000  # fixed epoch ms for the metric timestamps


@pytest.fixture
def seeded(store):
    """Four runs: lr/optimizer differ, epochs equal, 'dropout' only in run 3; metrics vary."""
    specs = [
        ("a", {"lr": 0.1, "optimizer": "adam", "epochs": 10}, {"auc": 0.81, "val_loss": 0.40}),
        ("b", {"lr": 0.01, "optimizer": "adam", "epochs": 10}, {"auc": 0.93, "val_loss": 0.25}),
        ("c", {"lr": 0.001, "optimizer": "sgd", "epochs": 10}, {"auc": 0.88, "val_loss": 0.21}),
        ("d", {"lr": 0.01, "optimizer": "sgd", "epochs": 10, "dropout": 0.5}, {"auc": 0.70}),
    ]
    ids = []
    for i, (name, params, finals) in enumerate(specs):
        with wb.start_run(experiment="cmp", run_name=name, store=store) as run:
            run.log_params(params)
            if "val_loss" in finals:  # runs a-c have a 50-step loss history ending at the final
                steps = np.arange(50)
                values = finals["val_loss"] + np.exp(-steps / 10) * (i + 1)
                values[-1] = finals["val_loss"]
                run.log_metric_history("val_loss", values, steps=steps,
                                       timestamps=T0 + steps * 1000 * (i + 1))
            run.log_metric("auc", finals["auc"], step=0, timestamp=T0)
        ids.append(run.id)
    store.sync()
    return store, ids



def _chart_lines(model: CompareModel, key: str) -> list[dict]:
    """One dict (x, y, run, color) per line of ``key``'s grid in the model's history chart."""
    option = model.history_chart()
    index = [t["text"].split(" (")[0] for t in option["title"]].index(key)
    return CompareModel.chart_lines(option, index)


def _lines(fig) -> list[dict]:
    """One dict (x, y, run, color) per line of a Bokeh figure's multi_line glyph."""
    out = []
    for r in fig.renderers:
        if type(getattr(r, "glyph", None)).__name__ == "MultiLine":
            d = r.data_source.data
            colors = d.get("color", [None] * len(d["xs"]))
            out += [{"x": x, "y": y, "run": run, "color": c}
                    for x, y, run, c in zip(d["xs"], d["ys"], d["run"], colors)]
    return out

def test_guess_direction():
    for name in ("auc", "val_auc", "accuracy", "val_acc", "f1", "macro_f1", "r2", "precision",
                 "recall", "score", "test_auc_curve", "rocauc"):
        assert guess_direction(name) == "max", name
    for name in ("loss", "val_loss", "log_loss", "error", "rmse", "mae", "mse", "accuracy_std",
                 "cv_auc_std", "whatever"):
        assert guess_direction(name) == "min", name


def test_differing_params(seeded):
    store, ids = seeded
    model = CompareModel(store=store, run_ids=ids)
    assert model.error == ""
    assert model.differing_params() == ["dropout", "lr", "optimizer"]  # missing counts as different
    frame = model.params_frame()
    assert frame["param"].tolist() == ["dropout", "epochs", "lr", "optimizer"]
    assert frame.set_index("param")["differs"].to_dict() == {
        "dropout": True, "epochs": False, "lr": True, "optimizer": True}
    assert frame.columns.tolist() == ["param", "a", "b", "c", "d", "differs"]
    assert frame.set_index("param").loc["lr", ["a", "b", "c", "d"]].tolist() == [
        "0.1", "0.01", "0.001", "0.01"]
    model.only_differing = True
    assert model.params_frame()["param"].tolist() == ["dropout", "lr", "optimizer"]
    # Same params everywhere: nothing differs.
    same = CompareModel(store=store, run_ids=ids[:2])
    assert same.differing_params() == ["lr"]


def test_best_run_per_metric_min_and_max(seeded):
    store, ids = seeded
    model = CompareModel(store=store, run_ids=ids)
    assert model.direction("auc") == "max" and model.direction("val_loss") == "min"
    assert model.best_runs() == {"auc": ids[1], "val_loss": ids[2]}
    mask = model.best_mask()
    summary = model.summary_frame()
    assert summary["run"].tolist() == ["a", "b", "c", "d"]
    assert summary.loc[mask["auc"], "run"].tolist() == ["b"]
    assert summary.loc[mask["val_loss"], "run"].tolist() == ["c"]
    assert pd.isna(summary.loc[3, "val_loss"])  # run d has no val_loss
    # Per-metric override of the direction.
    model.set_direction("auc", "min")
    assert model.best_runs()["auc"] == ids[3]
    model.directions = {"val_loss": "max"}
    assert model.best_runs() == {"auc": ids[1], "val_loss": ids[0]}
    with pytest.raises(ValueError):
        model.set_direction("auc", "up")


def test_one_curve_per_run_having_the_metric(seeded):
    store, ids = seeded
    model = CompareModel(store=store, run_ids=ids)
    assert model.chart_metrics == ["val_loss"]  # the only metric with a history by default
    # One line per run having the metric, named after the run.
    lines = _chart_lines(model, "val_loss")
    assert len(lines) == 3  # run d has no val_loss
    assert len({line["color"] for line in lines}) == 3
    assert [line["run"] for line in lines] == ["a", "b", "c"]
    np.testing.assert_allclose(lines[1]["y"][-1], 0.25)  # b's history ends at its final value
    # one legend for every chart: each run keeps its colour in all of them
    model.chart_metrics = ["auc", "val_loss"]
    option = model.history_chart()
    assert option["legend"]["data"] == ["a", "b", "c", "d"]
    assert len(option["grid"]) == 2 and len(option["series"]) == 4 + 3
    colours = dict(zip(model.runs["label"], model.runs["color"], strict=True))
    assert all(s["color"] == colours[s["name"]] for s in option["series"])
    # histories come first; auc (once per run) is drawn as bars, not as a line
    assert [t["text"].split(" (")[0] for t in option["title"]] == ["val_loss", "auc"]
    assert _chart_lines(model, "auc") == [] and len(CompareModel.chart_bars(option, 1)) == 4
    # the best run (lowest val_loss: c) is drawn thicker and named in the grid's title
    assert option["title"][0]["text"] == "val_loss (lower is better) · best: c"
    widths = {s["name"]: s["lineStyle"]["width"] for s in option["series"] if s["xAxisIndex"] == 0}
    assert widths["c"] > widths["a"] == widths["b"]
    assert model.history_chart_height() > 0
    assert {s["showSymbol"] for s in option["series"] if s["type"] == "line"} == {False}  # 50 steps


def test_single_value_metrics_are_bars_by_run(seeded):
    store, ids = seeded
    model = CompareModel(store=store, run_ids=ids)
    assert model.single_value_metrics == ["auc"] and model.history_metric_names == ["val_loss"]
    model.chart_metrics = ["auc"]
    option = model.history_chart()
    assert [s["type"] for s in option["series"]] == ["bar"] * 4  # one bar per run, no line
    bars = CompareModel.chart_bars(option, 0)
    latest = store.latest_metrics(ids).query("key == 'auc'").set_index("run_id")["value"]
    assert [b["run"] for b in bars] == ["a", "b", "c", "d"] and [b["row"] for b in bars] == [0, 1, 2, 3]
    assert [b["value"] for b in bars] == [latest[r] for r in ids] == [0.81, 0.93, 0.88, 0.70]
    colours = dict(zip(model.runs["label"], model.runs["color"], strict=True))
    assert all(b["color"] == colours[b["run"]] for b in bars)  # the runs' colours
    # the best run (auc: higher is better, so b) is highlighted, named, its label starred
    assert [b["highlighted"] for b in bars] == [False, True, False, False]
    assert [b["label"] for b in bars] == ["0.8100", "0.9300 ★", "0.8800", "0.7000"]
    assert option["title"][0]["text"] == "auc (higher is better) · best: b"
    assert option["yAxis"][0]["type"] == "category" and option["yAxis"][0]["data"] == [
        "a", "b", "c", "d"]
    assert option["xAxis"][0]["scale"] is False  # bars start at zero
    assert option["dataZoom"] == [] and "dataZoom" not in option["toolbox"]["feature"]
    # the direction override moves the highlight
    model.set_direction("auc", "min")
    bars = CompareModel.chart_bars(model.history_chart(), 0)
    assert [b["highlighted"] for b in bars] == [False, False, False, True]
    assert model.history_chart()["title"][0]["text"] == "auc (lower is better) · best: d"
    # bars need no history query
    fresh = CompareModel(store=store, run_ids=ids)
    fresh.chart_metrics = ["auc"]
    fresh.history_chart()
    assert fresh.store_calls == 2


def test_bars_name_the_highest_when_the_direction_is_unknown(store):
    ids = []
    for name, value in (("x", 3.0), ("y", -2.0), ("z", 7.5)):
        with wb.start_run(experiment="unk", run_name=name, store=store) as run:
            run.log_metric("mystery", value)
            if name != "z":
                run.log_metric("val_rmse", value + 10)
        ids.append(run.id)
    store.sync()
    model = CompareModel(store=store, run_ids=ids)
    # no metric has a history: the single-value ones are the default selection
    assert model.chart_metrics == ["mystery", "val_rmse"]
    assert not model.direction_known("mystery") and model.direction_known("val_rmse")
    option = model.history_chart()
    titles = [t["text"] for t in option["title"]]
    assert titles == ["mystery (which way is better is not known) · highest: z",
                      "val_rmse (lower is better) · best: y"]
    mystery, rmse = CompareModel.chart_bars(option, 0), CompareModel.chart_bars(option, 1)
    assert [b["highlighted"] for b in mystery] == [False, False, True]
    assert mystery[2]["label"] == "7.5000 ▲"
    negative = next(s for s in option["series"] if s["name"] == "y" and s["xAxisIndex"] == 0)
    assert negative["label"]["position"] == "insideRight"  # inside, clear of the run names
    # z has no val_rmse: no bar, but its row stays so every grid lists the runs alike
    assert [b["run"] for b in rmse] == ["x", "y"] and option["yAxis"][1]["data"] == ["x", "y", "z"]
    assert [b["value"] for b in rmse] == [13.0, 8.0] and rmse[1]["highlighted"]
    # once the user says which way is better, the bar is the best one
    model.set_direction("mystery", "min")
    assert model.history_chart()["title"][0]["text"] == "mystery (lower is better) · best: y"


def test_a_metric_is_a_history_if_any_run_has_several_points(store):
    ids = []
    for i in range(3):
        with wb.start_run(experiment="mix", run_name=f"r{i}", store=store) as run:
            run.log_metric_history("f1", [0.5, 0.6] if i == 0 else [0.7])
            run.log_metric("auc", 0.8 + i / 100)
        ids.append(run.id)
    store.sync()
    model = CompareModel(store=store, run_ids=ids)
    assert model.single_value_metrics == ["auc"] and model.chart_metrics == ["f1"]
    option = model.history_chart()
    assert [s["type"] for s in option["series"]] == ["line"] * 3
    # fifty runs: a bar grid grows with the runs, the rows below it move down
    many = []
    for i in range(50):
        with wb.start_run(experiment="many", run_name=f"t{i}", store=store) as run:
            run.log_metric("accuracy", i / 50)
            run.log_metric("f1", i / 100)
            run.log_metric_history("loss", [1.0, 0.5])
        many.append(run.id)
    store.sync()
    model = CompareModel(store=store, run_ids=many)
    assert model.chart_metrics == ["loss"]
    model.chart_metrics = ["accuracy", "f1", "loss"]
    layout = model.chart_layout()
    assert [(p["key"], p["kind"]) for p in layout] == [
        ("loss", "history"), ("accuracy", "bars"), ("f1", "bars")]
    assert layout[0]["height"] == 220 and layout[1]["height"] == 50 * 22  # 22 px per run
    assert layout[1]["top"] == layout[0]["top"]  # side by side
    assert layout[2]["top"] > layout[1]["top"] + layout[1]["height"]  # below the taller one
    assert model.history_chart_height() >= layout[2]["top"] + layout[2]["height"]
    bars = CompareModel.chart_bars(model.history_chart(), 1)
    assert len(bars) == 50 and [b["run"] for b in bars if b["highlighted"]] == ["t49"]



def test_downsampling_caps_points_per_curve(store):
    ids = []
    for i, n in enumerate((200_000, 5_000, 100)):
        with wb.start_run(experiment="big", run_name=f"r{i}", store=store) as run:
            values = np.sin(np.arange(n) / 500.0)
            values[n // 3] = 50.0  # a spike that must survive downsampling
            run.log_metric_history("loss", values)
        ids.append(run.id)
    store.sync()
    model = CompareModel(store=store, run_ids=ids, max_points=1000)
    data = model.curve_data("loss")
    sizes = {rid: len(df) for rid, df in data.items()}
    assert sizes[ids[0]] <= 1000 and sizes[ids[1]] <= 1000
    assert sizes[ids[2]] == 100  # short histories come back whole
    assert all(df["value"].max() == 50.0 for df in data.values())
    model.max_points = 300
    assert max(len(df) for df in model.curve_data("loss").values()) <= 300
    lines = _chart_lines(model, "loss")
    assert len(lines) == 3 and all(len(line["x"]) <= 300 for line in lines)


def test_x_axis_modes(seeded):
    store, ids = seeded
    model = CompareModel(store=store, run_ids=ids)
    steps = model.curve_data("val_loss")[ids[1]]
    assert steps["x"].tolist() == list(range(50))
    model.x_axis = "wall time"
    wall = model.curve_data("val_loss")[ids[1]]
    expected = pd.to_datetime(T0 + np.arange(50) * 2000, unit="ms")
    assert pd.DatetimeIndex(wall["x"]).equals(pd.DatetimeIndex(expected))
    model.x_axis = "relative time"
    rel = model.curve_data("val_loss")[ids[1]]
    start = store.get_run(ids[1])["start_time"]
    offset = (pd.Timestamp(T0, unit="ms", tz="UTC") - start).total_seconds()
    np.testing.assert_allclose(rel["x"], offset + np.arange(50) * 2.0)
    option = model.history_chart()
    assert option["xAxis"][0]["name"] == "relative time (s)"
    np.testing.assert_allclose(_chart_lines(model, "val_loss")[1]["x"], rel["x"])
    model.x_axis = "wall time"  # ECharts' time axis: epoch milliseconds
    assert model.history_chart()["xAxis"][0]["type"] == "time"
    np.testing.assert_array_equal(_chart_lines(model, "val_loss")[1]["x"],
                                  T0 + np.arange(50) * 2000)
    with pytest.raises(ValueError):
        model.x_axis = "epochs"


def test_smoothing_matches_pandas_ewm(seeded):
    store, ids = seeded
    model = CompareModel(store=store, run_ids=ids)
    raw = {rid: df["y"].to_numpy() for rid, df in model.curve_data("val_loss").items()}
    for weight in (0.3, 0.9, 0.99):
        model.smoothing = weight
        for rid, df in model.curve_data("val_loss").items():
            expected = pd.Series(raw[rid]).ewm(alpha=1 - weight, adjust=True).mean()
            np.testing.assert_allclose(df["y"], expected)
            np.testing.assert_allclose(df["value"], raw[rid])  # raw values kept alongside
    values = np.array([1.0, np.nan, 3.0, 2.0])
    np.testing.assert_allclose(ema(values, 0.5), pd.Series(values).ewm(alpha=0.5).mean())
    np.testing.assert_array_equal(ema(values[[0, 2, 3]], 0.0), values[[0, 2, 3]])
    with pytest.raises(ValueError):
        model.smoothing = 1.0


def test_log_y_drops_non_positive_points(seeded):
    store, ids = seeded
    model = CompareModel(store=store, run_ids=ids, log_y=True)
    assert model.history_chart()["yAxis"][0]["type"] == "log"
    lines = _chart_lines(model, "val_loss")
    assert len(lines) == 3 and all((np.asarray(line["y"]) > 0).all() for line in lines)


def test_parallel_coordinates_and_scatter(seeded):
    store, ids = seeded
    model = CompareModel(store=store, run_ids=ids)
    assert model.parallel_metric == "auc"  # present in every run, higher is better
    axes = {a["name"]: a for a in model.parallel_axes()}
    assert list(axes) == ["dropout", "lr", "optimizer", "auc"]
    assert axes["lr"]["kind"] == "log"  # 0.001 .. 0.1 spans two decades
    np.testing.assert_allclose(axes["lr"]["positions"], [1.0, 0.5, 0.0, 0.5])
    assert axes["optimizer"]["kind"] == "category"
    np.testing.assert_allclose(axes["optimizer"]["positions"], [0, 0, 1, 1])
    np.testing.assert_allclose(axes["dropout"]["positions"], [NA_POSITION] * 3 + [0.5])
    np.testing.assert_allclose(axes["auc"]["positions"], (np.array([0.81, 0.93, 0.88, 0.70]) - 0.70)
                               / 0.23)
    paths = _lines(parallel_plot(model))
    assert [p["run"] for p in paths] == ["a", "b", "c", "d"]  # one line per run, 4 axes each
    np.testing.assert_allclose(paths[1]["y"], [axes[n]["positions"][1] for n in axes])

    model.scatter_x, model.scatter_y = "params.lr", "metrics.val_loss"
    frame = model.scatter_frame()
    assert frame["run"].tolist() == ["a", "b", "c"]  # d has no val_loss
    assert frame["x"].tolist() == [0.1, 0.01, 0.001]
    model.scatter_x = "params.optimizer"
    assert model.scatter_frame()["x"].tolist() == ["adam", "adam", "sgd"]
    points = [r for r in scatter_plot(model).renderers if type(r.glyph).__name__ == "Scatter"]
    assert points[0].data_source.data["run"].tolist() == ["a", "b", "c"]
    assert scatter_plot(model).x_range.factors == ["adam", "sgd"]  # a categorical axis


@pytest.mark.parametrize(
    ("run_ids", "message"),
    [
        ([], "Select at least 2 runs to compare (got 0)."),
        (["x"], "Select at least 2 runs to compare (got 1)."),
        ([f"r{i}" for i in range(MAX_RUNS + 1)], "Compare at most 50 runs at a time (got 51)"),
        (["nope", "nada"], "Unknown run ids: nope, nada."),
    ],
)
def test_bad_selections_give_messages(store, run_ids, message):
    model = CompareModel(store=store, run_ids=run_ids)
    assert message in model.error
    assert model.runs is None and model.best_runs() == {} and model.parallel_axes() == []
    view = RunComparison(store, run_ids=run_ids)
    pn.panel(view).get_root()  # renders the message, does not raise


def test_unknown_id_among_known_and_store_errors(seeded, monkeypatch):
    store, ids = seeded
    model = CompareModel(store=store, run_ids=[ids[0], "missing-run"])
    assert model.error == "Unknown run id: missing-run."
    model.run_ids = ids[:2]  # recovers when the selection changes
    assert model.error == "" and len(model.runs) == 2

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "latest_metrics", boom)
    model.run_ids = ids[:3]
    assert model.error == "Could not load the runs: RuntimeError: disk on fire"
    assert CompareModel(run_ids=ids).error == "No store to read runs from."


def test_fifty_runs_take_few_store_calls(store):
    ids = []
    for i in range(50):
        with wb.start_run(experiment="fifty", run_name=f"trial-{i}", store=store) as run:
            run.log_params({"lr": 10 ** -(i % 5), "layers": i % 3, "seed": i})
            run.log_metric_history("loss", np.exp(-np.arange(300) / (10 + i)))
            run.log_metric_history("val_accuracy", 1 - np.exp(-np.arange(300) / (20 + i)))
        ids.append(run.id)
    store.sync()
    model = CompareModel(store=store, run_ids=ids)
    assert model.error == ""
    assert {k: len(_chart_lines(model, k)) for k in model.chart_metrics} == {
        "loss": 50, "val_accuracy": 50}
    assert model.store_calls == 3  # runs, latest values, one history query for all metrics
    model.smoothing = 0.5
    model.history_chart()
    assert model.store_calls == 3  # histories are cached until the selection changes
    assert model.best_runs()["val_accuracy"] == ids[0]
    assert len(set(model.runs["color"])) == 50
    root = pn.panel(RunComparison(store, run_ids=ids)).get_root()
    assert root is not None


def test_run_comparison_view(seeded):
    store, ids = seeded
    view = RunComparison(store, run_ids=ids)
    assert view.model.run_ids == ids
    pn.panel(view).get_root()
    view.run_ids = ids[:2]
    assert len(view.model.runs) == 2
    view.model.run_ids = ids[1:]
    assert view.run_ids == ids[1:] and len(view.model.runs) == 3
    # The history controls show only when a charted metric has a history.
    assert view._charts_histories() and view._chart_note() == ""
    view.model.chart_metrics = ["auc"]
    assert not view._charts_histories() and "auc" in view._chart_note()
    # The "higher is better" widget writes per-metric overrides into the model.
    view.higher_widget.value = ["val_loss"]
    assert view.model.direction("val_loss") == "max" and view.model.direction("auc") == "min"
