"""The A/B screen's view-model: experiments, design, results, bandits, decision (no Panel).

Driven directly by ``tests/ui/test_abtests.py``; the view (:mod:`.view`) binds widgets
to it. Re-analysis (another engine, CUPED on/off) runs in a background thread:
:meth:`ABTestModel.reanalyse` starts it, :meth:`ABTestModel.poll` moves its outcome into
the parameters (the view polls on a periodic callback, so the server's event loop never
computes), :meth:`ABTestModel.wait` blocks for tests and scripts::

    model = ABTestModel(store=store, experiment="checkout-redesign-2025")
    model.reanalyse(engine="bayesian"); model.wait()
    model.table          # one row per (metric, variant), as ``ab.analyze`` returns it
    model.record_decision("ship", comment="clear win")
"""

from __future__ import annotations

import json
import math
import threading
import time
import traceback
from typing import Any

import numpy as np
import pandas as pd
import param

from workbench import abtest as ab
from workbench.errors import WorkbenchError
from workbench.ui.components.format import error_message

ENGINES = ("frequentist", "bayesian", "sequential")
POLICIES = {"Thompson sampling": "thompson", "UCB1": "ucb1", "Epsilon-greedy": "epsilon"}


def _metric(spec: dict[str, Any]) -> ab.Metric:
    keys = {k: v for k, v in spec.items() if k in ab.Metric.__dataclass_fields__}
    return ab.Metric(**keys)


def design_curve(
    baseline: float,
    metric: str = "proportion",
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    mde_max: float = 0.3,
    points: int = 40,
) -> pd.DataFrame:
    """Users per arm against the relative MDE (1 % to ``mde_max``) at ``power``.

    >>> design_curve(0.10, points=3)["n_per_arm"].tolist()[-1] < 2000
    True
    """
    lo = 0.01
    mdes = np.geomspace(lo, max(mde_max, lo * 1.01), int(points))
    rows = []
    for m in mdes:
        try:
            n = ab.sample_size(baseline=baseline, mde=float(m), metric=metric, sd=sd, alpha=alpha,
                               power=power, relative=True).n_per_arm
        except WorkbenchError:
            continue  # e.g. a proportion pushed above 1
        rows.append({"mde": float(m), "n_per_arm": int(n)})
    return pd.DataFrame(rows, columns=["mde", "n_per_arm"])


def _clamp(value: Any, default: float, bounds: tuple[float, float]) -> float:
    """``value`` inside ``bounds`` (``default`` when it is missing or not a number).

    >>> _clamp(0.995, 0.8, (0.5, 0.99)), _clamp(None, 0.8, (0.5, 0.99))
    (0.99, 0.8)
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return min(max(number, bounds[0]), bounds[1]) if number == number else default


class ABTestModel(param.Parameterized):
    """State and actions of the A/B screen for one store (or one in-memory result)."""

    experiment = param.String(default="", doc="the experiment shown ('' = the first)")
    engine = param.Selector(default="frequentist", objects=list(ENGINES))
    cuped = param.Boolean(default=True, doc="use the metrics' CUPED covariates")
    experiments = param.DataFrame(default=pd.DataFrame(), doc="ab.experiments(store)")
    definition = param.Dict(default={}, doc="the stored definition of the experiment")
    table = param.DataFrame(default=pd.DataFrame(), doc="the result table shown")
    srm = param.Dict(default={}, doc="the SRM check of the result shown")
    findings = param.List(default=[])
    over_time = param.DataFrame(default=pd.DataFrame(), doc="cumulative lift by day")
    analysis_id = param.Integer(default=None, allow_None=True)
    variance_reduction = param.Dict(default={}, doc="metric -> CUPED variance reduction")
    running = param.Boolean(default=False, doc="a re-analysis runs in the background")
    progress = param.String(default="", doc="what the background work is doing")
    message = param.String(default="")
    error = param.String(default="")
    decisions = param.DataFrame(default=pd.DataFrame())
    # design
    baseline = param.Number(default=0.10, bounds=(0, None))
    design_metric = param.Selector(default="proportion", objects=["proportion", "mean"])
    sd = param.Number(default=1.0, bounds=(0, None))
    mde = param.Number(default=0.10, bounds=(0.001, 1.0), doc="relative MDE")
    power = param.Number(default=0.8, bounds=(0.5, 0.99))
    alpha = param.Number(default=0.05, bounds=(0.001, 0.2))
    daily_users = param.Number(default=2000, bounds=(1, None))
    design = param.Dict(default={}, doc="n_per_arm, n_total, days")
    curve = param.DataFrame(default=pd.DataFrame(columns=["mde", "n_per_arm"]))
    # bandits
    true_rates = param.String(default="a=0.10, b=0.12, c=0.11")
    policy = param.Selector(default="thompson", objects=list(POLICIES.values()))
    steps = param.Integer(default=5000, bounds=(10, 200_000))
    bandit = param.Parameter(default=None, doc="the last BanditSimulation")

    def __init__(self, store: Any = None, result: ab.ABTestResult | None = None,
                 **params: Any) -> None:
        super().__init__(**params)
        self.store = store if store is not None else getattr(result, "_store", None)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._outcome: dict[str, Any] = {}
        self._source: dict[str, Any] = {}  # events + analyze() keywords of the result shown
        self.update_design()
        if result is not None:
            self.experiment = result.experiment
            self._refresh_list()
            self._show_result(result, ot=self._over_time_of(result))
            self.engine = result.engine
        else:
            self.refresh()
        self.param.watch(self._on_experiment, "experiment")
        self.param.watch(lambda *e: self.update_design(),
                         ["baseline", "design_metric", "sd", "mde", "power", "alpha", "daily_users"])

    # -- experiments -----------------------------------------------------------
    def _refresh_list(self) -> None:
        if self.store is None:
            return
        try:
            self.experiments = ab.experiments(self.store)
        except Exception as exc:
            self._fail(exc)

    def refresh(self) -> None:
        """Reload the experiments list and the shown experiment's latest analysis."""
        self._refresh_list()
        names = list(self.experiments["name"]) if "name" in self.experiments else []
        if names and self.experiment not in names:
            self.experiment = names[0]  # the watcher (if set) loads it
        self.load()

    @property
    def names(self) -> list[str]:
        return list(self.experiments["name"]) if "name" in self.experiments else []

    def _on_experiment(self, event: Any) -> None:
        self.load()

    def load(self) -> None:
        """Show the latest saved analysis of ``experiment`` (over time is recomputed)."""
        if self.store is None or not self.experiment:
            return
        self.error = ""
        try:
            self.definition = ab.get_experiment(self.store, self.experiment)
            self.decisions = ab.list_decisions(self.store, self.experiment)
            self._load_design()
            analyses = ab.list_analyses(self.store, self.experiment)
        except Exception as exc:
            self._fail(exc)
            return
        if analyses.empty:
            self._clear(f"{self.experiment!r} has no saved analysis yet: run ab.analyze(..., "
                        "store=store) on its events.")
            return
        saved = ab.get_analysis(self.store, int(analyses["analysis_id"].iloc[0]))
        opts = dict(saved["options"])
        self._source = self._source_of(opts)
        with param.parameterized.discard_events(self):
            self.engine = opts.get("engine", "frequentist")
            self.cuped = any(m.get("cuped") for m in opts.get("metrics", []))
        self._set_table(saved["table"], saved["srm"], saved["findings"], int(saved["analysis_id"]))
        self.over_time = pd.DataFrame()
        if self._source:
            self.reanalyse(engine=self.engine, over_time_only=True)

    def _clear(self, message: str) -> None:
        self._source = {}
        self._set_table(pd.DataFrame(), {}, [], None)
        self.over_time = pd.DataFrame()
        self.message = message

    def _source_of(self, opts: dict[str, Any]) -> dict[str, Any]:
        events = opts.get("events")
        if not isinstance(events, (str, list)) or events in ("DataFrame",):
            return {}
        keys = {k: opts[k] for k in ("variant", "unit", "control", "correction", "alpha",
                                      "duplicates", "rows", "timestamp", "n_star") if k in opts}
        if "beta_prior" in opts:
            keys["beta_prior"] = tuple(opts["beta_prior"])
        if isinstance(opts.get("prior"), dict):
            keys["prior"] = ab.NormalPrior(**opts["prior"])
        return {"events": events, "metrics": [_metric(m) for m in opts.get("metrics", [])],
                "keys": keys}

    def _load_design(self) -> None:
        designs = ab.list_designs(self.store, self.experiment)
        if designs.empty:
            return
        inputs = json.loads(designs["inputs"].iloc[0])
        baseline, mde = inputs.get("baseline"), inputs.get("mde")
        if baseline is None or mde is None:
            return
        if not inputs.get("relative", False):
            mde = mde / abs(baseline) if baseline else mde
        with param.parameterized.batch_call_watchers(self):
            self.design_metric = inputs.get("metric", "proportion")
            self.baseline = float(baseline)
            if inputs.get("sd"):
                self.sd = float(inputs["sd"])
            self.mde = float(min(max(mde, 0.001), 1.0))
            # the design API takes any power/alpha in (0, 1) (and power=None): the form shows what
            # its sliders can, so a saved design never hides the experiment's results
            self.power = _clamp(inputs.get("power"), 0.8, self.param.power.bounds)
            self.alpha = _clamp(inputs.get("alpha"), 0.05, self.param.alpha.bounds)
            if inputs.get("daily_users"):
                self.daily_users = float(inputs["daily_users"])
        self.update_design()

    # -- results -----------------------------------------------------------------
    def _set_table(self, table: pd.DataFrame, srm: dict, findings: list, analysis_id) -> None:
        vr = {}
        if not table.empty and "variance_reduction" in table:
            rows = table[table["variance_reduction"].notna()]
            vr = {str(r["metric"]): float(r["variance_reduction"]) for _, r in rows.iterrows()}
        with param.parameterized.batch_call_watchers(self):
            self.table = table
            self.srm = dict(srm or {})
            self.findings = list(findings or [])
            self.analysis_id = analysis_id
            self.variance_reduction = vr

    def _show_result(self, res: ab.ABTestResult, ot: pd.DataFrame | None) -> None:
        self._set_table(res.table, res.srm.to_dict(), res.findings, res.analysis_id)
        if ot is not None:
            self.over_time = ot
        if res._events is not None:
            self._source = {"events": res._events, "metrics": list(res.metrics),
                            "keys": {k: v for k, v in res.options.items()
                                     if k not in ("experiment", "engine")}}

    @staticmethod
    def _over_time_of(res: ab.ABTestResult) -> pd.DataFrame | None:
        try:
            return res.over_time("1D")
        except Exception:  # no timestamp column: the chart says so
            return pd.DataFrame()

    @property
    def srm_flagged(self) -> bool:
        return bool(self.srm.get("flagged", False))

    @property
    def control(self) -> str:
        keys = self._source.get("keys", {})
        return str(keys.get("control", "control"))

    @property
    def metrics(self) -> list[str]:
        return list(dict.fromkeys(self.table["metric"])) if "metric" in self.table else []

    def lifts(self) -> pd.DataFrame:
        """Treatment rows only, with ``good`` (significant in the metric's good direction)."""
        t = self.table
        if t.empty:
            return t
        rows = t[t["variant"] != self.control].copy()
        sign = np.where(rows["direction"] == "decrease", -1.0, 1.0)
        sig = rows["significant"].fillna(False).astype(bool)
        rows["good"] = sig & (sign * rows["abs_lift"] > 0)
        rows["bad"] = sig & (sign * rows["abs_lift"] < 0)
        return rows

    def results_table(self) -> pd.DataFrame:
        """The table a person reads: lift, interval, raw and adjusted p, chance to win."""
        rows = self.lifts()
        if rows.empty:
            return pd.DataFrame()
        out = pd.DataFrame({
            "metric": rows["metric"], "variant": rows["variant"], "kind": rows["kind"],
            "control mean": rows["mean_control"], "treatment mean": rows["mean"],
            "lift %": 100 * rows["rel_lift"],
            "interval %": [f"[{100 * lo:+.2f}, {100 * hi:+.2f}]"
                           for lo, hi in zip(rows["rel_ci_low"], rows["rel_ci_high"])],
            "p": rows["p_value"], "p adjusted": rows["p_adjusted"],
            "chance to win": rows["chance_to_win"],
            "significant": rows["significant"].fillna(False).astype(bool),
            "guardrail": rows["guardrail"].astype(bool),
        })
        return out.reset_index(drop=True)

    def guardrails(self) -> pd.DataFrame:
        rows = self.lifts()
        if rows.empty:
            return pd.DataFrame(columns=["metric", "variant", "lift %", "passed"])
        g = rows[rows["guardrail"].astype(bool)]
        margins = {m.name: float(m.margin) for m in self._source.get("metrics", [])
                   if getattr(m, "margin", None) is not None}
        return pd.DataFrame({
            "metric": g["metric"], "variant": g["variant"],
            "lift %": (100 * g["rel_lift"]).round(3),
            "margin %": [100 * margins.get(str(x), math.nan) for x in g["metric"]],
            "p (non-inferiority)": [f"{p:.2e}" if p == p else "" for p in g["guardrail_p"]],
            "passed": ["pass" if bool(x) else "FAIL" for x in g["guardrail_passed"].fillna(False)],
        }).reset_index(drop=True)

    def headline(self) -> str:
        """One line: the primary metric's lift and whether it won."""
        rows = self.lifts()
        if rows.empty:
            return self.message or "No analysis to show."
        prim = rows[~rows["guardrail"].astype(bool)]
        if prim.empty:
            return "Only guardrail metrics."
        first = prim[prim["metric"] == prim["metric"].iloc[0]]
        parts = []
        for _, r in first.iterrows():
            verdict = "significant" if bool(r["significant"]) else "not significant"
            parts.append(f"{r['variant']}: {100 * r['rel_lift']:+.2f} % on {r['metric']} "
                         f"({verdict}, {self.engine})")
        if self.srm_flagged:
            parts.append("no winner while the SRM check is flagged")
        return "; ".join(parts)

    @property
    def can_reanalyse(self) -> bool:
        """Whether the shown analysis's events can be read again (a file or a store table)."""
        return bool(getattr(self, "_source", None))

    def reanalyse(self, engine: str | None = None, cuped: bool | None = None,
                  over_time_only: bool = False) -> bool:
        """Re-run the analysis (engine, CUPED) and over-time in a background thread.

        Returns False (and says why in ``error``) when nothing can be re-analysed. The new
        analysis is saved in the store, so a decision can name exactly what was shown.
        """
        if self.running:
            return False
        if not self._source:
            self.error = "This analysis cannot be re-run: its events are not a file or table."
            return False
        engine = engine or self.engine
        cuped = self.cuped if cuped is None else cuped
        src = self._source
        metrics = [m if cuped else _metric({**m.__dict__, "cuped": None}) for m in src["metrics"]]
        store, name = self.store, self.experiment

        def target() -> None:
            try:
                t0 = time.perf_counter()
                with self._lock:
                    self._outcome = {"progress": "Analysing the events…"}
                res = ab.analyze(src["events"], experiment=name, metrics=metrics, engine=engine,
                                 store=None if over_time_only else store, **src["keys"])
                with self._lock:
                    self._outcome = {"progress": "Computing the cumulative lift over time…"}
                ot = self._over_time_of(res)
                out = {"result": res, "over_time": ot, "seconds": time.perf_counter() - t0,
                       "over_time_only": over_time_only, "experiment": name, "cuped": cuped}
            except BaseException as exc:  # reported by poll()
                if not isinstance(exc, WorkbenchError):
                    traceback.print_exc()
                out = {"error": exc}
            with self._lock:
                self._outcome = out

        self.error = ""
        with param.parameterized.batch_call_watchers(self):
            self.progress = "Starting…"
            self.running = True
        self._thread = threading.Thread(target=target, daemon=True, name="workbench-abtest")
        self._thread.start()
        return True

    def poll(self) -> bool:
        """Apply what the background work reported; True while it still runs."""
        if not self.running:
            return False
        with self._lock:
            outcome = dict(self._outcome)
        if "progress" in outcome and len(outcome) == 1:
            self.progress = outcome["progress"]
            return True
        if not outcome:
            return True
        self._thread = None
        self._outcome = {}
        if "error" in outcome:
            with param.parameterized.batch_call_watchers(self):
                self.running = False
                self.progress = ""
            self._fail(outcome["error"])
            return False
        res = outcome["result"]
        if outcome["experiment"] != self.experiment:  # another experiment was opened meanwhile
            self.running = False
            self.progress = ""
            self.load()
            return self.running
        with param.parameterized.batch_call_watchers(self):
            if outcome["over_time_only"]:
                self.over_time = outcome["over_time"]
            else:
                self._show_result(res, outcome["over_time"])
                with param.parameterized.discard_events(self):
                    self.engine = res.engine
                self.cuped = outcome["cuped"]  # the switch shows what the table shows
                self.message = (f"Re-analysed with the {res.engine} engine"
                                f"{'' if any(m.cuped for m in res.metrics) else ', CUPED off'} "
                                f"in {outcome['seconds']:.1f} s (analysis {res.analysis_id}).")
            self.running = False
            self.progress = ""
        if not outcome["over_time_only"]:
            self._refresh_list()
        return False

    def wait(self, timeout: float = 60.0) -> None:
        """Block until the background work ends, then poll (for tests and scripts)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        deadline = time.monotonic() + 5
        while self.poll() and time.monotonic() < deadline:
            time.sleep(0.02)

    # -- design ----------------------------------------------------------------------
    def update_design(self) -> None:
        """Recompute the sample size, the duration and the curve from the design inputs."""
        metric = self.design_metric
        sd = self.sd if metric == "mean" else None
        try:
            size = ab.sample_size(baseline=self.baseline, mde=self.mde, metric=metric, sd=sd,
                                  alpha=self.alpha, power=self.power, relative=True)
            days = ab.duration(size.n_per_arm, daily_users=self.daily_users).days
        except WorkbenchError as exc:
            self.design = {"error": error_message(exc)}
            self.curve = pd.DataFrame(columns=["mde", "n_per_arm"])
            return
        self.design = {"n_per_arm": int(size.n_per_arm), "n_total": int(size.n_total),
                       "days": int(days), "method": size.method}
        top = max(0.3, self.mde * 1.5)
        if metric == "proportion" and self.baseline > 0:
            top = min(top, 0.95 * (1 - self.baseline) / self.baseline)
        self.curve = design_curve(self.baseline, metric, sd, self.alpha, self.power, top)

    # -- bandits -----------------------------------------------------------------------
    def parse_rates(self) -> dict[str, float]:
        """``"a=0.10, b=0.12"`` -> ``{"a": 0.10, "b": 0.12}`` (raises InvalidInputError)."""
        from workbench.errors import InvalidInputError

        rates: dict[str, float] = {}
        for part in [p.strip() for p in self.true_rates.replace(";", ",").split(",") if p.strip()]:
            name, sep, value = part.partition("=")
            try:
                rate = float(value)
            except ValueError:
                rate = math.nan
            if not sep or not name.strip() or not (0 <= rate <= 1):
                raise InvalidInputError(f"true rates are 'arm=rate' pairs with rates in [0, 1]; "
                                        f"could not read {part!r}")
            rates[name.strip()] = rate
        if len(rates) < 2:
            raise InvalidInputError(f"a bandit needs at least 2 arms, got {len(rates)}")
        return rates

    def simulate(self, seed: int = 0) -> ab.BanditSimulation | None:
        """Simulate the chosen policy on the true rates; sets ``bandit`` (and ``error``)."""
        try:
            rates = self.parse_rates()
            arms = list(rates)
            cls = {"thompson": ab.ThompsonSampling, "ucb1": ab.UCB1,
                   "epsilon": ab.EpsilonGreedy}[self.policy]
            sim = ab.simulate_bandit(cls(arms, seed=seed), rates, n=self.steps, seed=seed)
        except Exception as exc:
            self._fail(exc)
            return None
        self.error = ""
        self.bandit = sim
        return sim

    # -- decision ----------------------------------------------------------------------
    def record_decision(self, decision: str, comment: str = "", variant: str | None = None) -> int | None:
        """Record ship / stop / iterate for the shown experiment (linked to its analysis)."""
        if self.store is None or not self.experiment:
            self.error = "No store: a decision is recorded in a store."
            return None
        if variant is None and decision == "ship":
            rows = self.lifts()
            good = rows[rows["good"] & ~rows["guardrail"].astype(bool)] if not rows.empty else rows
            variant = str(good["variant"].iloc[0]) if not good.empty else None
        try:
            did = ab.record_decision(self.store, self.experiment, decision, comment=comment or None,
                                     variant=variant, analysis_id=self.analysis_id)
        except Exception as exc:
            self._fail(exc)
            return None
        self.error = ""
        self.message = f"Decision {decision!r} recorded for {self.experiment!r}."
        self.decisions = ab.list_decisions(self.store, self.experiment)
        self.definition = ab.get_experiment(self.store, self.experiment)
        self._refresh_list()
        return did

    def _fail(self, exc: Any) -> None:
        self.error = exc if isinstance(exc, str) else error_message(exc)
