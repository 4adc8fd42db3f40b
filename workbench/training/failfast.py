"""Fail fast: stop a sweep whose first trials all fail the same way.

A sweep given a broken train function would otherwise run every trial into the
same error. :data:`FAIL_FAST_TRIALS` (3) finished trials, all FAILED and none
FINISHED, whose errors end in the same line (exception type and message) stop
the sweep; it ends FAILED with an error that quotes that line.

>>> from types import SimpleNamespace as T
>>> tb = "Traceback ...\\nTypeError: train() takes 1 positional argument but 2 were given"
>>> same_failure([T(status="FAILED", error=tb)] * 3)
'TypeError: train() takes 1 positional argument but 2 were given'
>>> same_failure([T(status="FAILED", error=tb)] * 2) is None
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FAIL_FAST_TRIALS = 3


def last_line(error: str | None) -> str:
    """The last non-empty line of a traceback (the exception's type and message)."""
    lines = [line for line in (error or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def same_failure(results: Iterable[Any], n: int = FAIL_FAST_TRIALS) -> str | None:
    """The shared error line when at least ``n`` trials failed alike and none finished."""
    results = list(results)
    if n < 1 or any(r.status == "FINISHED" for r in results):
        return None
    failed = [r for r in results if r.status == "FAILED"]
    if len(failed) < n:
        return None
    lines = {last_line(r.error) for r in failed}
    return lines.pop() if len(lines) == 1 else None
