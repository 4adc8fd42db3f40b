"""MicroBatcher on its own: concurrent requests share a batch, a bad one fails alone, retiring
answers what is queued and stops the worker."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import run_async

from workbench.serving.batching import MicroBatcher
from workbench.serving.protocol import Columns


def cols(*xs: float) -> Columns:
    return Columns(["x"], {"x": np.array(xs, dtype=float)}, len(xs))


class GatedModel:
    """Doubles x; the first call waits for ``gate`` so that later requests queue up behind it."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.calls: list[int] = []

    def __call__(self, c: Columns) -> np.ndarray:
        if not self.calls:
            self.gate.wait(10)
        self.calls.append(c.n_rows)
        if np.any(c.arrays["x"] < 0):
            raise ValueError("negative x")
        return c.arrays["x"] * 2


async def _queue_behind_first(b: MicroBatcher, model: GatedModel, parts: list[Columns]) -> list:
    first = asyncio.ensure_future(b.submit(cols(100.0)))
    await asyncio.sleep(0.05)  # the worker is inside the first (gated) call
    rest = [asyncio.ensure_future(b.submit(p)) for p in parts]
    await asyncio.sleep(0.05)
    model.gate.set()
    return await asyncio.gather(first, *rest, return_exceptions=True)


def test_requests_queued_during_a_prediction_go_in_one_batch_and_a_bad_one_fails_alone():
    model = GatedModel()
    b = MicroBatcher(model, ThreadPoolExecutor(1), max_batch_size=64)
    out = run_async(_queue_behind_first(b, model, [cols(1.0), cols(-1.0), cols(2.0, 3.0)]))
    assert out[0].predictions.tolist() == [200.0]
    assert out[1].predictions.tolist() == [2.0] and out[3].predictions.tolist() == [4.0, 6.0]
    assert isinstance(out[2], ValueError) and "negative" in str(out[2])
    # one call for the first request, one failed batch of 4 rows, then the three one by one
    assert model.calls == [1, 4, 1, 1, 2]
    assert out[1].batch_size == 1 and out[3].batch_size == 2  # predicted alone after the batch failed


def test_max_batch_size_caps_the_rows_of_a_batch():
    model = GatedModel()
    b = MicroBatcher(model, ThreadPoolExecutor(1), max_batch_size=2)
    out = run_async(_queue_behind_first(b, model, [cols(1.0), cols(2.0), cols(3.0)]))
    assert [r.predictions.tolist() for r in out] == [[200.0], [2.0], [4.0], [6.0]]
    assert model.calls == [1, 2, 1]
    assert [r.batch_size for r in out] == [1, 2, 2, 1]


def test_retiring_answers_the_queued_requests_then_stops_the_worker():
    model = GatedModel()
    b = MicroBatcher(model, ThreadPoolExecutor(1))

    async def main():
        first = asyncio.ensure_future(b.submit(cols(1.0)))
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(b.submit(cols(2.0)))
        await asyncio.sleep(0.02)
        b.retire()
        model.gate.set()
        got = await asyncio.gather(first, queued)
        await asyncio.sleep(0.05)
        alive = b.worker_running
        late = await b.submit(cols(5.0))  # a request that still reaches it is predicted on its own
        return got, alive, late

    (first, queued), alive, late = run_async(main())
    assert first.predictions.tolist() == [2.0] and queued.predictions.tolist() == [4.0]
    assert not alive
    assert late.predictions.tolist() == [10.0] and not b.worker_running


@pytest.mark.parametrize("enabled", [True, False])
def test_a_full_queue_is_refused_with_a_clear_error(enabled):
    from workbench.errors import ServerOverloadedError

    model = GatedModel()
    b = MicroBatcher(model, ThreadPoolExecutor(1), enabled=enabled, max_queue=2)

    async def main():
        running = [asyncio.ensure_future(b.submit(cols(0.0)))]
        await asyncio.sleep(0.05)  # the first is being predicted (batching no longer counts it)
        running += [asyncio.ensure_future(b.submit(cols(float(i)))) for i in (1, 2)][:2 if enabled else 1]
        await asyncio.sleep(0.05)
        with pytest.raises(ServerOverloadedError, match="max_queue=2"):
            await b.submit(cols(9.0))
        model.gate.set()
        return await asyncio.gather(*running)

    got = [r.predictions.tolist() for r in run_async(main())]
    assert got == [[0.0], [2.0], [4.0]][:len(got)] and len(got) == (3 if enabled else 2)
