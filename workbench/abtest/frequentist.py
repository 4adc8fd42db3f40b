"""Fixed-horizon frequentist tests on sufficient statistics (counts, sums, sums of squares).

Every function takes per-arm summaries, never rows, so that an analysis of 10M events
runs on a handful of numbers aggregated in DuckDB. Conventions:

- the **lift** is treatment minus control (``abs_lift``) and ``(t - c) / |c|``
  (``rel_lift``);
- the relative lift's variance is the delta method with independent arms (GrowthBook's
  ``frequentist_variance``): ``V_rel = s_t^2/(n_t m_c^2) + s_c^2 m_t^2/(n_c m_c^4)``;
- ``alternative`` is ``"two-sided"``, ``"greater"`` (treatment larger) or ``"less"``.

>>> r = two_proportion_ztest(100, 1000, 130, 1000)
>>> round(r.statistic, 4), round(r.p_value, 4)
(2.1027, 0.0355)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from scipy import special

from workbench.errors import InvalidInputError

ALTERNATIVES = ("two-sided", "greater", "less")


@dataclass(frozen=True)
class TestResult:
    """A two-arm comparison: statistic, p-value and intervals of the absolute and relative lift."""

    method: str
    statistic: float
    p_value: float
    df: float
    abs_lift: float
    abs_se: float
    ci_low: float
    ci_high: float
    rel_lift: float
    rel_se: float
    rel_ci_low: float
    rel_ci_high: float
    mean_control: float
    mean_treatment: float
    alpha: float
    alternative: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_alt(alternative: str) -> str:
    if alternative not in ALTERNATIVES:
        raise InvalidInputError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    return alternative


def _check_n(n: Any, what: str) -> float:
    v = float(n)
    if not v >= 2:
        raise InvalidInputError(f"{what} must be at least 2 units, got {n!r}")
    return v


def _sf(x: float, df: float) -> float:
    """Upper tail of the t (df) or, for df = inf, the standard normal distribution."""
    return float(special.ndtr(-x) if math.isinf(df) else special.stdtr(df, -x))


def _isf(q: float, df: float) -> float:
    """Inverse upper tail (the critical value) of t (df) or the standard normal."""
    return float(-special.ndtri(q) if math.isinf(df) else -special.stdtrit(df, q))


def _p_value(stat: float, df: float, alternative: str) -> float:
    if not math.isfinite(stat):
        return float("nan")
    if alternative == "two-sided":
        return min(1.0, 2 * _sf(abs(stat), df))
    if alternative == "greater":
        return _sf(stat, df)
    return _sf(-stat, df)


def _interval(est: float, se: float, df: float, alpha: float, alternative: str):
    if alternative == "two-sided":
        q = _isf(alpha / 2, df)
        return est - q * se, est + q * se
    q = _isf(alpha, df)
    if alternative == "greater":
        return est - q * se, math.inf
    return -math.inf, est + q * se


def rel_variance(
    mean_c: float, var_c: float, n_c: float, mean_t: float, var_t: float, n_t: float
) -> float:
    """Delta-method variance of ``(m_t - m_c) / |m_c|`` for independent arms.

    >>> rel_variance(10.0, 4.0, 100, 11.0, 4.0, 100)
    0.000884
    """
    return var_t / (n_t * mean_c**2) + var_c * mean_t**2 / (n_c * mean_c**4)


def welch_df(var_c: float, n_c: float, var_t: float, n_t: float) -> float:
    """Welch-Satterthwaite degrees of freedom from the unit variances and sizes."""
    a, b = var_c / n_c, var_t / n_t
    den = a * a / (n_c - 1) + b * b / (n_t - 1)
    return (a + b) ** 2 / den if den > 0 else math.inf


def compare(
    mean_c: float,
    var_c: float,
    n_c: float,
    mean_t: float,
    var_t: float,
    n_t: float,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    df: float | None = None,
    method: str = "welch",
    abs_var: float | None = None,
    rel_var: float | None = None,
    null: float = 0.0,
) -> TestResult:
    """The generic lift test behind every metric kind (see the module conventions).

    ``df=None`` uses Welch-Satterthwaite on ``var_c``/``var_t``; ``math.inf`` a z-test.
    ``abs_var``/``rel_var`` override the variances of the absolute and relative lift (for
    CUPED and ratio metrics); ``null`` shifts H0 (non-inferiority margins).
    """
    _check_alt(alternative)
    n_c, n_t = _check_n(n_c, "the control arm"), _check_n(n_t, "the treatment arm")
    if df is None:
        df = welch_df(var_c, n_c, var_t, n_t)
    diff = mean_t - mean_c
    v_abs = var_t / n_t + var_c / n_c if abs_var is None else abs_var
    se = math.sqrt(v_abs) if v_abs >= 0 else float("nan")
    stat = (diff - null) / se if se > 0 else float("nan")
    p = _p_value(stat, df, alternative)
    lo, hi = _interval(diff, se, df, alpha, alternative)
    if mean_c != 0:
        rel = diff / abs(mean_c)
        v_rel = rel_variance(mean_c, var_c, n_c, mean_t, var_t, n_t) if rel_var is None else rel_var
        rel_se = math.sqrt(v_rel) if v_rel >= 0 else float("nan")
        rlo, rhi = _interval(rel, rel_se, df, alpha, alternative)
    else:
        rel = rel_se = rlo = rhi = float("nan")
    return TestResult(
        method,
        float(stat),
        p,
        float(df),
        float(diff),
        se,
        float(lo),
        float(hi),
        float(rel),
        rel_se,
        float(rlo),
        float(rhi),
        float(mean_c),
        float(mean_t),
        float(alpha),
        alternative,
    )


def two_proportion_ztest(
    x_control: float,
    n_control: float,
    x_treatment: float,
    n_treatment: float,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> TestResult:
    """Pooled two-proportion z-test (as ``statsmodels...proportions_ztest``), treatment - control.

    The statistic uses the pooled rate under H0; the intervals use each arm's own
    variance ``p(1-p)/n`` (Wald) and the delta method for the relative lift.

    >>> r = two_proportion_ztest(100, 1000, 130, 1000)
    >>> round(r.ci_low, 4), round(r.ci_high, 4)
    (0.0021, 0.0579)
    """
    _check_alt(alternative)
    n_c, n_t = _check_n(n_control, "the control arm"), _check_n(n_treatment, "the treatment arm")
    x_c, x_t = float(x_control), float(x_treatment)
    for x, n, arm in ((x_c, n_c, "control"), (x_t, n_t, "treatment")):
        if not 0 <= x <= n:
            raise InvalidInputError(f"{arm} successes must be between 0 and n={n:g}, got {x:g}")
    p_c, p_t = x_c / n_c, x_t / n_t
    pooled = (x_c + x_t) / (n_c + n_t)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    stat = (p_t - p_c) / se0 if se0 > 0 else float("nan")
    res = compare(
        p_c,
        p_c * (1 - p_c),
        n_c,
        p_t,
        p_t * (1 - p_t),
        n_t,
        alpha,
        alternative,
        df=math.inf,
        method="pooled two-proportion z-test",
    )
    return TestResult(
        res.method,
        float(stat),
        _p_value(stat, math.inf, alternative),
        math.inf,
        *[
            getattr(res, f)
            for f in (
                "abs_lift",
                "abs_se",
                "ci_low",
                "ci_high",
                "rel_lift",
                "rel_se",
                "rel_ci_low",
                "rel_ci_high",
                "mean_control",
                "mean_treatment",
                "alpha",
                "alternative",
            )
        ],
    )


def welch_ttest(
    mean_c: float,
    var_c: float,
    n_c: float,
    mean_t: float,
    var_t: float,
    n_t: float,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> TestResult:
    """Welch's t-test from summaries (as ``scipy.stats.ttest_ind_from_stats(equal_var=False)``).

    ``var_*`` are the sample variances (ddof=1). Degrees of freedom: Welch-Satterthwaite,
    used for the absolute and the relative interval (as GrowthBook).

    >>> r = welch_ttest(10.0, 4.0, 100, 11.0, 9.0, 120)
    >>> round(r.statistic, 4), round(r.df, 2)
    (2.9488, 208.5)
    """
    return compare(
        mean_c, var_c, n_c, mean_t, var_t, n_t, alpha, alternative, method="Welch t-test"
    )


# -- moments from sufficient statistics -------------------------------------------------
def mean_var(n: float, total: float, total_sq: float) -> tuple[float, float]:
    """Mean and sample variance (ddof=1) from n, sum and sum of squares.

    >>> mean_var(3, 6.0, 14.0)
    (2.0, 1.0)
    """
    m = total / n
    return m, max((total_sq - total * total / n) / (n - 1), 0.0)


def covariance(n: float, sum_x: float, sum_y: float, sum_xy: float) -> float:
    """Sample covariance (ddof=1) from sums."""
    return (sum_xy - sum_x * sum_y / n) / (n - 1)


def ratio_moments(n, sum_m, sum_m2, sum_d, sum_d2, sum_md) -> tuple[float, float]:
    """Ratio ``R = sum_m / sum_d`` and the delta-method *unit* variance of R.

    ``var = s_m^2/mu_d^2 + s_d^2 mu_m^2/mu_d^4 - 2 cov_md mu_m/mu_d^3`` (GrowthBook's
    ``variance_of_ratios``); divide by n for the variance of R itself.
    """
    mu_m, v_m = mean_var(n, sum_m, sum_m2)
    mu_d, v_d = mean_var(n, sum_d, sum_d2)
    if mu_d == 0:
        raise InvalidInputError("the ratio's denominator sums to 0 in an arm")
    cov = covariance(n, sum_m, sum_d, sum_md)
    var = v_m / mu_d**2 + v_d * mu_m**2 / mu_d**4 - 2 * cov * mu_m / mu_d**3
    return mu_m / mu_d, max(var, 0.0)


def cuped_theta(arms: list[dict[str, float]]) -> float:
    """theta = cov(Y, X) / var(X) over all arms together (the pooled/joint statistic).

    Each arm dict has n, sum_y, sum_x, sum_x2, sum_xy. Equal to the slope of an OLS
    regression of Y on X with an intercept over every unit.
    """
    n = sum(a["n"] for a in arms)
    sx = sum(a["sum_x"] for a in arms)
    sy = sum(a["sum_y"] for a in arms)
    sxx = sum(a["sum_x2"] for a in arms)
    sxy = sum(a["sum_xy"] for a in arms)
    var_x = (sxx - sx * sx / n) / (n - 1)
    if var_x <= 0:
        return 0.0
    return ((sxy - sx * sy / n) / (n - 1)) / var_x


def cuped_arm(arm: dict[str, float], theta: float) -> dict[str, float]:
    """An arm's CUPED-adjusted moments: mean_y, var_y, mean_x, var_x, cov_xy, var_adj.

    ``var_adj = s_y^2 + theta^2 s_x^2 - 2 theta s_xy`` is the unit variance of
    ``Y - theta X``; the adjusted mean is ``mean_y - theta (mean_x - pooled mean_x)``
    (the centring cancels in the lift).
    """
    n = arm["n"]
    my, vy = mean_var(n, arm["sum_y"], arm["sum_y2"])
    mx, vx = mean_var(n, arm["sum_x"], arm["sum_x2"])
    cxy = covariance(n, arm["sum_x"], arm["sum_y"], arm["sum_xy"])
    return {
        "mean_y": my,
        "var_y": vy,
        "mean_x": mx,
        "var_x": vx,
        "cov_xy": cxy,
        "var_adj": max(vy + theta * theta * vx - 2 * theta * cxy, 0.0),
    }


def cuped_compare(
    control: dict,
    treatment: dict,
    theta: float,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> tuple[TestResult, float]:
    """The CUPED-adjusted lift test and its variance reduction ``1 - V_cuped / V_raw``.

    Relative lift: ``(adj_t - adj_c) / |mean_y_c|`` with GrowthBook's variance (PR #3610):
    ``V = (s_yt^2 + th^2 s_xt^2 - 2 th s_xyt)/(n_t my_c^2)
    + (s_yc^2 my_t^2/my_c^2 - 2 th s_xyc my_t/my_c + th^2 s_xc^2)/(n_c my_c^2)``.
    Degrees of freedom: Welch-Satterthwaite on the adjusted unit variances.
    """
    c, t = cuped_arm(control, theta), cuped_arm(treatment, theta)
    n_c, n_t = control["n"], treatment["n"]
    adj_c = c["mean_y"] - theta * c["mean_x"]
    adj_t = t["mean_y"] - theta * t["mean_x"]
    v_abs = t["var_adj"] / n_t + c["var_adj"] / n_c
    myc, myt = c["mean_y"], t["mean_y"]
    if myc != 0:
        v_rel = t["var_adj"] / (n_t * myc**2) + (
            c["var_y"] * myt**2 / myc**2
            - 2 * theta * c["cov_xy"] * myt / myc
            + theta**2 * c["var_x"]
        ) / (n_c * myc**2)
    else:
        v_rel = float("nan")
    df = welch_df(c["var_adj"], n_c, t["var_adj"], n_t)
    # shift both adjusted means by theta * the pooled covariate mean so they read as Y means
    mx = (control["sum_x"] + treatment["sum_x"]) / (n_c + n_t)
    res = compare(
        adj_c + theta * mx,
        c["var_adj"],
        n_c,
        adj_t + theta * mx,
        t["var_adj"],
        n_t,
        alpha,
        alternative,
        df=df,
        method="Welch t-test, CUPED",
        abs_var=v_abs,
        rel_var=v_rel,
    )
    if myc != 0:  # relative lift against the unadjusted control mean, as GrowthBook
        rel = (adj_t - adj_c) / abs(myc)
        rel_se = math.sqrt(max(v_rel, 0.0))
        rlo, rhi = _interval(rel, rel_se, df, alpha, alternative)
        res = TestResult(
            **{
                **res.to_dict(),
                "rel_lift": rel,
                "rel_se": rel_se,
                "rel_ci_low": rlo,
                "rel_ci_high": rhi,
            }
        )
    v_raw = t["var_y"] / n_t + c["var_y"] / n_c
    reduction = 1 - v_abs / v_raw if v_raw > 0 else 0.0
    return res, float(reduction)


def noninferiority(
    result: TestResult,
    margin: float,
    direction: str = "increase",
) -> tuple[float, float, bool]:
    """One-sided non-inferiority test of a guardrail: (statistic, p_value, passed at alpha).

    ``margin`` is the largest tolerated harm as a fraction of the control mean (0.05 = 5 %),
    turned into an absolute margin ``M = margin |m_c|``. When bigger is better
    (``direction="increase"``) H0 is ``lift <= -M``; when smaller is better H0 is
    ``lift >= +M``. The test is the shifted one-sided t-test with the result's
    Welch-Satterthwaite df (the same as ``scipy.stats.ttest_ind(t - M, c, equal_var=False,
    alternative=...)`` on rows).
    """
    if direction not in ("increase", "decrease"):
        raise InvalidInputError(f"direction must be 'increase' or 'decrease', got {direction!r}")
    m = float(margin) * abs(result.mean_control)
    se = result.abs_se
    if direction == "increase":
        stat = (result.abs_lift + m) / se
        p = _p_value(stat, result.df, "greater")
    else:
        stat = (result.abs_lift - m) / se
        p = _p_value(stat, result.df, "less")
    return float(stat), float(p), bool(p < result.alpha)
