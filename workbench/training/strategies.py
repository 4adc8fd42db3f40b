"""Search strategies: grid, random, successive halving and TPE (through Optuna).

A strategy hands out trials and learns their results; it never runs anything.
The sweep runner drives it with three calls:

- ``ask(n)``: up to ``n`` trials that may start now; ``[]`` means "wait for
  results", ``None`` means "no trial will ever come again";
- ``tell(spec, value, status)``: a trial ended (``value`` is the objective or
  None when the trial failed);
- ``pending()``: the trials it already knows of that never started (a
  cancelled sweep records them as KILLED runs).

Every trial has an ``index`` unique in its sweep. For grid, random and
halving the params of an index are fixed by the seed (and, for halving's
later rungs, by the results of the earlier rungs), so :meth:`Strategy.start`
can skip the trials a crashed sweep already finished. TPE re-tells Optuna the
finished trials and asks for the missing ones.

>>> from workbench.training.space import int_range
>>> s = RandomSearch({"k": int_range(1, 9)}, n_trials=3, seed=0)
>>> [t.index for t in s.ask(10)], s.ask(1)
([0, 1, 2], None)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import SearchSpaceError
from workbench.training.space import (
    Choice,
    Dimension,
    FloatRange,
    IntRange,
    grid_size,
    iter_grid,
    sample_params,
)

STRATEGIES = ("grid", "random", "halving", "tpe")


@dataclass
class TrialSpec:
    """One trial to run: its index in the sweep, params, config number and halving rung."""

    index: int
    params: dict[str, Any]
    config: int
    rung: int | None = None
    budget: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class DoneTrial:
    """A trial finished in an earlier attempt of the sweep (for resuming)."""

    index: int
    params: dict[str, Any]
    value: float | None
    status: str
    config: int | None = None
    rung: int | None = None


class Strategy:
    """Base class; see the module docstring for the protocol."""

    name = "base"

    def __init__(
        self, space: dict[str, Dimension], n_trials: int | None, seed: int, mode: str = "max"
    ) -> None:
        self.space = space
        self.n_trials = n_trials
        self.seed = seed
        self.mode = mode

    @property
    def total(self) -> int | None:
        """How many trials the whole sweep will have, when known in advance."""
        return self.n_trials

    def start(self, done: list[DoneTrial]) -> None:
        """Take into account trials finished by an earlier attempt (resume)."""

    def ask(self, n: int) -> list[TrialSpec] | None:
        raise NotImplementedError

    def tell(self, spec: TrialSpec, value: float | None, status: str) -> None:
        """A trial ended (FINISHED with ``value``, or FAILED/KILLED)."""

    def pending(self) -> list[TrialSpec]:
        return []

    def config(self) -> dict[str, Any]:
        """Settings recorded on the sweep run (enough to rebuild the strategy)."""
        return {"strategy": self.name}


class _IndexedSearch(Strategy):
    """Trials 0..n-1 whose params depend on the index alone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next = 0
        self._skip: set[int] = set()

    def params_for(self, index: int) -> dict[str, Any]:
        raise NotImplementedError

    def start(self, done: list[DoneTrial]) -> None:
        self._skip = {d.index for d in done}

    def _remaining(self, limit: int | None) -> list[int]:
        out = []
        i = self._next
        while i < self.total and (limit is None or len(out) < limit):
            if i not in self._skip:
                out.append(i)
            i += 1
        return out

    def ask(self, n: int) -> list[TrialSpec] | None:
        indices = self._remaining(n)
        if not indices:
            return None
        self._next = indices[-1] + 1
        return [TrialSpec(i, self.params_for(i), i) for i in indices]

    def pending(self) -> list[TrialSpec]:
        return [TrialSpec(i, self.params_for(i), i) for i in self._remaining(None)]


class GridSearch(_IndexedSearch):
    """Every point of the grid (``n_trials`` may cap it), in a fixed order."""

    name = "grid"

    def __init__(
        self, space: dict[str, Dimension], n_trials: int | None, seed: int, mode: str = "max"
    ) -> None:
        size = grid_size(space)
        self._points = list(iter_grid(space))
        super().__init__(space, size if n_trials is None else min(n_trials, size), seed, mode)

    def params_for(self, index: int) -> dict[str, Any]:
        return dict(self._points[index])


class RandomSearch(_IndexedSearch):
    """``n_trials`` points drawn independently; trial ``i`` depends only on (seed, i)."""

    name = "random"

    def __init__(
        self, space: dict[str, Dimension], n_trials: int | None, seed: int, mode: str = "max"
    ) -> None:
        if n_trials is None:
            raise SearchSpaceError("strategy='random' needs n_trials")
        super().__init__(space, n_trials, seed, mode)

    def params_for(self, index: int) -> dict[str, Any]:
        return sample_params(self.space, self.seed, index)


def _rank_key(mode: str):
    def key(item: tuple[int, float | None]) -> tuple:
        config, value = item
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return (1, 0.0, config)  # failures rank last
        return (0, -value if mode == "max" else value, config)

    return key


class SuccessiveHalving(Strategy):
    """Successive halving over a budget (e.g. ``n_estimators`` or a data fraction).

    Rung 0 runs ``n_trials`` random configs with the smallest budget; each
    later rung runs the best ``1/eta`` of the previous rung's configs with
    ``eta`` times the budget, up to ``max_budget``. Weak configs are thereby
    stopped early: they never get the larger budgets. The budget reaches the
    train function as ``params[resource]`` (and ``trial.budget``).
    """

    name = "halving"

    def __init__(
        self,
        space: dict[str, Dimension],
        n_trials: int | None,
        seed: int,
        mode: str = "max",
        resource: str = "n_estimators",
        min_budget: float = 1,
        max_budget: float = 1,
        eta: int = 3,
    ) -> None:
        if n_trials is None or n_trials < 1:
            raise SearchSpaceError(
                "strategy='halving' needs n_trials (the number of starting configs)"
            )
        if resource in space:
            raise SearchSpaceError(
                f"the halving budget {resource!r} is also in the space; remove it from the space"
            )
        if not (isinstance(eta, int) and eta >= 2):
            raise SearchSpaceError(f"halving eta must be an int >= 2, got {eta!r}")
        if not (0 < min_budget <= max_budget):
            raise SearchSpaceError(
                f"halving needs 0 < min_budget <= max_budget, got {min_budget!r}, {max_budget!r}"
            )
        super().__init__(space, n_trials, seed, mode)
        self.resource, self.eta = resource, eta
        self.min_budget, self.max_budget = min_budget, max_budget
        integer = isinstance(min_budget, int) and isinstance(max_budget, int)
        n_rungs = int(math.floor(math.log(max_budget / min_budget) / math.log(eta) + 1e-9)) + 1
        budgets = [min_budget * eta**r for r in range(n_rungs)]
        budgets[-1] = max_budget
        self.budgets = [int(round(b)) if integer else float(b) for b in budgets]
        sizes = [max(1, n_trials // eta**r) for r in range(n_rungs)]
        # Stop adding rungs once a single config is left.
        keep = next((i + 1 for i, s in enumerate(sizes) if s == 1), len(sizes))
        self.sizes, self.budgets = sizes[:keep], self.budgets[:keep]
        self.offsets = [sum(self.sizes[:r]) for r in range(len(self.sizes))]
        self._rung = 0
        self._members: list[list[int]] = [list(range(n_trials))]  # configs per rung
        self._results: list[dict[int, float | None]] = [{} for _ in self.sizes]
        self._asked: list[int] = [0 for _ in self.sizes]
        self._done: dict[int, DoneTrial] = {}

    @property
    def total(self) -> int:
        return sum(self.sizes)

    def _spec(self, rung: int, position: int) -> TrialSpec:
        config = self._members[rung][position]
        params = sample_params(self.space, self.seed, config)
        params[self.resource] = self.budgets[rung]
        return TrialSpec(self.offsets[rung] + position, params, config, rung, self.budgets[rung])

    def start(self, done: list[DoneTrial]) -> None:
        self._done = {d.index: d for d in done}

    def _absorb_done(self) -> None:
        # Trials of the current rung finished by an earlier attempt count as told.
        rung = self._rung
        for pos, config in enumerate(self._members[rung]):
            d = self._done.get(self.offsets[rung] + pos)
            if d is not None and config not in self._results[rung]:
                self._results[rung][config] = d.value if d.status == "FINISHED" else None

    def ask(self, n: int) -> list[TrialSpec] | None:
        while True:
            rung = self._rung
            self._absorb_done()
            members = self._members[rung]
            out = []
            while self._asked[rung] < len(members) and len(out) < n:
                pos = self._asked[rung]
                self._asked[rung] += 1
                if members[pos] in self._results[rung]:
                    continue
                out.append(self._spec(rung, pos))
            if out:
                return out
            if len(self._results[rung]) < len(members):
                return []  # wait for this rung to finish
            if rung + 1 >= len(self.sizes):
                return None
            ranked = sorted(self._results[rung].items(), key=_rank_key(self.mode))
            self._members.append([c for c, _ in ranked[: self.sizes[rung + 1]]])
            self._rung += 1

    def tell(self, spec: TrialSpec, value: float | None, status: str) -> None:
        self._results[spec.rung][spec.config] = value if status == "FINISHED" else None

    def pending(self) -> list[TrialSpec]:
        rung = self._rung
        return [
            self._spec(rung, pos)
            for pos in range(self._asked[rung], len(self._members[rung]))
            if self._members[rung][pos] not in self._results[rung]
        ]

    def config(self) -> dict[str, Any]:
        return {
            "strategy": self.name,
            "resource": self.resource,
            "min_budget": self.min_budget,
            "max_budget": self.max_budget,
            "eta": self.eta,
        }


def _is_primitive(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


class TPESearch(Strategy):
    """Bayesian search with Optuna's TPE sampler, driven through ``study.ask``/``study.tell``."""

    name = "tpe"

    def __init__(
        self,
        space: dict[str, Dimension],
        n_trials: int | None,
        seed: int,
        mode: str = "max",
        n_startup_trials: int = 10,
    ) -> None:
        import optuna

        if n_trials is None:
            raise SearchSpaceError("strategy='tpe' needs n_trials")
        super().__init__(space, n_trials, seed, mode)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self._dists: dict[str, Any] = {}
        self._decode: dict[str, tuple] = {}
        for name, dim in space.items():
            d = optuna.distributions
            if isinstance(dim, IntRange):
                self._dists[name] = d.IntDistribution(dim.low, dim.high, log=dim.log, step=dim.step)
            elif isinstance(dim, FloatRange):
                self._dists[name] = d.FloatDistribution(
                    dim.low, dim.high, log=dim.log, step=dim.step
                )
            elif isinstance(dim, Choice):
                if all(_is_primitive(v) for v in dim.values):
                    self._dists[name] = d.CategoricalDistribution(dim.values)
                else:  # optuna stores only simple values: choose an index instead
                    self._decode[name] = dim.values
                    self._dists[name] = d.CategoricalDistribution(tuple(range(len(dim.values))))
        self.n_startup_trials = n_startup_trials
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials)
        self.study = optuna.create_study(
            direction="maximize" if mode == "max" else "minimize", sampler=sampler
        )
        self._free = list(range(n_trials))
        self._open: dict[int, Any] = {}

    def _decoded(self, params: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name in self.space:
            value = params[name]
            out[name] = self._decode[name][value] if name in self._decode else value
        return out

    def _encoded(self, params: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name in self.space:
            value = params[name]
            out[name] = self._decode[name].index(value) if name in self._decode else value
        return out

    def start(self, done: list[DoneTrial]) -> None:
        optuna = self._optuna
        finished = {d.index for d in done}
        for d in sorted(done, key=lambda d: d.index):
            state = (
                optuna.trial.TrialState.COMPLETE
                if d.status == "FINISHED" and d.value is not None
                else optuna.trial.TrialState.FAIL
            )
            try:
                trial = optuna.trial.create_trial(
                    params=self._encoded(d.params),
                    distributions=self._dists,
                    state=state,
                    value=d.value if state == optuna.trial.TrialState.COMPLETE else None,
                )
                self.study.add_trial(trial)
            except (ValueError, KeyError):
                continue  # params outside today's space: skip them rather than fail
        self._free = [i for i in self._free if i not in finished]

    def ask(self, n: int) -> list[TrialSpec] | None:
        if not self._free:
            return None
        out = []
        while self._free and len(out) < n:
            index = self._free.pop(0)
            trial = self.study.ask(fixed_distributions=self._dists)
            self._open[index] = trial
            out.append(
                TrialSpec(
                    index, self._decoded(trial.params), index, extra={"optuna_trial": trial.number}
                )
            )
        return out

    def tell(self, spec: TrialSpec, value: float | None, status: str) -> None:
        trial = self._open.pop(spec.index, None)
        if trial is None:
            return
        TrialState = self._optuna.trial.TrialState
        if status == "FINISHED" and value is not None and math.isfinite(value):
            self.study.tell(trial, value)
        else:
            self.study.tell(trial, state=TrialState.FAIL)

    def pending(self) -> list[TrialSpec]:
        # Their params would come from asking Optuna: record them without params.
        return [TrialSpec(i, {}, i) for i in self._free]

    def config(self) -> dict[str, Any]:
        return {"strategy": self.name, "n_startup_trials": self.n_startup_trials}


def make_strategy(
    strategy: str | Strategy,
    space: dict[str, Dimension],
    n_trials: int | None,
    seed: int,
    mode: str,
    budget: tuple | None = None,
    eta: int = 3,
    options: dict[str, Any] | None = None,
) -> Strategy:
    """A strategy object from its name and the sweep's settings."""
    if isinstance(strategy, Strategy):
        return strategy
    options = dict(options or {})
    if strategy == "grid":
        return GridSearch(space, n_trials, seed, mode)
    if strategy == "random":
        return RandomSearch(space, n_trials, seed, mode)
    if strategy == "tpe":
        return TPESearch(space, n_trials, seed, mode, **options)
    if strategy == "halving":
        if budget is None:
            if {"resource", "min_budget", "max_budget"} <= set(options):
                budget = (options["resource"], options["min_budget"], options["max_budget"])
                eta = options.get("eta", eta)
            else:
                raise SearchSpaceError(
                    "strategy='halving' needs budget=(name, min, max), e.g. "
                    "budget=('n_estimators', 50, 400) or budget=('data_fraction', 0.1, 1.0)"
                )
        if not (
            isinstance(budget, (tuple, list)) and len(budget) == 3 and isinstance(budget[0], str)
        ):
            raise SearchSpaceError(f"budget must be (name, min, max), got {budget!r}")
        return SuccessiveHalving(
            space,
            n_trials,
            seed,
            mode,
            resource=budget[0],
            min_budget=budget[1],
            max_budget=budget[2],
            eta=eta,
        )
    raise SearchSpaceError(f"strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
