"""Fault injection for drills, tests and the benchmark: a model wrapper that fails or slows down.

``FaultyModel(model, error_rate=0.2)`` raises on a share of ``predict``
calls (seeded, so a drill is repeatable); ``delay_s`` sleeps in every call;
``fail_value=(column, value)`` raises whenever a row has that value, so a
test can send one poisoned request among good ones. Register it like any
model (``run.log_model(FaultyModel(...), input_example=...)``; ``healthy_calls``
keeps the warm-up calls healthy) to rehearse
a canary rollback or a breaker opening.

>>> import numpy as np, pandas as pd
>>> from sklearn.dummy import DummyClassifier
>>> base = DummyClassifier(strategy="constant", constant=1).fit([[0]], [1])
>>> m = FaultyModel(base, fail_value=("x", -1))
>>> m.predict(pd.DataFrame({"x": [0]})).tolist()
[1]
>>> m.predict(pd.DataFrame({"x": [-1]}))
Traceback (most recent call last):
...
RuntimeError: injected failure: a row has x == -1
"""

from __future__ import annotations

import random
import time
from typing import Any


class FaultyModel:
    """Wraps a fitted model; see the module docstring."""

    def __init__(self, model: Any, error_rate: float = 0.0, delay_s: float = 0.0,
                 fail_value: tuple[str, Any] | None = None, seed: int = 0,
                 healthy_calls: int = 0) -> None:
        self.model = model
        self.error_rate = float(error_rate)
        self.delay_s = float(delay_s)
        self.fail_value = fail_value
        self.seed = seed
        self.healthy_calls = int(healthy_calls)  # the first calls (warm-up) never fail or wait
        self._rng: random.Random | None = None
        self._calls = 0

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_rng", "_calls")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._rng = None
        self._calls = 0

    def predict(self, X: Any) -> Any:
        if self._rng is None:
            self._rng = random.Random(self.seed)
        self._calls += 1
        if self._calls <= self.healthy_calls:
            return self.model.predict(X)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_value is not None:
            column, value = self.fail_value
            if column in getattr(X, "columns", ()) and (X[column] == value).any():
                raise RuntimeError(f"injected failure: a row has {column} == {value}")
        if self.error_rate and self._rng.random() < self.error_rate:
            raise RuntimeError(f"injected failure (error_rate={self.error_rate})")
        return self.model.predict(X)
