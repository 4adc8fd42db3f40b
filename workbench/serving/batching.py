"""Adaptive micro-batching: concurrent requests to one variant are predicted together.

Requests go into a queue; one worker per variant takes everything waiting
(up to ``max_batch_size`` rows), concatenates the columns and calls
``predict`` once in the bounded executor (never on the event loop). While a
batch is predicted, new requests queue up, so the batch size adapts to the
load by itself: one row at concurrency 1 (no added latency), tens of rows
under load. When other requests have arrived but are not queued yet (being
read and parsed: ``arriving``), the worker also yields to the event loop for
at most ``max_latency_ms`` to let them join (the "max queue delay" of Triton
and BentoML). If a batch fails, its requests are
predicted one by one so that one bad request fails alone.

With ``enabled=False`` every request calls ``predict`` on its own (still in
the executor): the baseline the benchmark compares against.

>>> import asyncio, numpy as np
>>> from concurrent.futures import ThreadPoolExecutor
>>> from workbench.serving.protocol import Columns
>>> b = MicroBatcher(lambda c: c.arrays["x"] * 2, ThreadPoolExecutor(1))
>>> async def main():
...     parts = [Columns(["x"], {"x": np.array([float(i)])}, 1) for i in range(3)]
...     return await asyncio.gather(*(b.submit(p) for p in parts))
>>> [r.predictions.tolist() for r in asyncio.run(main())]
[[0.0], [2.0], [4.0]]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.errors import ServerOverloadedError, ServingError
from workbench.serving.protocol import Columns


@dataclass
class BatchResult:
    """One request's share of a batch."""

    predictions: np.ndarray
    queue_ms: float
    predict_ms: float
    batch_size: int  # rows in the batch this request was predicted in


@dataclass
class _Item:
    cols: Columns
    future: asyncio.Future
    enqueued: float


class MicroBatcher:
    """Batches requests for one predict function (see the module docstring)."""

    def __init__(self, predict: Callable[[Columns], Any], executor: Executor, *, enabled: bool = True,
                 max_batch_size: int = 64, max_latency_ms: float = 2.0, max_queue: int = 1000,
                 arriving: Callable[[], int] | None = None) -> None:
        self.predict = predict
        self.executor = executor
        self.enabled = enabled
        self.max_batch_size = max(1, int(max_batch_size))
        self.max_latency_ms = float(max_latency_ms)
        self.max_queue = int(max_queue)
        self.arriving = arriving or (lambda: 0)
        self._queue: asyncio.Queue[_Item | None] | None = None
        self._worker: asyncio.Task | None = None
        self._waiting = 0
        self._retired = False
        self.batches = 0
        self.batched_rows = 0

    def close(self) -> None:
        """Stop the worker (requests still queued get a ServingError)."""
        if self._worker is not None:
            self._worker.cancel()
        while self._queue is not None and not self._queue.empty():
            item = self._queue.get_nowait()
            if not item.future.done():
                item.future.set_exception(ServingError("the server is stopping"))

    def retire(self) -> None:
        """Stop the worker once the requests already queued are answered (the variant was removed).

        A request that still reaches a retired batcher is predicted on its own.
        """
        self._retired = True
        if self._queue is not None:
            self._queue.put_nowait(None)  # the worker's last item

    @property
    def retired(self) -> bool:
        """Whether :meth:`retire` was called."""
        return self._retired

    @property
    def worker_running(self) -> bool:
        """Whether the batching worker task is alive."""
        return self._worker is not None and not self._worker.done()

    @property
    def queued(self) -> int:
        return self._waiting

    async def submit(self, cols: Columns) -> BatchResult:
        """Predict ``cols``; raises the model's exception for this request, or :class:`~workbench.errors.ServerOverloadedError`."""
        if self._waiting >= self.max_queue:
            raise ServerOverloadedError(f"{self._waiting} requests are already waiting (max_queue={self.max_queue})")
        loop = asyncio.get_running_loop()
        if not self.enabled or self._retired:
            self._waiting += 1
            start = time.perf_counter()
            try:
                def run() -> tuple[Any, float]:
                    t0 = time.perf_counter()
                    out = self.predict(cols)
                    return out, t0
                out, t0 = await loop.run_in_executor(self.executor, run)
            finally:
                self._waiting -= 1
            end = time.perf_counter()
            self.batches += 1
            self.batched_rows += cols.n_rows
            return BatchResult(np.asarray(out), (t0 - start) * 1000, (end - t0) * 1000, cols.n_rows)
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._run())
        item = _Item(cols, loop.create_future(), time.perf_counter())
        self._waiting += 1
        self._queue.put_nowait(item)
        try:
            return await asyncio.shield(item.future)
        finally:
            if not item.future.done():
                item.future.cancel()  # timed out: the worker skips it

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        assert queue is not None
        stop = False
        while not stop:
            first = await queue.get()
            if first is None:  # retired
                return
            batch = [first]
            rows = first.cols.n_rows
            started = time.perf_counter()
            while rows < self.max_batch_size:
                try:
                    item = queue.get_nowait()
                except asyncio.QueueEmpty:
                    late = (time.perf_counter() - started) * 1000 >= self.max_latency_ms
                    if late or self.arriving() <= 0:
                        break
                    await asyncio.sleep(0.0002)  # let requests being parsed join this batch
                    continue
                if item is None:  # retired: answer this batch, then stop
                    stop = True
                    break
                batch.append(item)
                rows += item.cols.n_rows
            live = [b for b in batch if not b.future.done()]
            self._waiting -= len(batch)
            if not live:
                continue
            try:
                results = await loop.run_in_executor(self.executor, self._predict_batch, live)
            except Exception as exc:  # the executor itself failed
                results = [exc] * len(live)
            for item, res in zip(live, results):
                if item.future.done():
                    continue
                if isinstance(res, BaseException):
                    item.future.set_exception(res)
                else:
                    item.future.set_result(res)

    def _predict_batch(self, items: list[_Item]) -> list[Any]:
        t0 = time.perf_counter()
        n = sum(i.cols.n_rows for i in items)
        self.batches += 1
        self.batched_rows += n
        try:
            out = np.asarray(self.predict(Columns.concat([i.cols for i in items])))
            if len(out) != n:
                raise ServingError(f"the model returned {len(out)} predictions for {n} rows")
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            return [self._predict_one(i) for i in items]  # isolate the request(s) that fail
        t1 = time.perf_counter()
        results, offset = [], 0
        for item in items:
            k = item.cols.n_rows
            results.append(BatchResult(out[offset:offset + k], (t0 - item.enqueued) * 1000,
                                       (t1 - t0) * 1000, n))
            offset += k
        return results

    def _predict_one(self, item: _Item) -> Any:
        t0 = time.perf_counter()
        try:
            out = np.asarray(self.predict(item.cols))
        except Exception as exc:
            return exc
        return BatchResult(out, (t0 - item.enqueued) * 1000, (time.perf_counter() - t0) * 1000,
                           item.cols.n_rows)
