"""``wb.deploy(...)`` and :class:`Deployment`: a named deployment of a registered model, with its strategy.

Example (see ``docs/serving.md``; ``tests/serving/test_server_process.py`` runs it for real)::

    dep = deploy("churn-api", model="churn", version=3, store=store)
    dep.start(port=8000); dep.url                      # 'http://127.0.0.1:8000'
    dep.switch(4); dep.rollback()                      # blue-green
    dep.canary(5, steps=[5, 25, 50, 100], interval="60s", min_samples=200)
    dep.shadow(5, percent=100); dep.split({3: 0.5, 5: 0.5}, key="customer_id")
    dep.bandit([3, 5], policy="thompson"); dep.status(); dep.stop()

The deployment's state lives in the store (``deployments``). While a server
runs, every change goes through its control API (the server is the one
writer of the state then, and records each change as an event file); when
none runs, changes are written to the store directly. :func:`sync_predictions`
ingests the server's files and files the registry transition request of a
promoted canary, under the registry's rules.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import httpx
import pandas as pd

from workbench.config import current_user
from workbench.errors import InvalidInputError, NotFoundError, ServingError
from workbench.serving import strategies
from workbench.serving.loading import VersionSpec, resolve_spec
from workbench.serving.runtime import serving_folders
from workbench.serving.server import server_file, stored_state
from workbench.serving.settings import ServerSettings, latest_state
from workbench.store import serving_store as ss
from workbench.store.spool import now_ms

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInputError(f"a deployment name is 1-100 letters, digits, '_', '.' or '-', got {name!r}")
    return name


def parse_interval(value: float | int | str) -> float:
    """Seconds from ``60``, ``"60s"``, ``"5m"``, ``"1h"`` or ``"250ms"``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            raise InvalidInputError(f"an interval is positive, got {value}")
        return float(value)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*", str(value))
    if not m:
        raise InvalidInputError(f"an interval is a number of seconds or e.g. '60s', '5m', got {value!r}")
    n = float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    if n <= 0:
        raise InvalidInputError(f"an interval is positive, got {value!r}")
    return n


def sync_predictions(store: Any) -> dict[str, int]:
    """Ingest the prediction-log segments and deployment events waiting beside ``store``.

    One transaction; then files a registry transition request to Production
    for every canary the server promoted (recorded as a ``promotion_requested``
    event; a refused request is recorded as ``promotion_request_failed``).
    """
    log_folder, events_folder = serving_folders(store.path)
    with store.transaction(ingest=False) as con:  # so that the counts are this call's
        counts = ss.ingest_prediction_segments(con, log_folder, events_folder, now_ms())
        pending = ss.pending_promotions(con)
    for event in pending:
        _request_promotion(store, event)
    return counts


def _request_promotion(store: Any, event: dict[str, Any]) -> None:
    from workbench.registry import Registry

    d = event["details"]
    checks = d.get("analysis") or []
    summary = "; ".join(
        f"step {c.get('weight_pct')}%: " + ", ".join(f"{g['name']} {'pass' if g['passed'] else 'FAIL'}"
                                                    for g in c.get("checks", []))
        for c in checks if c.get("decision") in ("advance", "promote"))
    comment = (f"canary of deployment {event['deployment']!r} passed every step"
               + (f" ({summary})" if summary else "") + f"; evidence: deployment event #{event['event_id']}")
    details: dict[str, Any] = {"promoted_event": event["event_id"], "model": d.get("model"),
                               "version": d.get("version")}
    kind = "promotion_requested"
    try:
        req = Registry(store).request_transition(d["model"], int(d["version"]), "Production", comment=comment)
        details["request_id"] = req.id
    except Exception as exc:  # recorded, never raised: the deployment itself is already promoted
        kind = "promotion_request_failed"
        details["error"] = f"{type(exc).__name__}: {exc}"
    with store.transaction() as con:
        ss.insert_event(con, event["deployment"], kind, details, now_ms(), current_user())


class Deployment:
    """A named deployment in a store (see the module docstring)."""

    def __init__(self, name: str, store: Any = None) -> None:
        from workbench.tracking.fluent import resolve_store

        self.name = _check_name(name)
        self.store = resolve_store(store)
        self._process: subprocess.Popen | None = None
        self._token: str | None = None
        if stored_state(self.store, self.name) is None:
            raise NotFoundError(f"no deployment named {name!r}; create it with wb.deploy()")

    def __repr__(self) -> str:
        return f"Deployment({self.name!r}, store={self.store!r})"

    # -- the server --------------------------------------------------------
    def _server_info(self) -> dict[str, Any] | None:
        path = server_file(self.store.path, self.name)
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        pid = int(info["pid"])
        if self._process is not None and self._process.pid == pid:
            return info if self._process.poll() is None else None  # our child: a zombie is not running
        try:
            os.kill(pid, 0)
        except (OSError, ProcessLookupError):
            return None
        return info

    @property
    def url(self) -> str | None:
        """The running server's base URL, or None."""
        info = self._server_info()
        return info["url"] if info else None

    @property
    def running(self) -> bool:
        return self._server_info() is not None

    def _client(self, timeout: float = 30.0) -> httpx.Client:
        url = self.url
        if url is None:
            raise ServingError(f"deployment {self.name!r} has no running server; call start() first")
        headers = {"authorization": f"Bearer {self._token}"} if self._token else {}
        return httpx.Client(base_url=url, timeout=timeout, headers=headers)

    def start(self, port: int = 8000, host: str = "127.0.0.1", token: str | None = None,
              wait: float = 60.0, settings: ServerSettings | dict | None = None) -> str:
        """Start ``workbench serve --deployment NAME`` in its own process; returns the URL once ready."""
        if self.running:
            raise ServingError(f"deployment {self.name!r} already runs at {self.url}")
        if isinstance(settings, ServerSettings):
            settings = settings.to_dict()
        settings = dict(settings or {})
        ServerSettings.from_dict(settings)  # a bad or unknown setting is refused here, not in the server
        args = [sys.executable, "-m", "workbench.serving.server", "--store", str(self.store.path),
                "--deployment", self.name, "--port", str(port), "--host", host]
        simple = {"threads": "--threads", "timeout_s": "--timeout", "max_batch_size": "--max-batch-size",
                  "max_latency_ms": "--max-latency-ms", "flush_interval_s": "--flush-interval",
                  "max_body_bytes": "--max-body-bytes", "log_sample_rate": "--log-sample-rate"}
        for key, flag in simple.items():
            if key in settings:
                args += [flag, str(settings.pop(key))]
        if settings.pop("batching", True) is False:
            args.append("--no-batching")
        if settings.pop("log", True) is False:
            args.append("--no-log")
        settings.pop("token", None)
        if settings:
            args += ["--settings", json.dumps(settings)]
        env = dict(os.environ)
        if token:
            env["WORKBENCH_SERVE_TOKEN"] = token
            self._token = token
        self.store.close()  # the server reads the store once at start
        log_path = server_file(self.store.path, self.name).with_suffix(".log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:  # a file, never a pipe: nobody reads a pipe, and a full one blocks
            self._process = subprocess.Popen(args, env=env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + wait
        url = f"http://{host}:{port}"
        headers = {"authorization": f"Bearer {token}"} if token else {}
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                out = log_path.read_text(errors="replace")
                raise ServingError(f"the server of {self.name!r} exited with {self._process.returncode}: "
                                   f"{out.strip()[-2000:]}")
            try:
                r = httpx.get(f"{url}/v2/health/ready", timeout=1.0, headers=headers)
                if r.status_code == 200:
                    return url
                message = r.json().get("error", "") if r.status_code == 503 else ""
                if message and "warming up" not in message:  # the model could not be loaded
                    self.stop()
                    raise ServingError(f"the server of {self.name!r} cannot serve: {message}")
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise ServingError(f"the server of {self.name!r} was not ready within {wait:.0f} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the running server (SIGTERM: it flushes its log first), then ingest its files."""
        info = self._server_info()
        if info is not None:
            pid = int(info["pid"])
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self._process is not None and self._process.pid == pid:
                    if self._process.poll() is not None:
                        break
                else:
                    try:
                        os.kill(pid, 0)
                    except OSError:
                        break
                time.sleep(0.05)
            else:
                os.kill(pid, signal.SIGKILL)
        if self._process is not None:
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None
        self.sync()

    def sync(self) -> dict[str, int]:
        """Ingest the server's prediction log and events into the store."""
        return sync_predictions(self.store)

    # -- state ---------------------------------------------------------------
    @property
    def state(self) -> dict[str, Any]:
        """The current state: the server's when one runs, else the store's (with unread events)."""
        if self.running:
            with self._client() as c:
                return c.get("/admin/status").json()["state"]
        stored = stored_state(self.store, self.name)
        return latest_state(serving_folders(self.store.path)[1], self.name, stored) or {}

    def status(self) -> dict[str, Any]:
        """Strategy, variants (version, role, weight %), canary progress, breakers, shadow agreement."""
        live = None
        if self.running:
            with self._client() as c:
                live = c.get("/admin/status").json()
        state = live["state"] if live else self.state
        out = {
            "deployment": self.name, "running": live is not None, "url": self.url,
            "strategy": state.get("strategy"), "model": state.get("model"),
            "variants": [{"variant": v["name"], "version": v["spec"]["version"], "role": v["role"],
                          "weight_pct": v.get("weight", 0) / 100, **({"percent": v["percent"]} if "percent" in v
                                                                      else {})}
                         for v in state.get("variants", [])],
            "canary": state.get("canary"), "previous": (state.get("previous") or {}).get("variant", {}).get("name"),
        }
        if live:
            out.update(breakers=live["breakers"], shadow=live["shadow"], windows=live["windows"],
                       bandit=live["bandit"], log=live["log"])
        return out

    def _spec(self, version: int | str) -> VersionSpec:
        model = self.state["model"]
        return resolve_spec(self.store, f"models:/{model}/{version}")

    def _apply(self, path: str, payload: dict[str, Any], local) -> dict[str, Any]:
        """Through the server when it runs; else change the stored state (one transaction, one event)."""
        if self.running:
            with self._client(timeout=120) as c:
                r = c.post(f"/admin/{path}", json={**payload, "actor": current_user()})
            if r.status_code != 200:
                raise ServingError(f"{path} refused by the server: {r.json().get('message', r.text)}")
            return r.json()
        self.sync()
        state = self.state
        new, kind, details = local(state)
        new = {**new, "seq": int(state.get("seq", 0)) + 1}
        with self.store.transaction() as con:
            ss.save_state(con, self.name, new, now_ms())
            ss.insert_event(con, self.name, kind, details, now_ms(), current_user(), new["seq"])
        return new

    def switch(self, version: int, window: float | str = strategies.DEFAULT_ROLLBACK_WINDOW_S) -> dict[str, Any]:
        """Blue-green: load and warm ``version``, check its example predictions, swap atomically."""
        spec = self._spec(version)
        w = parse_interval(window)
        return self._apply("switch", {"spec": spec.to_dict(), "window_s": w},
                           lambda s: (strategies.switch(s, spec, w), "switch", {"version": spec.version}))

    def rollback(self, reason: str = "manual") -> dict[str, Any]:
        """Back to the previous champion (instant within the rollback window), or end a canary/split/shadow."""
        return self._apply("rollback", {"reason": reason},
                           lambda s: (strategies.rollback(s), "rollback", {"reason": reason}))

    def canary(self, version: int, steps: list[float] | tuple = (5, 25, 50, 100), interval: float | str = "60s",
               min_samples: int = 200, failure_limit: int = 1, **gates: Any) -> dict[str, Any]:
        """Start a canary of ``version`` (automatic analysis, rollback and promotion in the server).

        ``gates``: ``alpha`` (0.05), ``max_error_rate`` (0.05), ``slo_ms`` (100),
        ``latency_factor`` (1.2), ``max_psi`` (off), ``max_wait`` (3 x interval);
        agreement with the champion (off): ``min_agreement`` (classifiers: share of rows
        on which the canary predicts what the champion predicts for the same input),
        ``max_score_diff`` (regressors: p95 of ``|canary - champion|``) and
        ``agreement_sample`` (1.0: the share of canary requests the champion also predicts,
        after the canary's answer is sent).

        ``dep.canary(5, interval="60s", min_samples=200, min_agreement=0.95)``
        """
        spec = self._spec(version)
        config = {"steps": list(steps), "interval_s": parse_interval(interval), "min_samples": int(min_samples),
                  "failure_limit": int(failure_limit)}
        if "max_wait" in gates:
            config["max_wait_s"] = parse_interval(gates.pop("max_wait"))
        allowed = {"alpha", "max_error_rate", "slo_ms", "latency_factor", "max_psi", "min_agreement",
                   "max_score_diff", "agreement_sample"}
        unknown = set(gates) - allowed
        if unknown:
            raise InvalidInputError(f"unknown canary options {sorted(unknown)}; known: {sorted(allowed)}")
        config.update(gates)
        strategies.start_canary(self.state, spec, config)  # validate before asking the server
        return self._apply("canary", {"spec": spec.to_dict(), "config": config},
                           lambda s: (strategies.start_canary(s, spec, config), "canary",
                                      {"version": spec.version, "config": config}))

    def promote(self) -> dict[str, Any]:
        """Make the canary (or the split's challenger) the champion now."""
        def local(s):
            new = strategies.promote(s)
            champ = new["variants"][0]["spec"]
            return new, "promoted", {"model": champ["name"], "version": champ["version"], "manual": True,
                                     "analysis": (s.get("canary") or {}).get("checks", [])}
        out = self._apply("promote", {}, local)
        if not self.running:
            self.sync()
        return out

    def pause(self) -> dict[str, Any]:
        """Hold the canary at its step (no analysis until resume)."""
        return self._apply("pause", {}, lambda s: (_canary_status(s, "paused"), "canary_paused", {}))

    def resume(self) -> dict[str, Any]:
        """Resume a paused or inconclusive canary (its step's clock restarts)."""
        return self._apply("resume", {}, lambda s: (_canary_status(s, "running"), "canary_resumed", {}))

    def shadow(self, version: int, percent: float = 100.0) -> dict[str, Any]:
        """Mirror ``percent`` of requests to ``version`` after the live answer is sent."""
        spec = self._spec(version)
        return self._apply("shadow", {"spec": spec.to_dict(), "percent": percent},
                           lambda s: (strategies.set_shadow(s, spec, percent), "shadow",
                                      {"version": spec.version, "percent": percent}))

    def split(self, weights: dict[int, float], key: str | None = None) -> dict[str, Any]:
        """A/B split by sticky buckets of ``key`` (an input field; the ``x-workbench-key`` header wins)."""
        specs = {int(v): self._spec(v) for v in weights}
        w = {int(k): float(v) for k, v in weights.items()}
        return self._apply("split", {"specs": {k: s.to_dict() for k, s in specs.items()}, "weights": w, "key": key},
                           lambda s: (strategies.set_split(s, specs, w, key), "split", {"weights": w, "key": key}))

    def bandit(self, versions: list[int], policy: str = "thompson", seed: int | None = None) -> dict[str, Any]:
        """Route each request to the arm a bandit selects; rewards from the feedback endpoint update it."""
        specs = {int(v): self._spec(v) for v in versions}
        return self._apply("bandit", {"specs": {k: s.to_dict() for k, s in specs.items()}, "policy": policy,
                                      "seed": seed},
                           lambda s: (strategies.set_bandit(s, specs, policy, seed), "bandit",
                                      {"versions": list(specs), "policy": policy}))

    # -- the log -----------------------------------------------------------
    def events(self, limit: int = 1000) -> pd.DataFrame:
        """The deployment's events, newest first (after ingesting waiting files)."""
        self.sync()
        with self.store.connection() as con:
            df = ss.events(con, self.name, limit=limit)
        df["details"] = df["details"].map(json.loads)
        df["ts"] = pd.to_datetime(df["ts"], unit="ms", utc=True)
        return df

    def traffic(self, since: pd.Timestamp | None = None, until: pd.Timestamp | None = None,
                every: str | pd.Timedelta = "1min") -> pd.DataFrame:
        """Per variant and interval (``every``: a pandas duration, at least ``"1s"``): requests,
        requests/s, error rate, p50/p95/p99 latency (ms); ``time`` is each interval's start.

        >>> dep.traffic(since=pd.Timestamp.now(tz="UTC") - pd.Timedelta("5min"), every="5s")  # doctest: +SKIP
        """
        try:
            every_ms = int(pd.Timedelta(every).total_seconds() * 1000)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"every must be a duration such as '5s' or '1min', got {every!r}") from exc
        self.sync()
        with self.store.connection() as con:
            df = ss.traffic_by_interval(con, self.name, every_ms, _ms(since), _ms(until))
        df["time"] = pd.to_datetime(df["time"], unit="ms", utc=True)
        return df

    def summary(self) -> pd.DataFrame:
        """Per variant: requests, errors, error rate, p50/p95/p99 over the whole log."""
        self.sync()
        with self.store.connection() as con:
            return ss.variant_summary(con, self.name)

    def shadow_agreement(self) -> pd.DataFrame:
        """Shadow vs live answers from the log: agreement, |score difference| p50/p95, latency difference."""
        self.sync()
        with self.store.connection() as con:
            return ss.shadow_agreement(con, self.name)

    def predictions(self, limit: int = 100) -> pd.DataFrame:
        """The newest logged requests with their feedback."""
        self.sync()
        with self.store.connection() as con:
            return ss.prediction_rows(con, self.name, limit)

    def logged_inputs(self, since: pd.Timestamp | None = None, until: pd.Timestamp | None = None,
                      variant: str | None = None) -> pd.DataFrame:
        """Logged input rows of live requests (the current data of a drift report)."""
        self.sync()
        with self.store.connection() as con:
            return ss.logged_inputs(con, self.name, _ms(since), _ms(until), variant)

    def ab_events(self, since: Any = None, until: Any = None) -> pd.DataFrame:
        """One row per live logged request with its feedback: the events of an A/B analysis.

        Columns: ``unit`` (routing key, else request id), ``request_id``, ``ts``, ``variant``,
        ``version``, ``strategy``, ``sticky``, ``fallback``, ``error``, ``latency_ms``, ``reward``,
        ``label``, ``has_feedback``.
        """
        self.sync()
        with self.store.connection() as con:
            df = ss.ab_events(con, self.name, _ms(since), _ms(until))
        df["ts"] = pd.to_datetime(df["ts"], unit="ms", utc=True)
        return df

    def analyze(self, metrics: Sequence[str | Any] = ("reward",), control: str | int | None = None,
                since: Any = None, until: Any = None, **options: Any) -> Any:
        """``wb.abtest.analyze`` of the prediction log (a split's or a bandit's arms), the champion as control.

        ``metrics``: ``"reward"``, ``"label"``, ``"error"``, ``"latency_ms"`` or ``wb.abtest.Metric``
        objects (see :mod:`workbench.serving.ab_analysis`); ``options`` go to ``analyze``.

        >>> dep.split({1: 0.5, 2: 0.5}, key="customer_id")  # doctest: +SKIP
        >>> dep.analyze(["reward", "error"]).table  # doctest: +SKIP
        """
        from workbench.serving.ab_analysis import analyze_log

        return analyze_log(self.ab_events(since, until), self.name, self.state, metrics, control, **options)

    def feedback_summary(self) -> pd.DataFrame:
        """Per variant: feedback count, mean reward and mean label."""
        self.sync()
        with self.store.connection() as con:
            return ss.feedback_by_variant(con, self.name)


def _canary_status(state: dict[str, Any], status: str) -> dict[str, Any]:
    canary = state.get("canary")
    if not canary or canary.get("status") in ("rolled_back", "promoted"):
        raise ServingError("there is no canary in progress")
    return {**state, "canary": {**canary, "status": status, "step_started": time.time()}}


def _ms(t: Any) -> int | None:
    if t is None:
        return None
    return int(pd.Timestamp(t).value // 1_000_000)


def deploy(name: str, model: str, version: int | str | None = None, store: Any = None,
           replace: bool = False) -> Deployment:
    """Create (or with ``replace=True`` reset) deployment ``name`` serving one version of ``model``.

    ``model`` is a registered model name (with ``version``: a number, a stage
    or ``latest``) or a ``models:/`` URI; it is resolved now to an immutable
    version. Returns the :class:`Deployment` (blue-green by default: later
    versions go in with :meth:`Deployment.switch`).
    """
    from workbench.tracking.fluent import resolve_store

    name = _check_name(name)
    store = resolve_store(store)
    spec = resolve_spec(store, model, version)
    state = strategies.new_state(name, spec)
    if _live_pid(store, name) is not None:
        raise ServingError(f"deployment {name!r} is being served; stop it before deploying again")
    sync_predictions(store)
    with store.transaction() as con:
        existing = ss.get_deployment(con, name)
        if existing is not None and not replace:
            raise ServingError(f"deployment {name!r} already exists (serving {existing['model_name']}); "
                               "use Deployment(name) or deploy(..., replace=True)")
        ts = now_ms()
        if existing is not None:
            state["seq"] = int(existing["seq"]) + 1
            ss.save_state(con, name, state, ts)
        else:
            ss.create_deployment(con, name, spec.name, state, current_user(), ts)
        ss.insert_event(con, name, "deployed", {"model": spec.name, "version": spec.version,
                                                 "sha256": spec.sha256}, ts, current_user(), state["seq"])
    return Deployment(name, store)


def list_deployments(store: Any = None) -> pd.DataFrame:
    """Every deployment of a store."""
    from workbench.tracking.fluent import resolve_store

    store = resolve_store(store)
    with store.connection() as con:
        return ss.list_deployments(con)


def _live_pid(store: Any, name: str) -> int | None:
    try:
        pid = int(json.loads(server_file(store.path, name).read_text())["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError):
        return None
    return pid
