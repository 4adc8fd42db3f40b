"""View-model of the Deployments screen (no Panel): snapshots of a deployment and its actions.

A *snapshot* is everything the screen draws for one deployment, read through the
``Deployment`` API (``status``, ``traffic``, ``summary``, ``shadow_agreement``,
``events``), never through SQL::

    >>> import workbench as wb, tempfile, os
    >>> m = DeploymentsModel(wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb")))
    >>> m.names, m.deployment
    ([], '')

A *rollout* starts a strategy from the screen's "New rollout" card: :func:`plan_rollout`
turns the card's fields into a :class:`RolloutPlan` (the ``Deployment`` method and its
arguments, checked, with a sentence for the confirmation), and
:meth:`DeploymentsModel.rollout` runs it::

    >>> plan_rollout("canary", {"version": 2, "steps": "5, 50, 100", "interval": "30s",
    ...                         "min_samples": 100, "min_agreement": "0.95"}).call
    "canary(2, steps=[5, 50, 100], interval='30s', min_samples=100, failure_limit=1, min_agreement=0.95)"

Reads, actions (start, stop, promote, rollback, pause, resume) and rollouts run in a background
thread (:meth:`DeploymentsModel.refresh`, :meth:`DeploymentsModel.act`); the view polls
:meth:`DeploymentsModel.poll` on a periodic callback, so the app's event loop never
waits on a server or the store.
"""

from __future__ import annotations

import math
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import param

from workbench.errors import InvalidInputError, WorkbenchError

#: Actions the screen offers and the ``Deployment`` method each calls.
ACTIONS = ("start", "stop", "promote", "rollback", "pause", "resume")
#: Actions that change what serves traffic: the view asks for a confirmation first.
CONFIRM = {"promote": "Make the challenger the champion now (the registry decides the stage request)?",
           "rollback": "Roll back: the canary/challenger gets weight 0, or the previous champion returns?",
           "pause": "Hold the canary at its current step (no analysis until resumed)?",
           "stop": "Stop the server (it flushes its prediction log first)?"}


# The live charts' choices: how far back, and per what interval (a canary step is watched by
# the second, a day's traffic by the quarter hour).
TRAFFIC_WINDOWS = {"5 min · per 5 s": ("5min", "5s"), "1 hour · per minute": ("60min", "1min"),
                   "24 h · per 15 min": ("24h", "15min")}


@dataclass
class DeploymentSnapshot:
    """One read of a deployment: its status and log aggregates (empty frames when nothing is logged).

    ``variants``: variant, version, role, weight_pct (and percent for a shadow);
    ``steps``: one row per canary analysis (step, weight %, decision, samples, each gate's verdict);
    ``breakers``: variant, state, calls, failure rate (only while a server runs);
    ``traffic``: per variant and interval of ``every_ms`` (``time``), requests/s, error rate,
    p50/p95/p99 (ms) from the log;
    ``summary``: per variant over the whole log; ``shadow``: agreement of shadow vs live answers;
    ``events``: newest first; ``versions``: the registered model's versions (version, stage).
    """

    name: str
    status: dict[str, Any]
    variants: pd.DataFrame
    steps: pd.DataFrame
    breakers: pd.DataFrame
    traffic: pd.DataFrame
    summary: pd.DataFrame
    shadow: pd.DataFrame
    events: pd.DataFrame
    versions: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["version", "stage"]))
    read_at: float = field(default_factory=time.time)
    every_ms: int = 60_000  # the traffic's interval

    @property
    def running(self) -> bool:
        return bool(self.status.get("running"))

    @property
    def canary(self) -> dict[str, Any] | None:
        return self.status.get("canary")

    def canary_line(self) -> str:
        """A one-line account of the canary: step, weight, status, time to the next step."""
        c = self.canary
        if not c:
            return "no canary"
        cfg = c.get("config", {})
        steps = cfg.get("steps", [])
        step = int(c.get("step", 0))
        weight = steps[step] if step < len(steps) else None
        text = f"canary {c.get('status')}: step {step + 1} of {len(steps)} ({weight:g} %)" if weight is not None \
            else f"canary {c.get('status')}"
        if c.get("status") == "running" and c.get("step_started") and cfg.get("interval_s"):
            left = float(c["step_started"]) + float(cfg["interval_s"]) - time.time()
            text += f", next analysis in {max(left, 0):.0f} s (needs {cfg.get('min_samples')} canary requests)"
        if c.get("failures"):
            text += f", {c['failures']} failed check(s) of {cfg.get('failure_limit')} allowed"
        window = (self.status.get("windows") or {}).get(cfg.get("variant"))
        if c.get("status") == "running" and window:
            text += f"; this step so far: {window.get('n', 0)} canary requests"
            if window.get("agreement") is not None:
                text += f", agreement with the champion {window['agreement']:.1%} of {window.get('compared')}"
        return text

    def version_options(self) -> dict[str, int]:
        """The version picker's options: ``{"v2 (Staging)": 2, ...}``, newest first."""
        out = {}
        for _, r in self.versions.sort_values("version", ascending=False).iterrows():
            stage = r.get("stage")
            label = f"v{int(r['version'])}" + (f" ({stage})" if isinstance(stage, str) and stage != "None" else "")
            out[label] = int(r["version"])
        return out


def canary_steps(canary: dict[str, Any] | None) -> pd.DataFrame:
    """The canary's analyses as a table: one row per analysis, one column per gate ("pass 0.012 <= 0.05").

    >>> canary_steps({"checks": [{"step": 0, "weight_pct": 5, "decision": "advance", "canary_n": 210,
    ...     "champion_n": 3900, "checks": [{"name": "error_rate", "passed": True, "value": 0.01,
    ...     "threshold": 0.05, "detail": ""}]}]}).iloc[0]["error_rate"]
    'pass 0.01 (<= 0.05)'
    """
    rows = []
    for rec in (canary or {}).get("checks", []):
        row = {"step": int(rec.get("step", 0)) + 1, "weight_pct": rec.get("weight_pct"),
               "decision": rec.get("decision"), "canary_n": rec.get("canary_n"),
               "champion_n": rec.get("champion_n")}
        for check in rec.get("checks", []):
            verdict = "pass" if check.get("passed") else "FAIL"
            value, threshold = check.get("value"), check.get("threshold")
            text = verdict if value is None else f"{verdict} {value:.4g}"
            if threshold is not None:
                text += f" ({check.get('direction') or '<='} {threshold:.4g})"
            row[check.get("name", "gate")] = text
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["step", "weight_pct", "decision", "canary_n",
                                                           "champion_n"])


#: The strategies the "New rollout" card starts, with their labels.
ROLLOUTS = {"switch": "Switch (blue-green)", "canary": "Canary", "shadow": "Shadow", "split": "Split (A/B)",
            "bandit": "Bandit"}
#: The canary gate settings the card offers (``None`` = the gate is off), with their defaults.
CANARY_DEFAULTS: dict[str, Any] = {
    "steps": "5, 25, 50, 100", "interval": "60s", "min_samples": 200, "failure_limit": 1, "max_wait": "",
    "alpha": 0.05, "max_error_rate": 0.05, "slo_ms": 100.0, "latency_factor": 1.2, "max_psi": "",
    "min_agreement": "", "max_score_diff": "", "agreement_sample": 1.0}


@dataclass(frozen=True)
class RolloutPlan:
    """A checked rollout: ``Deployment.<method>(*args, **kwargs)`` and the sentence the confirmation shows."""

    strategy: str
    method: str
    args: tuple
    kwargs: dict[str, Any]
    summary: str

    @property
    def call(self) -> str:
        """The equivalent Python call, e.g. ``"switch(2, window='10m')"``."""
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.method}({', '.join(parts)})"

    def run(self, deployment: Any) -> Any:
        return getattr(deployment, self.method)(*self.args, **self.kwargs)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and math.isnan(value))


def _number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
            optional: bool = False, integer: bool = False, open_low: bool = False) -> Any:
    if _blank(value):
        if optional:
            return None
        raise InvalidInputError(f"{name} is required")
    try:
        x = float(str(value).strip().rstrip("%")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x) or (low is not None and (x <= low if open_low else x < low)) or (
            high is not None and x > high):
        span = f"{'(' if open_low else '['}{'-inf' if low is None else f'{low:g}'}, " \
               f"{'inf' if high is None else f'{high:g}'}]"
        raise InvalidInputError(f"{name} must be in {span}, got {value!r}")
    if integer:
        if x != int(x):
            raise InvalidInputError(f"{name} must be a whole number, got {value!r}")
        return int(x)
    return x


def _version(name: str, value: Any, versions: list[int] | None) -> int:
    v = _number(name, value, integer=True, low=1)
    if versions is not None and v not in versions:
        raise InvalidInputError(f"{name} {v} is not a registered version of this model; "
                                f"registered: {sorted(versions)}")
    return v


def _versions(name: str, value: Any, versions: list[int] | None, at_least: int = 2) -> list[int]:
    items = value if isinstance(value, (list, tuple)) else [x for x in re.split(r"[,\s]+", str(value or "")) if x]
    out = [_version(name, x, versions) for x in items]
    if len(set(out)) != len(out):
        raise InvalidInputError(f"{name} lists a version twice: {out}")
    if len(out) < at_least:
        raise InvalidInputError(f"{name} needs at least {at_least} versions, got {out}")
    return out


def _interval(name: str, value: Any, optional: bool = False) -> str | None:
    from workbench.serving.deployment import parse_interval

    if _blank(value):
        if optional:
            return None
        raise InvalidInputError(f"{name} is required (e.g. '60s', '5m')")
    try:
        parse_interval(value if not isinstance(value, str) else value.strip())
    except InvalidInputError as exc:
        raise InvalidInputError(f"{name}: {exc}") from None
    return value.strip() if isinstance(value, str) else value


def _steps(value: Any) -> list[float | int]:
    items = value if isinstance(value, (list, tuple)) else [x for x in re.split(r"[,\s]+", str(value or "")) if x]
    steps = [_number("a canary step", x, low=0, high=100, open_low=True) for x in items]
    if not steps or steps != sorted(steps) or len(set(steps)) != len(steps):
        raise InvalidInputError(f"canary steps are increasing percentages in (0, 100], e.g. '5, 25, 50, 100'; "
                                f"got {value!r}")
    return [int(x) if x == int(x) else x for x in steps]


def _weights(value: Any, versions: list[int]) -> dict[int, float]:
    items = value if isinstance(value, (list, tuple)) else [x for x in re.split(r"[,\s]+", str(value or "")) if x]
    if not items:
        return {v: 1 / len(versions) for v in versions}
    w = [_number("a split weight", x, low=0) for x in items]
    if len(w) != len(versions):
        raise InvalidInputError(f"split weights: {len(w)} given for {len(versions)} versions {versions}; "
                                "give one per version, in the same order (or none for equal shares)")
    total = sum(w)
    scale = 100.0 if abs(total - 100) < 1e-6 else 1.0
    if abs(total / scale - 1) > 1e-6:
        raise InvalidInputError(f"split weights sum to {total:g}; they must sum to 1 (or 100 %)")
    return {v: x / total for v, x in zip(versions, w)}


def plan_rollout(strategy: str, form: dict[str, Any], versions: list[int] | None = None) -> RolloutPlan:
    """Check the card's fields for ``strategy`` and build the call (raises InvalidInputError naming the field).

    ``versions``: the registered versions the pickers offer (a version outside them is refused).

    >>> plan_rollout("split", {"versions": [1, 2], "weights": "70, 30", "key": "customer_id"}).call
    "split({1: 0.7, 2: 0.3}, key='customer_id')"
    """
    if strategy not in ROLLOUTS:
        raise InvalidInputError(f"unknown strategy {strategy!r}; expected one of {list(ROLLOUTS)}")
    f = dict(form)
    if strategy == "switch":
        v = _version("version", f.get("version"), versions)
        window = _interval("rollback window", f.get("window") or "10m")
        return RolloutPlan(strategy, "switch", (v,), {"window": window},
                           f"Switch all traffic to v{v} now (blue-green); the old champion stays loaded for "
                           f"{window} for an instant rollback.")
    if strategy == "canary":
        v = _version("version", f.get("version"), versions)
        d = {**CANARY_DEFAULTS, **{k: x for k, x in f.items() if k in CANARY_DEFAULTS}}
        kw: dict[str, Any] = {
            "steps": _steps(d["steps"]), "interval": _interval("interval", d["interval"]),
            "min_samples": _number("min_samples", d["min_samples"], low=1, integer=True),
            "failure_limit": _number("failure_limit", d["failure_limit"], low=0, integer=True)}
        max_wait = _interval("max_wait", d["max_wait"], optional=True)
        if max_wait is not None:
            kw["max_wait"] = max_wait
        gates = {"alpha": _number("alpha", d["alpha"], low=0, high=1, open_low=True),
                 "max_error_rate": _number("max_error_rate", d["max_error_rate"], low=0, high=1),
                 "slo_ms": _number("slo_ms", d["slo_ms"], low=0),
                 "latency_factor": _number("latency_factor", d["latency_factor"], low=0, open_low=True),
                 "max_psi": _number("max_psi", d["max_psi"], low=0, optional=True),
                 "min_agreement": _number("min_agreement", d["min_agreement"], low=0, high=1, optional=True),
                 "max_score_diff": _number("max_score_diff", d["max_score_diff"], low=0, optional=True),
                 "agreement_sample": _number("agreement_sample", d["agreement_sample"], low=0, high=1,
                                             open_low=True)}
        for k, x in gates.items():  # only what differs from the Python defaults, so the call reads as typed
            if x is not None and x != CANARY_DEFAULTS[k]:
                kw[k] = x
        on = [f"error rate (alpha {gates['alpha']:g}, ceiling {gates['max_error_rate']:.0%})",
              f"p99 <= max({gates['latency_factor']:g} x champion, {gates['slo_ms']:g} ms)"]
        if gates["max_psi"] is not None:
            on.append(f"score PSI <= {gates['max_psi']:g}")
        if gates["min_agreement"] is not None:
            on.append(f"agreement with the champion >= {gates['min_agreement']:.0%}")
        if gates["max_score_diff"] is not None:
            on.append(f"|score difference| p95 <= {gates['max_score_diff']:g}")
        steps = ", ".join(f"{x:g}" for x in kw["steps"])
        return RolloutPlan(strategy, "canary", (v,), kw,
                           f"Start a canary of v{v}: steps {steps} %, each held {kw['interval']} and until "
                           f"{kw['min_samples']} canary requests; gates: {'; '.join(on)}; rolls back after "
                           f"{kw['failure_limit'] + 1} failed check(s), promotes after the last step.")
    if strategy == "shadow":
        v = _version("version", f.get("version"), versions)
        pct = _number("shadow percent", f.get("percent", 100), low=0, high=100, open_low=True)
        return RolloutPlan(strategy, "shadow", (v,), {"percent": pct},
                           f"Mirror {pct:g} % of requests to v{v} after the live answer is sent (the champion "
                           "keeps answering every request).")
    if strategy == "split":
        vs = _versions("split versions", f.get("versions"), versions)
        weights = _weights(f.get("weights"), vs)
        key = (f.get("key") or "").strip() or None
        if key is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}", key):
            raise InvalidInputError(f"split key is an input field name, got {key!r}")
        shares = ", ".join(f"v{v} {w:.0%}" for v, w in weights.items())
        sticky = f"sticky by input field {key!r} (or the x-workbench-key header)" if key else             "sticky by the x-workbench-key header (random without one)"
        return RolloutPlan(strategy, "split", (weights,), {"key": key},
                           f"Split traffic {shares}, {sticky}.")
    vs = _versions("bandit versions", f.get("versions"), versions)
    policy = f.get("policy") or "thompson"
    if policy not in ("thompson", "ucb1"):
        raise InvalidInputError(f"bandit policy is 'thompson' or 'ucb1', got {policy!r}")
    return RolloutPlan(strategy, "bandit", (vs,), {"policy": policy},
                       f"Route each request to the arm {policy} selects among "
                       f"{', '.join(f'v{v}' for v in vs)}; rewards posted to the feedback endpoint update it.")


def _variants(status: dict[str, Any]) -> pd.DataFrame:
    cols = ["variant", "version", "role", "weight_pct", "percent"]
    df = pd.DataFrame(status.get("variants") or [], columns=cols)
    return df


def _breakers(status: dict[str, Any]) -> pd.DataFrame:
    rows = [{"variant": name, **snap} for name, snap in (status.get("breakers") or {}).items()]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["variant", "state"])


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for starting a server from the screen)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DeploymentsModel(param.Parameterized):
    """The deployments of a store, the selected one's snapshot, and the actions on it."""

    deployment = param.String(default="", doc="the selected deployment ('' = none)")
    names = param.List(default=[], doc="every deployment of the store")
    snapshot = param.Parameter(default=None, doc="the latest DeploymentSnapshot of the selected deployment")
    busy = param.String(default="", doc="what the background thread does now ('' = idle)")
    message = param.String(default="", doc="the outcome of the last action")
    error = param.String(default="", doc="the last error, readable")
    rollout_error = param.String(default="", doc="why the last rollout was refused, readable ('' = none)")
    window = param.Selector(objects=list(TRAFFIC_WINDOWS), default="1 hour · per minute",
                            doc="the live traffic's range and interval (a key of TRAFFIC_WINDOWS)")

    def __init__(self, store: Any, deployment: str = "", **params: Any) -> None:
        super().__init__(**params)
        self.store = store
        self._deps: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._result: tuple[str, Any] | None = None
        self.reload_names()
        self.deployment = deployment if deployment in self.names else (self.names[0] if self.names else "")

    # -- reads -----------------------------------------------------------------------
    def reload_names(self) -> list[str]:
        """Read the store's deployment names."""
        from workbench.serving.deployment import list_deployments

        self.names = list(list_deployments(self.store)["name"])
        return self.names

    def handle(self, name: str | None = None) -> Any:
        """The ``Deployment`` (cached, so a server started here is stopped through its own process)."""
        from workbench.serving.deployment import Deployment

        name = name or self.deployment
        if not name:
            raise InvalidInputError("no deployment selected; create one with wb.deploy(name, model=...)")
        if name not in self._deps:
            self._deps[name] = Deployment(name, self.store)
        return self._deps[name]

    def read(self, name: str | None = None) -> DeploymentSnapshot:
        """Read one snapshot now (in the calling thread)."""
        dep = self.handle(name)
        status = dep.status()
        back, every = TRAFFIC_WINDOWS[self.window]
        traffic = dep.traffic(since=pd.Timestamp.now(tz="UTC") - pd.Timedelta(back), every=every)
        return DeploymentSnapshot(
            name=dep.name, status=status, variants=_variants(status), steps=canary_steps(status.get("canary")),
            breakers=_breakers(status), traffic=traffic, summary=dep.summary(), shadow=dep.shadow_agreement(),
            events=dep.events(limit=50), versions=self._versions(status.get("model")),
            every_ms=int(pd.Timedelta(every).total_seconds() * 1000))

    def _versions(self, model: str | None) -> pd.DataFrame:
        from workbench.registry import Registry

        if not model:
            return pd.DataFrame(columns=["version", "stage"])
        try:
            return Registry(self.store).list_versions(model)[["version", "stage"]].reset_index(drop=True)
        except WorkbenchError:  # the model was deleted: the pickers are empty
            return pd.DataFrame(columns=["version", "stage"])

    # -- background work ---------------------------------------------------------------
    def _run(self, label: str, work) -> bool:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self.busy = label

            def target() -> None:
                try:
                    out = ("ok", work())
                except Exception as exc:  # shown in the banner, never raised into the event loop
                    out = ("error", exc)
                with self._lock:
                    self._result = (label, out)

            self._thread = threading.Thread(target=target, daemon=True, name=f"workbench-deploy-{label}")
            self._thread.start()
            return True

    def refresh(self) -> bool:
        """Start reading the selected deployment's snapshot in a thread (False while one runs)."""
        name = self.deployment
        if not name:
            return False
        return self._run("refresh", lambda: self.read(name))

    def act(self, action: str, port: int | None = None) -> bool:
        """Start ``action`` on the selected deployment in a thread, then re-read it.

        ``m.act("rollback"); m.wait(); m.snapshot.status["variants"]``
        """
        if action not in ACTIONS:
            raise InvalidInputError(f"unknown action {action!r}; expected one of {list(ACTIONS)}")
        name = self.deployment
        dep = self.handle(name)

        def work() -> Any:
            if action == "start":
                result = dep.start(port=port or free_port())
            else:
                result = getattr(dep, action)()
            return result, self._read_after(name)

        return self._run(action, work)

    def plan(self, strategy: str, form: dict[str, Any]) -> RolloutPlan:
        """Check a rollout against the selected deployment's registered versions (raises InvalidInputError)."""
        snap = self.snapshot
        versions = [int(v) for v in snap.versions["version"]] if snap is not None and not snap.versions.empty \
            else None
        return plan_rollout(strategy, form, versions)

    def rollout(self, plan: RolloutPlan) -> bool:
        """Run a checked rollout on the selected deployment in a thread, then re-read it (False while busy).

        ``m.rollout(m.plan("shadow", {"version": 2, "percent": 50})); m.wait(); m.snapshot.status["strategy"]``
        """
        name = self.deployment
        dep = self.handle(name)
        self.rollout_error = ""

        def work() -> Any:
            plan.run(dep)
            return plan, self._read_after(name)

        return self._run("rollout", work)

    def _read_after(self, name: str) -> DeploymentSnapshot | str:
        """The re-read after an action, or why it failed: the action itself happened either way."""
        try:
            return self.read(name)
        except Exception as exc:
            return _readable(exc)

    def wait(self, timeout: float = 60.0) -> None:
        """Block until the background work ends and apply its result (tests and notebooks)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self.poll()

    def poll(self) -> bool:
        """Apply a finished background result to the parameters; True when something changed."""
        with self._lock:
            result, self._result = self._result, None
        if result is None:
            return False
        label, (kind, value) = result
        self.busy = ""
        if label == "rollout":
            if kind == "error":
                self.rollout_error = f"the rollout was refused: {_readable(value)}"
                return True
            plan, snap = value
            self.rollout_error = ""
            self.message = f"{plan.call} started"
            if isinstance(snap, str):
                self.message += f"; reading the deployment again failed: {snap}"
            elif snap.name == self.deployment:
                self.snapshot = snap
            return True
        if kind == "error":
            self.error = f"{label} failed: {_readable(value)}"
            return True
        self.error = ""
        if label == "refresh":
            if value.name == self.deployment:
                self.snapshot = value
        else:
            outcome, snap = value
            if isinstance(snap, str):  # done, but the re-read failed: say both, never "failed"
                self.message = f"{label} done; reading the deployment again failed: {snap}"
            else:
                self.message = _describe(label, outcome, snap)
                if snap.name == self.deployment:
                    self.snapshot = snap
        return True

    @param.depends("window", watch=True)
    def _on_window(self) -> None:
        self.refresh()

    @param.depends("deployment", watch=True)
    def _on_deployment(self) -> None:
        self.snapshot = None
        self.error = ""
        self.rollout_error = ""


def _readable(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"
    return text[:600]


def _describe(action: str, outcome: Any, snap: DeploymentSnapshot) -> str:
    if action == "start":
        return f"{snap.name} serves at {outcome}"
    if action == "stop":
        return f"{snap.name}'s server stopped"
    champ = next((r for r in snap.status.get("variants", []) if r.get("role") == "champion"), None)
    tail = f"; champion is v{champ['version']}" if champ else ""
    return f"{action} done{tail}"
