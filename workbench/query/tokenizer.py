"""The filter language's scanner: characters, words, quoted literals and numbers.

:class:`Scanner` walks the text of a filter with a cursor; the recursive-descent
:class:`~workbench.query.parser.Parser` builds on it. Every error it raises is a
:class:`~workbench.errors.FilterSyntaxError` that quotes the text and points at
the position.

>>> s = Scanner("  metrics.`val loss` > 1e-3")
>>> s.peek_word()
'metrics'
>>> s.pos = s.text.index("`"); s.parse_quoted("`", "key")
'val loss'
>>> s.pos = s.text.index("1"); s.parse_number()
0.001
"""

from __future__ import annotations

import math

from workbench.errors import FilterSyntaxError

_INT64_MAX = 2**63 - 1

_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_WORD_CHARS = _IDENT_START | frozenset("0123456789")
_KEY_CHARS = _WORD_CHARS | frozenset("-./:")
_DIGITS = frozenset("0123456789")
_SPACE = frozenset(" \t\r\n\f\v")


class Scanner:
    """A cursor over the characters of ``text`` (no separate token stream: the grammar is small)."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.depth = 0

    # ----------------------------------------------------------------- helpers

    def error(self, message: str, position: int | None = None) -> FilterSyntaxError:
        return FilterSyntaxError(message, self.text, self.pos if position is None else position)

    def skip_space(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n and text[self.pos] in _SPACE:
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def peek_word(self) -> str:
        """The identifier-like word at the cursor (after spaces), lower-cased; '' if none."""
        self.skip_space()
        end = self.pos
        while end < len(self.text) and self.text[end] in _WORD_CHARS:
            end += 1
        return self.text[self.pos : end].lower()

    def accept_keyword(self, word: str) -> bool:
        if self.peek_word() == word:
            self.pos += len(word)
            return True
        return False

    def describe(self, position: int) -> str:
        """A short quotation of what is at ``position``, for error messages."""
        text = self.text
        if position >= len(text):
            return "the end of the filter"
        ch = text[position]
        if ch in _KEY_CHARS:
            end = position
            while end < len(text) and text[end] in _KEY_CHARS and end - position < 30:
                end += 1
            return repr(text[position:end])
        if text[position : position + 2] in ("<=", ">=", "!=", "<>"):
            return repr(text[position : position + 2])
        return repr(ch)


    def parse_quoted(self, quote: str, what: str) -> str:
        """A ``quote``-delimited literal at the cursor; a doubled quote stands for itself."""
        text = self.text
        start = self.pos
        i = start + 1
        parts: list[str] = []
        while True:
            j = text.find(quote, i)
            if j < 0:
                raise self.error(f"unterminated {what}: no closing {quote} for this one", start)
            parts.append(text[i:j])
            if text.startswith(quote, j + 1):
                parts.append(quote)
                i = j + 2
                continue
            self.pos = j + 1
            return "".join(parts)

    def parse_number(self) -> int | float:
        text = self.text
        start = i = self.pos
        n = len(text)
        if text[i] in "+-":
            i += 1
        while i < n and text[i] in _DIGITS:
            i += 1
        is_float = False
        if i < n and text[i] == ".":
            is_float = True
            i += 1
            while i < n and text[i] in _DIGITS:
                i += 1
        if i < n and text[i] in "eE":
            j = i + 1
            if j < n and text[j] in "+-":
                j += 1
            if j < n and text[j] in _DIGITS:
                is_float = True
                i = j
                while i < n and text[i] in _DIGITS:
                    i += 1
        literal = text[start:i]
        if i < n and (text[i] in _KEY_CHARS):
            end = i
            while end < n and text[end] in _KEY_CHARS:
                end += 1
            raise self.error(f"invalid number {text[start:end]!r}", start)
        if literal.strip("+-.") == "":
            raise self.error(f"invalid number {literal!r}", start)
        try:
            number: int | float = float(literal) if is_float else int(literal)
        except (ValueError, OverflowError):
            raise self.error(f"invalid number {literal!r}", start) from None
        if isinstance(number, float) and not math.isfinite(number):
            raise self.error(f"number out of range: {literal}", start)
        if isinstance(number, int) and abs(number) > _INT64_MAX:
            raise self.error(f"number out of range: {literal}", start)
        self.pos = i
        return number
