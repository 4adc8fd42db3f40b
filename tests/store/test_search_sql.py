"""compile_filter / compile_order_by, executed against a real in-memory DuckDB store."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.errors import InvalidInputError
from workbench.query import (
    And,
    Comparison,
    Not,
    Or,
    OrderKey,
    parse_filter,
    parse_order_by,
)
from workbench.store.schema import migrate
from workbench.store.search_sql import compile_filter, compile_order_by


def ms(iso: str) -> int:
    """Epoch milliseconds of an ISO timestamp (UTC if naive), without pandas."""
    ts = datetime.fromisoformat(iso)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return round(ts.timestamp() * 1000)


# run_id, experiment_id, run_name, status, start, end, user, source, description
RUNS = [
    (
        "r1",
        1,
        "alpha",
        "FINISHED",
        ms("2024-01-01"),
        ms("2024-01-01") + 60_000,
        "ana",
        "train.py",
        "first",
    ),
    (
        "r2",
        1,
        "beta",
        "FAILED",
        ms("2024-02-01"),
        ms("2024-02-01") + 120_000,
        "bob",
        "train.py",
        None,
    ),
    ("r3", 2, "gamma", "RUNNING", ms("2024-03-01"), None, "ana", "nb.ipynb", None),
    ("r4", 2, None, "FINISHED", ms("2024-04-01"), ms("2024-04-01") + 1_000, None, None, None),
    (
        "r5",
        1,
        "Alpha-2",
        "KILLED",
        ms("2024-05-01"),
        ms("2024-05-01") + 5_000,
        "cy",
        "train.py",
        "it's",
    ),
]
ALL = {r[0] for r in RUNS}
METRICS = [
    ("r1", "auc", 0.95),
    ("r1", "loss", 0.1),
    ("r2", "auc", 0.80),
    ("r2", "loss", 0.5),
    ("r3", "auc", math.nan),
    ("r4", "loss", 0.3),
    ("r5", "auc", 0.9),
    ("r5", "val loss", 1.5),
]
PARAMS = [
    ("r1", "n_estimators", "200"),
    ("r1", "model", "rf"),
    ("r1", "lr", "0.1"),
    ("r2", "n_estimators", "50"),
    ("r2", "model", "xgb"),
    ("r2", "lr", "0.10"),
    ("r3", "n_estimators", "auto"),
    ("r3", "model", "rf"),
    ("r3", "lr", "nan"),
    ("r4", "model", "RF"),
    ("r4", "lr", "1e-3"),
    ("r4", "early_stop", "True"),
    ("r5", "n_estimators", "100"),
    ("r5", "model", "lr"),
    ("r5", "early_stop", "false"),
]
TAGS = [
    ("r1", "team", "ds"),
    ("r1", "mlflow.user", "ana"),
    ("r2", "team", "ml"),
    ("r3", "team", "ds"),
    ("r5", "team", "DS"),
    ("r5", "note", "it's 100% done"),
]
# digest, name, n_rows, source
DATASETS = [
    ("d1", "iris", 150, "s3://bucket/iris.csv"),
    ("d2", "iris-test", 50, "local"),
    ("d3", "big", None, None),
]
RUN_DATASETS = [
    ("r1", "d1", "iris", "train"),
    ("r1", "d2", "iris-test", "eval"),
    ("r2", "d1", "iris", "train"),
    ("r3", "d2", "iris-test", "eval"),
    ("r4", "d3", "big", "train"),
]


def make_store() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    migrate(con)
    con.executemany(
        "INSERT INTO runs (run_id, experiment_id, run_name, status, start_time, end_time, "
        "user_name, source, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        RUNS,
    )
    con.executemany(
        "INSERT INTO latest_metrics (run_id, key, step, ts, value, min_value, max_value, n_points) "
        "VALUES (?, ?, 0, 0, ?, ?, ?, 1)",
        [(r, k, v, v, v) for r, k, v in METRICS],
    )
    con.executemany(
        "INSERT INTO params (run_id, key, value, value_num) VALUES (?, ?, ?, TRY_CAST(? AS DOUBLE))",
        [(r, k, v, v) for r, k, v in PARAMS],
    )
    con.executemany("INSERT INTO tags VALUES (?, ?, ?)", TAGS)
    con.executemany(
        "INSERT INTO datasets (digest, name, n_rows, source, created_at) VALUES (?, ?, ?, ?, 0)",
        DATASETS,
    )
    con.executemany("INSERT INTO run_datasets VALUES (?, ?, ?, ?)", RUN_DATASETS)
    return con


@pytest.fixture(scope="module")
def con():
    connection = make_store()
    yield connection
    connection.close()


def matching(con, text: str | None) -> set[str]:
    sql, params = compile_filter(parse_filter(text))
    return {
        row[0] for row in con.execute(f"SELECT r.run_id FROM runs r WHERE {sql}", params).fetchall()
    }


def ordered(con, order, text: str | None = None) -> list[str]:
    where, where_params = compile_filter(parse_filter(text))
    order_sql, order_params = compile_order_by(parse_order_by(order))
    rows = con.execute(
        f"SELECT r.run_id FROM runs r WHERE {where} ORDER BY {order_sql}",
        where_params + order_params,
    ).fetchall()
    return [row[0] for row in rows]


# ----------------------------------------------------------------- metrics


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, ALL),
        ("metrics.auc > 0.85", {"r1", "r5"}),
        ("metrics.auc >= 0.9", {"r1", "r5"}),
        ("metrics.auc < 0.9", {"r2"}),
        ("metrics.auc <= 0.9", {"r2", "r5"}),
        ("metrics.auc = 0.9", {"r5"}),
        ("metrics.auc = 9e-1", {"r5"}),
        # NaN (r3) matches != but no ordering comparison; r4 has no auc
        ("metrics.auc != 0.9", {"r1", "r2", "r3"}),
        ("metrics.auc > -1000", {"r1", "r2", "r5"}),
        ("metrics.auc < 1000", {"r1", "r2", "r5"}),
        ("metrics.auc IS NULL", {"r4"}),
        ("metrics.auc IS NOT NULL", {"r1", "r2", "r3", "r5"}),
        ("metrics.`val loss` > 1", {"r5"}),
        ('metrics."val loss" IS NULL', ALL - {"r5"}),
        ("metrics.loss < 0.4", {"r1", "r4"}),
        ("metrics.nothing > 0", set()),
        ("metrics.nothing != 0", set()),
        ("metrics.nothing IS NULL", ALL),
    ],
)
def test_metrics(con, text, expected):
    assert matching(con, text) == expected


def test_not_of_a_comparison_matches_runs_without_the_key(con):
    # comparisons are two-valued: r4 has no auc, so "auc = 0.9" is false and its negation true
    assert matching(con, "not metrics.auc = 0.9") == {"r1", "r2", "r3", "r4"}
    assert matching(con, "not metrics.auc > 0.85") == {"r2", "r3", "r4"}


# ------------------------------------------------------------------ params


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # numbers compare value_num numerically: '200' > 100 but '50' is not
        ("params.n_estimators > 100", {"r1"}),
        ("params.n_estimators >= 100", {"r1", "r5"}),
        ("params.n_estimators < 100.5", {"r2", "r5"}),
        ("params.n_estimators = 50", {"r2"}),
        ("params.n_estimators = 5e1", {"r2"}),
        # 'auto' is not a number: it matches no numeric comparison, not even !=
        ("params.n_estimators != 50", {"r1", "r5"}),
        ("params.n_estimators IN (50, 200)", {"r1", "r2"}),
        ("params.n_estimators NOT IN (50, 200)", {"r5"}),
        # a quoted string compares text (MLflow semantics)
        ("params.n_estimators > '100'", {"r1", "r2", "r3"}),
        ("params.lr = '0.1'", {"r1"}),
        ("params.lr = 0.1", {"r1", "r2"}),
        ("params.lr < 0.05", {"r4"}),  # 1e-3; the 'nan' param of r3 never matches
        ("params.lr != 0.1", {"r3", "r4"}),  # NaN != 0.1, as in IEEE arithmetic
        ("params.model = 'rf'", {"r1", "r3"}),
        ('params.model = "rf"', {"r1", "r3"}),
        ("params.model != 'rf'", {"r2", "r4", "r5"}),
        ("params.model <> 'rf'", {"r2", "r4", "r5"}),
        ("params.model IN ('rf', 'xgb')", {"r1", "r2", "r3"}),
        ("params.model NOT IN ('rf', 'xgb')", {"r4", "r5"}),
        ("params.model LIKE 'r%'", {"r1", "r3"}),
        ("params.model ILIKE 'r%'", {"r1", "r3", "r4"}),
        ("params.model LIKE '_f'", {"r1", "r3"}),
        ("params.model NOT LIKE 'r%'", {"r2", "r4", "r5"}),
        ("params.model NOT ILIKE 'R%'", {"r2", "r5"}),
        ("params.early_stop = true", {"r4"}),
        ("params.early_stop = FALSE", {"r5"}),
        ("params.early_stop != true", {"r5"}),
        ("params.early_stop IS NULL", {"r1", "r2", "r3"}),
        ("params.early_stop IS NOT NULL", {"r4", "r5"}),
    ],
)
def test_params(con, text, expected):
    assert matching(con, text) == expected


# -------------------------------------------------------------------- tags


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tags.team = 'ds'", {"r1", "r3"}),
        ("tags.team ILIKE 'ds'", {"r1", "r3", "r5"}),
        ("tags.team != 'ds'", {"r2", "r5"}),
        ("tags.team IN ('ml', 'DS')", {"r2", "r5"}),
        ("tags.team NOT IN ('ml', 'DS')", {"r1", "r3"}),
        ("tags.team IS NULL", {"r4"}),
        ("tags.\"mlflow.user\" = 'ana'", {"r1"}),
        ("tags.mlflow.user = 'ana'", {"r1"}),
        ("tags.`mlflow.user` IS NOT NULL", {"r1"}),
        ("tags.note = 'it''s 100% done'", {"r5"}),
        ("tags.note LIKE '%''s 100\\% done'", set()),  # backslash is no escape character
        ("tags.note LIKE '%100%'", {"r5"}),
    ],
)
def test_tags(con, text, expected):
    assert matching(con, text) == expected


# -------------------------------------------------------------- attributes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("attributes.run_id = 'r2'", {"r2"}),
        ("attributes.run_id IN ('r2', 'r4', 'nope')", {"r2", "r4"}),
        ("attributes.run_name = 'alpha'", {"r1"}),
        ("attributes.run_name LIKE 'alpha%'", {"r1"}),
        ("attributes.run_name ILIKE 'alpha%'", {"r1", "r5"}),
        ("attributes.run_name != 'alpha'", {"r2", "r3", "r5"}),  # r4 has no name
        ("attributes.run_name NOT IN ('alpha')", {"r2", "r3", "r5"}),
        ("attributes.run_name IS NULL", {"r4"}),
        ("run.status = 'finished'", {"r1", "r4"}),
        ("attributes.status IN ('FAILED', 'killed')", {"r2", "r5"}),
        ("attributes.status != 'FINISHED'", {"r2", "r3", "r5"}),
        ("attributes.user = 'ana'", {"r1", "r3"}),
        ("attributes.user IS NULL", {"r4"}),
        ("attributes.source = 'train.py'", {"r1", "r2", "r5"}),
        ("attributes.experiment_id = 2", {"r3", "r4"}),
        ("attributes.experiment_id = '1'", {"r1", "r2", "r5"}),
        ("attributes.description IS NOT NULL", {"r1", "r5"}),
        ("attributes.description = 'it''s'", {"r5"}),
        ("attributes.parent_run_id IS NULL", ALL),
        ("attributes.end_time IS NULL", {"r3"}),
        ("attributes.duration > 1000", {"r1", "r2", "r5"}),
        ("attributes.duration >= 1000", {"r1", "r2", "r4", "r5"}),
        ("attributes.duration > '1min'", {"r2"}),
        ("attributes.duration IS NULL", {"r3"}),
    ],
)
def test_attributes(con, text, expected):
    assert matching(con, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("attributes.start_time >= '2024-03-01'", {"r3", "r4", "r5"}),
        ("attributes.start_time < '2024-02-01T00:00:00Z'", {"r1"}),
        ("attributes.start_time = '2024-03-01T01:00:00+01:00'", {"r3"}),
        (f"attributes.start_time = {ms('2024-03-01')}", {"r3"}),
        (f"attributes.start_time < {ms('2024-02-01')}", {"r1"}),
        ("attributes.start_time > '2024-02-01' and attributes.start_time < '2024-04-01'", {"r3"}),
        ("attributes.start_time IN ('2024-01-01', '2024-05-01')", {"r1", "r5"}),
        ("attributes.end_time > '2024-03-15'", {"r4", "r5"}),
        ("attributes.end_time < '2024-03-15'", {"r1", "r2"}),  # r3 still running
        ("attributes.created < '2024-01-02'", {"r1"}),
    ],
)
def test_timestamps(con, text, expected):
    assert matching(con, text) == expected


# ---------------------------------------------------------------- datasets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("datasets.role = 'train'", {"r1", "r2", "r4"}),
        ("datasets.role = 'eval'", {"r1", "r3"}),
        # existential: r1 has a non-train (eval) dataset
        ("datasets.role != 'train'", {"r1", "r3"}),
        ("not datasets.role = 'train'", {"r3", "r5"}),
        ("datasets.name = 'iris'", {"r1", "r2"}),
        ("datasets.name LIKE 'iris%'", {"r1", "r2", "r3"}),
        ("datasets.name IN ('big', 'iris-test')", {"r1", "r3", "r4"}),
        ("datasets.digest = 'd3'", {"r4"}),
        ("datasets.rows > 100", {"r1", "r2"}),
        ("datasets.rows < 100", {"r1", "r3"}),
        ("datasets.rows IS NULL", {"r4", "r5"}),
        ("datasets.rows IS NOT NULL", {"r1", "r2", "r3"}),
        ("datasets.source LIKE 's3://%'", {"r1", "r2"}),
        ("datasets.name IS NULL", {"r5"}),
        ("datasets.role = 'train' and datasets.role = 'eval'", {"r1"}),
    ],
)
def test_datasets(con, text, expected):
    assert matching(con, text) == expected


# ------------------------------------------------------------ combinations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.auc > 0.85 and params.model = 'rf'", {"r1"}),
        ("metrics.auc > 0.85 or params.model = 'rf'", {"r1", "r3", "r5"}),
        ("metrics.auc > 0.85 AND params.model = 'rf' OR tags.team = 'ml'", {"r1", "r2"}),
        ("metrics.auc > 0.85 and (params.model = 'rf' or tags.team = 'DS')", {"r1", "r5"}),
        ("tags.team = 'ml' or metrics.auc > 0.85 and params.model = 'rf'", {"r1", "r2"}),
        ("(tags.team = 'ml' or metrics.auc > 0.85) and params.model = 'rf'", {"r1"}),
        ("not (tags.team = 'ml' or metrics.auc > 0.85)", {"r3", "r4"}),
        ("not tags.team = 'ml' and not metrics.auc > 0.85", {"r3", "r4"}),
        ("not not attributes.status = 'RUNNING'", {"r3"}),
        (
            "datasets.role = 'train' and attributes.start_time > '2024-01-15' "
            "and not params.n_estimators > 100",
            {"r2", "r4"},
        ),
    ],
)
def test_combinations(con, text, expected):
    assert matching(con, text) == expected


# --------------------------------------------------------------- injection


@pytest.mark.parametrize(
    "text",
    [
        "params.model = 'x'' OR 1=1 --'",
        "params.model = \"x' OR '1'='1\"",
        "params.model IN ('x'') OR TRUE OR (''')",
        "tags.team LIKE '%'' OR ''1''=''1'",
        "attributes.run_name = 'x''; DROP TABLE runs; --'",
        "attributes.run_id = 'r1'' OR r.run_id IS NOT NULL --'",
        "metrics.`a'b; DROP TABLE runs; --` > 0",
        "metrics.`auc') OR (1=1` > 0",
        "params.`model' OR 1=1 --` = 'rf'",
        'tags."team"" OR 1=1 --" = \'ds\'',
        "datasets.role = 'train'') OR (''1''=''1'",
        "params.`?` = '?'",
    ],
)
def test_injection_attempts_match_nothing(con, text):
    node = parse_filter(text)
    sql, params = compile_filter(node)
    for part in ("DROP", "1=1", "OR TRUE", "'"):
        assert part not in sql
    assert matching(con, text) == set()
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == len(RUNS)


def test_order_by_keys_are_bound_too(con):
    keys = [OrderKey("metrics", "auc') DESC; DROP TABLE runs; --", True)]
    sql, params = compile_order_by(keys)
    assert "DROP" not in sql and params == [keys[0].key]
    con.execute(f"SELECT r.run_id FROM runs r ORDER BY {sql}", params).fetchall()
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == len(RUNS)


# ----------------------------------------------------------------- order by


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (None, ["r5", "r4", "r3", "r2", "r1"]),
        ("start_time", ["r1", "r2", "r3", "r4", "r5"]),
        # NaN (r3) and missing (r4) sort last, in both directions
        ("metrics.auc DESC", ["r1", "r5", "r2", "r4", "r3"]),
        ("metrics.auc", ["r2", "r5", "r1", "r4", "r3"]),
        # numbers by value ('50' < '100' < '200'), then non-numbers, then missing
        ("params.n_estimators", ["r2", "r5", "r1", "r3", "r4"]),
        ("params.n_estimators desc", ["r1", "r5", "r2", "r3", "r4"]),
        ("params.model", ["r4", "r5", "r3", "r1", "r2"]),
        ("tags.team", ["r5", "r3", "r1", "r2", "r4"]),
        ("attributes.run_name DESC", ["r3", "r2", "r1", "r5", "r4"]),
        ("duration desc", ["r2", "r1", "r5", "r4", "r3"]),
        (["user", "metrics.loss desc"], ["r1", "r3", "r2", "r5", "r4"]),
    ],
)
def test_order_by(con, order, expected):
    assert ordered(con, order) == expected


def test_filter_and_order_parameters_concatenate_in_text_order(con):
    assert ordered(con, "metrics.auc desc", "params.model IN ('rf', 'lr')") == ["r1", "r5", "r3"]


def test_order_by_datasets_is_refused():
    with pytest.raises(InvalidInputError, match="cannot order runs by datasets"):
        compile_order_by([OrderKey("datasets", "rows", False)])


def test_hand_built_nodes_are_checked():
    with pytest.raises(InvalidInputError, match="unknown attribute"):
        compile_filter(Comparison("attributes", "r.run_id) OR (TRUE", "=", "x"))
    with pytest.raises(InvalidInputError, match="unknown filter operator"):
        compile_filter(Comparison("params", "k", "= 1 OR 1 =", "x"))
    with pytest.raises(InvalidInputError, match="unknown filter entity"):
        compile_filter(Comparison("runs", "k", "=", "x"))


def test_compile_filter_of_none_is_true():
    assert compile_filter(None) == ("TRUE", [])


# ------------------------------------------------ property: SQL == Python

# A pure-Python reading of the documented semantics, over the rows above.

RUN_ROWS = {
    r[0]: {
        "run_id": r[0],
        "experiment_id": r[1],
        "run_name": r[2],
        "status": r[3],
        "start_time": r[4],
        "end_time": r[5],
        "user": r[6],
        "source": r[7],
        "description": r[8],
        "parent_run_id": None,
        "duration": None if r[5] is None else r[5] - r[4],
    }
    for r in RUNS
}
METRIC_ROWS = {(r, k): v for r, k, v in METRICS}


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


PARAM_ROWS = {(r, k): (v, _num(v)) for r, k, v in PARAMS}
TAG_ROWS = {(r, k): v for r, k, v in TAGS}
DATASET_ROWS = {
    d[0] + "/" + d[1]: {"digest": d[0], "name": d[1], "rows": d[2], "source": d[3]}
    for d in DATASETS
}
RUN_DATASET_ROWS: dict[str, list[dict]] = {}
for _run, _digest, _name, _role in RUN_DATASETS:
    RUN_DATASET_ROWS.setdefault(_run, []).append(
        {**DATASET_ROWS[_digest + "/" + _name], "role": _role}
    )


def like(text: str, pattern: str, insensitive: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    if insensitive:
        text, regex = text.lower(), regex.lower()
    return re.fullmatch(regex, text, re.DOTALL) is not None


def apply_op(a, op: str, b) -> bool:
    """``a op b`` for a present, non-null ``a``; IEEE semantics for NaN."""
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op in ("IN", "NOT IN"):
        hit = any(a == item for item in b)
        return hit if op == "IN" else not hit
    if op.endswith("LIKE"):
        hit = like(a, b, "ILIKE" in op)
        return not hit if op.startswith("NOT") else hit
    raise AssertionError(op)


def holds(c: Comparison, run: str) -> bool:
    if c.entity == "attributes":
        value = RUN_ROWS[run][c.key]
        if c.op == "IS NULL":
            return value is None
        if c.op == "IS NOT NULL":
            return value is not None
        return value is not None and apply_op(value, c.op, c.value)
    if c.entity == "datasets":
        values = [d[c.key] for d in RUN_DATASET_ROWS.get(run, [])]
        if c.op == "IS NULL":
            return all(v is None for v in values)
        if c.op == "IS NOT NULL":
            return any(v is not None for v in values)
        return any(v is not None and apply_op(v, c.op, c.value) for v in values)
    table = {"metrics": METRIC_ROWS, "params": PARAM_ROWS, "tags": TAG_ROWS}[c.entity]
    present = (run, c.key) in table
    if c.op == "IS NULL":
        return not present
    if c.op == "IS NOT NULL":
        return present
    if not present:
        return False
    if c.entity == "metrics":
        return apply_op(table[(run, c.key)], c.op, c.value)
    if c.entity == "tags":
        return apply_op(table[(run, c.key)], c.op, c.value)
    text, number = table[(run, c.key)]
    if isinstance(c.value, bool):
        return apply_op(text.lower(), c.op, "true" if c.value else "false")
    numeric = isinstance(c.value, (int, float)) or (
        isinstance(c.value, tuple) and all(not isinstance(v, str) for v in c.value)
    )
    if numeric:
        return number is not None and apply_op(number, c.op, c.value)
    return apply_op(text, c.op, c.value)


def evaluate(node, run: str) -> bool:
    if isinstance(node, Comparison):
        return holds(node, run)
    if isinstance(node, Not):
        return not evaluate(node.item, run)
    if isinstance(node, And):
        return all(evaluate(i, run) for i in node.items)
    if isinstance(node, Or):
        return any(evaluate(i, run) for i in node.items)
    raise AssertionError(node)


# Filters from a small grammar. Each atom is (text, Comparison as the test expects it),
# so the parser's reading of the text (precedence, quoting, conversion) is checked too.

NUMBERS = st.sampled_from([-1, 0, 0.1, 0.3, 0.5, 0.8, 0.9, 0.95, 1, 1.5, 50, 100, 150, 200, 1e-3])
COMPARE = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])
COMPARE_TEXT = {"=": ["=", "=="], "!=": ["!=", "<>"]}
NULLS = st.sampled_from(["IS NULL", "IS NOT NULL"])
WORDS = st.sampled_from(
    [
        "rf",
        "RF",
        "xgb",
        "lr",
        "200",
        "0.1",
        "auto",
        "ds",
        "DS",
        "ml",
        "ana",
        "alpha",
        "Alpha-2",
        "train",
        "eval",
        "iris",
        "it's",
        "x' OR 1=1 --",
        "",
    ]
)
PATTERNS = st.sampled_from(["r%", "%F", "_f", "%", "a%", "%a%", "d_", "it%", "%-%", "iris%"])


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def keyword(draw, word: str) -> str:
    return draw(st.sampled_from([word.lower(), word.upper(), word.title()]))


@st.composite
def op_and_value(draw, kind: str):
    """(op, operator text, value, value text) for a value of ``kind``: num, str or bool."""
    shape = draw(
        st.sampled_from(
            ["compare", "null", "like", "in"]
            if kind == "str"
            else ["compare", "null", "in"]
            if kind == "num"
            else ["compare"]
        )
    )
    if shape == "null":
        op = draw(NULLS)
        return op, " ".join(keyword(draw, w) for w in op.split()), None, ""
    if shape == "like":
        op = draw(st.sampled_from(["LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"]))
        pattern = draw(PATTERNS)
        return op, " ".join(keyword(draw, w) for w in op.split()), pattern, quote(pattern)
    if shape == "in":
        op = draw(st.sampled_from(["IN", "NOT IN"]))
        items = draw(st.lists(NUMBERS if kind == "num" else WORDS, min_size=1, max_size=3))
        texts = [repr(i) if kind == "num" else quote(i) for i in items]
        return (
            op,
            " ".join(keyword(draw, w) for w in op.split()),
            tuple(items),
            "(" + ", ".join(texts) + ")",
        )
    if kind == "bool":
        op = draw(st.sampled_from(["=", "!="]))
        value = draw(st.booleans())
        return op, op, value, keyword(draw, str(value).lower())
    op = draw(COMPARE)
    op_text = draw(st.sampled_from(COMPARE_TEXT.get(op, [op])))
    if kind == "num":
        value = draw(NUMBERS)
        return op, op_text, value, repr(value)
    value = draw(WORDS)
    return op, op_text, value, quote(value)


@st.composite
def atoms(draw):
    entity = draw(st.sampled_from(["metrics", "params", "tags", "attributes", "datasets"]))
    if entity == "metrics":
        key = draw(st.sampled_from(["auc", "loss", "val loss", "missing"]))
        op, op_text, value, value_text = draw(
            op_and_value("num").filter(lambda t: "IN" not in t[0])
        )
        if isinstance(value, (int, float)):
            value = float(value)
        key_text = f"`{key}`" if " " in key else key
    elif entity in ("params", "tags"):
        keys = (
            ["n_estimators", "model", "lr", "early_stop", "missing"]
            if entity == "params"
            else ["team", "mlflow.user", "note", "missing"]
        )
        key = draw(st.sampled_from(keys))
        kinds = ["num", "str", "bool"] if entity == "params" else ["str"]
        op, op_text, value, value_text = draw(op_and_value(draw(st.sampled_from(kinds))))
        key_text = draw(st.sampled_from([key, f"`{key}`", f'"{key}"']))
    elif entity == "attributes":
        key = draw(
            st.sampled_from(["run_name", "status", "user", "start_time", "duration", "end_time"])
        )
        if key == "status":
            op = draw(st.sampled_from(["=", "!=", "IN", "NOT IN"]))
            statuses = st.sampled_from(["RUNNING", "FINISHED", "FAILED", "KILLED"])
            if op in ("IN", "NOT IN"):
                value = tuple(draw(st.lists(statuses, min_size=1, max_size=3)))
                value_text = "(" + ", ".join(quote(s.lower()) for s in value) + ")"
            else:
                value = draw(statuses)
                value_text = quote(draw(st.sampled_from([value, value.lower()])))
            op_text = op
        elif key in ("start_time", "end_time"):
            op, op_text, value, value_text = draw(
                op_and_value("num").filter(lambda t: "IN" not in t[0])
            )
            if value is not None:
                day = draw(
                    st.sampled_from(
                        [
                            "2023-12-31",
                            "2024-01-01",
                            "2024-02-01",
                            "2024-03-01",
                            "2024-03-15",
                            "2024-05-01",
                            "2024-06-01",
                        ]
                    )
                )
                value = ms(day)
                value_text = draw(
                    st.sampled_from([str(value), quote(day), quote(day + "T00:00:00Z")])
                )
        elif key == "duration":
            op, op_text, value, value_text = draw(
                op_and_value("num").filter(lambda t: "IN" not in t[0])
            )
            if value is not None:
                value = draw(st.sampled_from([0, 1000, 5000, 60000, 120000, 999999]))
                value_text = str(value)
        else:
            op, op_text, value, value_text = draw(op_and_value("str"))
        key_text = key
    else:
        key = draw(st.sampled_from(["role", "name", "rows"]))
        if key == "rows":
            op, op_text, value, value_text = draw(op_and_value("num"))
            if isinstance(value, tuple):
                value = tuple(int(v * 100) for v in value)
                value_text = "(" + ", ".join(map(str, value)) + ")"
            elif value is not None:
                value = int(value * 100)
                value_text = str(value)
        else:
            op, op_text, value, value_text = draw(op_and_value("str"))
        key_text = key
    text = f"{entity}.{key_text} {op_text} {value_text}".strip()
    return text, Comparison(entity, key, op, value)


PRECEDENCE = {"or": 1, "and": 2, "not": 3, "atom": 4}


def render(tree, draw, parent: int = 0) -> str:
    kind = tree[0]
    if kind == "atom":
        text = tree[1][0]
    elif kind == "not":
        text = keyword(draw, "not") + " " + render(tree[1], draw, PRECEDENCE["not"])
    else:
        # left-associative chains: the right operand of the same operator needs no parentheses
        # either, since and/or are associative
        joiner = " " + keyword(draw, kind) + " "
        text = joiner.join(render(child, draw, PRECEDENCE[kind]) for child in tree[1:])
    needs = PRECEDENCE[kind] < parent
    if needs or (kind != "atom" and draw(st.booleans()) and parent):
        text = f"({text})"
    return text


def to_node(tree):
    kind = tree[0]
    if kind == "atom":
        return tree[1][1]
    if kind == "not":
        return Not(to_node(tree[1]))
    items = tuple(to_node(child) for child in tree[1:])
    return And(items) if kind == "and" else Or(items)


trees = st.recursive(
    atoms().map(lambda atom: ("atom", atom)),
    lambda children: st.one_of(
        st.tuples(st.just("not"), children),
        st.tuples(st.just("and"), children, children),
        st.tuples(st.just("or"), children, children),
    ),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def property_con():
    connection = make_store()
    yield connection
    connection.close()


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_sql_agrees_with_python_evaluation(property_con, data):
    tree = data.draw(trees)
    text = render(tree, data.draw)
    expected_node = to_node(tree)
    expected = {run for run in RUN_ROWS if evaluate(expected_node, run)}
    assert {run for run in RUN_ROWS if evaluate(parse_filter(text), run)} == expected, text
    assert matching(property_con, text) == expected, text
