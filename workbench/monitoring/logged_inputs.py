"""A time range of a deployment's prediction log as the data of a drift report.

The prediction server logs every live request's inputs (``workbench/serving``); this names
a range of them, so that "has what the model sees in production drifted from its training
data?" is one call::

    rep = wb.drift_report("churn-train", wb.LoggedInputs("churn-api", last="24h"), store=store)

The same range has a text form, used by the Monitoring screen and its URLs:
``"predictions:churn-api"`` (everything logged), ``"predictions:churn-api@24h"`` (the last
24 hours) or ``"predictions:churn-api@2026-12-01T00:00..2026-12-02T00:00"``. Shadow
requests are left out (they are copies of live ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench.errors import MonitoringInputError, NotFoundError

PREFIX = "predictions:"
DEFAULT_LIMIT = 100_000


def _timestamp(value: Any, what: str) -> pd.Timestamp | None:
    if value is None or value == "":
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise MonitoringInputError(f"prediction log {what} {value!r} is not a time") from exc
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@dataclass(frozen=True)
class LoggedInputs:
    """The logged inputs of ``deployment`` between ``since`` and ``until`` (or the ``last``
    duration up to now), optionally of one ``variant``; the newest ``limit`` requests (at most), in time order.

    >>> LoggedInputs.parse("predictions:churn-api@24h")
    LoggedInputs(deployment='churn-api', since=None, until=None, last='24h', variant=None, limit=100000)
    """

    deployment: str
    since: Any = None
    until: Any = None
    last: str | None = None
    variant: str | None = None
    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        if not isinstance(self.deployment, str) or not self.deployment.strip():
            raise MonitoringInputError("a prediction log needs the deployment's name")
        if self.last is not None and (self.since is not None or self.until is not None):
            raise MonitoringInputError("give either last= or since=/until=, not both")
        if self.last is not None:
            try:
                span = pd.Timedelta(self.last)
            except (TypeError, ValueError) as exc:
                raise MonitoringInputError(
                    f"prediction log last={self.last!r} is not a duration (e.g. '24h', '7D')") from exc
            if span <= pd.Timedelta(0):
                raise MonitoringInputError(f"prediction log last={self.last!r} must be positive")
        since, until = _timestamp(self.since, "since"), _timestamp(self.until, "until")
        if since is not None and until is not None and since >= until:
            raise MonitoringInputError(f"prediction log since {since} is not before until {until}")
        if not isinstance(self.limit, int) or self.limit < 1:
            raise MonitoringInputError(f"prediction log limit must be a positive integer, not {self.limit!r}")

    @classmethod
    def parse(cls, text: str) -> LoggedInputs | None:
        """The range a ``"predictions:NAME[@LAST | @SINCE..UNTIL]"`` text names (None if it
        does not start with ``predictions:``)."""
        if not isinstance(text, str) or not text.startswith(PREFIX):
            return None
        name, _, span = text[len(PREFIX):].partition("@")
        if not span:
            return cls(name)
        if ".." in span:
            since, _, until = span.partition("..")
            return cls(name, since=since or None, until=until or None)
        return cls(name, last=span)

    def text(self) -> str:
        """The text form (the inverse of :meth:`parse`)."""
        if self.last:
            return f"{PREFIX}{self.deployment}@{self.last}"
        if self.since is None and self.until is None:
            return f"{PREFIX}{self.deployment}"
        since = "" if self.since is None else _timestamp(self.since, "since").isoformat()
        until = "" if self.until is None else _timestamp(self.until, "until").isoformat()
        return f"{PREFIX}{self.deployment}@{since}..{until}"

    def bounds(self, now: pd.Timestamp | None = None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """The (since, until) the range means at ``now`` (UTC; None = open)."""
        if self.last:
            end = now if now is not None else pd.Timestamp.now(tz="UTC")
            return end - pd.Timedelta(self.last), None
        return _timestamp(self.since, "since"), _timestamp(self.until, "until")

    def label(self) -> str:
        """How a report names this input."""
        if self.last:
            span = f"the last {self.last}"
        elif self.since is None and self.until is None:
            span = "all logged requests"
        else:
            since, until = self.bounds()
            span = f"{since or '…'} to {until or 'now'}"
        variant = f", variant {self.variant}" if self.variant else ""
        return f"prediction log of {self.deployment} ({span}{variant})"

    def read(self, store: Any) -> pd.DataFrame:
        """The logged input rows, as one DataFrame (prediction segments still waiting beside
        the store are ingested first, by the store's own open)."""
        from workbench.store import serving_store as ss
        from workbench.store.schema import schema_version

        since, until = self.bounds()
        with store.connection() as con:
            if schema_version(con, "serving") == 0 or ss.get_deployment(con, self.deployment) is None:
                raise NotFoundError(f"no deployment named {self.deployment!r} in this store")
            return ss.logged_inputs(con, self.deployment, _ms(since), _ms(until), self.variant,
                                    limit=self.limit)


def _ms(ts: pd.Timestamp | None) -> int | None:
    return None if ts is None else int(ts.value // 1_000_000)

