"""Bandit evaluation: regret simulation, off-policy evaluation, saving policies in a store.

>>> from workbench.abtest.bandits import ThompsonSampling
>>> sim = simulate_bandit(ThompsonSampling(["a", "b"], seed=0), {"a": .1, "b": .2}, n=2000)
>>> bool(sim.regret[-1] < sim.fixed_regret[-1])
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from workbench.abtest.bandits import Policy
from workbench.errors import BanditError


# -- simulation ------------------------------------------------------------------------
@dataclass
class BanditSimulation:
    """The result of :func:`simulate_bandit`.

    ``regret`` is the cumulative expected (pseudo-)regret of the policy, sum over steps of
    ``max(rates) - rate[chosen arm]``; ``fixed_regret`` the same for a fixed equal split
    (``t * (max(rates) - mean(rates))``); ``curve`` a DataFrame with ``step``, ``regret``,
    ``fixed_regret`` and the policy's allocation weight per arm at ~200 checkpoints.
    """

    policy: str
    true_rates: dict[str, float]
    n: int
    seed: int
    regret: np.ndarray
    fixed_regret: np.ndarray
    pulls: dict[str, int]
    reward: float
    curve: pd.DataFrame
    final: Policy = field(repr=False)

    @property
    def regret_ratio(self) -> float:
        """Final regret of the policy divided by that of the fixed split."""
        f = float(self.fixed_regret[-1])
        return float(self.regret[-1]) / f if f > 0 else float("nan")


def simulate_bandit(
    policy: Policy,
    true_rates: Mapping[str, float],
    n: int = 10_000,
    seed: int = 0,
    checkpoints: int = 200,
) -> BanditSimulation:
    """Run ``policy`` (a copy of it) for ``n`` steps against Bernoulli arms with ``true_rates``.

    The rewards come from their own generator seeded with ``seed``; the policy keeps its
    own seed, so the same call gives the same curve. The policy passed in is not changed
    (the final state is ``result.final``).

    >>> from workbench.abtest.bandits import UCB1
    >>> simulate_bandit(UCB1(["a", "b"], seed=0), {"a": .1, "b": .2}, n=500).n
    500
    """
    rates = dict(true_rates)
    if set(rates) != set(policy.arms):
        raise BanditError(
            f"true_rates must give one rate per arm {policy.arms}, got {sorted(rates)}"
        )
    for a, r in rates.items():
        if not (0.0 <= float(r) <= 1.0):
            raise BanditError(f"true rate of arm {a!r} must be in [0, 1], got {r!r}")
    n = int(n)
    if n < 1:
        raise BanditError(f"n must be a positive number of steps, got {n!r}")
    sim = type(policy).from_dict(policy.to_dict())
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    arm_rate = [float(rates[a]) for a in sim.arms]
    best = max(arm_rate)
    index = {a: i for i, a in enumerate(sim.arms)}
    chosen = np.empty(n, dtype=np.int64)
    every = max(1, n // max(1, checkpoints))
    rows = []
    select, update = sim.select, sim.update
    total = 0.0
    for t in range(n):
        arm = select()
        k = index[arm]
        r = 1.0 if u[t] < arm_rate[k] else 0.0
        update(arm, r)
        total += r
        chosen[t] = k
        if (t + 1) % every == 0 or t == n - 1:
            rows.append(
                {"step": t + 1, **{f"weight_{a}": w for a, w in sim.probabilities().items()}}
            )
    gaps = best - np.asarray(arm_rate)[chosen]
    regret = np.cumsum(gaps)
    steps = np.arange(1, n + 1)
    fixed = steps * (best - float(np.mean(arm_rate)))
    curve = pd.DataFrame(rows)
    curve.insert(1, "regret", regret[curve["step"].to_numpy() - 1])
    curve.insert(2, "fixed_regret", fixed[curve["step"].to_numpy() - 1])
    pulls = {a: int((chosen == i).sum()) for i, a in enumerate(sim.arms)}
    return BanditSimulation(sim.name, rates, n, int(seed), regret, fixed, pulls, total, curve, sim)


# -- off-policy evaluation -------------------------------------------------------------
@dataclass(frozen=True)
class OffPolicyEstimate:
    """The value of a target policy estimated from logged decisions.

    ``ipw`` is the inverse-propensity-weighted mean ``mean(pi(a) / mu(a) * r)``; ``snips``
    the self-normalised version ``sum(w r) / sum(w)``; ``se`` the standard error of ``ipw``
    (sd of ``w r`` over sqrt(n)); ``ci`` the normal ``1 - alpha`` interval of ``ipw``;
    ``ess`` the effective sample size ``(sum w)^2 / sum w^2``.
    """

    ipw: float
    snips: float
    se: float
    ci: tuple[float, float]
    n: int
    ess: float
    alpha: float
    method: str = "inverse propensity weighting (IPW) with self-normalised SNIPS"


def off_policy_value(
    logged: pd.DataFrame,
    target: Mapping[str, float] | Policy,
    action: str = "arm",
    reward: str = "reward",
    propensity: str = "propensity",
    alpha: float = 0.05,
) -> OffPolicyEstimate:
    """Estimate the mean reward ``target`` would have earned, from logged propensities.

    ``logged`` has one row per decision: the arm played, its reward and the probability
    the logging policy gave that arm (``propensity``, in (0, 1]). ``target`` is a mapping
    arm -> probability (or a policy: its current ``probabilities()``).

    >>> log = pd.DataFrame({"arm": ["a", "b"], "reward": [1.0, 0.0], "propensity": [.5, .5]})
    >>> off_policy_value(log, {"a": 1.0, "b": 0.0}).ipw
    1.0
    """
    probs = dict(target.probabilities()) if isinstance(target, Policy) else dict(target)
    for col in (action, reward, propensity):
        if col not in logged.columns:
            raise BanditError(
                f"logged decisions have no column {col!r}; columns are {list(logged.columns)}"
            )
    arms = logged[action].astype(str)
    unknown = sorted(set(arms) - set(probs))
    if unknown:
        raise BanditError(
            f"logged arms {unknown} have no target probability; target has {sorted(probs)}"
        )
    mu = pd.to_numeric(logged[propensity], errors="coerce").to_numpy(dtype=float)
    if np.any(~np.isfinite(mu)) or np.any(mu <= 0) or np.any(mu > 1):
        raise BanditError(f"column {propensity!r} must hold probabilities in (0, 1]")
    r = pd.to_numeric(logged[reward], errors="coerce").to_numpy(dtype=float)
    if np.any(~np.isfinite(r)):
        raise BanditError(f"column {reward!r} must hold finite numbers")
    pi = arms.map(probs).to_numpy(dtype=float)
    w = pi / mu
    terms = w * r
    n = len(r)
    if n == 0:
        raise BanditError("no logged decisions to evaluate")
    ipw = float(terms.mean())
    se = float(terms.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    z = stats.norm.isf(alpha / 2)
    snips = float(terms.sum() / w.sum()) if w.sum() > 0 else float("nan")
    ess = float(w.sum() ** 2 / (w * w).sum()) if (w * w).sum() > 0 else 0.0
    return OffPolicyEstimate(ipw, snips, se, (ipw - z * se, ipw + z * se), n, ess, alpha)


# -- store -----------------------------------------------------------------------------
def save_policy(store: Any, name: str, policy: Policy) -> None:
    """Save the policy's state in the store under ``name`` (replacing an older one)."""
    from workbench.store import abtest_store

    abtest_store.save_bandit(store, name, policy.name, policy.to_dict())


def load_policy(store: Any, name: str) -> Policy:
    """The policy saved under ``name``, exactly as it was saved."""
    from workbench.store import abtest_store

    return Policy.from_dict(abtest_store.load_bandit(store, name))
