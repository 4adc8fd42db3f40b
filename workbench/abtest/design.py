"""Experiment design: sample size, power, minimum detectable effect and duration.

Conventions (each result object repeats them):

- ``baseline`` is the control's rate (proportions) or mean (means); ``mde`` the smallest
  effect worth detecting, absolute by default (``relative=True``: a fraction of the
  baseline, 0.1 = +10 %).
- ``ratio = n_treatment / n_control`` (1 = equal arms); sizes are per arm, rounded up.
- ``sided=2`` (default) or ``1`` (a one-sided test in the direction of the effect).

Proportions, three formulas (``method=``):

- ``"unpooled"`` (default): ``n_c = (z_{1-a/s} + z_{1-b})^2 (p_c(1-p_c) + p_t(1-p_t)/ratio) / d^2``,
  the normal approximation with each arm's own variance (what Spotify's confidence and most
  online calculators use);
- ``"pooled_null"``: ``n = ((z_a * sd_null + z_b * sd_alt) / d)^2`` with the pooled
  variance under H0, as ``statsmodels.stats.proportion.samplesize_proportions_2indep_onetail``;
- ``"cohen_h"``: Cohen's effect size ``h = 2 asin(sqrt(p_t)) - 2 asin(sqrt(p_c))`` solved
  with both tails of the normal power, as ``statsmodels.stats.power.NormalIndPower``.

Means: the noncentral-t power of Welch's / Student's test with
``d = mde / sd``, ``df = n_c + n_t - 2``, ``nc = d sqrt(n_c n_t / (n_c + n_t))``, solved for
``n_c`` as ``statsmodels.stats.power.tt_ind_solve_power`` does.

>>> s = sample_size(baseline=0.10, mde=0.01, metric="proportion", alpha=0.05, power=0.8)
>>> s.n_per_arm
14749
>>> duration(s.n_per_arm, daily_users=2000).days
15
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from scipy import optimize, stats

from workbench.errors import InvalidInputError

PROPORTION_METHODS = ("unpooled", "pooled_null", "cohen_h")


@dataclass(frozen=True)
class SampleSize:
    """Users needed per arm (``n_per_arm`` = control, ``n_treatment``) and the inputs used."""

    n_per_arm: int
    n_treatment: int
    n_total: int
    n_exact: float
    metric: str
    method: str
    baseline: float
    mde: float
    effect: float
    sd: float | None
    alpha: float
    power: float
    sided: int
    ratio: float
    relative: bool

    def __int__(self) -> int:
        return self.n_per_arm

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Duration:
    """Days needed to enrol ``n_per_arm`` users in each of ``arms`` arms."""

    days: int
    days_exact: float
    n_per_arm: int
    arms: int
    daily_users: float
    coverage: float

    def __int__(self) -> int:
        return self.days


def _check(name: str, value: Any, lo: float, hi: float, open_lo=True, open_hi=True) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number, got {value!r}") from None
    ok = (v > lo if open_lo else v >= lo) and (v < hi if open_hi else v <= hi)
    if not ok or not math.isfinite(v):
        lb = "(" if open_lo else "["
        rb = ")" if open_hi else "]"
        raise InvalidInputError(f"{name} must be in {lb}{lo}, {hi}{rb}, got {value!r}")
    return v


def _common(alpha, power, sided, ratio):
    alpha = _check("alpha", alpha, 0, 1)
    if power is not None:
        power = _check("power", power, 0, 1)
    if sided not in (1, 2):
        raise InvalidInputError(f"sided must be 1 or 2, got {sided!r}")
    ratio = _check("ratio", ratio, 0, math.inf)
    return alpha, power, sided, ratio


def _effect(baseline: float, mde: float, relative: bool) -> float:
    d = mde * baseline if relative else mde
    if d == 0 or not math.isfinite(d):
        raise InvalidInputError(f"mde must be a non-zero effect, got {mde!r}")
    return d


def _prop_sds(p_c: float, p_t: float, ratio: float) -> tuple[float, float]:
    """(sd of the difference under H0 with the pooled rate, under H1 unpooled), n_c = 1."""
    pooled = (p_c + ratio * p_t) / (1 + ratio)
    sd_null = math.sqrt(pooled * (1 - pooled) * (1 + 1 / ratio))
    sd_alt = math.sqrt(p_c * (1 - p_c) + p_t * (1 - p_t) / ratio)
    return sd_null, sd_alt


def _normal_power(d_over_se: float, alpha: float, sided: int, null_ratio: float = 1.0) -> float:
    """Power of a z-test: both tails when two-sided; ``null_ratio`` = sd_null / sd_alt."""
    z = stats.norm.isf(alpha / sided)
    d = abs(d_over_se)
    pw = stats.norm.sf(z * null_ratio - d)
    if sided == 2:
        pw += stats.norm.cdf(-z * null_ratio - d)
    return float(pw)


def _t_power(effect_size: float, n_c: float, ratio: float, alpha: float, sided: int) -> float:
    n_t = ratio * n_c
    df = n_c + n_t - 2
    if df <= 0:
        return 0.0
    nc = abs(effect_size) * math.sqrt(n_c * n_t / (n_c + n_t))
    crit = stats.t.isf(alpha / sided, df)
    pw = stats.nct.sf(crit, df, nc)
    if sided == 2:
        pw += stats.nct.cdf(-crit, df, nc)
    if not math.isfinite(pw):  # scipy's nct overflows far in the tail, where power is 1
        pw = 1.0 if nc > crit else 0.0
    return float(pw)


def _proportion_n(p_c, p_t, ratio, alpha, power, sided, method) -> float:
    d = p_t - p_c
    if method == "unpooled":
        _, sd_alt = _prop_sds(p_c, p_t, ratio)
        z = stats.norm.isf(alpha / sided) + stats.norm.isf(1 - power)
        return (z * sd_alt / d) ** 2
    if method == "pooled_null":
        sd_null, sd_alt = _prop_sds(p_c, p_t, ratio)
        za, zb = stats.norm.isf(alpha / sided), stats.norm.isf(1 - power)
        return ((za * sd_null + zb * sd_alt) / d) ** 2
    h = 2 * math.asin(math.sqrt(p_t)) - 2 * math.asin(math.sqrt(p_c))

    def gap(n):
        return _normal_power(h * math.sqrt(n * ratio / (1 + ratio)), alpha, sided) - power

    return float(optimize.brentq(gap, 1e-6, 1e12, xtol=1e-10, rtol=1e-14))


def _mean_n(effect_size, ratio, alpha, power, sided) -> float:
    def gap(n):
        return _t_power(effect_size, n, ratio, alpha, sided) - power

    lo = max(3.0 / (1 + ratio), 2.0)  # at least 1 degree of freedom and 2 per arm
    if gap(lo) > 0:
        return lo
    z = stats.norm.isf(alpha / sided) + stats.norm.isf(1 - power)
    hi = max(2 * lo, 2 * (z / abs(effect_size)) ** 2 * (1 + 1 / ratio))  # twice the z answer
    while gap(hi) < 0:
        lo, hi = hi, hi * 2
    return float(optimize.brentq(gap, lo, hi, xtol=1e-10, rtol=1e-14))


def _inputs(metric, baseline, mde, sd, relative, method):
    if metric not in ("proportion", "mean"):
        raise InvalidInputError(f"metric must be 'proportion' or 'mean', got {metric!r}")
    if metric == "proportion":
        baseline = _check("baseline", baseline, 0, 1)
        if method not in PROPORTION_METHODS:
            raise InvalidInputError(
                f"method must be one of {PROPORTION_METHODS} for proportions, got {method!r}"
            )
    else:
        baseline = _check("baseline", baseline, -math.inf, math.inf)
        sd = _check("sd", sd, 0, math.inf)
        method = "noncentral_t"
    return baseline, sd, method


def sample_size(
    baseline: float,
    mde: float,
    metric: str = "proportion",
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    sided: int = 2,
    relative: bool = False,
    method: str = "unpooled",
) -> SampleSize:
    """Users per arm needed to detect ``mde`` with the given power.

    >>> sample_size(baseline=10.0, sd=2.0, mde=0.2, metric="mean").n_per_arm
    1571
    >>> sample_size(baseline=0.10, mde=0.10, relative=True).n_per_arm   # +10 % relative
    14749
    """
    baseline, sd, method = _inputs(metric, baseline, mde, sd, relative, method)
    alpha, power, sided, ratio = _common(alpha, power, sided, ratio)
    d = _effect(baseline, float(mde), relative)
    if metric == "proportion":
        p_t = baseline + d
        if not 0 < p_t < 1:
            raise InvalidInputError(f"baseline + mde must be a proportion in (0, 1), got {p_t!r}")
        n = _proportion_n(baseline, p_t, ratio, alpha, power, sided, method)
    else:
        n = _mean_n(d / sd, ratio, alpha, power, sided)
    n_c = math.ceil(n - 1e-9)
    n_t = math.ceil(ratio * n - 1e-9)
    return SampleSize(
        n_c,
        n_t,
        n_c + n_t,
        float(n),
        metric,
        method,
        baseline,
        float(mde),
        d,
        sd,
        alpha,
        power,
        sided,
        ratio,
        relative,
    )


def power(
    n_per_arm: float,
    baseline: float,
    mde: float,
    metric: str = "proportion",
    sd: float | None = None,
    alpha: float = 0.05,
    ratio: float = 1.0,
    sided: int = 2,
    relative: bool = False,
    method: str = "unpooled",
) -> float:
    """The power of a test with ``n_per_arm`` control users (both tails when two-sided).

    >>> round(power(14749, baseline=0.10, mde=0.01), 3)
    0.8
    """
    baseline, sd, method = _inputs(metric, baseline, mde, sd, relative, method)
    alpha, _, sided, ratio = _common(alpha, None, sided, ratio)
    n = _check("n_per_arm", n_per_arm, 0, math.inf)
    d = _effect(baseline, float(mde), relative)
    if metric == "mean":
        return _t_power(d / sd, n, ratio, alpha, sided)
    p_t = baseline + d
    if not 0 < p_t < 1:
        raise InvalidInputError(f"baseline + mde must be a proportion in (0, 1), got {p_t!r}")
    sd_null, sd_alt = _prop_sds(baseline, p_t, ratio)
    if method == "unpooled":
        return _normal_power(d * math.sqrt(n) / sd_alt, alpha, sided)
    if method == "pooled_null":
        return _normal_power(d * math.sqrt(n) / sd_alt, alpha, sided, sd_null / sd_alt)
    h = 2 * math.asin(math.sqrt(p_t)) - 2 * math.asin(math.sqrt(baseline))
    return _normal_power(h * math.sqrt(n * ratio / (1 + ratio)), alpha, sided)


def mde(
    n_per_arm: float,
    baseline: float,
    metric: str = "proportion",
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    sided: int = 2,
    relative: bool = False,
    method: str = "unpooled",
) -> float:
    """The smallest positive effect detectable with ``n_per_arm`` users at ``power``.

    Solves ``sample_size(mde=x).n_exact == n_per_arm`` for x (absolute, or relative to
    the baseline with ``relative=True``); NaN when no effect is detectable.

    >>> round(mde(14749, baseline=0.10), 4)
    0.01
    """
    baseline, sd, method = _inputs(metric, baseline, 1.0, sd, relative, method)
    alpha, power, sided, ratio = _common(alpha, power, sided, ratio)
    n = _check("n_per_arm", n_per_arm, 0, math.inf)
    scale = abs(baseline) if relative else 1.0
    if relative and baseline == 0:
        raise InvalidInputError("a relative mde needs a non-zero baseline")
    if metric == "proportion":
        hi = (1 - baseline) * (1 - 1e-9)

        def gap(d):
            return _proportion_n(baseline, baseline + d, ratio, alpha, power, sided, method) - n

        lo = hi * 1e-12
        if gap(hi) > 0:
            return float("nan")
        d = optimize.brentq(gap, lo, hi, xtol=1e-14, rtol=1e-12)
        return float(d / scale)
    if n * (1 + ratio) - 2 < 1:
        return float("nan")

    def gap_t(e):
        return _t_power(e, n, ratio, alpha, sided) - power

    z = stats.norm.isf(alpha / sided) + stats.norm.isf(1 - power)
    hi = 2 * z * math.sqrt((1 + 1 / ratio) / n)
    while gap_t(hi) < 0:
        hi *= 2
    e = optimize.brentq(gap_t, hi * 1e-9, hi, xtol=1e-15, rtol=1e-13)
    return float(e * sd / scale)


def duration(
    n_per_arm: float, daily_users: float, arms: int = 2, coverage: float = 1.0
) -> Duration:
    """Days of traffic needed: ``ceil(n_per_arm * arms / (daily_users * coverage))``.

    ``daily_users`` is the eligible traffic per day; ``coverage`` the share of it in the
    experiment.

    >>> duration(14749, daily_users=2000, arms=2).days
    15
    """
    n = _check("n_per_arm", n_per_arm, 0, math.inf)
    daily = _check("daily_users", daily_users, 0, math.inf)
    cov = _check("coverage", coverage, 0, 1, open_hi=False)
    if not isinstance(arms, int) or arms < 2:
        raise InvalidInputError(f"arms must be an integer >= 2, got {arms!r}")
    exact = n * arms / (daily * cov)
    return Duration(math.ceil(exact - 1e-9), exact, math.ceil(n), arms, daily, cov)


def save_design(
    store: Any, design: SampleSize, experiment: str | None = None, daily_users: float | None = None
) -> int:
    """Save a design (and its duration when ``daily_users`` is given) in the store."""
    from workbench.store import abtest_store

    result = design.to_dict()
    if daily_users is not None:
        result["duration_days"] = duration(design.n_per_arm, daily_users).days
    inputs = {
        k: result[k]
        for k in (
            "metric",
            "method",
            "baseline",
            "mde",
            "sd",
            "alpha",
            "power",
            "sided",
            "ratio",
            "relative",
        )
    }
    inputs["daily_users"] = daily_users
    return abtest_store.save_design(store, experiment, inputs, result)
