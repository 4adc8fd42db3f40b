"""Two-sample drift tests: one function, one small result object per test.

``stat_test(method, ref, cur)`` runs one method on two samples and returns a
:class:`StatTestResult` that names the method, its statistic, its p-value (NaN
for distances), the threshold and the rule it was compared with, and the
conventions used (bins, zero fill, log base, KS mode, permutation seed). Every
method equals the scipy function it names on the same data (tests: 1e-9
relative).

Missing values (None, NaN, +-inf) are dropped first and counted.

>>> import numpy as np
>>> r = stat_test("ks", np.arange(100.0), np.arange(100.0) + 30)
>>> r.method, round(r.statistic, 2), r.rule, r.drifted
('ks', 0.3, 'p_value < threshold', True)
>>> stat_test("psi", ["a"] * 50 + ["b"] * 50, ["a"] * 70 + ["b"] * 30).drifted
True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from workbench.errors import InvalidInputError, MonitoringInputError, UnknownMethodError
from workbench.monitoring import _ecdf
from workbench.monitoring.binning import (
    BINNINGS,
    FEW_VALUES,
    FILL_RULE,
    counts_on_edges,
    counts_open_bins,
    evidently_fill,
    quantile_edges,
    sturges_edges,
)

NUMERICAL, CATEGORICAL = "numerical", "categorical"
KS_MAX_EXACT_N = 10_000  # scipy's MAX_AUTO_N: exact p-values up to this many rows per side


# -- samples --------------------------------------------------------------------
@dataclass
class Sample:
    """One side of a comparison: sorted finite values (numerical) or category counts.

    Built by :func:`sample_from_values` or by the report from DuckDB aggregates;
    ``n`` is the number of non-missing values, ``n_missing`` the dropped ones.
    """

    kind: str
    values: np.ndarray | None = None  # numerical: sorted finite float64
    keys: list | None = None  # categorical: distinct values
    counts: np.ndarray | None = None  # categorical: their counts
    n_missing: int = 0
    _vc: tuple | None = field(default=None, repr=False)
    _std: float | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        if self.kind == NUMERICAL:
            return int(self.values.size)
        return int(self.counts.sum()) if self.counts is not None else 0

    def value_counts(self) -> tuple[list, np.ndarray]:
        """Distinct values and counts (numerical: from the sorted values, no re-sort)."""
        if self.kind == CATEGORICAL:
            return self.keys, self.counts
        if self._vc is None:
            vals, counts = _ecdf.run_lengths(self.values)
            self._vc = (vals.tolist(), counts)
        return self._vc

    def n_distinct(self) -> int:
        if self.kind == NUMERICAL:
            return _ecdf.n_distinct(self.values)
        return len(self.keys)

    def std(self) -> float:
        """Population standard deviation (ddof 0), as ``np.std``."""
        if self._std is None:
            self._std = float(np.std(self.values)) if self.values.size else float("nan")
        return self._std


def sample_from_values(values: Any, kind: str | None = None) -> Sample:
    """A :class:`Sample` from an array, list or Series (kind inferred from the dtype when None)."""
    if isinstance(values, Sample):
        return values
    if isinstance(values, (pd.Series, pd.Index)):
        arr = values.to_numpy()
    else:
        arr = np.asarray(values)
    if arr.ndim != 1:
        raise MonitoringInputError(f"a sample must be one-dimensional, got shape {arr.shape}")
    if kind is None:
        kind = NUMERICAL if (arr.dtype.kind in "iuf" and arr.dtype != bool) else CATEGORICAL
    if kind == NUMERICAL:
        if arr.dtype.kind not in "iufb":
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise MonitoringInputError(
                    f"a numerical sample holds values that are not numbers ({exc})"
                ) from None
        values_sorted, n_bad = _ecdf.finite_sorted(arr)
        return Sample(NUMERICAL, values=values_sorted, n_missing=n_bad)
    if kind != CATEGORICAL:
        raise MonitoringInputError(f"sample kind must be 'numerical' or 'categorical', got {kind!r}")
    series = pd.Series(arr, dtype=object)
    present = series.map(lambda x: not (x is None or (isinstance(x, float) and not math.isfinite(x))
                                        or x is pd.NA or x is pd.NaT)).astype(bool)
    vc = series[present].value_counts(sort=False)
    missing = int(len(series) - vc.sum())
    return Sample(CATEGORICAL, keys=list(vc.index), counts=vc.to_numpy(dtype=np.int64), n_missing=missing)


def aligned_counts(ref: Sample, cur: Sample) -> tuple[list, np.ndarray, np.ndarray]:
    """Counts of both sides over the union of their distinct values (reference order first)."""
    rk, rc = ref.value_counts()
    ck, cc = cur.value_counts()
    index = {k: i for i, k in enumerate(rk)}
    keys = list(rk)
    for k in ck:
        if k not in index:
            index[k] = len(keys)
            keys.append(k)
    r = np.zeros(len(keys), dtype=np.int64)
    c = np.zeros(len(keys), dtype=np.int64)
    r[: len(rk)] = rc
    c[[index[k] for k in ck]] = cc
    return keys, r, c


# -- results --------------------------------------------------------------------
@dataclass(frozen=True)
class StatTestResult:
    """The outcome of one drift test on one column.

    ``score`` is what was compared with ``threshold``: the p-value for tests
    (drift when ``p_value < threshold``), the statistic for distances (drift
    when ``statistic >= threshold``). ``conventions`` records how the number was
    made (bins, zero fill, log base, KS mode, permutation seed, ...).
    """

    method: str
    statistic: float
    p_value: float
    threshold: float
    drifted: bool
    rule: str
    kind: str
    n_reference: int
    n_current: int
    conventions: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return self.p_value if self.kind == "p_value" else self.statistic

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "statistic": self.statistic, "p_value": self.p_value,
                "threshold": self.threshold, "drifted": self.drifted, "rule": self.rule,
                "kind": self.kind, "n_reference": self.n_reference, "n_current": self.n_current,
                "conventions": self.conventions}


@dataclass(frozen=True)
class Method:
    name: str
    kinds: tuple[str, ...]
    kind: str  # "p_value" or "distance"
    default_threshold: float
    fn: Callable[..., tuple[float, float, dict]]
    max_threshold: float | None = None
    scipy: str = ""

    @property
    def rule(self) -> str:
        return "p_value < threshold" if self.kind == "p_value" else "statistic >= threshold"

    def check_threshold(self, threshold: Any) -> float:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)):
            raise InvalidInputError(f"threshold of {self.name} must be a number, got {threshold!r}")
        t = float(threshold)
        if self.kind == "p_value" and not (0.0 < t < 1.0):
            raise InvalidInputError(f"threshold of {self.name} is a p-value: expected 0 < t < 1, got {t}")
        if self.kind == "distance":
            top = self.max_threshold
            if not (t > 0.0 and math.isfinite(t)) or (top is not None and t > top):
                limit = f"0 < t <= {top:.6g}" if top is not None else "t > 0"
                raise InvalidInputError(f"threshold of {self.name} must be {limit}, got {t}")
        return t


# -- numerical methods -------------------------------------------------------------
def _ks(ref: Sample, cur: Sample, opts: dict) -> tuple[float, float, dict]:
    mode = opts.get("mode", "auto")
    if mode not in ("auto", "exact", "asymp"):
        raise InvalidInputError(f"ks mode must be 'auto', 'exact' or 'asymp', got {mode!r}")
    n, m = ref.n, cur.n
    if mode == "auto":
        mode = "exact" if max(n, m) <= KS_MAX_EXACT_N else "asymp"
    if mode == "exact":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = stats.ks_2samp(ref.values, cur.values, method="exact")
        return float(res.statistic), float(res.pvalue), {"ks_mode": "exact", "alternative": "two-sided"}
    d = _ecdf.ks_d(ref.values, cur.values)
    big, small = sorted([float(n), float(m)], reverse=True)
    en = big * small / (big + small)
    p = float(np.clip(stats.kstwo.sf(d, np.round(en)), 0, 1))
    return d, p, {"ks_mode": "asymp", "alternative": "two-sided",
                  "formula": "kstwo.sf(D, round(n m / (n + m)))"}


def _wasserstein(ref: Sample, cur: Sample, opts: dict) -> tuple[float, float, dict]:
    raw = _ecdf.wasserstein(ref.values, cur.values, ref._cache)
    norm = max(ref.std(), 0.001)
    return raw / norm, float("nan"), {"raw_distance": raw, "normalised_by": "max(std_ref (ddof 0), 0.001)",
                                      "std_reference": ref.std()}


def _scipy_num(name: str) -> Callable:
    def run(ref: Sample, cur: Sample, opts: dict) -> tuple[float, float, dict]:
        r, c = ref.values, cur.values
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name == "anderson":
                try:
                    res = stats.anderson_ksamp([r, c], variant="midrank")
                except TypeError:  # scipy < 1.17 has no ``variant`` (midrank is its default)
                    res = stats.anderson_ksamp([r, c])
                return float(res.statistic), float(res.pvalue), {
                    "variant": "midrank", "note": "scipy floors p at 0.001 and caps it at 0.25"}
            if name == "cramer_von_mises":
                res = stats.cramervonmises_2samp(r, c)
                return float(res.statistic), float(res.pvalue), {"method": "auto (exact if max n <= 20)"}
            if name == "mannwhitney":
                res = stats.mannwhitneyu(r, c, alternative="two-sided")
                return float(res.statistic), float(res.pvalue), {"alternative": "two-sided",
                                                                 "statistic": "U of the reference"}
            if name == "t_test":
                res = stats.ttest_ind(r, c, equal_var=False)
                return float(res.statistic), float(res.pvalue), {"variant": "Welch", "alternative": "two-sided"}
            if name == "energy_distance":
                return float(stats.energy_distance(r, c)), float("nan"), {"units": "raw (not normalised)"}
        raise AssertionError(name)

    return run


# -- binned and categorical methods ---------------------------------------------------
def binned_counts(ref: Sample, cur: Sample, binning: str, method: str = "") -> tuple[np.ndarray, np.ndarray, dict]:
    """Counts of both sides on the method's bins, and the conventions that made them."""
    if binning not in BINNINGS:
        raise InvalidInputError(f"binning must be one of {', '.join(BINNINGS)}, got {binning!r}")
    if ref.kind == NUMERICAL and binning == "evidently" and method == "hellinger":
        # Evidently's Hellinger: Sturges over the distinct values of both sides together
        union = np.union1d(ref.value_counts()[0], cur.value_counts()[0])
        edges = sturges_edges(union[0], union[-1], union.size)
        return (counts_on_edges(ref.values, edges), counts_on_edges(cur.values, edges),
                {"binning": "evidently", "bins": "sturges over distinct values", "edges": edges.tolist()})
    if ref.kind == NUMERICAL and ref.n_distinct() > FEW_VALUES:
        if binning == "evidently":
            lo = min(ref.values[0], cur.values[0])
            hi = max(ref.values[-1], cur.values[-1])
            edges = sturges_edges(lo, hi, ref.n + cur.n)
            return (counts_on_edges(ref.values, edges), counts_on_edges(cur.values, edges),
                    {"binning": "evidently", "bins": "sturges over reference + current",
                     "edges": edges.tolist()})
        inner = ref.__dict__.get("_quantile_edges")
        if inner is None:
            inner = quantile_edges(ref.values)
        rc, cc = counts_open_bins(ref.values, inner), counts_open_bins(cur.values, inner)
        keep = (rc + cc) > 0
        return rc[keep], cc[keep], {"binning": "quantile", "bins": "reference deciles, open ends",
                                    "edges": np.asarray(inner).tolist()}
    keys, rc, cc = aligned_counts(ref, cur)
    return rc, cc, {"binning": binning, "bins": "one per distinct value",
                    "categories": [_jsonable(k) for k in keys][:200]}


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total


def _binned(name: str) -> Callable:
    def run(ref: Sample, cur: Sample, opts: dict) -> tuple[float, float, dict]:
        binning = opts.get("binning", "quantile")
        rc, cc, conv = binned_counts(ref, cur, binning, name)
        r, c = _shares(rc), _shares(cc)
        if name in ("psi", "kl_div"):
            r, c = evidently_fill(r), evidently_fill(c)
            conv["fill"] = FILL_RULE
            conv["log_base"] = "e"
        if name == "psi":
            value = float(np.sum((r - c) * np.log(r / c)))
        elif name == "kl_div":
            value = float(stats.entropy(r, c))
            conv["direction"] = "KL(reference || current), shares renormalised by scipy.stats.entropy"
        elif name == "jensenshannon":
            base = opts.get("base")
            value = float(distance.jensenshannon(r, c, base))
            conv["fill"] = "none"
            conv["log_base"] = "e" if base is None else base
        else:  # hellinger
            value = math.sqrt(1.0 - float(np.clip(np.sum(np.sqrt(r * c)), 0.0, 1.0)))
            conv["formula"] = "sqrt(1 - sum(sqrt(p q)))"
        conv["reference_shares"] = [float(x) for x in r]
        conv["current_shares"] = [float(x) for x in c]
        return value, float("nan"), conv

    return run


def _gof(name: str) -> Callable:
    def run(ref: Sample, cur: Sample, opts: dict) -> tuple[float, float, dict]:
        keys, rc, cc = aligned_counts(ref, cur)
        if len(keys) < 2:
            return 0.0, 1.0, {"note": "a single category on both sides: no evidence of drift (p = 1)"}
        f_exp = rc * (cur.n / ref.n)
        with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name == "chisquare":
                res = stats.chisquare(cc, f_exp)
            else:
                res = stats.power_divergence(cc, f_exp, lambda_="log-likelihood")
        conv = {"expected": "reference shares x n_current (goodness of fit)",
                "categories": len(keys)}
        if np.any((rc == 0) & (cc > 0)):
            conv["note"] = "a category absent from the reference makes the statistic infinite"
        return float(res.statistic), float(res.pvalue), conv

    return run


def _chi2_contingency(ref: Sample, cur: Sample, opts: dict) -> tuple[float, float, dict]:
    keys, rc, cc = aligned_counts(ref, cur)
    if len(keys) < 2:
        return 0.0, 1.0, {"note": "a single category on both sides: no evidence of drift (p = 1)"}
    correction = bool(opts.get("correction", True))
    res = stats.chi2_contingency(np.vstack([rc, cc]), correction=correction)
    return float(res.statistic), float(res.pvalue), {"table": "2 x k (reference, current)",
                                                     "yates_correction": correction and len(keys) == 2}


def _z(ref: Sample, cur: Sample, opts: dict) -> tuple[float, float, dict]:
    keys, rc, cc = aligned_counts(ref, cur)
    if len(keys) < 2:
        return 0.0, 1.0, {"note": "a single category on both sides: p = 1"}
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    first = order[0]
    n1, n2 = ref.n, cur.n
    p1 = (n1 - rc[first]) / n1
    p2 = (n2 - cc[first]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    z = (p1 - p2) / se if se > 0 else 0.0
    p = float(2 * stats.norm.sf(abs(z)))
    return float(z), p, {"proportion": f"share of values != {_jsonable(keys[first])!r}",
                         "variance": "pooled", "alternative": "two-sided"}


def _fisher(ref: Sample, cur: Sample, opts: dict) -> tuple[float, float, dict]:
    keys, rc, cc = aligned_counts(ref, cur)
    if len(keys) > 2:
        raise MonitoringInputError(f"fisher_exact needs at most 2 categories, got {len(keys)}")
    if len(keys) < 2:
        return 1.0, 1.0, {"note": "a single category on both sides: p = 1"}
    res = stats.fisher_exact([[int(rc[0]), int(rc[1])], [int(cc[0]), int(cc[1])]])
    return float(res.statistic), float(res.pvalue), {"table": "[[ref_a, ref_b], [cur_a, cur_b]]",
                                                     "alternative": "two-sided"}


def _tvd(ref: Sample, cur: Sample, opts: dict) -> tuple[float, float, dict]:
    keys, rc, cc = aligned_counts(ref, cur)
    seed = opts.get("seed", 0)
    b = int(opts.get("n_permutations", 1000))
    if b < 1:
        raise InvalidInputError(f"n_permutations must be >= 1, got {b}")
    n1, n2 = ref.n, cur.n
    obs = 0.5 * float(np.abs(rc / n1 - cc / n2).sum())
    conv = {"permutations": b, "seed": seed, "p_value": "(b + 1) / (B + 1)",
            "null": "current counts drawn as a multivariate hypergeometric from the pooled counts "
                    "(the same law as permuting the labels)"}
    if len(keys) < 2:
        return obs, 1.0, conv
    rng = np.random.default_rng(seed)
    pooled = rc + cc
    draws = rng.multivariate_hypergeometric(pooled, n2, size=b)
    perm = 0.5 * np.abs((pooled - draws) / n1 - draws / n2).sum(axis=1)
    hits = int(np.count_nonzero(perm >= obs - 1e-12))
    return obs, (hits + 1) / (b + 1), conv


SQRT_LN2 = math.sqrt(math.log(2.0))

METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("ks", (NUMERICAL,), "p_value", 0.05, _ks, scipy="scipy.stats.ks_2samp"),
        Method("wasserstein", (NUMERICAL,), "distance", 0.1, _wasserstein,
               scipy="scipy.stats.wasserstein_distance / max(np.std(ref), 0.001)"),
        Method("chisquare", (CATEGORICAL, NUMERICAL), "p_value", 0.05, _gof("chisquare"),
               scipy="scipy.stats.chisquare"),
        Method("chi2_contingency", (CATEGORICAL, NUMERICAL), "p_value", 0.05, _chi2_contingency,
               scipy="scipy.stats.chi2_contingency"),
        Method("z", (CATEGORICAL, NUMERICAL), "p_value", 0.05, _z,
               scipy="statsmodels.stats.proportion.proportions_ztest"),
        Method("jensenshannon", (CATEGORICAL, NUMERICAL), "distance", 0.1, _binned("jensenshannon"),
               max_threshold=1.0, scipy="scipy.spatial.distance.jensenshannon"),
        Method("psi", (CATEGORICAL, NUMERICAL), "distance", 0.1, _binned("psi"),
               scipy="sum(scipy.special.rel_entr(r, c) + rel_entr(c, r))"),
        Method("kl_div", (CATEGORICAL, NUMERICAL), "distance", 0.1, _binned("kl_div"),
               scipy="scipy.stats.entropy"),
        Method("hellinger", (CATEGORICAL, NUMERICAL), "distance", 0.1, _binned("hellinger"),
               max_threshold=1.0, scipy="sqrt(1 - sum(sqrt(p q)))"),
        Method("anderson", (NUMERICAL,), "p_value", 0.1, _scipy_num("anderson"),
               scipy="scipy.stats.anderson_ksamp"),
        Method("cramer_von_mises", (NUMERICAL,), "p_value", 0.1, _scipy_num("cramer_von_mises"),
               scipy="scipy.stats.cramervonmises_2samp"),
        Method("mannwhitney", (NUMERICAL,), "p_value", 0.05, _scipy_num("mannwhitney"),
               scipy="scipy.stats.mannwhitneyu"),
        Method("t_test", (NUMERICAL,), "p_value", 0.05, _scipy_num("t_test"),
               scipy="scipy.stats.ttest_ind(equal_var=False)"),
        Method("energy_distance", (NUMERICAL,), "distance", 0.1, _scipy_num("energy_distance"),
               scipy="scipy.stats.energy_distance"),
        Method("fisher_exact", (CATEGORICAL, NUMERICAL), "p_value", 0.1, _fisher,
               scipy="scipy.stats.fisher_exact"),
        Method("g_test", (CATEGORICAL, NUMERICAL), "p_value", 0.1, _gof("g_test"),
               scipy="scipy.stats.power_divergence(lambda_='log-likelihood')"),
        Method("tvd", (CATEGORICAL, NUMERICAL), "p_value", 0.1, _tvd,
               scipy="permutation test of the total variation distance"),
    ]
}
ALIASES = {"mannw": "mannwhitney", "mann_whitney": "mannwhitney", "ed": "energy_distance",
           "TVD": "tvd", "t": "t_test", "cvm": "cramer_von_mises", "js": "jensenshannon",
           "chi2": "chi2_contingency", "kl": "kl_div", "wasserstein_distance": "wasserstein"}


def get_method(name: Any) -> Method:
    """The method called ``name`` (Evidently's names accepted as aliases)."""
    if not isinstance(name, str):
        raise UnknownMethodError(f"a drift method is named by a string, got {name!r}")
    key = ALIASES.get(name, name)
    if key not in METHODS:
        raise UnknownMethodError(
            f"unknown drift method {name!r}; expected one of {', '.join(sorted(METHODS))}"
        )
    return METHODS[key]


def run_method(method: str | Method, ref: Sample, cur: Sample, threshold: float | None = None,
               **options: Any) -> StatTestResult:
    """Run one method on two prepared samples (the report's entry point)."""
    spec = method if isinstance(method, Method) else get_method(method)
    if ref.kind not in spec.kinds:
        raise UnknownMethodError(
            f"method {spec.name!r} does not apply to {ref.kind} data; it takes {' or '.join(spec.kinds)}"
        )
    if ref.n == 0 or cur.n == 0:
        side = "reference" if ref.n == 0 else "current"
        raise MonitoringInputError(f"the {side} sample has no non-missing values")
    t = spec.check_threshold(spec.default_threshold if threshold is None else threshold)
    if spec.name == "jensenshannon" and options.get("base") in (None, math.e) and t > SQRT_LN2:
        raise InvalidInputError(
            f"threshold of jensenshannon (natural log) must be <= sqrt(ln 2) = {SQRT_LN2:.6f}, got {t}"
        )
    stat, p, conv = spec.fn(ref, cur, options)
    score = p if spec.kind == "p_value" else stat
    drifted = bool(score < t) if spec.kind == "p_value" else bool(score >= t)
    return StatTestResult(spec.name, float(stat), float(p), t, drifted, spec.rule, spec.kind,
                          ref.n, cur.n, {**conv, "scipy": spec.scipy})


def stat_test(method: str, ref: Sequence | np.ndarray | pd.Series, cur: Sequence | np.ndarray | pd.Series,
              threshold: float | None = None, *, kind: str | None = None, **options: Any) -> StatTestResult:
    """Run one drift test on two samples.

    ``kind`` is ``"numerical"`` or ``"categorical"`` (inferred from the dtype);
    options: ``binning="quantile"|"evidently"`` (histogram methods), ``base``
    (Jensen-Shannon's log base; natural log by default), ``mode="auto"|"exact"|"asymp"``
    (KS), ``seed`` and ``n_permutations`` (TVD), ``correction`` (chi2_contingency).

    >>> stat_test("wasserstein", [0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]).statistic  # doctest: +ELLIPSIS
    0.894...
    """
    spec = get_method(method)
    if kind is None and spec.kinds == (NUMERICAL,):
        kind = NUMERICAL
    r = sample_from_values(ref, kind)
    c = sample_from_values(cur, r.kind)
    return run_method(spec, r, c, threshold, **options)
