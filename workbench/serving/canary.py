"""Canary analysis: the gates that compare a canary with its champion, and the step machine.

Gates (each returns a :class:`GateCheck` naming its method and threshold):

- **error rate**: one-sided two-proportion z-test (pooled), H1: the canary's
  error rate is higher than the champion's; fails when ``p < alpha``
  (default 0.05) or when the canary's rate is over the absolute ceiling
  ``max_error_rate`` (default 5 %). Same statistic as
  ``statsmodels.stats.proportion.proportions_ztest(alternative="larger")``.
- **p99 latency**: fails when the canary's p99 > max(``latency_factor`` (1.2)
  x the champion's p99, ``slo_ms`` (100 ms)). Quantiles are numpy's
  linear (type 7), as DuckDB's ``quantile_cont``.
- **PSI of the scores** (optional, ``max_psi``): the canary's predictions
  against the champion's, ten quantile bins of the champion's, 1e-4 floor.
- **agreement with the champion** (optional): the champion also predicts a
  share (``agreement_sample``, default all) of the canary's requests *after*
  the canary's answer is sent (as a shadow would, on a bounded queue that drops
  and counts overflow), so the two answers to the same input are compared row
  by row. ``min_agreement`` (classifiers): the share of compared rows whose
  predictions are equal must be >= it; ``max_score_diff`` (regressors): the
  p95 (linear) of ``|canary - champion|`` over the compared rows must be <= it.

The machine (the ``canary`` entry of the deployment state dict) holds each step
for ``interval_s`` and until ``min_samples`` canary requests; no data is not
a pass: a step that has not reached ``min_samples`` (and, with an agreement
gate, ``ceil(agreement_sample x min_samples)`` compared requests) after
``max_wait_s`` pauses as *inconclusive*. A failed check counts; more than ``failure_limit``
failures roll back. Passing the last step promotes.

>>> g = error_rate_gate(40, 200, 2, 1800)
>>> g.passed, g.name
(False, 'error_rate')
>>> agreement_gate(same=190, compared=200, min_agreement=0.9).value
0.95
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

DEFAULT_STEPS = (5, 25, 50, 100)


@dataclass(frozen=True)
class GateCheck:
    """One gate's verdict on one analysis."""

    name: str
    passed: bool
    value: float | None
    threshold: float | None
    detail: str
    direction: str = "<="  # how value compares with threshold when the gate passes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """Pooled one-sided z-test of p1 > p2: ``(z, p)``; ``(0, 1)`` when there is no variance."""
    p = (x1 + x2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (x1 / n1 - x2 / n2) / se
    return z, float(stats.norm.sf(z))


def error_rate_gate(canary_errors: int, canary_n: int, champion_errors: int, champion_n: int,
                    alpha: float = 0.05, max_error_rate: float = 0.05) -> GateCheck:
    """Canary error rate not higher than the champion's (one-sided z-test) and under the ceiling."""
    rate = canary_errors / canary_n if canary_n else float("nan")
    champ = champion_errors / champion_n if champion_n else 0.0
    if champion_n:
        z, p = two_proportion_z(canary_errors, canary_n, champion_errors, champion_n)
    else:
        z, p = 0.0, 1.0
    worse = p < alpha
    over = rate > max_error_rate
    return GateCheck("error_rate", not (worse or over), rate, max_error_rate,
                     f"canary {rate:.2%} vs champion {champ:.2%} (z={z:.2f}, one-sided p={p:.3g}, "
                     f"alpha={alpha}); ceiling {max_error_rate:.0%}")


def latency_gate(canary_ms: list[float] | np.ndarray, champion_ms: list[float] | np.ndarray,
                 slo_ms: float = 100.0, factor: float = 1.2) -> GateCheck:
    """Canary p99 <= max(factor x champion p99, slo_ms)."""
    c99 = float(np.quantile(canary_ms, 0.99)) if len(canary_ms) else float("nan")
    h99 = float(np.quantile(champion_ms, 0.99)) if len(champion_ms) else 0.0
    limit = max(factor * h99, slo_ms)
    return GateCheck("latency_p99", bool(c99 <= limit), c99, limit,
                     f"canary p99 {c99:.2f} ms vs champion {h99:.2f} ms; limit max({factor} x champion, "
                     f"{slo_ms:g} ms) = {limit:.2f} ms")


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10, floor: float = 1e-4) -> float:
    """Population stability index of ``current`` against quantile bins of ``reference`` (natural log)."""
    reference = np.asarray(reference, dtype=float)
    current = np.asarray(current, dtype=float)
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:
        edges = np.array([reference.min() - 0.5, reference.min() + 0.5])
    edges[0], edges[-1] = -np.inf, np.inf
    e = np.histogram(reference, edges)[0] / len(reference)
    a = np.histogram(current, edges)[0] / len(current)
    e, a = np.maximum(e, floor), np.maximum(a, floor)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_gate(champion_scores: list[float], canary_scores: list[float], max_psi: float) -> GateCheck:
    value = psi(np.asarray(champion_scores), np.asarray(canary_scores))
    return GateCheck("score_psi", value <= max_psi, value, max_psi,
                     f"PSI of the canary's predictions against the champion's: {value:.4f}")


def agreement_gate(same: int, compared: int, min_agreement: float) -> GateCheck:
    """Share of compared rows on which the canary predicted what the champion predicts, >= ``min_agreement``.

    No compared row is not a pass (the gate fails with value None).
    """
    if compared <= 0:
        return GateCheck("agreement", False, None, min_agreement,
                         "no canary request was compared with the champion", ">=")
    share = same / compared
    return GateCheck("agreement", share >= min_agreement, share, min_agreement,
                     f"canary = champion on {same} of {compared} compared rows ({share:.2%}); "
                     f"needs >= {min_agreement:.2%}", ">=")


def score_diff_gate(abs_diffs: list[float] | np.ndarray, max_score_diff: float) -> GateCheck:
    """p95 (linear) of ``|canary - champion|`` over the compared rows <= ``max_score_diff``."""
    diffs = np.asarray(abs_diffs, dtype=float)
    if diffs.size == 0:
        return GateCheck("score_diff_p95", False, None, max_score_diff,
                         "no numeric canary prediction was compared with the champion")
    p95 = float(np.quantile(diffs, 0.95))
    return GateCheck("score_diff_p95", p95 <= max_score_diff, p95, max_score_diff,
                     f"|canary - champion| over {diffs.size} compared rows: p50 {np.quantile(diffs, 0.5):.4g}, "
                     f"p95 {p95:.4g}; limit {max_score_diff:g}")


@dataclass
class CanaryConfig:
    """A canary's settings (weights in percent)."""

    variant: str
    steps: list[float] = field(default_factory=lambda: list(DEFAULT_STEPS))
    interval_s: float = 60.0
    min_samples: int = 200
    max_wait_s: float | None = None  # default 3 x interval
    failure_limit: int = 1
    alpha: float = 0.05
    max_error_rate: float = 0.05
    slo_ms: float = 100.0
    latency_factor: float = 1.2
    max_psi: float | None = None
    min_agreement: float | None = None  # classifiers: share of rows equal to the champion's answer
    max_score_diff: float | None = None  # regressors: p95 of |canary - champion| over the rows
    agreement_sample: float = 1.0  # share of canary requests the champion also predicts

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def compares(self) -> bool:
        """True when an agreement gate is on (the champion re-predicts canary requests)."""
        return self.min_agreement is not None or self.max_score_diff is not None

    @property
    def min_compared(self) -> int:
        """Compared requests a step needs before its analysis (0 without an agreement gate)."""
        return max(1, math.ceil(self.agreement_sample * self.min_samples)) if self.compares else 0

    def validate(self) -> None:
        """Raise :class:`~workbench.errors.InvalidInputError` naming the first bad setting."""
        from workbench.errors import InvalidInputError

        if self.min_agreement is not None and not 0 <= self.min_agreement <= 1:
            raise InvalidInputError(f"canary min_agreement is a share in [0, 1], got {self.min_agreement}")
        if self.max_score_diff is not None and not self.max_score_diff >= 0:
            raise InvalidInputError(f"canary max_score_diff is >= 0, got {self.max_score_diff}")
        if not 0 < self.agreement_sample <= 1:
            raise InvalidInputError(f"canary agreement_sample is a share in (0, 1], got {self.agreement_sample}")


@dataclass
class Window:
    """One variant's outcomes during the current canary step."""

    n: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    # the agreement gate: canary requests the champion also predicted, row by row
    compared: int = 0
    compared_rows: int = 0
    same_rows: int = 0
    abs_diffs: list[float] = field(default_factory=list)
    compare_dropped: int = 0
    compare_errors: int = 0

    def compare(self, canary: Any, champion: Any, cap: int = 100_000) -> None:
        """Add one request's two answers (the canary's and the champion's on the same rows).

        >>> w = Window(); w.compare([1, 0, 1], [1, 1, 1]); (w.compared, w.same_rows, w.compared_rows)
        (1, 2, 3)
        """
        a, b = np.asarray(canary).ravel(), np.asarray(champion).ravel()
        if a.shape != b.shape:
            self.compare_errors += 1
            return
        self.compared += 1
        self.compared_rows += int(a.size)
        self.same_rows += int(np.sum(a == b))
        if a.dtype.kind in "biuf" and b.dtype.kind in "biuf" and len(self.abs_diffs) < cap:
            self.abs_diffs.extend(np.abs(a.astype(float) - b.astype(float)).tolist())

    def add(self, ok: bool, latency_ms: float, score: float | None = None, cap: int = 100_000) -> None:
        self.n += 1
        self.errors += 0 if ok else 1
        if len(self.latencies) < cap:
            self.latencies.append(latency_ms)
            if score is not None:
                self.scores.append(score)


def analyse(config: CanaryConfig, canary: Window, champion: Window) -> list[GateCheck]:
    """Every gate of one check."""
    checks = [
        error_rate_gate(canary.errors, canary.n, champion.errors, champion.n, config.alpha,
                        config.max_error_rate),
        latency_gate(canary.latencies, champion.latencies, config.slo_ms, config.latency_factor),
    ]
    if config.max_psi is not None and canary.scores and champion.scores:
        checks.append(psi_gate(champion.scores, canary.scores, config.max_psi))
    if config.min_agreement is not None:
        checks.append(agreement_gate(canary.same_rows, canary.compared_rows, config.min_agreement))
    if config.max_score_diff is not None:
        checks.append(score_diff_gate(canary.abs_diffs, config.max_score_diff))
    return checks


def decide(config: CanaryConfig, status: dict[str, Any], canary: Window, champion: Window,
           now_s: float, breaker_open: bool = False) -> tuple[str, list[GateCheck]]:
    """What to do now: ``wait``, ``inconclusive``, ``advance``, ``promote``, ``retry`` or ``rollback``.

    ``status`` holds ``step`` (index), ``step_started`` (seconds) and ``failures``.
    An open breaker on the canary is a failed check at once (its traffic falls
    back to the champion, so its own samples would stop growing).
    """
    if breaker_open:
        check = GateCheck("breaker", False, None, None, "the canary's circuit breaker is open")
        return ("rollback" if status["failures"] + 1 > config.failure_limit else "retry"), [check]
    elapsed = now_s - status["step_started"]
    if elapsed < config.interval_s:
        return "wait", []
    if canary.n < config.min_samples or canary.compared < config.min_compared:
        max_wait = config.max_wait_s if config.max_wait_s is not None else 3 * config.interval_s
        return ("inconclusive" if elapsed >= max_wait else "wait"), []
    checks = analyse(config, canary, champion)
    if all(c.passed for c in checks):
        return ("promote" if status["step"] >= len(config.steps) - 1 else "advance"), checks
    return ("rollback" if status["failures"] + 1 > config.failure_limit else "retry"), checks
