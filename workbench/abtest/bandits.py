"""Multi-armed bandits: Thompson sampling, UCB1 and epsilon-greedy, seeded and serialisable.

Every policy has the same verbs:

- ``select() -> arm``: the arm to serve next;
- ``update(arm, reward)``: record the reward of one decision;
- ``probabilities() -> {arm: weight}``: the current allocation (the probability that
  ``select`` picks each arm now);
- ``to_dict()`` / ``Policy.from_dict(d)``: the whole state as plain JSON (counts, sums,
  the random generator's state and any pre-drawn random numbers), so a restored policy
  continues with exactly the decisions the original would have made.

Simulation, off-policy evaluation and saving policies in a store are in
:mod:`workbench.abtest.bandit_eval`.

Random numbers come from ``numpy.random.Generator(PCG64(seed))``. To keep a decision at a
microsecond or two in Python, draws are made in blocks (uniforms and normals; Beta
draws per arm, the block of an arm thrown away when its posterior changes). A block is
recorded by the generator state it was drawn from, so ``to_dict`` stays small and a
restored policy redraws it identically.

>>> policy = ThompsonSampling(["a", "b", "c"], seed=0)
>>> arm = policy.select(); policy.update(arm, reward=1.0)
>>> ThompsonSampling.from_dict(policy.to_dict()).select() == policy.select()
True
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import special

from workbench.errors import BanditError

_MAX_BLOCK = 4096
_BETA_MAX_BLOCK = 1024


def _new_generator(state: dict | None = None, seed: int | None = None) -> np.random.Generator:
    bit = np.random.PCG64(seed)
    if state is not None:
        bit.state = state
    return np.random.Generator(bit)


def _draw(rng: np.random.Generator, kind: str, params: tuple, size: int) -> list[float]:
    if kind == "uniform":
        return rng.random(size).tolist()
    if kind == "normal":
        return rng.standard_normal(size).tolist()
    if kind == "beta":
        if size == 1:
            return [float(rng.beta(params[0], params[1]))]
        return rng.beta(params[0], params[1], size).tolist()
    raise BanditError(f"unknown random block kind {kind!r}")


class _Block:
    """Pre-drawn numbers, remembered by the generator state they were drawn from.

    ``values`` holds the numbers not used yet in *reverse* order, so that taking the next
    one is ``values.pop()``; ``to_dict`` records (kind, parameters, size, state, how many
    were used) and ``from_dict`` redraws the same numbers from that state.
    """

    __slots__ = ("kind", "params", "size", "state", "values")

    def __init__(self, rng: np.random.Generator, kind: str, params: tuple, size: int):
        self.kind, self.params, self.size = kind, tuple(params), int(size)
        self.state = rng.bit_generator.state  # a fresh dict on every access
        self.values = _draw(rng, kind, self.params, self.size)
        self.values.reverse()

    def to_dict(self) -> dict[str, Any] | None:
        if not self.values:
            return None
        return {
            "kind": self.kind,
            "params": list(self.params),
            "size": self.size,
            "used": self.size - len(self.values),
            "state": self.state,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> _Block | None:
        if d is None:
            return None
        block = cls.__new__(cls)
        block.kind, block.params = d["kind"], tuple(d["params"])
        block.size, block.state = int(d["size"]), d["state"]
        values = _draw(_new_generator(d["state"]), block.kind, block.params, block.size)
        block.values = values[int(d["used"]) :][::-1]
        return block


_EMPTY: list[float] = []


def _check_arms(arms: Sequence[str]) -> list[str]:
    if isinstance(arms, str) or not isinstance(arms, Sequence) or len(arms) < 2:
        raise BanditError(f"a bandit needs a list of at least 2 arm names, got {arms!r}")
    out = [a for a in arms]
    for a in out:
        if not isinstance(a, str) or not a:
            raise BanditError(f"arm names must be non-empty strings, got {a!r}")
    if len(set(out)) != len(out):
        raise BanditError(f"arm names must be unique, got {out}")
    return out


class Policy:
    """Shared state and verbs of the bandit policies (not used directly)."""

    name = "Policy"

    def __init__(self, arms: Sequence[str], seed: int = 0) -> None:
        self.arms = _check_arms(arms)
        self.seed = int(seed)
        self._index = {a: i for i, a in enumerate(self.arms)}
        k = len(self.arms)
        self._ks = range(k)
        self.n = [0] * k
        self.sums = [0.0] * k
        self.sumsq = [0.0] * k
        self.t = 0
        self._rng = _new_generator(seed=self.seed)
        self._uniform: _Block | None = None

    # -- random numbers ------------------------------------------------------------
    def _u(self) -> float:
        b = self._uniform
        if b is None or not b.values:
            b = self._uniform = _Block(self._rng, "uniform", (), _MAX_BLOCK)
        return b.values.pop()

    def _argmax_random_ties(self, scores: list[float]) -> int:
        best = max(scores)
        ties = [i for i, s in enumerate(scores) if s == best]
        if len(ties) == 1:
            return ties[0]
        return ties[min(int(self._u() * len(ties)), len(ties) - 1)]

    # -- verbs ---------------------------------------------------------------------
    def select(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _check_reward(self, arm: str, reward: Any) -> tuple[int, float]:
        k = self._index.get(arm)
        if k is None:
            raise BanditError(f"unknown arm {arm!r}; arms are {self.arms}")
        try:
            r = float(reward)
        except (TypeError, ValueError):
            raise BanditError(f"reward for arm {arm!r} must be a number, got {reward!r}") from None
        if r - r != 0.0:  # NaN or infinite
            raise BanditError(f"reward for arm {arm!r} must be finite, got {reward!r}")
        return k, r

    def update(self, arm: str, reward: float) -> None:
        """Record ``reward`` for one decision of ``arm``."""
        k, r = self._check_reward(arm, reward)
        self.n[k] += 1
        self.sums[k] += r
        self.sumsq[k] += r * r
        self.t += 1

    def means(self) -> dict[str, float]:
        """The observed mean reward per arm (NaN for an arm not tried yet)."""
        return {a: (s / n if n else float("nan")) for a, s, n in zip(self.arms, self.sums, self.n)}

    def counts(self) -> dict[str, int]:
        """How many rewards each arm has received."""
        return dict(zip(self.arms, self.n))

    def probabilities(self) -> dict[str, float]:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- state ---------------------------------------------------------------------
    def _options(self) -> dict[str, Any]:
        return {}

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra(self, d: dict[str, Any]) -> None:
        pass

    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-serialisable data (round-trips exactly)."""
        return {
            "policy": self.name,
            "arms": list(self.arms),
            "seed": self.seed,
            "options": self._options(),
            "n": list(self.n),
            "sums": list(self.sums),
            "sumsq": list(self.sumsq),
            "t": self.t,
            "rng": copy.deepcopy(self._rng.bit_generator.state),
            "uniform": None if self._uniform is None else self._uniform.to_dict(),
            **self._extra_state(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Policy:
        """Rebuild a policy from ``to_dict()`` output (any policy class, by its name)."""
        target = POLICIES.get(d.get("policy")) if cls is Policy else cls
        if target is None or d.get("policy") != target.name:
            raise BanditError(
                f"state is for policy {d.get('policy')!r}, cannot load it as {cls.name}"
            )
        policy = target(d["arms"], seed=d["seed"], **d.get("options", {}))
        policy.n = [int(x) for x in d["n"]]
        policy.sums = [float(x) for x in d["sums"]]
        policy.sumsq = [float(x) for x in d["sumsq"]]
        policy.t = int(d["t"])
        policy._rng = _new_generator(d["rng"])
        policy._uniform = _Block.from_dict(d.get("uniform"))
        policy._load_extra(dict(d))
        return policy

    def __repr__(self) -> str:
        return f"{self.name}({self.arms}, seed={self.seed}, t={self.t})"


class ThompsonSampling(Policy):
    """Thompson sampling: play each arm with the posterior probability that it is best.

    Rewards in {0, 1} use a Beta-Bernoulli model with prior ``Beta(*prior)`` (default
    Beta(1, 1)): arm k is drawn from ``Beta(a0 + successes, b0 + failures)``. With
    ``model="auto"`` (default) the first reward outside {0, 1} switches the policy to a
    normal model: arm k is drawn from ``N(mean_k, s_k^2 / n_k)`` (GrowthBook's Gaussian
    Thompson), where s_k^2 is the arm's sample variance (the pooled variance of all
    rewards while the arm has fewer than 2, and 1.0 before any variance is known); arms
    with no reward yet are played first. ``model="beta"`` refuses other rewards;
    ``model="normal"`` uses the normal model from the start.

    >>> ts = ThompsonSampling(["a", "b"], seed=1)
    >>> for _ in range(200):
    ...     arm = ts.select(); ts.update(arm, 1.0 if arm == "b" else 0.0)
    >>> ts.probabilities()["b"] > 0.99
    True
    """

    name = "ThompsonSampling"

    def __init__(
        self,
        arms: Sequence[str],
        seed: int = 0,
        prior: tuple[float, float] = (1.0, 1.0),
        model: str = "auto",
    ) -> None:
        super().__init__(arms, seed)
        a0, b0 = (float(x) for x in prior)
        if not (a0 > 0 and b0 > 0 and math.isfinite(a0) and math.isfinite(b0)):
            raise BanditError(f"prior must be two positive numbers (a, b), got {prior!r}")
        if model not in ("auto", "beta", "normal"):
            raise BanditError(f"model must be 'auto', 'beta' or 'normal', got {model!r}")
        self.prior = (a0, b0)
        self._a0, self._b0 = a0, b0
        self.model = model
        self.binary = model != "normal"
        self._rng_beta = self._rng.beta
        k = len(self.arms)
        self._beta: list[_Block | None] = [None] * k
        self._vals: list[list[float]] = [_EMPTY] * k  # = self._beta[k].values, for speed
        self._since = [0] * k  # Beta draws issued for each arm since its posterior moved
        self._normal: _Block | None = None

    def _options(self) -> dict[str, Any]:
        return {"prior": list(self.prior), "model": self.model}

    def _extra_state(self) -> dict[str, Any]:
        return {
            "binary": self.binary,
            "beta_blocks": [None if b is None else b.to_dict() for b in self._beta],
            "since": list(self._since),
            "normal": None if self._normal is None else self._normal.to_dict(),
        }

    def _load_extra(self, d: dict[str, Any]) -> None:
        self._rng_beta = self._rng.beta
        self.binary = bool(d["binary"])
        self._beta = [_Block.from_dict(b) for b in d["beta_blocks"]]
        self._vals = [_EMPTY if b is None else b.values for b in self._beta]
        self._since = [int(s) for s in d["since"]]
        self._normal = _Block.from_dict(d.get("normal"))

    def _posterior(self, k: int) -> tuple[float, float]:
        return self.prior[0] + self.sums[k], self.prior[1] + self.n[k] - self.sums[k]

    def _beta_draw(self, k: int) -> float:
        """A fresh draw from arm k's Beta posterior when its pre-drawn block is used up.

        An arm whose posterior just moved gets single draws; an arm left alone for m
        draws gets a block of min(m, 1024) draws (so blocks double while the arm is not
        played). ``update`` drops the block of the arm whose posterior moves.
        """
        vals = self._vals[k]
        if vals:
            return vals.pop()
        since = self._since[k]
        s = self.sums[k]
        a, b = self._a0 + s, self._b0 + self.n[k] - s
        if since < 2:
            self._since[k] = since + 1
            self._beta[k] = None
            return float(self._rng_beta(a, b))
        size = min(since, _BETA_MAX_BLOCK)
        block = self._beta[k] = _Block(self._rng, "beta", (a, b), size)
        self._vals[k] = block.values
        self._since[k] = since + size
        return block.values.pop()

    def _z(self) -> float:
        b = self._normal
        if b is None or not b.values:
            b = self._normal = _Block(self._rng, "normal", (), _MAX_BLOCK)
        return b.values.pop()

    def _normal_params(self) -> list[tuple[float, float] | None]:
        total_n = sum(self.n)
        pooled = 1.0
        if total_n >= 2:
            s, ss = sum(self.sums), sum(self.sumsq)
            pooled = max((ss - s * s / total_n) / (total_n - 1), 0.0) or 1.0
        out: list[tuple[float, float] | None] = []
        for n, s, ss in zip(self.n, self.sums, self.sumsq):
            if n == 0:
                out.append(None)
                continue
            var = (ss - s * s / n) / (n - 1) if n >= 2 else pooled
            out.append((s / n, math.sqrt(max(var, 0.0) / n)))
        return out

    def select(self) -> str:
        """Draw one value per arm from its posterior and return the arm with the largest."""
        if self.binary:  # _beta_draw's common paths, inlined for speed
            best, best_v = 0, -1.0
            vals, since, sums, n = self._vals, self._since, self.sums, self.n
            for k in self._ks:
                lst = vals[k]
                if lst:
                    v = lst.pop()
                elif since[k] < 2:
                    since[k] += 1
                    s = sums[k]
                    v = self._rng_beta(self._a0 + s, self._b0 + n[k] - s)
                else:
                    v = self._beta_draw(k)
                if v > best_v:
                    best, best_v = k, v
            return self.arms[best]
        params = self._normal_params()
        untried = [k for k, p in enumerate(params) if p is None]
        if untried:
            return self.arms[untried[min(int(self._u() * len(untried)), len(untried) - 1)]]
        scores = [m + sd * self._z() for m, sd in params]  # type: ignore[misc]
        return self.arms[self._argmax_random_ties(scores)]

    def update(self, arm: str, reward: float) -> None:
        """Record a reward; the arm's pre-drawn Beta block is dropped (its posterior moved)."""
        k = self._index.get(arm)
        if k is None or reward.__class__ is not float or reward - reward != 0.0:
            k, reward = self._check_reward(arm, reward)
        if reward != 0.0 and reward != 1.0 and self.binary:
            if self.model == "beta":
                raise BanditError(
                    f"model='beta' takes rewards in {{0, 1}}, got {reward!r} for arm {arm!r}"
                )
            self.binary = False
        self.n[k] += 1
        self.sums[k] += reward
        self.sumsq[k] += reward * reward
        self.t += 1
        self._beta[k] = None
        self._vals[k] = _EMPTY
        self._since[k] = 0

    def probabilities(self) -> dict[str, float]:
        """P(arm is best) under the current posteriors, by quadrature (no sampling)."""
        if self.binary:
            return dict(
                zip(self.arms, _prob_best_beta([self._posterior(k) for k in range(len(self.arms))]))
            )
        params = self._normal_params()
        untried = [k for k, p in enumerate(params) if p is None]
        if untried:
            return {a: (1 / len(untried) if k in untried else 0.0) for k, a in enumerate(self.arms)}
        return dict(zip(self.arms, _prob_best_normal(params)))  # type: ignore[arg-type]


def _prob_best_grid(grid: np.ndarray, pdfs: np.ndarray, cdfs: np.ndarray) -> list[float]:
    out = []
    k = len(pdfs)
    for i in range(k):
        others = np.prod(np.delete(cdfs, i, axis=0), axis=0) if k > 1 else 1.0
        out.append(float(np.trapezoid(pdfs[i] * others, grid)))
    total = sum(out)
    return [p / total for p in out] if total > 0 else [1 / k] * k


def _prob_best_beta(params: list[tuple[float, float]]) -> list[float]:
    """P(best) for independent Beta(a, b) arms on a grid that resolves every posterior."""
    pieces = [
        np.linspace(special.betaincinv(a, b, 1e-12), special.betaincinv(a, b, 1 - 1e-12), 801)
        for a, b in params
    ]
    x = np.unique(np.concatenate(pieces))
    with np.errstate(divide="ignore"):
        logx, log1x = np.log(x), np.log1p(-x)
    pdfs = np.array(
        [np.exp((a - 1) * logx + (b - 1) * log1x - special.betaln(a, b)) for a, b in params]
    )
    cdfs = np.array([special.betainc(a, b, x) for a, b in params])
    return _prob_best_grid(x, np.nan_to_num(pdfs), cdfs)


def _prob_best_normal(params: list[tuple[float, float]]) -> list[float]:
    """P(best) for independent normal arms (mean, sd)."""
    params = [(m, max(sd, 1e-300)) for m, sd in params]
    x = np.unique(
        np.concatenate([np.linspace(m - 7.1 * sd, m + 7.1 * sd, 801) for m, sd in params])
    )
    pdfs = np.array(
        [np.exp(-0.5 * ((x - m) / sd) ** 2) / (sd * math.sqrt(2 * math.pi)) for m, sd in params]
    )
    cdfs = np.array([special.ndtr((x - m) / sd) for m, sd in params])
    return _prob_best_grid(x, pdfs, cdfs)


def prob_best(dists: Sequence[Any]) -> list[float]:
    """P(X_k is the largest) for independent continuous frozen scipy distributions.

    ``P_k = integral f_k(x) * prod_{j != k} F_j(x) dx`` by the trapezoid rule on a grid
    made of 801 points across each distribution's central 1 - 1e-12 mass.

    >>> from scipy import stats
    >>> p = prob_best([stats.norm(0, 1), stats.norm(0, 1)])
    >>> [round(x, 6) for x in p]
    [0.5, 0.5]
    """
    pieces = []
    for d in dists:
        lo, hi = d.ppf(1e-12), d.isf(1e-12)
        pieces.append(np.linspace(lo, hi, 801))
    x = np.unique(np.concatenate(pieces))
    cdfs = np.array([d.cdf(x) for d in dists])
    pdfs = np.array([d.pdf(x) for d in dists])
    out = []
    for k in range(len(dists)):
        others = np.prod(np.delete(cdfs, k, axis=0), axis=0) if len(dists) > 1 else 1.0
        out.append(float(np.trapezoid(pdfs[k] * others, x)))
    total = sum(out)
    return [p / total for p in out] if total > 0 else [1 / len(out)] * len(out)


class UCB1(Policy):
    """UCB1 (Auer et al. 2002): play ``argmax mean_k + alpha * sqrt(2 ln t / n_k)``.

    Arms with no reward yet are played first (in random order); ties are broken at
    random with the seeded generator. The bound assumes rewards in [0, 1]; ``alpha``
    (default 1, as mabwiser's ``UCB1(alpha=1)``) scales the exploration bonus.

    >>> ucb = UCB1(["a", "b"], seed=0)
    >>> ucb.update("a", 1.0)
    >>> ucb.select()          # the untried arm first
    'b'

    """

    name = "UCB1"

    def __init__(self, arms: Sequence[str], seed: int = 0, alpha: float = 1.0) -> None:
        super().__init__(arms, seed)
        self.alpha = float(alpha)
        if not (self.alpha >= 0 and math.isfinite(self.alpha)):
            raise BanditError(f"alpha must be a non-negative number, got {alpha!r}")

    def _options(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def _scores(self) -> list[float]:
        t = max(self.t, 1)
        log_t = 2.0 * math.log(t)
        a = self.alpha
        return [
            (s / n + a * math.sqrt(log_t / n)) if n else math.inf for s, n in zip(self.sums, self.n)
        ]

    def select(self) -> str:
        """The arm with the highest upper confidence bound."""
        n, sums = self.n, self.sums
        if 0 in n:
            return self.arms[self._argmax_random_ties([0.0 if c else 1.0 for c in n])]
        log_t = 2.0 * math.log(self.t)
        a = self.alpha
        sqrt = math.sqrt
        best_v, best, tie = -math.inf, 0, False
        for k in self._ks:
            c = n[k]
            v = sums[k] / c + a * sqrt(log_t / c)
            if v > best_v:
                best_v, best, tie = v, k, False
            elif v == best_v:
                tie = True
        if tie:
            return self.arms[self._argmax_random_ties(self._scores())]
        return self.arms[best]

    def probabilities(self) -> dict[str, float]:
        """1 on the arm(s) ``select`` would pick now (split evenly between ties)."""
        scores = self._scores()
        best = max(scores)
        ties = [s == best for s in scores]
        return {a: (1 / sum(ties) if tie else 0.0) for a, tie in zip(self.arms, ties)}


class EpsilonGreedy(Policy):
    """Epsilon-greedy: with probability epsilon a uniformly random arm, else the best mean.

    As mabwiser (epsilon 0.1 by default), the random arm is drawn among *all* arms, so
    the greedy arm is played with probability ``1 - epsilon + epsilon / K``. Arms with no
    reward yet count as best (each arm is tried once first); ties are broken at random.

    >>> EpsilonGreedy(["a", "b"], epsilon=0.2).probabilities()
    {'a': 0.5, 'b': 0.5}
    """

    name = "EpsilonGreedy"

    def __init__(self, arms: Sequence[str], epsilon: float = 0.1, seed: int = 0) -> None:
        super().__init__(arms, seed)
        self.epsilon = float(epsilon)
        if not (0.0 <= self.epsilon <= 1.0):
            raise BanditError(f"epsilon must be in [0, 1], got {epsilon!r}")

    def _options(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon}

    def _greedy_scores(self) -> list[float]:
        return [(s / n) if n else math.inf for s, n in zip(self.sums, self.n)]

    def select(self) -> str:
        """A random arm with probability epsilon, else the arm with the best mean."""
        if self._u() < self.epsilon:
            k = len(self.arms)
            return self.arms[min(int(self._u() * k), k - 1)]
        n, sums = self.n, self.sums
        if 0 in n:
            return self.arms[self._argmax_random_ties(self._greedy_scores())]
        best_v, best, tie = -math.inf, 0, False
        for k in self._ks:
            v = sums[k] / n[k]
            if v > best_v:
                best_v, best, tie = v, k, False
            elif v == best_v:
                tie = True
        if tie:
            return self.arms[self._argmax_random_ties(self._greedy_scores())]
        return self.arms[best]

    def probabilities(self) -> dict[str, float]:
        """``epsilon / K`` for every arm plus ``1 - epsilon`` split over the greedy arm(s)."""
        scores = self._greedy_scores()
        best = max(scores)
        ties = [s == best for s in scores]
        k = len(self.arms)
        return {
            a: self.epsilon / k + ((1 - self.epsilon) / sum(ties) if tie else 0.0)
            for a, tie in zip(self.arms, ties)
        }


POLICIES: dict[str, type[Policy]] = {
    "ThompsonSampling": ThompsonSampling,
    "UCB1": UCB1,
    "EpsilonGreedy": EpsilonGreedy,
}
