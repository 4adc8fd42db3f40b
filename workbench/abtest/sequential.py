"""Always-valid inference: look at the results every day without inflating false positives.

Two views of one method, both computed from a lift estimate ``D``, its variance ``V`` and
the total sample size ``N = n_c + n_t`` (so they apply to proportions, means, ratios,
CUPED, absolute or relative lifts alike):

**Asymptotic confidence sequence** (Waudby-Smith et al. 2023, as GrowthBook's gbstats).
With the unit variance ``s^2 = V N`` and the tuning constant
``rho^2 = (-2 ln a + ln(-2 ln a + 1)) / N*`` (``N* = 5000`` by default: the total sample
size where the sequence is tightest), the two-sided half-width is

    s sqrt( 2 (N rho^2 + 1) / (N^2 rho^2) * ln( sqrt(N rho^2 + 1) / a ) ).

**mSPRT always-valid p-value** (Johari et al. 2017, the mixture SPRT Optimizely runs).
With a normal mixture ``N(theta0, tau^2)`` over the effect the likelihood ratio is

    Lambda = sqrt(V / (V + tau^2)) exp( tau^2 (D - theta0)^2 / (2 V (V + tau^2)) )

and ``p = min(1, 1 / Lambda)``, running-minimised over the looks. The default
``tau^2 = rho^2 s^2`` makes this *exactly* GrowthBook's sequential p-value
``E = exp(rho^2 S / (2 (N rho^2 + 1))) / sqrt(N rho^2 + 1)``, ``S = (D - theta0)^2 N / V``,
so the p-value and the confidence sequence agree: ``p < a`` exactly when the sequence
excludes ``theta0``.

The **cost of peeking** is the width of the confidence sequence divided by the width of
the fixed-horizon interval at the same data (> 1: the price of being allowed to look).

>>> hw = cs_half_width(variance=0.0001, n=10000, alpha=0.05)
>>> round(hw / (1.959964 * 0.01), 3)     # wider than the fixed 95 % interval
1.562
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from workbench.errors import InvalidInputError

DEFAULT_N_STAR = 5000


def rho(alpha: float = 0.05, n_star: float = DEFAULT_N_STAR, sided: int = 2) -> float:
    """GrowthBook's tuning parameter; one-sided sequences use ``2 alpha`` in place of alpha."""
    if not 0 < alpha < 1:
        raise InvalidInputError(f"alpha must be in (0, 1), got {alpha!r}")
    if not n_star > 0:
        raise InvalidInputError(f"n_star (N*) must be positive, got {n_star!r}")
    a = alpha if sided == 2 else 2 * alpha
    return math.sqrt((-2 * math.log(a) + math.log(-2 * math.log(a) + 1)) / n_star)


def cs_half_width(
    variance: float | np.ndarray,
    n: float | np.ndarray,
    alpha: float = 0.05,
    n_star: float = DEFAULT_N_STAR,
) -> Any:
    """Half-width of the two-sided asymptotic confidence sequence (works on arrays)."""
    r2 = rho(alpha, n_star) ** 2
    n = np.asarray(n, dtype=float)
    s2 = np.asarray(variance, dtype=float) * n
    out = np.sqrt(s2) * np.sqrt(
        2 * (n * r2 + 1) / (n * n * r2) * np.log(np.sqrt(n * r2 + 1) / alpha)
    )
    return float(out) if out.ndim == 0 else out


def cs_half_width_one_sided(
    variance: float, n: float, alpha: float = 0.05, n_star: float = DEFAULT_N_STAR
) -> float:
    """Half-width of the one-sided sequence (GrowthBook's one-sided formula)."""
    r2 = rho(alpha, n_star, sided=1) ** 2
    s2 = variance * n
    return math.sqrt(
        s2 * 2 * (n * r2 + 1) / (n * n * r2) * math.log(1 + math.sqrt(n * r2 + 1) / (2 * alpha))
    )


def msprt_pvalue(
    estimate: float | np.ndarray,
    variance: float | np.ndarray,
    n: float | np.ndarray | None = None,
    tau2: float | None = None,
    alpha: float = 0.05,
    n_star: float = DEFAULT_N_STAR,
    null: float = 0.0,
    running_min: bool = True,
) -> Any:
    """Always-valid p-value(s) of the normal-mixture SPRT.

    ``estimate``/``variance`` (and ``n``, the total units) may be arrays over successive
    looks; then the p-values are running-minimised (``p_k = min(p_{k-1}, 1/Lambda_k)``).
    ``tau2`` is the mixture variance on the estimate's scale; by default
    ``rho(alpha, n_star)^2 * variance * n`` (GrowthBook's tuning, see the module).

    >>> round(msprt_pvalue(0.02, 0.0001, n=10000), 4)   # z = 2: p = 0.046 fixed-horizon
    0.6259
    >>> round(msprt_pvalue(0.04, 0.0001, n=10000), 6)   # z = 4
    0.002214
    """
    d = np.asarray(estimate, dtype=float) - null
    v = np.asarray(variance, dtype=float)
    if tau2 is None:
        if n is None:
            raise InvalidInputError("msprt_pvalue needs n (total units) when tau2 is not given")
        t2 = rho(alpha, n_star) ** 2 * v * np.asarray(n, dtype=float)
    else:
        if not tau2 > 0:
            raise InvalidInputError(f"tau2 must be positive, got {tau2!r}")
        t2 = np.full_like(v, float(tau2))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_lr = 0.5 * np.log(v / (v + t2)) + t2 * d * d / (2 * v * (v + t2))
        p = np.minimum(1.0, np.exp(-log_lr))
    p = np.where(np.isfinite(p), p, 1.0)
    if p.ndim and running_min:
        p = np.minimum.accumulate(p)
    return float(p) if p.ndim == 0 else p


def msprt_bernoulli(
    x_c: Sequence[float], x_t: Sequence[float], n: Sequence[float], tau2: float, null: float = 0.0
) -> np.ndarray:
    """Johari et al.'s Bernoulli mSPRT on ``n`` pairs (the erik-stenberg/mixtureSPRT form).

    ``Lambda_n = sqrt(V/(V + n tau^2)) exp(n^2 tau^2 (p_t - p_c - null)^2 / (2 V (V + n tau^2)))``
    with ``V = p_c(1 - p_c) + p_t(1 - p_t)``; returns the running-minimum p-values.
    """
    x_c, x_t, n = (np.asarray(a, dtype=float) for a in (x_c, x_t, n))
    pc, pt = x_c / n, x_t / n
    v = pc * (1 - pc) + pt * (1 - pt)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_lr = 0.5 * np.log(v / (v + n * tau2)) + n**2 * tau2 * (pt - pc - null) ** 2 / (
            2 * v * (v + n * tau2)
        )
        p = np.minimum(1.0, np.exp(-log_lr))
    p = np.where(np.isfinite(p), p, 1.0)
    return np.minimum.accumulate(p)


@dataclass(frozen=True)
class SequentialResult:
    """An always-valid look: the confidence sequence, the mSPRT p-value, the peeking cost."""

    method: str
    estimate: float
    cs_low: float
    cs_high: float
    p_value: float
    fixed_low: float
    fixed_high: float
    peeking_cost: float
    n_star: float
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sequential_test(
    estimate: float,
    variance: float,
    n: float,
    alpha: float = 0.05,
    n_star: float = DEFAULT_N_STAR,
    df: float = math.inf,
    null: float = 0.0,
) -> SequentialResult:
    """Confidence sequence, always-valid p-value and the cost of peeking for one look.

    ``df`` is used only for the fixed-horizon interval it is compared with.

    >>> r = sequential_test(0.02, 0.0001, n=10000)
    >>> round(r.peeking_cost, 3), r.p_value < 0.05
    (1.562, False)
    """
    hw = cs_half_width(variance, n, alpha, n_star)
    q = stats.norm.isf(alpha / 2) if math.isinf(df) else stats.t.isf(alpha / 2, df)
    fixed = q * math.sqrt(variance)
    p = msprt_pvalue(estimate, variance, n, alpha=alpha, n_star=n_star, null=null)
    return SequentialResult(
        f"asymptotic confidence sequence + mSPRT (N* = {n_star:g})",
        float(estimate),
        float(estimate - hw),
        float(estimate + hw),
        float(p),
        float(estimate - fixed),
        float(estimate + fixed),
        float(hw / fixed) if fixed > 0 else float("nan"),
        float(n_star),
        float(alpha),
    )
