"""One router for every strategy: variants with weights, sticky buckets, shadows, bandits.

A deployment's state (a plain dict, stored in the store and replayed from
event files) lists its variants: ``{"name", "spec", "role", "weight"}`` with
``role`` champion / challenger / shadow and ``weight`` in basis points
(0..10,000). A request's key (the ``x-workbench-key`` header or a chosen
input field) is hashed into 10,000 buckets with the A/B package's
``bucket(salt, key)`` (GrowthBook's FNV-1a v2, the salt being the
deployment's name), so an assignment can be recomputed offline from the log.
Weights are cumulative ranges with the challengers first and the champion
last, so raising a canary's weight only moves users from the champion into
the canary, never out of it. Requests without a key get a random bucket and
are logged with ``sticky = false``.

>>> state = {"variants": [
...     {"name": "v1", "role": "champion", "weight": 9000},
...     {"name": "v2", "role": "challenger", "weight": 1000}]}
>>> ranges(state)
[('v2', 0, 1000), ('v1', 1000, 10000)]
>>> pick(state, 500), pick(state, 5000)
('v2', 'v1')
"""

from __future__ import annotations

import random
from typing import Any

from workbench.abtest.allocation import bucket as _bucket

N_BUCKETS = 10_000
KEY_HEADER = "x-workbench-key"


def bucket(salt: str, key: str) -> int:
    """The request key's bucket (0..9999), the same as :func:`workbench.abtest.allocation.bucket`."""
    return _bucket(salt, key)


def live_variants(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Variants that answer requests (not shadows), challengers first, champion last."""
    vs = [v for v in state.get("variants", []) if v.get("role") != "shadow"]
    return [v for v in vs if v.get("role") != "champion"] + [v for v in vs if v.get("role") == "champion"]


def champion(state: dict[str, Any]) -> dict[str, Any] | None:
    """The champion variant (the fallback of every other)."""
    for v in state.get("variants", []):
        if v.get("role") == "champion":
            return v
    return None


def ranges(state: dict[str, Any]) -> list[tuple[str, int, int]]:
    """Each live variant's bucket range ``[start, end)``; the champion gets what is left."""
    out, start = [], 0
    for v in live_variants(state):
        if v.get("role") == "champion":
            out.append((v["name"], start, N_BUCKETS))
            start = N_BUCKETS
        else:
            end = min(N_BUCKETS, start + int(v.get("weight", 0)))
            if end > start:
                out.append((v["name"], start, end))
            start = end
    return out


def pick(state: dict[str, Any], b: int) -> str:
    """The variant owning bucket ``b``."""
    for name, start, end in ranges(state):
        if start <= b < end:
            return name
    champ = champion(state)
    if champ is None:
        raise LookupError("the deployment has no champion variant")
    return champ["name"]


def request_key(state: dict[str, Any], header_value: str | None, first_row: dict[str, Any] | None) -> str | None:
    """The key a request is assigned by: the header, else the configured input field (None if missing).

    >>> request_key({"key": "customer_id"}, None, {"customer_id": 42}), request_key({"key": "c"}, None, {"c": None})
    ('42', None)
    """
    if header_value:
        return header_value
    field = state.get("key")
    value = None if not field or first_row is None else first_row.get(field)
    if value is None or (isinstance(value, float) and value != value):  # a missing key (None, NaN)
        return None
    return str(value)


def assign(state: dict[str, Any], key: str | None, rng: random.Random) -> tuple[int, bool]:
    """``(bucket, sticky)``: the key's bucket, or a random one (sticky False) without a key."""
    if key is None:
        return rng.randrange(N_BUCKETS), False
    return bucket(state.get("salt") or state.get("deployment", ""), key), True


def shadow_variants(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Shadow variants with their ``percent`` of mirrored requests."""
    return [v for v in state.get("variants", []) if v.get("role") == "shadow"]


def make_bandit(config: dict[str, Any]) -> Any:
    """The bandit policy of a ``{"policy", "arms", "state"}`` config (from :mod:`workbench.abtest.bandits`)."""
    from workbench.abtest import bandits

    cls = {"thompson": bandits.ThompsonSampling, "ucb1": bandits.UCB1, "ucb": bandits.UCB1}[config["policy"]]
    if config.get("state"):
        return cls.from_dict(config["state"])
    return cls(list(config["arms"]), seed=int(config.get("seed") or 0))
