"""How a prediction server runs (:class:`ServerSettings`) and the state it starts from (:func:`latest_state`).

>>> ServerSettings().timeout_s
5.0
>>> ServerSettings.from_dict({"threads": 4}).threads
4
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from workbench.errors import InvalidInputError
from workbench.serving import strategies
from workbench.serving.predlog import EVENT_SUFFIX


@dataclass
class ServerSettings:
    """How the server runs (every field settable from ``workbench serve`` and ``Deployment.start``)."""

    batching: bool = True
    max_batch_size: int = 64
    max_latency_ms: float = 2.0
    max_queue: int = 1000
    threads: int = 2
    timeout_s: float = 5.0
    max_body_bytes: int = 10_000_000
    log: bool = True
    log_sample_rate: float = 1.0
    log_max_payload_chars: int = 20_000
    flush_interval_s: float = 0.5
    shadow_queue: int = 1000
    rollback_window_s: float = strategies.DEFAULT_ROLLBACK_WINDOW_S
    breaker: dict[str, Any] = field(default_factory=dict)
    tick_s: float = 0.25
    token: str | None = None

    def __post_init__(self) -> None:
        positive = ("max_batch_size", "max_queue", "threads", "timeout_s", "max_body_bytes",
                    "log_max_payload_chars", "flush_interval_s", "shadow_queue", "tick_s")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InvalidInputError(f"server setting {name} must be a positive number, got {value!r}")
        for name, low in (("max_latency_ms", 0.0), ("rollback_window_s", 0.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
                raise InvalidInputError(f"server setting {name} must be a number >= {low:g}, got {value!r}")
        rate = self.log_sample_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1:
            raise InvalidInputError(f"server setting log_sample_rate must be in (0, 1], got {rate!r}")
        if not isinstance(self.breaker, dict):
            raise InvalidInputError(f"server setting breaker must be an object, got {self.breaker!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ServerSettings:
        """Settings from a mapping, refusing unknown names (``ServerSettings.from_dict({"threads": 4})``).

        >>> ServerSettings.from_dict({"threads": 4}).threads
        4
        """
        if not isinstance(values, dict):
            raise InvalidInputError(f"server settings are an object of name: value, got {values!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidInputError(f"unknown server setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("token", None)
        return d


def latest_state(events_folder: str | os.PathLike, deployment: str,
                 stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """The newest state of ``deployment``: the stored one, or a newer one from event files not yet ingested."""
    best = stored
    folder = Path(events_folder)
    if not folder.exists():
        return best
    for path in sorted(folder.glob("*" + EVENT_SUFFIX)):
        try:
            event = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if event.get("deployment") != deployment or not event.get("state"):
            continue
        if best is None or int(event["state"].get("seq", 0)) > int(best.get("seq", 0)):
            best = event["state"]
    return best
