"""Deployment strategies as pure changes of a deployment's state dict.

Both the running server (through its control API) and the controlling
process (when no server runs) change a deployment with these functions, so a
strategy means the same thing in both places. Each returns a new state and
never changes its argument.

>>> from workbench.serving.loading import VersionSpec
>>> s = new_state("api", VersionSpec("churn", 3, "ab" * 32))
>>> s = start_canary(s, VersionSpec("churn", 4, "cd" * 32), {"steps": [5, 50, 100]})
>>> [(v["name"], v["role"], v["weight"]) for v in s["variants"]]
[('v3', 'champion', 9500), ('v4', 'challenger', 500)]
>>> s = rollback(s)
>>> [(v["name"], v["role"]) for v in s["variants"]], s["canary"]["status"]
([('v3', 'champion')], 'rolled_back')
"""

from __future__ import annotations

import copy
import time
from typing import Any

from workbench.errors import InvalidInputError, ServingError
from workbench.serving.canary import CanaryConfig
from workbench.serving.loading import VersionSpec
from workbench.serving.router import N_BUCKETS, champion

STRATEGIES = ("single", "bluegreen", "canary", "shadow", "split", "bandit")
DEFAULT_ROLLBACK_WINDOW_S = 600.0


def _variant(spec: VersionSpec, role: str, weight: int) -> dict[str, Any]:
    return {"name": spec.variant, "spec": spec.to_dict(), "role": role, "weight": int(weight)}


def new_state(deployment: str, spec: VersionSpec, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """A deployment serving one version (the champion, all traffic)."""
    return {
        "deployment": deployment, "model": spec.name, "salt": deployment, "strategy": "single",
        "variants": [_variant(spec, "champion", N_BUCKETS)], "key": None,
        "canary": None, "bandit": None, "previous": None, "settings": dict(settings or {}), "seq": 0,
    }


def _copy(state: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(state)


def _champion(state: dict[str, Any]) -> dict[str, Any]:
    champ = champion(state)
    if champ is None:
        raise ServingError(f"deployment {state.get('deployment')!r} has no champion")
    return champ


def _check_same_model(state: dict[str, Any], spec: VersionSpec) -> None:
    if spec.name != state["model"]:
        raise InvalidInputError(f"deployment {state['deployment']!r} serves model {state['model']!r}, "
                                f"not {spec.name!r}")


LIVE_CANARY = ("running", "paused", "inconclusive")


def _no_live_canary(state: dict[str, Any], what: str) -> None:
    """Refuse a new strategy while a canary is in progress (its analysis would be left dangling)."""
    canary = state.get("canary")
    if canary and canary.get("status") in LIVE_CANARY:
        raise ServingError(f"a canary of {canary['config']['variant']} is {canary['status']}; roll it back or "
                           f"promote it before starting {what}")


def only_champion(state: dict[str, Any]) -> dict[str, Any]:
    """Drop every challenger and shadow; the champion takes all traffic."""
    s = _copy(state)
    champ = _champion(s)
    champ["weight"] = N_BUCKETS
    s["variants"] = [champ]
    s["strategy"] = "single"
    s["bandit"] = None
    return s


def switch(state: dict[str, Any], spec: VersionSpec, window_s: float = DEFAULT_ROLLBACK_WINDOW_S,
           now: float | None = None) -> dict[str, Any]:
    """Blue-green: ``spec`` becomes the champion at once; the old one is kept for ``window_s``."""
    _check_same_model(state, spec)
    _no_live_canary(state, "a blue-green switch")
    s = only_champion(state)
    old = s["variants"][0]
    if old["name"] == spec.variant:
        raise InvalidInputError(f"version {spec.version} is already the champion")
    now = time.time() if now is None else now
    s["previous"] = {"variant": old, "until": now + window_s}
    s["variants"] = [_variant(spec, "champion", N_BUCKETS)]
    s["strategy"] = "bluegreen"
    return s


def rollback(state: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """Undo: a running or paused canary goes to weight 0; otherwise the previous champion returns."""
    s = _copy(state)
    canary = s.get("canary")
    if canary and canary.get("status") in ("running", "paused", "inconclusive"):
        s = only_champion(s)
        s["canary"] = {**canary, "status": "rolled_back"}
        return s
    if s.get("strategy") in ("split", "shadow", "bandit"):
        return only_champion(s)
    prev = s.get("previous")
    now = time.time() if now is None else now
    if not prev:
        raise ServingError(f"deployment {s.get('deployment')!r} has nothing to roll back to")
    current = _champion(s)
    s["variants"] = [{**prev["variant"], "role": "champion", "weight": N_BUCKETS}]
    s["previous"] = {"variant": current, "until": now + max(0.0, prev["until"] - now)}
    s["strategy"] = "bluegreen"
    return s


def start_canary(state: dict[str, Any], spec: VersionSpec, config: dict[str, Any] | None = None,
                 now: float | None = None) -> dict[str, Any]:
    """Canary: ``spec`` gets the first step's weight; the analysis runs in the server."""
    _check_same_model(state, spec)
    _no_live_canary(state, "another canary")
    s = only_champion(state)
    champ = s["variants"][0]
    if champ["name"] == spec.variant:
        raise InvalidInputError(f"version {spec.version} is already the champion")
    cfg = CanaryConfig(variant=spec.variant, **(config or {}))
    if not cfg.steps or any(not (0 < p <= 100) for p in cfg.steps) or list(cfg.steps) != sorted(cfg.steps):
        raise InvalidInputError(f"canary steps are increasing percentages in (0, 100], got {cfg.steps}")
    if cfg.min_samples < 1 or cfg.interval_s <= 0 or cfg.failure_limit < 0:
        raise InvalidInputError("canary needs min_samples >= 1, interval > 0 and failure_limit >= 0")
    cfg.validate()
    if cfg.max_score_diff is not None and spec.expected is not None and not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in _flat(spec.expected)):
        raise InvalidInputError(f"max_score_diff compares numeric scores, but version {spec.version} predicts "
                                f"{_flat(spec.expected)[:3]!r} on its input example; use min_agreement for "
                                "a classifier's labels")
    weight = int(round(cfg.steps[0] * 100))
    champ["weight"] = N_BUCKETS - weight
    s["variants"].append(_variant(spec, "challenger", weight))
    s["strategy"] = "canary"
    s["canary"] = {"config": cfg.to_dict(), "status": "running", "step": 0, "failures": 0,
                   "step_started": time.time() if now is None else now, "checks": []}
    return s


def _flat(values: Any) -> list[Any]:
    out: list[Any] = []
    for x in values if isinstance(values, (list, tuple)) else [values]:
        out.extend(_flat(x) if isinstance(x, (list, tuple)) else [x])
    return out


def set_canary_step(state: dict[str, Any], step: int, now: float) -> dict[str, Any]:
    s = _copy(state)
    cfg = s["canary"]["config"]
    weight = int(round(cfg["steps"][step] * 100))
    for v in s["variants"]:
        if v["name"] == cfg["variant"]:
            v["weight"] = weight
        elif v["role"] == "champion":
            v["weight"] = N_BUCKETS - weight
    s["canary"].update(step=step, step_started=now, status="running")
    return s


def promote(state: dict[str, Any], now: float | None = None,
            window_s: float = DEFAULT_ROLLBACK_WINDOW_S) -> dict[str, Any]:
    """The challenger (canary, or the only challenger) becomes champion; the old one stays for rollback."""
    s = _copy(state)
    challengers = [v for v in s["variants"] if v["role"] == "challenger"]
    if s.get("canary") and s["canary"].get("status") in ("running", "paused", "inconclusive"):
        challengers = [v for v in challengers if v["name"] == s["canary"]["config"]["variant"]]
    if len(challengers) != 1:
        raise ServingError("promote needs exactly one challenger (a canary or a two-variant split)")
    new = challengers[0]
    old = _champion(s)
    now = time.time() if now is None else now
    s["previous"] = {"variant": {**old, "weight": N_BUCKETS}, "until": now + window_s}
    s["variants"] = [{**new, "role": "champion", "weight": N_BUCKETS}]
    s["strategy"] = "single"
    s["bandit"] = None
    if s.get("canary"):
        s["canary"] = {**s["canary"], "status": "promoted"}
    return s


def set_shadow(state: dict[str, Any], spec: VersionSpec, percent: float = 100.0) -> dict[str, Any]:
    """Shadow: mirror ``percent`` of requests to ``spec`` after the live answer is sent."""
    _check_same_model(state, spec)
    if not 0 < percent <= 100:
        raise InvalidInputError(f"shadow percent is in (0, 100], got {percent}")
    _no_live_canary(state, "a shadow")
    s = only_champion(state)
    if s["variants"][0]["name"] == spec.variant:
        raise InvalidInputError(f"version {spec.version} is the champion; shadow another version")
    s["variants"].append({**_variant(spec, "shadow", 0), "percent": float(percent)})
    s["strategy"] = "shadow"
    return s


def set_split(state: dict[str, Any], specs: dict[int, VersionSpec], weights: dict[int, float],
              key: str | None = None) -> dict[str, Any]:
    """A/B split: weights (fractions summing to 1) per version; the first listed version is the champion
    unless the current champion is among them."""
    if set(specs) != set(weights) or len(weights) < 2:
        raise InvalidInputError("split needs at least two versions, each with a weight")
    total = sum(weights.values())
    if abs(total - 1.0) > 1e-9 or any(w < 0 for w in weights.values()):
        raise InvalidInputError(f"split weights are non-negative and sum to 1, got {weights} (sum {total})")
    for spec in specs.values():
        _check_same_model(state, spec)
    _no_live_canary(state, "a split")
    s = only_champion(state)
    current = s["variants"][0]["spec"]["version"]
    champ_version = current if current in specs else next(iter(specs))
    variants = []
    for version, spec in specs.items():
        role = "champion" if version == champ_version else "challenger"
        variants.append(_variant(spec, role, int(round(weights[version] * N_BUCKETS))))
    s["variants"] = variants
    s["strategy"] = "split"
    s["key"] = key
    return s


def set_bandit(state: dict[str, Any], specs: dict[int, VersionSpec], policy: str = "thompson",
               seed: int | None = None) -> dict[str, Any]:
    """Bandit: each request goes to the arm the policy selects; feedback rewards update it."""
    if policy not in ("thompson", "ucb1"):
        raise InvalidInputError(f"bandit policy is 'thompson' or 'ucb1', got {policy!r}")
    _no_live_canary(state, "a bandit")
    if len(specs) < 2:
        raise InvalidInputError("a bandit needs at least two versions")
    versions = list(specs)
    weights = {v: 1 / len(versions) for v in versions[:-1]}
    weights[versions[-1]] = 1.0 - sum(weights.values())
    s = set_split(state, specs, weights)
    s["strategy"] = "bandit"
    s["bandit"] = {"policy": policy, "arms": [spec.variant for spec in specs.values()], "state": None,
                   "seed": seed}
    return s
