"""The server's comparisons that run after a request was answered: shadows and the canary's agreement gate.

A part of :class:`~workbench.serving.runtime.Runtime` (a mixin over the same state).
Both are background workers on the event loop, fed by bounded queues, so a comparison
never delays the answer it compares; a full queue counts a drop instead of waiting.

- **Shadow**: a shadow variant predicts a copy of the request; the comparison with the
  live answer (agreement, |score difference|, latency difference) goes to
  :meth:`shadow_summary` and the shadow's own row to the prediction log (``role = 'shadow'``).
- **Agreement gate**: while a canary runs with ``min_agreement`` or ``max_score_diff``, the
  champion re-predicts ``agreement_sample`` of the canary's inputs, one at a time so it
  never crowds the champion's batcher; the canary's :class:`~workbench.serving.canary.Window`
  counts the rows where both agree.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import numpy as np

from workbench.serving.canary import Window
from workbench.serving.predlog import PredictionLog
from workbench.serving.protocol import Columns


def _new_shadow_stats() -> dict[str, Any]:
    return {"n": 0, "same": 0.0, "errors": 0, "dropped": 0, "abs_diff": [], "latency_diff_ms": []}



class _Comparisons:
    """Shadow and agreement workers of the :class:`~workbench.serving.runtime.Runtime`."""

    variants: dict[str, Any]
    windows: dict[str, Window]
    shadow_stats: dict[str, dict[str, Any]]
    settings: Any
    state: dict[str, Any]
    rng: random.Random
    log: PredictionLog | None
    _shadow_queue: asyncio.Queue | None
    _agree_queue: asyncio.Queue | None

    # -- the canary's agreement gate ---------------------------------------
    def _mirror_to_champion(self, state: dict[str, Any], name: str, champ: dict[str, Any] | None,
                            cols: Columns, predictions: Any) -> None:
        """After a canary's answer: queue its input for the champion (agreement gate), or count a drop."""
        canary = state.get("canary")
        if not canary or canary.get("status") != "running" or champ is None:
            return
        cfg = canary["config"]
        if name != cfg.get("variant") or (cfg.get("min_agreement") is None and cfg.get("max_score_diff") is None):
            return
        if self.rng.random() >= float(cfg.get("agreement_sample", 1.0)):
            return
        window = self.windows.setdefault(name, Window())
        try:
            self._agree_queue.put_nowait((window, champ["name"], cols, predictions))
        except (asyncio.QueueFull, AttributeError):
            window.compare_dropped += 1

    async def _agree_loop(self) -> None:
        """The champion predicts queued canary inputs one at a time (never more than one in its batcher)."""
        queue = self._agree_queue
        while True:
            window, champ_name, cols, canary_preds = await queue.get()
            variant = self.variants.get(champ_name)
            if variant is None:
                continue
            try:
                res = await asyncio.wait_for(variant.batcher.submit(cols), self.settings.timeout_s)
            except Exception:  # the champion's own failure is not the canary's disagreement
                window.compare_errors += 1
                continue
            window.compare(canary_preds, res.predictions)

    # -- shadow ----------------------------------------------------------
    async def _shadow_loop(self) -> None:
        queue = self._shadow_queue
        while True:
            name, cols, request_id, live, live_ms, protocol = await queue.get()
            variant = self.variants.get(name)
            if variant is None:
                continue
            t0 = time.perf_counter()
            out = {"request_id": request_id, "variant": name, "bucket": None, "sticky": None}
            stats = self.shadow_stats.setdefault(name, _new_shadow_stats())
            try:
                res = await asyncio.wait_for(variant.batcher.submit(cols), self.settings.timeout_s)
                total = (time.perf_counter() - t0) * 1000
                out.update(status="ok", http_status=200, total_ms=total, predictions=res.predictions,
                           queue_ms=res.queue_ms, predict_ms=res.predict_ms, batch_size=res.batch_size)
                stats["n"] += 1
                a, b = np.asarray(live), np.asarray(res.predictions)
                if a.shape == b.shape:
                    stats["same"] += int(np.sum(a == b)) / max(1, a.size)
                    if a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
                        diffs = stats["abs_diff"]
                        if len(diffs) < 100_000:
                            diffs.append(float(np.mean(np.abs(a.astype(float) - b.astype(float)))))
                stats["latency_diff_ms"].append(total - live_ms) if len(stats["latency_diff_ms"]) < 100_000 \
                    else None
            except Exception as exc:
                out.update(status="error", http_status=500, total_ms=(time.perf_counter() - t0) * 1000,
                           error=(type(exc).__name__, str(exc)[:500]))
                stats["errors"] += 1
            if self.log is not None:
                self._log(out, self.state, protocol, cols, "shadow", variant, shadow=True)

    def shadow_summary(self) -> dict[str, Any]:
        """Per shadow variant: compared requests, agreement, |score difference| p50/p95, latency difference."""
        out = {}
        for name, s in self.shadow_stats.items():
            diffs = np.asarray(s["abs_diff"])
            lat = np.asarray(s["latency_diff_ms"])
            out[name] = {
                "compared": s["n"], "errors": s["errors"], "dropped": s["dropped"],
                "agreement": s["same"] / s["n"] if s["n"] else None,
                "abs_diff_p50": float(np.quantile(diffs, 0.5)) if diffs.size else None,
                "abs_diff_p95": float(np.quantile(diffs, 0.95)) if diffs.size else None,
                "latency_diff_ms_p50": float(np.quantile(lat, 0.5)) if lat.size else None,
            }
        return out
