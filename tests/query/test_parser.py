"""The search-filter parser, without any database."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.errors import FilterSyntaxError, InvalidInputError
from workbench.query import (
    And,
    Comparison,
    Not,
    Or,
    OrderKey,
    parse_filter,
    parse_order_by,
)

JAN_1_2024_MS = 1_704_067_200_000


def cmp(entity, key, op, value, position=0):
    return Comparison(entity, key, op, value, position)


def single(text: str) -> Comparison:
    node = parse_filter(text)
    assert isinstance(node, Comparison), node
    return node


def syntax_error(text: str) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    return info.value


# ----------------------------------------------------------------- basics


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_blank_filters_parse_to_none(text):
    assert parse_filter(text) is None


def test_a_simple_comparison():
    assert parse_filter("metrics.auc > 0.9") == cmp("metrics", "auc", ">", 0.9)


def test_filter_syntax_error_is_an_invalid_input_error():
    assert issubclass(FilterSyntaxError, InvalidInputError)


@pytest.mark.parametrize(
    ("alias", "entity"),
    [
        ("metric", "metrics"),
        ("METRICS", "metrics"),
        ("param", "params"),
        ("tag", "tags"),
        ("attribute", "attributes"),
        ("attr", "attributes"),
        ("run", "attributes"),
        ("dataset", "datasets"),
    ],
)
def test_entity_aliases_are_normalised(alias, entity):
    key = {"attributes": "run_name", "datasets": "name"}.get(entity, "k")
    value = "1" if entity == "metrics" else "'x'"
    node = single(f"{alias}.{key} = {value}")
    assert node.entity == entity
    assert node.key == key


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("metrics.val.auc > 1", "val.auc"),
        ("metrics.val-loss/epoch:3 > 1", "val-loss/epoch:3"),
        ("metrics.`val loss` > 1", "val loss"),
        ('metrics."val loss" > 1', "val loss"),
        ("metrics.`odd``key` > 1", "odd`key"),
        ('tags."mlflow.user" = 1', None),
        ("metrics._private2 > 1", "_private2"),
    ],
)
def test_keys(text, key):
    if key is None:  # tags need a quoted value; check the key on a valid form
        text = "tags.\"mlflow.user\" = 'ana'"
        key = "mlflow.user"
    assert single(text).key == key


def test_metric_and_param_keys_keep_their_case():
    assert single("params.MaxDepth = 3").key == "MaxDepth"


def test_attribute_names_are_case_insensitive_and_aliases_map():
    assert single("attributes.RUN_NAME = 'x'").key == "run_name"
    assert single("attributes.created > 0").key == "start_time"
    assert single("attributes.user_id = 'ana'").key == "user"


# -------------------------------------------------------------- operators


@pytest.mark.parametrize(
    ("op_text", "op"),
    [
        ("=", "="),
        ("==", "="),
        ("!=", "!="),
        ("<>", "!="),
        ("<", "<"),
        ("<=", "<="),
        (">", ">"),
        (">=", ">="),
    ],
)
def test_comparison_operators(op_text, op):
    assert single(f"metrics.auc {op_text} 1") == cmp("metrics", "auc", op, 1.0)
    assert single(f"metrics.auc{op_text}1") == cmp("metrics", "auc", op, 1.0)


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("params.model LIKE 'r%'", "LIKE", "r%"),
        ("params.model like 'r%'", "LIKE", "r%"),
        ("params.model ILIKE 'R%'", "ILIKE", "R%"),
        ("params.model NOT LIKE 'r%'", "NOT LIKE", "r%"),
        ("params.model not ilike 'r%'", "NOT ILIKE", "r%"),
        ("params.model IN ('rf', 'xgb')", "IN", ("rf", "xgb")),
        ("params.model in ('rf')", "IN", ("rf",)),
        ("params.model NOT IN ('rf','xgb')", "NOT IN", ("rf", "xgb")),
        ("params.n IN (1, 2.5, -3)", "IN", (1, 2.5, -3)),
        ("params.model IS NULL", "IS NULL", None),
        ("params.model is not null", "IS NOT NULL", None),
        ("params.model Is  Not\tNull", "IS NOT NULL", None),
    ],
)
def test_word_operators(text, op, value):
    node = single(text)
    assert (node.op, node.value) == (op, value)


def test_metrics_accept_null_tests():
    assert single("metrics.auc IS NULL") == cmp("metrics", "auc", "IS NULL", None)


# ----------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'rf'", "rf"),
        ('"rf"', "rf"),
        ("'it''s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        ("'a \"b\"'", 'a "b"'),
        ("''", ""),
        ("'and or not ( )'", "and or not ( )"),
        ("42", 42),
        ("-7", -7),
        ("+7", 7),
        ("0.5", 0.5),
        (".5", 0.5),
        ("-.5", -0.5),
        ("1e-3", 0.001),
        ("2.5E+2", 250.0),
        ("true", True),
        ("FALSE", False),
    ],
)
def test_param_values(literal, value):
    node = single(f"params.x = {literal}")
    assert node.value == value
    assert type(node.value) is type(value)


def test_metric_numbers_become_floats():
    node = single("metrics.epochs = 3")
    assert node.value == 3.0 and isinstance(node.value, float)


def test_status_is_normalised_and_validated():
    assert single("attributes.status = 'finished'").value == "FINISHED"
    assert single("attributes.status IN ('running', 'Killed')").value == ("RUNNING", "KILLED")
    # patterns are left alone
    assert single("attributes.status LIKE 'FIN%'").value == "FIN%"
    err = syntax_error("attributes.status = 'done'")
    assert err.position == 20
    assert "invalid status 'done'" in str(err)
    assert "RUNNING, FINISHED, FAILED or KILLED" in str(err)


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("'2024-01-01'", JAN_1_2024_MS),
        ("'2024-01-01T00:00:00Z'", JAN_1_2024_MS),
        ("'2024-01-01T01:30:00+01:30'", JAN_1_2024_MS),
        ("'2024-01-01 00:00:01.250'", JAN_1_2024_MS + 1250),
        ("1704067200000", JAN_1_2024_MS),
        ("'1704067200000'", JAN_1_2024_MS),
    ],
)
def test_times_become_epoch_milliseconds(literal, expected):
    for key in ("start_time", "end_time"):
        node = single(f"attributes.{key} >= {literal}")
        assert node.value == expected


def test_times_in_lists_are_converted():
    node = single("attributes.start_time IN ('2024-01-01', 0)")
    assert node.value == (JAN_1_2024_MS, 0)


@pytest.mark.parametrize("literal", ["'yesterday-ish'", "''", "'2024-13-45'", "'99999-01-01'"])
def test_bad_timestamps(literal):
    err = syntax_error(f"attributes.start_time > {literal}")
    assert err.position == 24
    assert "invalid timestamp" in str(err)


def test_durations_and_experiment_ids():
    assert single("attributes.duration > 1500").value == 1500
    assert single("attributes.duration > '2s'").value == 2000
    assert single("attributes.experiment_id = '3'").value == 3
    assert single("attributes.experiment_id IN (1, '2')").value == (1, 2)


def test_dataset_fields():
    assert single("datasets.role = 'train'") == cmp("datasets", "role", "=", "train")
    assert single("dataset.rows >= 100") == cmp("datasets", "rows", ">=", 100)
    assert single("datasets.NAME like 'iris%'").key == "name"


# ------------------------------------------------------------- precedence


A = cmp("metrics", "a", ">", 1.0, 0)


def test_and_binds_tighter_than_or():
    node = parse_filter("metrics.a > 1 or metrics.b > 2 and metrics.c > 3")
    assert node == Or(
        (
            cmp("metrics", "a", ">", 1.0, 0),
            And((cmp("metrics", "b", ">", 2.0, 17), cmp("metrics", "c", ">", 3.0, 35))),
        )
    )


def test_not_binds_tighter_than_and():
    node = parse_filter("not metrics.a > 1 and metrics.b > 2")
    assert node == And((Not(cmp("metrics", "a", ">", 1.0, 4)), cmp("metrics", "b", ">", 2.0, 22)))


def test_parentheses_override_precedence():
    node = parse_filter("(metrics.a > 1 or metrics.b > 2) and metrics.c > 3")
    assert node == And(
        (
            Or((cmp("metrics", "a", ">", 1.0, 1), cmp("metrics", "b", ">", 2.0, 18))),
            cmp("metrics", "c", ">", 3.0, 37),
        )
    )


def test_chains_are_flattened_and_keywords_case_insensitive():
    node = parse_filter("metrics.a > 1 AND metrics.b > 1 And (metrics.c > 1 and metrics.d > 1)")
    assert isinstance(node, And)
    assert [c.key for c in node.items] == ["a", "b", "c", "d"]
    node = parse_filter("metrics.a > 1 OR metrics.b > 1 or metrics.c > 1")
    assert isinstance(node, Or) and len(node.items) == 3


def test_double_not_and_nested_parentheses():
    node = parse_filter("NOT not ((metrics.a > 1))")
    assert node == Not(Not(cmp("metrics", "a", ">", 1.0, 10)))


def test_keywords_inside_keys_and_strings_are_not_operators():
    node = parse_filter("params.android = 'and' and tags.order = 'or'")
    assert node == And(
        (cmp("params", "android", "=", "and", 0), cmp("tags", "order", "=", "or", 27))
    )


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("text", "position", "phrase"),
    [
        (
            "metrics.auc foo 1",
            12,
            "expected a comparison operator after 'metrics.auc' but found 'foo'",
        ),
        (
            "metrics.auc",
            11,
            "unexpected end of filter: expected a comparison operator after 'metrics.auc'",
        ),
        ("metrics.auc >", 13, "unexpected end of filter: expected a value after '>'"),
        ("metrics.auc > ", 14, "unexpected end of filter: expected a value after '>'"),
        ("params.model = 'rf", 15, "unterminated string"),
        ('params.model = "rf', 15, "unterminated string"),
        ("params.model = 'it''s", 15, "unterminated string"),
        ("metrics.`val loss > 1", 8, "unterminated key"),
        ("(metrics.auc > 1", 0, "unbalanced parenthesis"),
        ("((metrics.auc > 1)", 0, "unbalanced parenthesis"),
        ("metrics.auc > 1)", 15, "unbalanced parenthesis"),
        ("params.n IN (1, 2", 12, "unbalanced parenthesis"),
        (
            "metricz.auc > 1",
            0,
            "unknown entity 'metricz' (expected metrics, params, tags, attributes or datasets)",
        ),
        ("metrics.auc > 1 and foo.bar = 2", 20, "unknown entity 'foo'"),
        ("auc > 1", 0, "expected <entity>.<key> but found 'auc'"),
        ("metrics > 1", 7, "expected '.' and a key after 'metrics'"),
        ("metrics. > 1", 8, "expected a key after 'metrics.'"),
        ("metrics.", 8, "unexpected end of filter: expected a key after 'metrics.'"),
        ("metrics.`` > 1", 8, "empty key"),
        ("attributes.colour = 'red'", 11, "unknown attribute 'colour'"),
        (
            "datasets.size > 3",
            9,
            "unknown dataset field 'size' (expected name, digest, role, source or rows)",
        ),
        (
            "metrics.auc > '0.9'",
            14,
            "metrics.auc is compared with numbers, but the value is the string '0.9'",
        ),
        ("metrics.auc LIKE '9%'", 12, "takes only numeric comparisons"),
        ("metrics.auc IN (1, 2)", 12, "takes only numeric comparisons"),
        ("metrics.auc NOT IN (1)", 12, "not NOT IN"),
        ("tags.team = 5", 12, "tag values are strings: quote the value"),
        ("attributes.run_name = 5", 22, "is compared with strings"),
        ("datasets.rows > 'many'", 16, "is compared with numbers"),
        ("attributes.experiment_id = 'abc'", 27, "is an integer"),
        ("attributes.experiment_id = '99999999999999999999'", 27, "number out of range"),
        ("attributes.start_time > '-99999999999999999999'", 24, "number out of range"),
        ("attributes.duration > 'soon'", 22, "invalid duration"),
        ("attributes.start_time LIKE '2024%'", 27, "cannot be matched with LIKE"),
        ("params.model LIKE 5", 18, "LIKE needs a quoted string pattern"),
        ("params.flag > true", 14, "true/false can only be compared with = or !="),
        ("params.flag IN (true)", 16, "true/false can only be compared with = or !="),
        ("params.model = rf", 15, "expected a value after '=' but found 'rf'"),
        ("params.model = null", 15, "use IS NULL"),
        ("params.model = `rf`", 15, "backticks quote keys"),
        ("params.model IS 5", 16, "expected NULL after IS"),
        ("params.model IS NOT 5", 20, "expected NULL after IS NOT"),
        ("params.model NOT = 5", 17, "expected LIKE, ILIKE or IN after NOT"),
        ("params.model IN 'rf'", 16, "expected '(' and a list of values after IN"),
        ("params.model IN ()", 16, "empty list"),
        ("params.model IN ('rf' 'xgb')", 22, "expected ',' or ')' in the list"),
        ("params.model IN ('rf', )", 23, "expected a value after ','"),
        ("params.model IN ('rf', 3)", 23, "cannot mix quoted strings and numbers"),
        ("params.n = 12abc", 11, "invalid number '12abc'"),
        ("params.n = 1.2.3", 11, "invalid number '1.2.3'"),
        ("params.n = 1e999", 11, "number out of range"),
        ("params.n = 99999999999999999999", 11, "number out of range"),
        ("metrics.auc > 1 metrics.b > 2", 16, "expected 'and', 'or' or the end of the filter"),
        ("metrics.auc > 1 and", 19, "unexpected end of filter: expected a comparison"),
        ("metrics.auc > 1 or or metrics.b > 1", 19, "expected <entity>.<key> but found 'or'"),
        ("()", 1, "expected a comparison but found ')'"),
        ("not", 3, "unexpected end of filter: expected a comparison"),
        ("(metrics.a > 1 metrics.b > 1)", 15, "expected 'and', 'or' or ')'"),
        ("= 1", 0, "expected a comparison such as metrics.auc > 0.9 but found '='"),
        ("metrics.a > 1 && metrics.b > 1", 14, "found '&'"),
    ],
)
def test_errors_name_position_and_problem(text, position, phrase):
    err = syntax_error(text)
    assert err.position == position, str(err)
    assert phrase in str(err)
    assert err.text == text
    # the message points at the position
    assert f"(at position {position})" in str(err)
    assert str(err).splitlines()[-1] == "  " + " " * position + "^"


def test_deep_nesting_is_a_syntax_error_not_a_recursion_error():
    err = syntax_error("(" * 500 + "metrics.a > 1" + ")" * 500)
    assert "nested too deeply" in str(err)
    assert err.position == 101
    err = syntax_error("not " * 500 + "metrics.a > 1")
    assert "nested too deeply" in str(err)


def test_non_string_filter_is_rejected():
    with pytest.raises(FilterSyntaxError, match="must be a string"):
        parse_filter(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------- order by


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (None, []),
        ("", []),
        ([], []),
        ("metrics.auc DESC", [OrderKey("metrics", "auc", True)]),
        ("params.lr asc", [OrderKey("params", "lr", False)]),
        ("attributes.start_time", [OrderKey("attributes", "start_time", False)]),
        ("start_time", [OrderKey("attributes", "start_time", False)]),
        ("USER desc", [OrderKey("attributes", "user", True)]),
        ("tags.`team name` Desc", [OrderKey("tags", "team name", True)]),
        ("metric.val.auc", [OrderKey("metrics", "val.auc", False)]),
        (
            ["metrics.auc DESC", "run_name", "  "],
            [OrderKey("metrics", "auc", True), OrderKey("attributes", "run_name", False)],
        ),
        (
            "metrics.auc desc, params.n",
            [OrderKey("metrics", "auc", True), OrderKey("params", "n", False)],
        ),
    ],
)
def test_order_by(items, expected):
    assert parse_order_by(items) == expected


@pytest.mark.parametrize(
    ("item", "position", "phrase"),
    [
        ("metrics.auc DESCENDING", 12, "expected ASC, DESC, ',' or the end"),
        ("metrics.auc desc desc", 17, "expected ASC, DESC"),
        ("colour", 0, "unknown attribute 'colour'"),
        ("metricz.auc", 0, "unknown entity 'metricz'"),
        ("attributes.colour", 11, "unknown attribute 'colour'"),
        ("datasets.rows", 0, "cannot order by datasets"),
        ("metrics.auc,", 12, "unexpected end of filter"),
        ("desc metrics.auc", 0, "unknown attribute 'desc'"),
        ("metrics.`auc", 8, "unterminated key"),
    ],
)
def test_order_by_errors(item, position, phrase):
    with pytest.raises(FilterSyntaxError) as info:
        parse_order_by([item])
    assert info.value.position == position, str(info.value)
    assert phrase in str(info.value)


def test_order_by_rejects_non_strings():
    with pytest.raises(FilterSyntaxError, match="must be strings"):
        parse_order_by([3])  # type: ignore[list-item]


# ---------------------------------------------------------------- fuzzing

FRAGMENTS = [
    "metrics",
    "params",
    "tags",
    "attributes",
    "datasets",
    "attr",
    ".",
    "auc",
    "`",
    '"',
    "'",
    "start_time",
    "status",
    "role",
    "rows",
    " ",
    "(",
    ")",
    ",",
    "=",
    "!=",
    "<>",
    "<",
    ">=",
    "and",
    "or",
    "not",
    "NOT",
    "like",
    "ILIKE",
    "in",
    "IN",
    "is",
    "null",
    "NULL",
    "true",
    "1",
    "-2.5",
    "1e",
    "e+",
    "9" * 30,
    "'2024-01-01'",
    "'x''y'",
    "``",
    "val loss",
    "%",
    "\n",
]


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=60))
def test_arbitrary_text_only_raises_filter_syntax_errors(text):
    try:
        parse_filter(text)
    except FilterSyntaxError as err:
        assert err.position is None or 0 <= err.position <= len(text)


@settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=14))
def test_token_soup_only_raises_filter_syntax_errors(parts):
    text = "".join(parts)
    try:
        parse_filter(text)
    except FilterSyntaxError as err:
        assert err.position is not None and 0 <= err.position <= len(text)
    try:
        parse_order_by(text)
    except FilterSyntaxError as err:
        assert err.position is not None and 0 <= err.position <= len(text)
