"""The run-search filter language: MLflow's search syntax, slightly extended.

A filter is a boolean expression of comparisons::

    metrics.auc > 0.9 and params.model = 'rf' and not tags.team IS NULL

* A comparison is ``<entity>.<key> <operator> <value>``. Entities are
  ``metrics``, ``params``, ``tags``, ``attributes`` and ``datasets`` (MLflow's
  singular forms and ``attr``/``run`` are accepted and normalised to these).
* A key is an identifier (a letter or ``_``, then letters, digits and
  ``_ - . / :``; so ``metrics.val.auc`` is the metric ``val.auc``) or is quoted
  with backticks or double quotes: ``metrics.`val loss```, ``tags."mlflow.user"``.
* Operators: ``= != <> < <= > >= LIKE ILIKE NOT LIKE NOT ILIKE IN (...)
  NOT IN (...) IS NULL IS NOT NULL``; keywords are case-insensitive.
* Values: strings in single or double quotes (a doubled quote escapes itself),
  numbers (``3``, ``-0.5``, ``1e-3``), ``true``/``false`` and, after ``IN``,
  a parenthesised list.
* ``and``, ``or``, ``not`` and parentheses combine comparisons; ``not`` binds
  tighter than ``and``, which binds tighter than ``or``.

This module only parses: it knows nothing of SQL. The tree it returns is
compiled by :mod:`workbench.store.search_sql`, which also documents what each
comparison means when a run lacks the key.

>>> parse_filter("metrics.auc > 0.9 and params.model = 'rf'")
And(items=(Comparison(entity='metrics', key='auc', op='>', value=0.9, position=0), \
Comparison(entity='params', key='model', op='=', value='rf', position=22)))
>>> parse_order_by(["metrics.auc DESC", "start_time"])
[OrderKey(entity='metrics', key='auc', descending=True), \
OrderKey(entity='attributes', key='start_time', descending=False)]
"""

from __future__ import annotations

from workbench.errors import FilterSyntaxError
from workbench.query.nodes import (
    _ATTRIBUTE_ALIASES,
    _ENTITY_ALIASES,
    _INTEGER_ATTRIBUTES,
    _METRIC_OPS,
    _NULL_OPS,
    _NUMERIC_DATASET_FIELDS,
    _TIME_ATTRIBUTES,
    ATTRIBUTES,
    DATASET_FIELDS,
    ENTITIES,
    RUN_STATUSES,
    And,
    Comparison,
    Node,
    Not,
    Or,
    OrderKey,
    Value,
)
from workbench.query.tokenizer import (
    _DIGITS,
    _IDENT_START,
    _INT64_MAX,
    _KEY_CHARS,
    _WORD_CHARS,
    Scanner,
)

__all__ = ["Parser", "parse_filter", "parse_order_by"]

_MAX_DEPTH = 100


def parse_filter(text: str | None) -> Node | None:
    """Parse a search filter; ``None`` for ``None`` or blank text.

    Raises :class:`~workbench.errors.FilterSyntaxError` (with the position and
    the problem) when the text is not a valid filter.

    >>> parse_filter("  ") is None
    True
    >>> parse_filter("attributes.status = 'finished' or not metrics.loss < 1")
    Or(items=(Comparison(entity='attributes', key='status', op='=', value='FINISHED', position=0), \
Not(item=Comparison(entity='metrics', key='loss', op='<', value=1.0, position=38))))
    >>> parse_filter("metrics.auc > 'high'")
    Traceback (most recent call last):
    ...
    workbench.errors.FilterSyntaxError: metrics.auc is compared with numbers, but the value is \
the string 'high' (at position 14)
      metrics.auc > 'high'
                    ^
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise FilterSyntaxError(f"a filter must be a string, not {type(text).__name__}")
    if not text.strip():
        return None
    return Parser(text).parse_filter()


def parse_order_by(items: list[str] | str | None) -> list[OrderKey]:
    """Parse ``ORDER BY`` items such as ``"metrics.auc DESC"`` or ``"start_time"``.

    ``items`` is one string (items separated by commas) or a list of them. An
    item is ``<entity>.<key>`` or a bare attribute name, optionally followed by
    ``ASC`` (the default) or ``DESC``. ``datasets`` cannot be ordered on.

    >>> parse_order_by("metrics.`val loss` desc, attributes.start_time")
    [OrderKey(entity='metrics', key='val loss', descending=True), \
OrderKey(entity='attributes', key='start_time', descending=False)]
    >>> parse_order_by(None)
    []
    """
    if items is None:
        return []
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, (list, tuple)):
        raise FilterSyntaxError(
            f"order_by must be a string or a list of strings, not {type(items).__name__}"
        )
    keys: list[OrderKey] = []
    for item in items:
        if not isinstance(item, str):
            raise FilterSyntaxError(
                f"order_by items must be strings, not {type(item).__name__}: {item!r}"
            )
        if item.strip():
            keys.extend(Parser(item).parse_order_list())
    return keys


class Parser(Scanner):
    """A recursive-descent parser over :class:`~workbench.query.tokenizer.Scanner`."""

    # -------------------------------------------------------------- expressions

    def parse_filter(self) -> Node:
        node = self.parse_or()
        if not self.at_end():
            if self.text[self.pos] == ")":
                raise self.error("unbalanced parenthesis: ')' has no matching '('")
            raise self.error(
                f"expected 'and', 'or' or the end of the filter but found {self.describe(self.pos)}"
            )
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.accept_keyword("or"):
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(_flatten(items, Or)))

    def parse_and(self) -> Node:
        items = [self.parse_not()]
        while self.accept_keyword("and"):
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else And(tuple(_flatten(items, And)))

    def parse_not(self) -> Node:
        if self.accept_keyword("not"):
            self.enter()
            item = self.parse_not()
            self.depth -= 1
            return Not(item)
        return self.parse_primary()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error(f"the filter is nested too deeply (more than {_MAX_DEPTH} levels)")

    def parse_primary(self) -> Node:
        if self.at_end():
            raise self.error("unexpected end of filter: expected a comparison")
        if self.text[self.pos] == "(":
            opening = self.pos
            self.pos += 1
            self.enter()
            node = self.parse_or()
            self.depth -= 1
            if self.at_end():
                raise self.error(
                    f"unbalanced parenthesis: the '(' at position {opening} is never closed",
                    opening,
                )
            if self.text[self.pos] != ")":
                raise self.error(f"expected 'and', 'or' or ')' but found {self.describe(self.pos)}")
            self.pos += 1
            return node
        return self.parse_comparison()

    # -------------------------------------------------------------- comparisons

    def parse_lhs(self, *, bare_attributes: bool = False) -> tuple[str, str, int]:
        """``<entity>.<key>``; returns (entity, key, start position)."""
        self.skip_space()
        start = self.pos
        text = self.text
        if start >= len(text):
            raise self.error("unexpected end of filter: expected a comparison")
        if text[start] not in _IDENT_START:
            if text[start] == ")":
                raise self.error("expected a comparison but found ')'")
            raise self.error(
                f"expected a comparison such as metrics.auc > 0.9 but found {self.describe(start)}"
            )
        end = start
        while end < len(text) and text[end] in _WORD_CHARS:
            end += 1
        word = text[start:end]
        self.pos = end
        if end >= len(text) or text[end] != ".":
            if bare_attributes:
                name = _ATTRIBUTE_ALIASES.get(word.lower(), word.lower())
                if name in ATTRIBUTES:
                    return "attributes", name, start
                raise self.error(
                    f"unknown attribute {word!r} (expected <entity>.<key> or one of "
                    f"{_or_list(ATTRIBUTES)})",
                    start,
                )
            if word.lower() in _ENTITY_ALIASES:
                raise self.error(f"expected '.' and a key after {word!r}", end)
            raise self.error(
                f"expected <entity>.<key> but found {word!r} (entities are "
                f"{_or_list(ENTITIES)}, e.g. metrics.auc or attributes.status)",
                start,
            )
        entity = _ENTITY_ALIASES.get(word.lower())
        if entity is None:
            raise self.error(f"unknown entity {word!r} (expected {_or_list(ENTITIES)})", start)
        self.pos = end + 1
        key_start = self.pos
        key = self.parse_key(word)
        if entity == "attributes":
            name = _ATTRIBUTE_ALIASES.get(key.lower(), key.lower())
            if name not in ATTRIBUTES:
                raise self.error(
                    f"unknown attribute {key!r} (expected {_or_list(ATTRIBUTES)})", key_start
                )
            key = name
        elif entity == "datasets":
            name = key.lower()
            if name not in DATASET_FIELDS:
                raise self.error(
                    f"unknown dataset field {key!r} (expected {_or_list(DATASET_FIELDS)})",
                    key_start,
                )
            key = name
        return entity, key, start

    def parse_key(self, entity_word: str) -> str:
        text = self.text
        start = self.pos
        if start >= len(text):
            raise self.error(f"unexpected end of filter: expected a key after '{entity_word}.'")
        ch = text[start]
        if ch in '`"':
            key = self.parse_quoted(ch, "key")
            if not key:
                raise self.error("empty key", start)
            return key
        if ch not in _IDENT_START:
            raise self.error(
                f"expected a key after '{entity_word}.' but found {self.describe(start)} "
                "(quote keys with unusual characters in backticks: metrics.`my key`)"
            )
        end = start
        while end < len(text) and text[end] in _KEY_CHARS:
            end += 1
        self.pos = end
        return text[start:end]

    def parse_operator(self, lhs: str) -> str:
        self.skip_space()
        start = self.pos
        text = self.text
        if start >= len(text):
            raise self.error(
                f"unexpected end of filter: expected a comparison operator after {lhs!r}"
            )
        two = text[start : start + 2]
        if two in ("<=", ">=", "!=", "<>", "=="):
            self.pos += 2
            return {"<>": "!=", "==": "="}.get(two, two)
        if text[start] in "=<>":
            self.pos += 1
            return text[start]
        word = self.peek_word()
        if word in ("like", "ilike", "in"):
            self.pos += len(word)
            return word.upper()
        if word == "is":
            self.pos += 2
            negated = self.accept_keyword("not")
            after = "IS NOT" if negated else "IS"
            if not self.accept_keyword("null"):
                raise self.error(f"expected NULL after {after} but found {self.describe(self.pos)}")
            return f"{after} NULL"
        if word == "not":
            self.pos += 3
            after = self.peek_word()
            if after in ("like", "ilike", "in"):
                self.pos += len(after)
                return f"NOT {after.upper()}"
            raise self.error(
                f"expected LIKE, ILIKE or IN after NOT but found {self.describe(self.pos)}"
            )
        raise self.error(
            f"expected a comparison operator after {lhs!r} but found {self.describe(start)}"
        )

    def parse_comparison(self) -> Comparison:
        entity, key, start = self.parse_lhs()
        lhs = self.text[start : self.pos]
        self.skip_space()
        op_start = self.pos
        op = self.parse_operator(lhs)
        if op in _NULL_OPS:
            return Comparison(entity, key, op, None, start)
        if entity == "metrics" and op not in _METRIC_OPS:
            raise self.error(
                f"{lhs} takes only numeric comparisons (=, !=, <, <=, >, >=, IS NULL, "
                f"IS NOT NULL), not {op}",
                op_start,
            )
        if op in ("IN", "NOT IN"):
            value: Value = self.parse_list(entity, key, lhs, op)
        else:
            value = self.check_value(entity, key, lhs, op, self.parse_value(op), self.pos)
        return Comparison(entity, key, op, value, start)

    def parse_value(self, after: str) -> tuple[Value, int, bool]:
        """A literal; returns (value, start position, was_quoted)."""
        self.skip_space()
        start = self.pos
        text = self.text
        if start >= len(text):
            raise self.error(f"unexpected end of filter: expected a value after {after!r}")
        ch = text[start]
        if ch in "'\"":
            return self.parse_quoted(ch, "string"), start, True
        if ch in _DIGITS or (
            ch in "-+."
            and start + 1 < len(text)
            and (text[start + 1] in _DIGITS or text[start + 1] == ".")
        ):
            return self.parse_number(), start, False
        word = self.peek_word()
        if word in ("true", "false"):
            self.pos += len(word)
            return word == "true", start, False
        if word == "null":
            raise self.error(
                f"use IS NULL or IS NOT NULL to test for a missing value, not {after} NULL"
            )
        if ch == "`":
            raise self.error(
                "backticks quote keys, not values: write strings in 'single' or \"double\" quotes"
            )
        if word:
            raise self.error(
                f"expected a value after {after!r} but found {self.describe(start)} "
                f"(quote strings: '{text[start : start + len(word)]}')"
            )
        raise self.error(f"expected a value after {after!r} but found {self.describe(start)}")

    def parse_list(self, entity: str, key: str, lhs: str, op: str) -> tuple:
        self.skip_space()
        opening = self.pos
        if self.pos >= len(self.text):
            raise self.error(f"unexpected end of filter: expected '(' and a list after {op}")
        if self.text[self.pos] != "(":
            raise self.error(
                f"expected '(' and a list of values after {op} but found {self.describe(self.pos)}"
            )
        self.pos += 1
        items: list[Value] = []
        kinds: set[str] = set()
        if not self.at_end() and self.text[self.pos] == ")":
            raise self.error(f"empty list after {op}: give at least one value", opening)
        after = "("
        while True:
            raw = self.parse_value(after)
            if isinstance(raw[0], bool):
                raise self.error("true/false can only be compared with = or !=", raw[1])
            kinds.add("string" if raw[2] else "number")
            if entity == "params" and len(kinds) > 1:
                # strings compare as text and numbers numerically: one or the other
                raise self.error("a list cannot mix quoted strings and numbers", raw[1])
            items.append(self.check_value(entity, key, lhs, op, raw, self.pos))
            if self.at_end():
                raise self.error(
                    f"unbalanced parenthesis: the list opened at position {opening} is never "
                    "closed",
                    opening,
                )
            ch = self.text[self.pos]
            if ch == ")":
                self.pos += 1
                return tuple(items)
            if ch != ",":
                raise self.error(
                    f"expected ',' or ')' in the list but found {self.describe(self.pos)}"
                )
            self.pos += 1
            after = ","

    # ------------------------------------------------------------------ values

    def check_value(
        self, entity: str, key: str, lhs: str, op: str, raw: tuple[Value, int, bool], end: int
    ) -> Value:
        """Check a literal against what ``entity.key`` holds and normalise it."""
        value, start, quoted = raw
        is_bool = isinstance(value, bool)
        is_number = not quoted and not is_bool
        if is_bool and op not in ("=", "!="):
            raise self.error(f"true/false can only be compared with = or !=, not {op}", start)
        if op in ("LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE") and not quoted:
            raise self.error(f"{op} needs a quoted string pattern, e.g. {lhs} {op} 'rf%'", start)
        if entity == "metrics":
            if quoted:
                raise self.error(
                    f"{lhs} is compared with numbers, but the value is the string {value!r}",
                    start,
                )
            return float(value)
        if entity == "params":
            return value
        if entity == "tags":
            if not quoted:
                raise self.error(
                    f"tag values are strings: quote the value, e.g. {lhs} {op} "
                    f"'{self.text[start:end]}'",
                    start,
                )
            return value
        if entity == "datasets":
            if key in _NUMERIC_DATASET_FIELDS:
                if not is_number:
                    raise self.error(f"{lhs} is compared with numbers, not {_kind(value)}", start)
                return value
            if not quoted:
                raise self.error(
                    f"{lhs} is compared with strings: quote the value, e.g. {lhs} {op} "
                    f"'{self.text[start:end]}'",
                    start,
                )
            return value
        # attributes
        if key in _INTEGER_ATTRIBUTES:
            if is_bool:
                raise self.error(f"{lhs} is compared with numbers, not true/false", start)
            if is_number:
                return value
            assert isinstance(value, str)
            if op in ("LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"):
                raise self.error(f"{lhs} is a number and cannot be matched with {op}", start)
            if key in _TIME_ATTRIBUTES:
                return self.timestamp_ms(value, lhs, start)
            if key == "duration":
                return self.duration_ms(value, lhs, start)
            try:
                number = int(value.strip())
            except ValueError:
                raise self.error(
                    f"{lhs} is an integer, but the value is {value!r}", start
                ) from None
            if abs(number) > _INT64_MAX:
                raise self.error(f"number out of range: {value}", start)
            return number
        if not quoted:
            raise self.error(
                f"{lhs} is compared with strings: quote the value, e.g. {lhs} {op} "
                f"'{self.text[start:end]}'",
                start,
            )
        assert isinstance(value, str)
        if key == "status" and op not in ("LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"):
            status = value.strip().upper()
            if status not in RUN_STATUSES:
                raise self.error(
                    f"invalid status {value!r} (expected {_or_list(RUN_STATUSES)})", start
                )
            return status
        return value

    def timestamp_ms(self, value: str, lhs: str, start: int) -> int:
        import pandas as pd

        problem = "not a timestamp"
        digits = value.strip()
        if digits.lstrip("-").isdigit() and digits.isascii():  # quoted epoch milliseconds
            number = int(digits)
            if abs(number) > _INT64_MAX:
                raise self.error(f"number out of range: {value}", start)
            return number
        try:
            ts = pd.Timestamp(value)
        except Exception as exc:  # pandas raises many kinds for bad input
            ts = None
            problem = str(exc).splitlines()[0] if str(exc) else problem
        if ts is None or ts is pd.NaT or not isinstance(ts, pd.Timestamp):
            raise self.error(
                f"invalid timestamp {value!r} for {lhs} ({problem}); use an ISO timestamp such "
                "as '2024-05-01T12:00:00Z' or epoch milliseconds",
                start,
            )
        try:
            ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
            epoch = pd.Timestamp(0, tz="UTC")
            return int((ts - epoch) // pd.Timedelta(1, "ms"))
        except Exception as exc:
            raise self.error(f"invalid timestamp {value!r} for {lhs} ({exc})", start) from None

    def duration_ms(self, value: str, lhs: str, start: int) -> int:
        import pandas as pd

        try:
            delta = pd.Timedelta(value)
            if delta is pd.NaT:
                raise ValueError("empty duration")
            return int(delta // pd.Timedelta(1, "ms"))
        except Exception:
            raise self.error(
                f"invalid duration {value!r} for {lhs}; use milliseconds (a number) or a "
                "quoted duration such as '5min'",
                start,
            ) from None

    # ---------------------------------------------------------------- order by

    def parse_order_list(self) -> list[OrderKey]:
        keys: list[OrderKey] = []
        while True:
            entity, key, start = self.parse_lhs(bare_attributes=True)
            if entity == "datasets":
                raise self.error("cannot order by datasets (a run can have several)", start)
            descending = False
            word = self.peek_word()
            if word in ("asc", "desc"):
                self.pos += len(word)
                descending = word == "desc"
            keys.append(OrderKey(entity, key, descending))
            if self.at_end():
                return keys
            if self.text[self.pos] == ",":
                self.pos += 1
                continue
            raise self.error(
                f"expected ASC, DESC, ',' or the end of the order_by item but found "
                f"{self.describe(self.pos)}"
            )


def _flatten(items: list[Node], kind: type) -> list[Node]:
    flat: list[Node] = []
    for item in items:
        if isinstance(item, kind):
            flat.extend(item.items)  # type: ignore[attr-defined]
        else:
            flat.append(item)
    return flat


def _or_list(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + " or " + names[-1]


def _kind(value: Value) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return f"the string {value!r}"
    return repr(value)
