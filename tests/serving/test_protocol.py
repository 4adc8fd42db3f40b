"""Request parsing and signature validation for both protocols."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.errors import PayloadError
from workbench.serving.protocol import Columns, parse_csv, parse_mlflow_json, parse_v2, v2_outputs

SIG = {"inputs": {"kind": "dataframe", "columns": [
    {"name": "age", "type": "int64"}, {"name": "monthly", "type": "float64"}, {"name": "region", "type": "str"}]}}
ROWS = [[30, 40.5, "north"], [45, 70.0, "east"]]
EXPECTED = pd.DataFrame({"age": [30, 45], "monthly": [40.5, 70.0], "region": ["north", "east"]})


def _same(cols: Columns) -> None:
    frame = cols.frame()
    assert list(frame.columns) == ["age", "monthly", "region"]
    assert frame["age"].dtype == np.int64 and frame["monthly"].dtype == np.float64
    assert frame.astype(object).values.tolist() == EXPECTED.astype(object).values.tolist()


@pytest.mark.parametrize("payload", [
    {"dataframe_split": {"columns": ["age", "monthly", "region"], "index": [0, 1], "data": ROWS}},
    {"dataframe_split": {"columns": ["region", "age", "monthly"], "data": [[r[2], r[0], r[1]] for r in ROWS]}},
    {"dataframe_records": [dict(zip(["age", "monthly", "region"], r)) for r in ROWS]},
    {"instances": [dict(zip(["age", "monthly", "region"], r)) for r in ROWS]},
    {"instances": ROWS},
    {"inputs": {"age": [30, 45], "monthly": [40.5, 70.0], "region": ["north", "east"]}},
    {"inputs": ROWS},
])
def test_every_mlflow_format_gives_the_same_columns(payload):
    _same(parse_mlflow_json(payload, SIG))


def test_extra_columns_are_dropped_and_order_follows_the_signature():
    cols = parse_mlflow_json({"dataframe_records": [{"region": "north", "x": 1, "monthly": 1, "age": 2}]}, SIG)
    assert cols.names == ["age", "monthly", "region"] and "x" not in cols.arrays


def test_csv_body():
    _same(parse_csv(b"age,monthly,region\n30,40.5,north\n45,70,east\n", SIG))


def test_v2_one_tensor_per_column_and_a_2d_tensor():
    payload = {"id": "abc", "inputs": [
        {"name": "age", "shape": [2], "datatype": "INT64", "data": [30, 45]},
        {"name": "monthly", "shape": [2, 1], "datatype": "FP64", "data": [[40.5], [70.0]]},
        {"name": "region", "shape": [2], "datatype": "BYTES", "data": ["north", "east"]}]}
    cols, rid = parse_v2(payload, SIG)
    _same(cols)
    assert rid == "abc"
    with pytest.raises(PayloadError, match="3 columns"):
        parse_v2({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64",
                              "data": [1, 2, 3, 4, 5, 6]}]}, None)


@pytest.mark.parametrize("payload, column, text", [
    ({"dataframe_records": [{"age": 30, "monthly": "lots", "region": "n"}]}, "monthly",
     "column 'monthly' expects float64, got 'lots' (str) at row 0"),
    ({"dataframe_records": [{"age": 30.5, "monthly": 1, "region": "n"}]}, "age", "column 'age' expects int64"),
    ({"dataframe_records": [{"age": None, "monthly": 1, "region": "n"}]}, "age", "column 'age' expects int64"),
    ({"dataframe_records": [{"age": 30, "monthly": 1, "region": 7}]}, "region",
     "column 'region' expects str, got 7 (int)"),
    ({"dataframe_records": [{"age": 30, "monthly": 1}]}, "region", "missing column 'region'"),
    ({"dataframe_records": [{"age": [1], "monthly": 1, "region": "n"}]}, "age", "expects int64, got [1]"),
])
def test_bad_values_name_the_column_and_the_expected_type(payload, column, text):
    with pytest.raises(PayloadError) as err:
        parse_mlflow_json(payload, SIG)
    assert err.value.status == 400 and err.value.column == column
    assert text in str(err.value)


@pytest.mark.parametrize("payload, text", [
    ([1, 2], "JSON object"),
    ({}, "exactly one of the fields"),
    ({"dataframe_split": {"columns": ["age"]}, "inputs": []}, "exactly one"),
    ({"dataframe_split": {"columns": ["age", "monthly"], "data": [[1]]}}, "row 0 must be a list of 2"),
    ({"dataframe_records": []}, "no rows"),
    ({"instances": [[1, 2]]}, "row 0 has 2 values, the model expects 3"),
    ({"inputs": {"age": [1, 2], "monthly": [1.0]}}, "same length"),
])
def test_bad_shapes_are_400_with_a_message(payload, text):
    with pytest.raises(PayloadError, match=text):
        parse_mlflow_json(payload, SIG)


@pytest.mark.parametrize("tensor, text", [
    ({"name": "age", "shape": [1, 2], "datatype": "INT64", "data": [1, 2, 3, 4, 5, 6]}, "holds 2 values, data has 6"),
    ({"name": "age", "shape": [1, "2"], "datatype": "INT64", "data": [1, 2]}, "positive integers"),
    ({"name": "age", "shape": [0], "datatype": "INT64", "data": []}, "has no rows"),
    ({"name": "age", "shape": [3], "datatype": "INT64", "data": [1, 2]}, "holds 3 values, data has 2"),
])
def test_v2_shapes_must_match_the_data(tensor, text):
    """A V2 tensor whose shape and data disagree (or an empty one) is a 400, never rows silently dropped."""
    with pytest.raises(PayloadError, match=text):
        parse_v2({"inputs": [tensor]}, SIG)


def test_no_signature_takes_the_columns_as_given():
    cols = parse_mlflow_json({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}, None)
    assert cols.frame().to_dict("list") == {"a": [1], "b": [2]}


def test_batch_concat_and_records_json():
    a = parse_mlflow_json({"instances": ROWS[:1]}, SIG)
    b = parse_mlflow_json({"instances": ROWS[1:]}, SIG)
    _same(Columns.concat([a, b]))
    assert a.records_json(1000) == '{"columns": ["age", "monthly", "region"], "data": [[30, 40.5, "north"]]}'
    assert a.records_json(10) is None


def test_v2_outputs_types():
    assert v2_outputs(np.array([1, 0]))[0]["datatype"] == "INT64"
    assert v2_outputs(np.array([0.5]))[0]["datatype"] == "FP64"
    assert v2_outputs(np.array(["a"], dtype=object))[0] == {"name": "predict", "shape": [1],
                                                            "datatype": "BYTES", "data": ["a"]}


def test_frame_is_the_frame_pandas_builds_from_the_arrays():
    """``Columns.frame`` takes pandas' faster arrays path; it must give what the public constructor gives."""
    arrays = {"f": np.array([1.5, np.nan]), "i": np.array([1, 2]), "b": np.array([True, False]),
              "s": np.array(["a", None], dtype=object), "u": np.array(["x", "y"]),
              "d": np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[ns]")}
    cols = Columns(list(arrays), arrays, 2)
    pd.testing.assert_frame_equal(cols.frame(), pd.DataFrame(arrays, columns=list(arrays)))
    one = Columns(["i", "f"], {"i": np.array([7]), "f": np.array([0.5])}, 1)
    pd.testing.assert_frame_equal(one.frame(), pd.DataFrame({"i": [7], "f": [0.5]}))
