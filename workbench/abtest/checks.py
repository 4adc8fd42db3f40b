"""Trust checks: sample-ratio mismatch and multiple-testing corrections.

**SRM**: Pearson's chi-square goodness of fit of the observed units per variant against
the planned weights, ``chi2 = sum (o_i - e_i)^2 / e_i`` with ``e_i = w_i N``, ``k - 1``
degrees of freedom over the variants with a positive weight (as
``scipy.stats.chisquare``). Flagged at ``p < 0.001`` (GrowthBook's, Eppo's and Statsig's
red threshold). Units in a variant planned at weight 0 flag it outright.

**Multiple testing**: ``adjust_pvalues`` computes Holm, Benjamini-Hochberg and Bonferroni
adjusted p-values exactly as ``statsmodels.stats.multitest.multipletests`` with
``method="holm"``, ``"fdr_bh"`` and ``"bonferroni"``. NaN p-values are left out of the
family and stay NaN.

>>> srm_test({"control": 24955, "treatment": 25045}, {"control": .5, "treatment": .5}).flagged
False
>>> adjust_pvalues([0.01, 0.04, 0.03], method="holm").round(3).tolist()
[0.03, 0.06, 0.06]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from workbench.errors import InvalidInputError

SRM_THRESHOLD = 0.001
CORRECTIONS = ("holm", "bh", "bonferroni", None)


@dataclass(frozen=True)
class SRMResult:
    """Sample-ratio mismatch check: chi-square, p-value, flag and the counts it used."""

    chi2: float
    p_value: float
    df: int
    flagged: bool
    observed: dict[str, int]
    expected: dict[str, float]
    weights: dict[str, float]
    threshold: float = SRM_THRESHOLD
    method: str = "Pearson chi-square goodness of fit against the planned weights"
    message: str = field(default="")

    def to_dict(self) -> dict[str, Any]:
        return {
            "chi2": self.chi2,
            "p_value": self.p_value,
            "df": self.df,
            "flagged": self.flagged,
            "observed": dict(self.observed),
            "expected": dict(self.expected),
            "weights": dict(self.weights),
            "threshold": self.threshold,
            "method": self.method,
            "message": self.message,
        }


def srm_test(
    counts: Mapping[str, int],
    weights: Mapping[str, float] | None = None,
    threshold: float = SRM_THRESHOLD,
) -> SRMResult:
    """Chi-square test of the observed split against the planned ``weights`` (equal if None).

    >>> r = srm_test({"a": 5200, "b": 4800})
    >>> r.flagged, round(r.p_value, 6)
    (True, 6.3e-05)
    """
    observed = {str(k): int(v) for k, v in counts.items()}
    if weights is None:
        weights = {k: 1 / len(observed) for k in observed}
    w = {str(k): float(v) for k, v in weights.items()}
    unknown = sorted(set(observed) - set(w))
    if unknown:
        raise InvalidInputError(
            f"variants {unknown} were observed but have no planned weight; weights are {w}"
        )
    total_w = sum(w.values())
    if total_w <= 0 or any(v < 0 for v in w.values()):
        raise InvalidInputError(f"planned weights must be non-negative and not all 0, got {w}")
    names = [k for k in w if w[k] > 0]
    n = sum(observed.get(k, 0) for k in w)
    expected = {k: w[k] / total_w * n for k in w}
    obs_all = {k: observed.get(k, 0) for k in w}
    stray = sum(obs_all[k] for k in w if w[k] == 0)
    if n == 0:
        return SRMResult(
            0.0,
            1.0,
            len(names) - 1,
            False,
            obs_all,
            expected,
            w,
            threshold,
            message="no units observed",
        )
    f_obs = np.array([obs_all[k] for k in names], dtype=float)
    f_exp = np.array([expected[k] for k in names])
    chi2 = float(((f_obs - f_exp) ** 2 / f_exp).sum())
    df = len(names) - 1
    p = float(stats.chi2.sf(chi2, df)) if df > 0 else 1.0
    if stray:
        p, chi2 = 0.0, float("inf")
    flagged = bool(p < threshold)
    if stray:
        msg = f"{stray} units are in variants planned at weight 0"
    elif flagged:
        shares = ", ".join(
            f"{k} {obs_all[k] / n:.2%} (planned {w[k] / total_w:.2%})" for k in names
        )
        msg = (
            f"sample-ratio mismatch: chi2 = {chi2:.2f}, p = {p:.2g} < {threshold}; "
            f"observed {shares}. Do not trust the results until the cause is found"
        )
    else:
        msg = f"no sample-ratio mismatch (chi2 = {chi2:.2f}, p = {p:.3g})"
    return SRMResult(chi2, p, df, flagged, obs_all, expected, w, threshold, message=msg)


def adjust_pvalues(p: Sequence[float] | np.ndarray, method: str | None = "holm") -> np.ndarray:
    """Adjusted p-values for a family of tests: ``holm``, ``bh``, ``bonferroni`` or None.

    - Bonferroni: ``min(1, m p_i)``;
    - Holm (step-down): sort ascending, ``(m - i) p_(i)`` for i = 0..m-1, running
      maximum, capped at 1;
    - Benjamini-Hochberg (step-up FDR): sort ascending, ``m p_(i) / i`` for i = 1..m,
      running minimum from the largest, capped at 1.

    >>> adjust_pvalues([0.01, 0.02, 0.03, 0.5], "bh").round(4).tolist()
    [0.04, 0.04, 0.04, 0.5]
    """
    if method not in CORRECTIONS:
        raise InvalidInputError(f"correction must be one of {CORRECTIONS}, got {method!r}")
    arr = np.asarray(p, dtype=float).copy()
    ok = np.isfinite(arr)
    if method is None or ok.sum() == 0:
        return arr
    if np.any((arr[ok] < 0) | (arr[ok] > 1)):
        raise InvalidInputError("p-values must be in [0, 1]")
    vals = arr[ok]
    m = len(vals)
    order = np.argsort(vals, kind="mergesort")
    sorted_p = vals[order]
    if method == "bonferroni":
        adj_sorted = np.minimum(1.0, sorted_p * m)
    elif method == "holm":
        adj_sorted = np.minimum(1.0, np.maximum.accumulate(sorted_p * (m - np.arange(m))))
    else:
        ranks = np.arange(1, m + 1)
        adj_sorted = np.minimum(1.0, np.minimum.accumulate((sorted_p * m / ranks)[::-1])[::-1])
    adj = np.empty(m)
    adj[order] = adj_sorted
    arr[ok] = adj
    return arr
