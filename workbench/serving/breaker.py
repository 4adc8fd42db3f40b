"""A circuit breaker per variant, with resilience4j's count-window semantics.

Closed: every call is allowed and its outcome (failed, slow) goes into a
window of the last ``window`` calls. Once the window holds at least
``min_calls`` calls and the failure rate or the slow-call rate reaches
``failure_rate`` (resp. ``slow_rate``), the breaker opens. Open: no call is
allowed for ``open_seconds``; then half-open: ``half_open_calls`` trial calls
are allowed, and their outcome closes the breaker (rates below the thresholds)
or opens it again.

>>> b = CircuitBreaker(window=10, min_calls=4, open_seconds=30)
>>> for _ in range(4):
...     b.record(ok=False)
>>> b.state, b.allow()
('open', False)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class BreakerSettings:
    """The breaker's options (defaults: window 100, >= 20 calls, 50 %, 30 s open, 5 trials)."""

    window: int = 100
    min_calls: int = 20
    failure_rate: float = 0.5
    slow_rate: float = 0.5
    slow_ms: float = 5000.0
    open_seconds: float = 30.0
    half_open_calls: int = 5


class CircuitBreaker:
    """One variant's breaker; ``on_change(old, new, stats)`` is called on every state change."""

    def __init__(self, window: int = 100, min_calls: int = 20, failure_rate: float = 0.5,
                 slow_rate: float = 0.5, slow_ms: float = 5000.0, open_seconds: float = 30.0,
                 half_open_calls: int = 5, on_change: Callable[[str, str, dict], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = BreakerSettings(window, min_calls, failure_rate, slow_rate, slow_ms,
                                        open_seconds, half_open_calls)
        self.on_change = on_change
        self.clock = clock
        self._calls: deque[tuple[bool, bool]] = deque(maxlen=window)
        self._state = CLOSED
        self._opened_at = 0.0
        self._trials_started = 0
        self._trials: list[tuple[bool, bool]] = []
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: BreakerSettings | dict | None, **kw: Any) -> CircuitBreaker:
        s = settings if isinstance(settings, BreakerSettings) else BreakerSettings(**(settings or {}))
        return cls(s.window, s.min_calls, s.failure_rate, s.slow_rate, s.slow_ms, s.open_seconds,
                   s.half_open_calls, **kw)

    @property
    def state(self) -> str:
        with self._lock:
            self._tick()
            return self._state

    def _tick(self) -> None:
        if self._state == OPEN and self.clock() - self._opened_at >= self.settings.open_seconds:
            self._move(HALF_OPEN)

    def _move(self, new: str) -> None:
        old, self._state = self._state, new
        if new == OPEN:
            self._opened_at = self.clock()
        if new == HALF_OPEN:
            self._trials_started = 0
            self._trials = []
        if new == CLOSED:
            self._calls.clear()
        if self.on_change is not None and old != new:
            try:
                self.on_change(old, new, self._stats())
            except Exception:  # an observer must never break serving
                pass

    def allow(self) -> bool:
        """May a call go to this variant now? (In half-open, counts a trial call.)"""
        with self._lock:
            self._tick()
            if self._state == CLOSED:
                return True
            if self._state == HALF_OPEN and self._trials_started < self.settings.half_open_calls:
                self._trials_started += 1
                return True
            return False

    def release(self) -> None:
        """Give back a call ``allow`` granted that never reached the model (e.g. refused as overloaded):
        in half-open its trial slot is free again, so a refused trial cannot keep the breaker shut."""
        with self._lock:
            if self._state == HALF_OPEN and self._trials_started > len(self._trials):
                self._trials_started -= 1

    def record(self, ok: bool, latency_ms: float = 0.0) -> None:
        """Record one call's outcome (``ok`` False for an error; slow when over ``slow_ms``)."""
        slow = latency_ms > self.settings.slow_ms
        with self._lock:
            self._tick()
            if self._state == HALF_OPEN:
                self._trials.append((not ok, slow))
                if len(self._trials) >= self.settings.half_open_calls:
                    self._move(OPEN if self._tripped(self._trials) else CLOSED)
                return
            if self._state == OPEN:
                return
            self._calls.append((not ok, slow))
            if len(self._calls) >= self.settings.min_calls and self._tripped(self._calls):
                self._move(OPEN)

    def _tripped(self, calls: Any) -> bool:
        n = len(calls)
        failed = sum(1 for f, _ in calls if f)
        slow = sum(1 for _, s in calls if s)
        return failed / n >= self.settings.failure_rate or slow / n >= self.settings.slow_rate

    def _stats(self) -> dict[str, Any]:
        calls = list(self._calls) or self._trials
        n = len(calls)
        return {"calls": n,
                "failure_rate": (sum(f for f, _ in calls) / n) if n else 0.0,
                "slow_rate": (sum(s for _, s in calls) / n) if n else 0.0}

    def snapshot(self) -> dict[str, Any]:
        """State and window rates, for status and the metrics endpoint."""
        with self._lock:
            self._tick()
            return {"state": self._state, **self._stats()}
