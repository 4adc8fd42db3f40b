"""The server's live state: loaded variants, breakers, batchers, the canary clock, shadows, the log.

One :class:`Runtime` per server process. Everything that changes the
deployment (a switch, a canary step, a breaker opening) happens on the event
loop's thread by replacing ``state`` (a dict, see :mod:`workbench.serving.router`)
in one assignment, after any new model was loaded and warmed in a thread, so a
request sees either the old deployment or the new one, never half of each.
Each change is written as an event file (with the whole new state) that the
store ingests; a restarted server replays them (:func:`latest_state`).

>>> from workbench.serving.runtime import ServerSettings
>>> ServerSettings().timeout_s
5.0
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from workbench.errors import ModelLoadError, ServerOverloadedError, ServingError
from workbench.serving import router, strategies
from workbench.serving.batching import MicroBatcher
from workbench.serving.breaker import CircuitBreaker
from workbench.serving.canary import CanaryConfig, Window, decide
from workbench.serving.comparisons import _Comparisons, _new_shadow_stats
from workbench.serving.loading import (
    LoadedModel,
    VersionSpec,
    load_spec,
    silence_feature_names_warning,
)
from workbench.serving.predlog import (
    PredictionLog,
    new_request_id,
    now_ms,
    write_event,
)
from workbench.serving.protocol import Columns, jsonable
from workbench.serving.settings import ServerSettings, latest_state  # noqa: F401 (callers import them here)
from workbench.store.serving_store import serving_folders  # noqa: F401 (used here; callers import it here too)

_BREAKER_CODE = {"closed": 0, "half_open": 1, "open": 2}


class Variant:
    """A loaded version with its breaker and batcher."""

    def __init__(self, model: LoadedModel, breaker: CircuitBreaker, batcher: MicroBatcher) -> None:
        self.model = model
        self.breaker = breaker
        self.batcher = batcher

    @property
    def spec(self) -> VersionSpec:
        return self.model.spec


class Runtime(_Comparisons):
    """See the module docstring. ``store`` is only used for its artifact folder and paths."""

    def __init__(self, store: Any, state: dict[str, Any], settings: ServerSettings | None = None,
                 ephemeral: bool = False) -> None:
        self.store = store
        self.settings = settings or ServerSettings()
        self.state = state
        self.ephemeral = ephemeral  # `workbench serve models:/...`: no deployment events
        self.log_folder, self.events_folder = serving_folders(store.path)
        self.log = PredictionLog(self.log_folder, flush_interval=self.settings.flush_interval_s,
                                 sample_rate=self.settings.log_sample_rate,
                                 max_payload_chars=self.settings.log_max_payload_chars) \
            if self.settings.log else None
        self.executor = ThreadPoolExecutor(max_workers=max(1, self.settings.threads),
                                           thread_name_prefix="workbench-predict")
        self.variants: dict[str, Variant] = {}
        self.ready = False
        self.load_error: str | None = None
        self.inflight = 0
        self.arriving = 0  # prediction requests received but not yet queued (the batcher may wait for them)
        self.rng = random.Random()
        self.windows: dict[str, Window] = {}
        self.shadow_stats: dict[str, dict[str, Any]] = {}
        self.recent: OrderedDict[str, str] = OrderedDict()  # request id -> variant (for feedback)
        self.bandit: Any = None
        self._bandit_updates = 0
        self._shadow_queue: asyncio.Queue | None = None
        self._agree_queue: asyncio.Queue | None = None  # canary requests the champion also predicts
        self._tasks: list[asyncio.Task] = []
        self._change_lock: asyncio.Lock | None = None
        self.started = time.time()
        self._init_metrics()

    # -- metrics ---------------------------------------------------------
    def _init_metrics(self) -> None:
        self.registry = CollectorRegistry()
        self.m_requests = Counter("workbench_requests", "Prediction requests", ["variant", "status"],
                                  registry=self.registry)
        self.m_latency = Histogram("workbench_request_duration_seconds", "End-to-end request latency",
                                   ["variant"], registry=self.registry,
                                   buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.m_batch = Histogram("workbench_batch_rows", "Rows per predict call", registry=self.registry,
                                 buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.m_breaker = Gauge("workbench_breaker_state", "0 closed, 1 half-open, 2 open", ["variant"],
                               registry=self.registry)
        self.m_weight = Gauge("workbench_variant_weight", "Traffic share in basis points", ["variant"],
                              registry=self.registry)
        self.m_shadow_dropped = Counter("workbench_shadow_dropped", "Shadow requests dropped (queue full)",
                                        registry=self.registry)
        self.m_inflight = Gauge("workbench_inflight_requests", "Requests being served", registry=self.registry)
        self.m_inflight.set_function(lambda: self.inflight)
        for name, doc, value in (
                ("workbench_prediction_log_rows", "Prediction-log rows written to segments",
                 lambda: self.log.written_rows if self.log else 0),
                ("workbench_prediction_log_flush_cpu_seconds", "CPU time spent writing prediction-log segments",
                 lambda: self.log.flush_cpu_s if self.log else 0.0)):
            Gauge(name, doc, registry=self.registry).set_function(value)

    # -- loading ---------------------------------------------------------
    def _make_variant(self, model: LoadedModel) -> Variant:
        name = model.spec.variant

        def changed(old: str, new: str, stats: dict) -> None:
            self.m_breaker.labels(name).set(_BREAKER_CODE[new])
            self.event("breaker", {"variant": name, "from": old, "to": new, **stats})

        breaker = CircuitBreaker.from_settings(self.settings.breaker or None, on_change=changed)
        s = self.settings
        batcher = MicroBatcher(model.predict_columns, self.executor, enabled=s.batching,
                               max_batch_size=s.max_batch_size, max_latency_ms=s.max_latency_ms,
                               max_queue=s.max_queue, arriving=lambda: self.arriving)
        return Variant(model, breaker, batcher)

    def _specs(self, state: dict[str, Any]) -> list[VersionSpec]:
        specs = [VersionSpec.from_dict(v["spec"]) for v in state.get("variants", [])]
        prev = state.get("previous")
        if prev and prev.get("until", 0) > time.time():
            specs.append(VersionSpec.from_dict(prev["variant"]["spec"]))
        return specs

    def _load_missing(self, state: dict[str, Any]) -> dict[str, Variant]:
        loaded = {}
        for spec in self._specs(state):
            if spec.variant not in self.variants and spec.variant not in loaded:
                existing = self.variants.get(spec.variant)
                loaded[spec.variant] = existing or self._make_variant(load_spec(self.store, spec, matrix_inputs=True))
        return loaded

    def load(self) -> None:
        """Load and warm every variant of the state (blocking); then ``ready`` turns true."""
        silence_feature_names_warning()  # variants may take matrices (LoadedModel.enable_matrix_inputs)
        try:
            self.variants.update(self._load_missing(self.state))
            self._sync_gauges()
            if self.state.get("bandit"):
                self.bandit = router.make_bandit(self.state["bandit"])
            self.ready = True
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            raise

    def _sync_gauges(self) -> None:
        for v in self.state.get("variants", []):
            self.m_weight.labels(v["name"]).set(v.get("weight", 0))
            if v["name"] in self.variants:
                self.m_breaker.labels(v["name"]).set(_BREAKER_CODE[self.variants[v["name"]].breaker.state])

    async def start(self) -> None:
        """Start the background tasks (canary clock, shadow worker); call on the server's loop."""
        self._change_lock = asyncio.Lock()
        self._shadow_queue = asyncio.Queue(maxsize=self.settings.shadow_queue)
        self._agree_queue = asyncio.Queue(maxsize=self.settings.shadow_queue)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._tick_loop()), loop.create_task(self._shadow_loop()),
                       loop.create_task(self._agree_loop())]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for v in self.variants.values():
            v.batcher.close()
        if self.bandit is not None and self.state.get("bandit"):
            self._save_bandit()
        if self.log is not None:
            self.log.close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    # -- events ----------------------------------------------------------
    def event(self, kind: str, details: dict[str, Any], actor: str = "server") -> None:
        """Record a deployment event (with the whole current state) as an event file."""
        if self.ephemeral:
            return
        self.state = {**self.state, "seq": int(self.state.get("seq", 0)) + 1}
        write_event(self.events_folder, {
            "deployment": self.state["deployment"], "seq": self.state["seq"], "ts": now_ms(),
            "kind": kind, "actor": actor, "details": details, "state": self.state,
        })

    async def change(self, new_state: dict[str, Any] | Callable[[], tuple[dict[str, Any], str, dict[str, Any]]],
                     kind: str = "", details: dict[str, Any] | None = None,
                     actor: str = "server") -> dict[str, Any]:
        """Load what ``new_state`` needs (in a thread), then swap it in atomically and log the event.

        ``new_state`` may be a function returning ``(state, kind, details)``: it is called under the
        change lock, so it builds on the state as it is then (an admin change built before the
        lock could otherwise undo a canary step taken meanwhile, or be undone by it).
        """
        assert self._change_lock is not None
        async with self._change_lock:
            if callable(new_state):
                new_state, kind, details = new_state()
            return await self._swap(new_state, kind, details or {}, actor)

    async def _swap(self, new_state: dict[str, Any], kind: str, details: dict[str, Any],
                    actor: str = "server") -> dict[str, Any]:
        """``change`` under the lock (the canary clock holds it for its whole analysis)."""
        loop = asyncio.get_running_loop()
        fresh = await loop.run_in_executor(None, self._load_missing, new_state)
        self.variants.update(fresh)  # new variants first: the state below may route to them
        new_state = {**new_state, "seq": self.state.get("seq", 0)}
        self.state = new_state
        keep = {s.variant for s in self._specs(new_state)}
        for name in [n for n in self.variants if n not in keep]:
            self.variants.pop(name).batcher.retire()  # requests already queued are still answered
        self.windows = {}
        if new_state.get("bandit"):
            if self.bandit is None or kind == "bandit":
                self.bandit = router.make_bandit(new_state["bandit"])
        else:
            self.bandit = None
        self._sync_gauges()
        self.event(kind, details, actor)
        return self.state

    # -- serving ---------------------------------------------------------
    def route(self, key: str | None) -> tuple[str, int, bool]:
        b, sticky = router.assign(self.state, key, self.rng)
        if self.bandit is not None:
            return self.bandit.select(), b, sticky
        return router.pick(self.state, b), b, sticky

    async def predict(self, cols: Columns, key: str | None, protocol: str,
                      request_id: str | None = None) -> dict[str, Any]:
        """Route, batch and predict one request; returns the outcome (never raises for model errors)."""
        t0 = time.perf_counter()
        request_id = request_id or new_request_id()
        state = self.state
        name, b, sticky = self.route(key)
        champ = router.champion(state)
        variant = self.variants.get(name)
        fallback = False
        out: dict[str, Any] = {"request_id": request_id, "variant": name, "bucket": b, "sticky": sticky,
                               "unit": key[:200] if key else None}
        if variant is None or not variant.breaker.allow():
            if champ is not None and name != champ["name"] and self.variants.get(champ["name"]) is not None \
                    and self.variants[champ["name"]].breaker.allow():
                name, variant, fallback = champ["name"], self.variants[champ["name"]], True
            else:
                return self._finish(out, t0, state, protocol, cols, status="circuit_open", http=503,
                                    error=("CircuitOpen", f"every breaker that could answer is open "
                                                          f"(variant {name})"))
        out["variant"], out["fallback"] = name, fallback
        out["version"] = variant.spec.version
        role = "champion" if champ is not None and name == champ["name"] else "challenger"
        self.inflight += 1
        try:
            res = await asyncio.wait_for(variant.batcher.submit(cols), self.settings.timeout_s)
        except TimeoutError:
            variant.breaker.record(False, self.settings.timeout_s * 1000)
            return self._finish(out, t0, state, protocol, cols, status="timeout", http=504, role=role,
                                variant=variant,
                                error=("Timeout", f"the prediction took longer than {self.settings.timeout_s} s"))
        except ServerOverloadedError as exc:
            variant.breaker.release()  # never reached the model: neither a success nor a failure
            return self._finish(out, t0, state, protocol, cols, status="overloaded", http=503, role=role,
                                variant=variant, error=("Overloaded", str(exc)))
        except Exception as exc:
            variant.breaker.record(False, (time.perf_counter() - t0) * 1000)
            return self._finish(out, t0, state, protocol, cols, status="error", http=500, role=role,
                                variant=variant, error=(type(exc).__name__, str(exc)[:500]))
        finally:
            self.inflight -= 1
        total = (time.perf_counter() - t0) * 1000
        variant.breaker.record(True, total)
        out.update(predictions=res.predictions, queue_ms=res.queue_ms, predict_ms=res.predict_ms,
                   batch_size=res.batch_size)
        self.m_batch.observe(res.batch_size)
        out = self._finish(out, t0, state, protocol, cols, status="ok", http=200, role=role, variant=variant)
        self._mirror_to_champion(state, name, champ, cols, res.predictions)
        for shadow in router.shadow_variants(state):
            if self.rng.random() * 100 < shadow.get("percent", 100):
                try:
                    self._shadow_queue.put_nowait((shadow["name"], cols, request_id, res.predictions,
                                                   total, protocol))
                except (asyncio.QueueFull, AttributeError):
                    self.m_shadow_dropped.inc()
                    self.shadow_stats.setdefault(shadow["name"], _new_shadow_stats())["dropped"] += 1
        if len(self.recent) >= 100_000:
            self.recent.popitem(last=False)
        self.recent[request_id] = name
        return out

    def _finish(self, out: dict[str, Any], t0: float, state: dict[str, Any], protocol: str, cols: Columns,
                status: str, http: int, role: str = "champion", variant: Variant | None = None,
                error: tuple[str, str] | None = None) -> dict[str, Any]:
        total = (time.perf_counter() - t0) * 1000
        out.update(status=status, http_status=http, total_ms=total)
        if error is not None:
            out["error"] = error
        name = out["variant"]
        self.m_requests.labels(name, status).inc()
        self.m_latency.labels(name).observe(total / 1000)
        canary = state.get("canary")
        if canary and canary.get("status") == "running" and status != "overloaded":
            score = None
            preds = out.get("predictions")
            if preds is not None and len(preds) and np.asarray(preds).dtype.kind in "biuf":
                score = float(np.mean(preds))
            self.windows.setdefault(name, Window()).add(status == "ok", total, score)
        if self.log is not None:
            self._log(out, state, protocol, cols, role, variant)
        return out

    def _log(self, out: dict[str, Any], state: dict[str, Any], protocol: str, cols: Columns, role: str,
             variant: Variant | None, shadow: bool = False) -> None:
        spec = variant.spec if variant is not None else None
        keep = self.log.sample_rate >= 1.0 or self.rng.random() < self.log.sample_rate
        preds = out.get("predictions")
        err = out.get("error")
        self.log.add({
            "request_id": out["request_id"], "deployment": state.get("deployment"), "variant": out["variant"],
            "role": "shadow" if shadow else role, "strategy": state.get("strategy"),
            "bucket": out.get("bucket"), "sticky": out.get("sticky"), "fallback": out.get("fallback", False),
            "model_name": spec.name if spec else state.get("model"),
            "model_version": spec.version if spec else None, "model_sha256": spec.sha256 if spec else None,
            "protocol": protocol, "status": out["status"], "http_status": out["http_status"],
            "error_type": err[0] if err else None, "error_msg": err[1] if err else None,
            "total_ms": out["total_ms"], "queue_ms": out.get("queue_ms"), "predict_ms": out.get("predict_ms"),
            "n_rows": cols.n_rows, "batch_size": out.get("batch_size"),
            "inputs": cols.records_json if keep else None,
            "outputs": (lambda cap, p=preds: json.dumps(jsonable(p))) if keep and preds is not None else None,
            "unit": out.get("unit"),
        })

    def reject(self, request_id: str, protocol: str, http: int, message: str) -> None:
        """Count and log a request refused before routing (bad body, content type, size)."""
        status = "bad_request" if http < 500 else "overloaded"
        self.m_requests.labels("", status).inc()
        if self.log is not None:
            self.log.add({"request_id": request_id, "deployment": self.state.get("deployment"),
                          "strategy": self.state.get("strategy"), "model_name": self.state.get("model"),
                          "protocol": protocol, "status": status, "http_status": http,
                          "error_type": "PayloadError", "error_msg": message[:500], "total_ms": 0.0,
                          "n_rows": 0, "fallback": False})

    # -- feedback and bandits -------------------------------------------
    def feedback(self, request_id: str, label: Any = None, reward: float | None = None) -> dict[str, Any]:
        """Log a label and/or reward for a request; a bandit's arm learns the reward first, so a reward
        it refuses (e.g. not 0/1 for a Beta bandit) raises :class:`~workbench.errors.BanditError` and
        nothing is logged."""
        variant = self.recent.get(request_id)
        num = float(label) if isinstance(label, (int, float)) else None  # bool too: True is 1.0
        updated = False
        if self.bandit is not None and variant is not None and reward is not None \
                and variant in self.state["bandit"]["arms"]:
            self.bandit.update(variant, float(reward))
            updated = True
            self._bandit_updates += 1
            if self._bandit_updates % 200 == 0:
                self._save_bandit()
        if self.log is not None:
            self.log.add_feedback({"request_id": request_id, "deployment": self.state.get("deployment"),
                                   "variant": variant, "label": None if label is None else json.dumps(label),
                                   "label_num": num, "reward": reward})
        return {"request_id": request_id, "variant": variant, "bandit_updated": updated}

    def _save_bandit(self) -> None:
        if self.bandit is None or not self.state.get("bandit"):
            return
        self.state = {**self.state, "bandit": {**self.state["bandit"], "state": self.bandit.to_dict()}}
        self.event("bandit_state", {"updates": self._bandit_updates})

    # -- canary clock ----------------------------------------------------
    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_s)
            try:
                await self.tick()
            except Exception as exc:  # the clock must keep running
                import sys

                print(f"workbench.serving: canary tick failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    async def tick(self, now: float | None = None) -> str | None:
        """Run the canary's analysis once (the clock calls this every ``tick_s``); returns the decision.

        It holds the change lock from reading the state to swapping the next one in, so no admin
        change (a pause, a rollback) lands in between and is lost.
        """
        assert self._change_lock is not None
        async with self._change_lock:
            return await self._tick(time.time() if now is None else now)

    async def _tick(self, now: float) -> str | None:
        prev = self.state.get("previous")
        if prev and prev.get("until", 0) <= now and prev["variant"]["name"] in self.variants:
            live = {v["name"] for v in self.state.get("variants", [])}
            if prev["variant"]["name"] not in live:
                del self.variants[prev["variant"]["name"]]  # the rollback window is over
        canary = self.state.get("canary")
        if not canary or canary.get("status") != "running":
            return None
        cfg = CanaryConfig(**canary["config"])
        champ = router.champion(self.state)
        cw = self.windows.get(cfg.variant, Window())
        hw = self.windows.get(champ["name"], Window()) if champ else Window()
        breaker = self.variants.get(cfg.variant)
        action, checks = decide(cfg, canary, cw, hw, now,
                                breaker_open=breaker is not None and breaker.breaker.state == "open")
        if action == "wait":
            return action
        record = {"step": canary["step"], "weight_pct": cfg.steps[canary["step"]], "decision": action,
                  "canary_n": cw.n, "champion_n": hw.n, "checks": [c.to_dict() for c in checks],
                  "at": now}
        if cfg.compares:
            record.update(compared=cw.compared, compare_dropped=cw.compare_dropped,
                          compare_errors=cw.compare_errors)
        base = {**self.state, "canary": {**canary, "checks": [*canary.get("checks", []), record]}}
        if action == "inconclusive":
            base["canary"]["status"] = "inconclusive"
            await self._swap(base, "canary_inconclusive", record)
        elif action == "advance":
            await self._swap(strategies.set_canary_step(base, canary["step"] + 1, now), "canary_step", record)
        elif action == "retry":
            base["canary"]["failures"] = canary["failures"] + 1
            base["canary"]["step_started"] = now
            await self._swap(base, "canary_check_failed", record)
        elif action == "rollback":
            base["canary"]["failures"] = canary["failures"] + 1
            await self._swap(strategies.rollback(base, now), "rollback", {**record, "reason": "canary gates"})
        elif action == "promote":
            spec = next(v["spec"] for v in self.state["variants"] if v["name"] == cfg.variant)
            new = strategies.promote(base, now, self.settings.rollback_window_s)
            await self._swap(new, "promoted", {**record, "model": spec["name"], "version": spec["version"],
                                                "analysis": new["canary"]["checks"]})
        return action

    def status(self) -> dict[str, Any]:
        """What ``GET /admin/status`` returns."""
        return {
            "ready": self.ready, "load_error": self.load_error, "pid": os.getpid(),
            "uptime_s": time.time() - self.started, "state": self.state,
            "breakers": {n: v.breaker.snapshot() for n, v in self.variants.items()},
            "windows": {n: {"n": w.n, "errors": w.errors, "compared": w.compared,
                            "agreement": w.same_rows / w.compared_rows if w.compared_rows else None,
                            "compare_dropped": w.compare_dropped} for n, w in self.windows.items()},
            "shadow": self.shadow_summary(), "loaded": sorted(self.variants),
            "bandit": self.bandit.probabilities() if self.bandit is not None and hasattr(
                self.bandit, "probabilities") else None,
            "log": {"rows": self.log.written_rows, "segments": self.log.segments,
                    "pending": self.log.pending()} if self.log else None,
            "settings": self.settings.to_dict(),
        }


def check_loadable(store: Any, spec: VersionSpec) -> LoadedModel:
    """Load and warm ``spec`` now (raises :class:`~workbench.errors.ModelLoadError` if it cannot serve)."""
    try:
        return load_spec(store, spec)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ServingError(f"{spec.name} v{spec.version}: {type(exc).__name__}: {exc}") from exc
