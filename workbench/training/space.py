"""Search spaces: ``int_range``, ``float_range`` and ``choice``; sampling and grids.

A space is a plain ``dict`` from parameter name to a dimension. Sampling is
deterministic: the params of trial ``i`` depend only on the sweep's seed and
``i`` (:func:`sample_params`), so a crashed sweep can recompute the params of
the trials it never finished.

>>> space = {"n_estimators": int_range(50, 500), "max_depth": choice([4, 8, None])}
>>> sample_params(space, seed=0, index=3) == sample_params(space, seed=0, index=3)
True
>>> grid_size({"a": int_range(1, 3), "b": choice(["x", "y"])})
6
>>> list(iter_grid({"a": int_range(1, 2), "b": choice(["x", "y"])}))[:2]
[{'a': 1, 'b': 'x'}, {'a': 1, 'b': 'y'}]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.errors import SearchSpaceError

_MAX_GRID = 1_000_000


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SearchSpaceError(f"{what} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(float(value)):
        raise SearchSpaceError(f"{what} must be finite, got {value!r}")
    return value


@dataclass(frozen=True)
class IntRange:
    """Integers from ``low`` to ``high`` inclusive (see :func:`int_range`)."""

    low: int
    high: int
    log: bool = False
    step: int = 1
    num: int | None = None

    def sample(self, rng: np.random.Generator) -> int:
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return int(min(max(math.floor(value), self.low), self.high))
        n = (self.high - self.low) // self.step
        return int(self.low + self.step * rng.integers(0, n + 1))

    def grid(self) -> list[int]:
        if self.num is not None:
            if self.log:
                raw = np.geomspace(self.low, self.high, self.num)
            else:
                raw = np.linspace(self.low, self.high, self.num)
            return sorted({int(round(v)) for v in raw})
        return list(range(self.low, self.high + 1, self.step))

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "int_range",
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "step": self.step,
            "num": self.num,
        }


@dataclass(frozen=True)
class FloatRange:
    """Floats from ``low`` to ``high`` (see :func:`float_range`)."""

    low: float
    high: float
    log: bool = False
    num: int | None = None
    step: float | None = None

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        if self.step is not None:
            n = int(math.floor((self.high - self.low) / self.step + 1e-9))
            return float(self.low + self.step * rng.integers(0, n + 1))
        return float(rng.uniform(self.low, self.high))

    def grid(self) -> list[float]:
        if self.num is not None:
            raw = (
                np.geomspace(self.low, self.high, self.num)
                if self.log
                else np.linspace(self.low, self.high, self.num)
            )
            return [float(v) for v in raw]
        if self.step is not None:
            n = int(math.floor((self.high - self.low) / self.step + 1e-9))
            return [float(self.low + i * self.step) for i in range(n + 1)]
        raise SearchSpaceError(
            f"float_range({self.low}, {self.high}) has no finite grid: give it num=... or step=... "
            "to use it with strategy='grid'"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "float_range",
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "num": self.num,
            "step": self.step,
        }


@dataclass(frozen=True)
class Choice:
    """One of a list of values (see :func:`choice`)."""

    values: tuple

    def sample(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(0, len(self.values)))]

    def grid(self) -> list[Any]:
        return list(self.values)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "choice", "values": list(self.values)}


Dimension = IntRange | FloatRange | Choice


def int_range(
    low: int, high: int, log: bool = False, step: int = 1, num: int | None = None
) -> IntRange:
    """Integers in ``[low, high]`` (both included).

    ``step`` spaces the values (``low``, ``low + step``, ...); ``log=True``
    samples on a log scale (``low`` must be >= 1). For ``strategy="grid"`` the
    grid is every ``step``-th value, or ``num`` values spread evenly (on a log
    scale with ``log=True``) when ``num`` is given.

    >>> int_range(1, 10, step=3).grid()
    [1, 4, 7, 10]
    """
    for name, value in (("low", low), ("high", high), ("step", step)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise SearchSpaceError(
                f"int_range {name} must be an int, got {type(value).__name__} {value!r}"
            )
    low, high, step = int(low), int(high), int(step)
    if high < low:
        raise SearchSpaceError(f"int_range needs low <= high, got low={low}, high={high}")
    if step < 1:
        raise SearchSpaceError(f"int_range step must be >= 1, got {step}")
    if log and low < 1:
        raise SearchSpaceError(f"int_range(log=True) needs low >= 1, got low={low}")
    if log and step != 1:
        raise SearchSpaceError("int_range cannot combine log=True with a step other than 1")
    if num is not None and (isinstance(num, bool) or not isinstance(num, int) or num < 1):
        raise SearchSpaceError(f"int_range num must be a positive int, got {num!r}")
    return IntRange(low, high, bool(log), step, num)


def float_range(
    low: float, high: float, log: bool = False, num: int | None = None, step: float | None = None
) -> FloatRange:
    """Floats in ``[low, high]``, uniform or (``log=True``, ``low > 0``) log-uniform.

    Sampling strategies need nothing more; ``strategy="grid"`` needs ``num``
    (evenly spread values, log-spread with ``log=True``) or ``step``.

    >>> float_range(0.0, 1.0, num=3).grid()
    [0.0, 0.5, 1.0]
    """
    low = float(_number(low, "float_range low"))
    high = float(_number(high, "float_range high"))
    if high < low:
        raise SearchSpaceError(f"float_range needs low <= high, got low={low}, high={high}")
    if log and low <= 0:
        raise SearchSpaceError(f"float_range(log=True) needs low > 0, got low={low}")
    if num is not None and (isinstance(num, bool) or not isinstance(num, int) or num < 1):
        raise SearchSpaceError(f"float_range num must be a positive int, got {num!r}")
    if step is not None:
        step = float(_number(step, "float_range step"))
        if step <= 0:
            raise SearchSpaceError(f"float_range step must be > 0, got {step}")
        if log:
            raise SearchSpaceError("float_range cannot combine log=True with step")
    return FloatRange(low, high, bool(log), num, step)


def choice(values: Any) -> Choice:
    """One value out of ``values`` (a non-empty list or tuple; ``None`` is a valid value).

    >>> choice([4, 8, None]).grid()
    [4, 8, None]
    """
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise SearchSpaceError(
            f"choice needs a list of values, got {type(values).__name__} {values!r}"
        )
    values = tuple(values)
    if not values:
        raise SearchSpaceError("choice needs at least one value, got an empty list")
    return Choice(values)


def check_space(space: Any) -> dict[str, Dimension]:
    """``space`` as a dict of dimensions; plain lists become :func:`choice`, constants fixed."""
    if not isinstance(space, dict) or not space:
        raise SearchSpaceError(
            "space must be a non-empty dict of name -> int_range/float_range/choice, "
            f"got {type(space).__name__} {space!r}"[:300]
        )
    out: dict[str, Dimension] = {}
    for name, dim in space.items():
        if not isinstance(name, str) or not name:
            raise SearchSpaceError(f"space keys must be non-empty strings, got {name!r}")
        if isinstance(dim, (IntRange, FloatRange, Choice)):
            out[name] = dim
        elif isinstance(dim, (list, tuple)):
            out[name] = choice(dim)
        else:
            raise SearchSpaceError(
                f"space[{name!r}] must be int_range(...), float_range(...), choice([...]) or a list, "
                f"got {type(dim).__name__} {dim!r}"
            )
    return out


def sample_params(space: dict[str, Dimension], seed: int, index: int) -> dict[str, Any]:
    """The params of trial ``index`` of a random search seeded with ``seed``."""
    rng = np.random.default_rng([int(seed), int(index)])
    return {name: dim.sample(rng) for name, dim in space.items()}


def grid_size(space: dict[str, Dimension]) -> int:
    """How many points the full grid of ``space`` has (errors on an infinite grid)."""
    return math.prod(len(dim.grid()) for dim in space.values())


def iter_grid(space: dict[str, Dimension]) -> Iterator[dict[str, Any]]:
    """Every point of the grid, in a fixed order (the last name varies fastest)."""
    names = list(space)
    axes = [space[n].grid() for n in names]
    size = math.prod(len(a) for a in axes)
    if size > _MAX_GRID:
        raise SearchSpaceError(
            f"the grid has {size} points (more than {_MAX_GRID}); use num=/step= for coarser "
            "ranges or strategy='random'"
        )
    for values in itertools.product(*axes):
        yield dict(zip(names, values))


def trial_seed(seed: int, config: int) -> int:
    """The seed handed to trial/config ``config`` of a sweep seeded with ``seed`` (32-bit)."""
    return int(np.random.SeedSequence([int(seed), int(config)]).generate_state(1)[0])


def space_to_dict(space: dict[str, Dimension]) -> dict[str, Any]:
    """A JSON-able description of ``space`` (recorded on the sweep run)."""
    return {name: dim.to_dict() for name, dim in space.items()}


def space_from_dict(data: dict[str, Any]) -> dict[str, Dimension]:
    """The inverse of :func:`space_to_dict`."""
    out: dict[str, Dimension] = {}
    for name, d in data.items():
        kind = d.get("type")
        if kind == "int_range":
            out[name] = int_range(
                d["low"], d["high"], log=d["log"], step=d["step"], num=d.get("num")
            )
        elif kind == "float_range":
            out[name] = float_range(
                d["low"], d["high"], log=d["log"], num=d.get("num"), step=d.get("step")
            )
        elif kind == "choice":
            out[name] = choice(d["values"])
        else:
            raise SearchSpaceError(f"unknown dimension type {kind!r} for {name!r}")
    return out
