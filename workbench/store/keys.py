"""Checks at the boundary of the tracking API: keys and metric values.

>>> check_key("val.auc", "metric")
'val.auc'
>>> check_metric_value("auc", "0.9")
Traceback (most recent call last):
...
workbench.errors.MetricValueError: metric 'auc' must be a number, got str '0.9'
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from workbench.errors import InvalidKeyError, MetricValueError

MAX_KEY_LENGTH = 250
_valid_keys: set[str] = set()  # keys already checked: the hot path skips them


def check_key(key: Any, what: str) -> str:
    """A param/metric/tag key: a non-empty string of at most 250 printable characters."""
    if key in _valid_keys:
        return key
    if not isinstance(key, str):
        raise InvalidKeyError(f"{what} key must be a string, got {type(key).__name__} {key!r}")
    if not key or not key.strip():
        raise InvalidKeyError(f"{what} key must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKeyError(
            f"{what} key {key[:40]!r}... is {len(key)} characters long; the limit is {MAX_KEY_LENGTH}"
        )
    if not key.isprintable():
        raise InvalidKeyError(f"{what} key {key!r} contains control characters")
    if len(_valid_keys) < 100_000:
        _valid_keys.add(key)
    return key


def check_metric_value(key: str, value: Any) -> float:
    """A metric value as a float; NaN and infinities pass, non-numbers are refused."""
    kind = type(value)
    if kind is float:
        return value
    if kind is int:
        return float(value)
    if isinstance(value, numbers.Real) and not isinstance(value, (str, bytes)):
        return float(value)
    if hasattr(value, "dtype") and getattr(value, "shape", None) == () and value.dtype.kind in "biuf":
        return float(value)
    raise MetricValueError(
        f"metric {key!r} must be a number, got {kind.__name__} {value!r}"
    )


def check_step(step: Any) -> int:
    """A metric step: a whole number."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        if isinstance(step, float) and step.is_integer() and math.isfinite(step):
            return int(step)
        raise MetricValueError(f"step must be an integer, got {type(step).__name__} {step!r}")
    return int(step)
