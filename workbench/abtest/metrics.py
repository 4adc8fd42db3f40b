"""Metrics and the per-metric statistics of an analysis, from sufficient statistics.

>>> Metric("converted", kind="proportion").columns()
['converted']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.abtest import bayesian, frequentist, sequential
from workbench.errors import InvalidInputError

KINDS = ("proportion", "mean", "ratio")


@dataclass(frozen=True)
class Metric:
    """A metric to analyse.

    ``kind``: ``"proportion"`` (a 0/1 column), ``"mean"`` (any numeric column) or
    ``"ratio"`` (``sum(numerator) / sum(denominator)`` per arm, delta method).
    ``column`` defaults to ``name``. ``cuped``: a pre-period covariate column (CUPED,
    theta pooled over the arms). ``guardrail=True``: a one-sided non-inferiority test with
    ``margin`` (a fraction of the control mean, default 0.05) instead of a success metric.
    ``direction``: ``"increase"`` when bigger is better, ``"decrease"`` otherwise.
    ``agg``: the per-unit aggregate when ``rows="events"`` (default ``max`` for
    proportions, ``sum`` otherwise).

    >>> Metric("revenue", kind="mean", cuped="pre_revenue").column
    'revenue'
    """

    name: str
    kind: str = "mean"
    column: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    cuped: str | None = None
    guardrail: bool = False
    direction: str = "increase"
    margin: float = 0.05
    agg: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInputError(f"a metric needs a non-empty name, got {self.name!r}")
        if self.kind not in KINDS:
            raise InvalidInputError(
                f"metric {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}"
            )
        if self.direction not in ("increase", "decrease"):
            raise InvalidInputError(
                f"metric {self.name!r}: direction must be 'increase' or "
                f"'decrease', got {self.direction!r}"
            )
        if self.kind == "ratio":
            if not self.numerator or not self.denominator:
                raise InvalidInputError(
                    f"ratio metric {self.name!r} needs numerator= and denominator= columns"
                )
            if self.cuped:
                raise InvalidInputError(
                    f"ratio metric {self.name!r}: CUPED is not supported for ratio metrics"
                )
        elif self.column is None:
            object.__setattr__(self, "column", self.name)
        if not (0 <= float(self.margin) < 1):
            raise InvalidInputError(
                f"metric {self.name!r}: margin must be in [0, 1), got {self.margin!r}"
            )

    def columns(self) -> list[str]:
        cols = [self.numerator, self.denominator] if self.kind == "ratio" else [self.column]
        if self.cuped:
            cols.append(self.cuped)
        return [c for c in cols if c]


# -- per-metric statistics -----------------------------------------------------------------
def arm_moments(m: Metric, a: Mapping[str, float]) -> tuple[float, float]:
    """(mean, unit variance) of the metric in one arm, from its sufficient statistics."""
    n = float(a["n"])
    if m.kind == "ratio":
        return frequentist.ratio_moments(
            n,
            a[f"sum_{m.numerator}"],
            a[f"sumsq_{m.numerator}"],
            a[f"sum_{m.denominator}"],
            a[f"sumsq_{m.denominator}"],
            a[f"sumprod_{m.numerator}__{m.denominator}"],
        )
    if m.kind == "proportion":
        p = a[f"sum_{m.column}"] / n
        return p, p * (1 - p)
    return frequentist.mean_var(n, a[f"sum_{m.column}"], a[f"sumsq_{m.column}"])


def _cuped_arm(m: Metric, a: Mapping[str, float]) -> dict[str, float]:
    y, x = m.column, m.cuped
    return {
        "n": float(a["n"]),
        "sum_y": a[f"sum_{y}"],
        "sum_y2": a[f"sumsq_{y}"],
        "sum_x": a[f"sum_{x}"],
        "sum_x2": a[f"sumsq_{x}"],
        "sum_xy": a[f"sumprod_{y}__{x}"],
    }


def compare_metric(
    m: Metric, c: Mapping[str, float], t: Mapping[str, float], opts: Mapping[str, Any]
) -> dict[str, Any]:
    """Every engine's answer for one metric, treatment ``t`` against control ``c``.

    ``c`` and ``t`` map sufficient-statistic names (``n``, ``sum_<col>``, ``sumsq_<col>``,
    ``sumprod_<a>__<b>``) to numbers; ``opts`` holds alpha, engine, prior, beta_prior and
    n_star. Returns one table row (see :func:`workbench.abtest.analysis.analyze`).
    """
    alpha = opts["alpha"]
    n_c, n_t = float(c["n"]), float(t["n"])
    mean_c, var_c = arm_moments(m, c)
    mean_t, var_t = arm_moments(m, t)
    reduction = float("nan")
    theta = float("nan")
    if m.cuped:
        cc, tt = _cuped_arm(m, c), _cuped_arm(m, t)
        theta = frequentist.cuped_theta([cc, tt])
        res, reduction = frequentist.cuped_compare(cc, tt, theta, alpha)
    elif m.kind == "proportion":
        res = frequentist.two_proportion_ztest(
            c[f"sum_{m.column}"], n_c, t[f"sum_{m.column}"], n_t, alpha
        )
    elif m.kind == "ratio":
        res = frequentist.compare(
            mean_c,
            var_c,
            n_c,
            mean_t,
            var_t,
            n_t,
            alpha,
            method="Welch t-test, ratio (delta method)",
        )
    else:
        res = frequentist.welch_ttest(mean_c, var_c, n_c, mean_t, var_t, n_t, alpha)
    # Bayesian
    prior: bayesian.NormalPrior = opts["prior"]
    if m.kind == "proportion" and not m.cuped:
        b_abs, b_rel = bayesian.beta_binomial(
            c[f"sum_{m.column}"],
            n_c,
            t[f"sum_{m.column}"],
            n_t,
            opts["beta_prior"],
            alpha,
            m.direction,
        )
    else:
        mc = abs(mean_c) or 1.0
        if prior.scale == "relative":
            abs_prior = bayesian.NormalPrior(
                prior.mean * mc, None if prior.sd is None else prior.sd * mc
            )
            rel_prior = prior
        else:
            abs_prior = prior
            rel_prior = bayesian.NormalPrior(
                prior.mean / mc, None if prior.sd is None else prior.sd / mc
            )
        method = f"normal model, prior {'flat' if prior.sd is None else f'N({prior.mean:g}, {prior.sd:g}^2)'}"
        b_abs = bayesian.normal_posterior(
            res.abs_lift, res.abs_se**2, abs_prior, alpha, m.direction, method
        )
        b_rel = bayesian.normal_posterior(
            res.rel_lift, res.rel_se**2, rel_prior, alpha, m.direction, method
        )
    # Sequential
    n = n_c + n_t
    s_abs = sequential.sequential_test(
        res.abs_lift, res.abs_se**2, n, alpha, opts["n_star"], res.df
    )
    if np.isfinite(res.rel_se):
        s_rel = sequential.sequential_test(
            res.rel_lift, res.rel_se**2, n, alpha, opts["n_star"], res.df
        )
        rel_cs = (s_rel.cs_low, s_rel.cs_high)
    else:
        rel_cs = (float("nan"), float("nan"))
    # Guardrail (one-sided non-inferiority)
    g_p, g_pass = float("nan"), None
    if m.guardrail:
        _, g_p, g_pass = frequentist.noninferiority(res, m.margin, m.direction)
        if opts["engine"] == "sequential":
            hw = sequential.cs_half_width_one_sided(res.abs_se**2, n, alpha, opts["n_star"])
            mm = m.margin * abs(mean_c)
            g_pass = (
                bool(res.abs_lift - hw > -mm)
                if m.direction == "increase"
                else bool(res.abs_lift + hw < mm)
            )
    engine = opts["engine"]
    if engine == "frequentist":
        p, lo, hi, rlo, rhi = (
            res.p_value,
            res.ci_low,
            res.ci_high,
            res.rel_ci_low,
            res.rel_ci_high,
        )
        method = res.method
    elif engine == "bayesian":
        p, lo, hi, rlo, rhi = (
            float("nan"),
            b_abs.ci_low,
            b_abs.ci_high,
            b_rel.ci_low,
            b_rel.ci_high,
        )
        method = b_abs.method
    else:
        p, lo, hi = s_abs.p_value, s_abs.cs_low, s_abs.cs_high
        rlo, rhi = rel_cs
        method = s_abs.method + " on " + res.method
    return {
        "n": int(n_t),
        "mean": mean_t,
        "sd": math.sqrt(var_t),
        "abs_lift": res.abs_lift,
        "rel_lift": res.rel_lift,
        "ci_low": lo,
        "ci_high": hi,
        "rel_ci_low": rlo,
        "rel_ci_high": rhi,
        "p_value": p,
        "chance_to_win": b_abs.chance_to_win,
        "expected_loss": b_abs.expected_loss,
        "variance_reduction": reduction,
        "theta": theta,
        "method": method,
        "statistic": res.statistic,
        "df": res.df,
        "se": res.abs_se,
        "rel_se": res.rel_se,
        "fixed_p_value": res.p_value,
        "fixed_ci_low": res.ci_low,
        "fixed_ci_high": res.ci_high,
        "rel_fixed_low": res.rel_ci_low,
        "rel_fixed_high": res.rel_ci_high,
        "cs_low": s_abs.cs_low,
        "cs_high": s_abs.cs_high,
        "rel_cs_low": rel_cs[0],
        "rel_cs_high": rel_cs[1],
        "always_valid_p": s_abs.p_value,
        "peeking_cost": s_abs.peeking_cost,
        "guardrail_p": g_p,
        "guardrail_passed": g_pass,
        "mean_control": mean_c,
    }
