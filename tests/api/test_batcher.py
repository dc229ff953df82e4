"""Micro-batching: concurrent requests share forward passes; a lone request skips the queue; a
full queue answers 503."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, cast

import numpy as np
import pytest

from api.batcher import MicroBatcher, Vector
from api.errors import ProblemError
from search.embed import Embedder


class CountingEmbedder:
    """Stands in for Embedder: records batch sizes, returns the pixel mean as the vector."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[int] = []
        self.delay = delay

    def embed_arrays(self, arrays: list[np.ndarray]) -> np.ndarray:
        import time

        time.sleep(self.delay)
        self.batches.append(len(arrays))
        return np.array([[float(a.mean())] for a in arrays], dtype=np.float32)


class CountingQueue(asyncio.Queue[Any]):
    """The batcher's queue, counting the images put in it."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.puts = 0

    def put_nowait(self, item: Any) -> None:
        super().put_nowait(item)
        self.puts += 1


def spied(**options: Any) -> tuple[MicroBatcher, CountingQueue, list[int]]:
    """A started-later batcher, the queue it puts images in, the batch sizes it reports."""
    sizes: list[int] = []
    batcher = MicroBatcher(on_batch=lambda size, _: sizes.append(size), **options)
    batcher.queue = queue = CountingQueue(batcher.queue.maxsize)
    return batcher, queue, sizes


def embed(batcher: MicroBatcher, embedder: CountingEmbedder, value: int) -> Awaitable[Vector]:
    """The batcher's embedding of an image whose vector will be `value`."""
    pixels = np.full((2, 2, 3), value, dtype=np.uint8)
    return batcher.embed(cast(Embedder, embedder), pixels)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_concurrent_requests_share_batches_and_get_their_own_vector() -> None:
    embedder = CountingEmbedder(delay=0.02)

    async def scenario() -> list[float]:
        batcher = MicroBatcher(max_batch=8, max_wait_ms=20, max_queue=64)
        batcher.start()
        try:
            pixels = [np.full((2, 2, 3), i, dtype=np.uint8) for i in range(20)]
            vectors = await asyncio.gather(
                *(batcher.embed(embedder, p) for p in pixels)  # type: ignore[arg-type]
            )
        finally:
            await batcher.stop()
        return [float(v[0]) for v in vectors]

    assert run(scenario()) == [float(i) for i in range(20)]
    assert sum(embedder.batches) == 20 and max(embedder.batches) == 8
    assert len(embedder.batches) <= 4


def test_a_full_batch_goes_at_once_without_waiting_out_the_window() -> None:
    embedder = CountingEmbedder()

    async def scenario() -> None:
        # A window of a minute: only a full batch can make this finish within the timeout.
        batcher = MicroBatcher(max_batch=2, max_wait_ms=60_000, max_queue=4)
        batcher.start()
        try:
            pixels = [np.zeros((2, 2, 3), np.uint8)] * 2
            jobs = (batcher.embed(embedder, p) for p in pixels)  # type: ignore[arg-type]
            await asyncio.wait_for(asyncio.gather(*jobs), timeout=10)
        finally:
            await batcher.stop()

    run(scenario())
    assert embedder.batches == [2]


def test_the_window_gathers_a_request_that_arrives_during_it() -> None:
    embedder = CountingEmbedder()

    async def scenario() -> None:
        batcher = MicroBatcher(max_batch=8, max_wait_ms=500, max_queue=4)
        batcher.start()
        try:
            zero = np.zeros((2, 2, 3), np.uint8)
            first = asyncio.ensure_future(batcher.embed(embedder, zero))  # type: ignore[arg-type]
            await asyncio.sleep(0.05)  # well inside the window
            await batcher.embed(embedder, zero)  # type: ignore[arg-type]
            await first
        finally:
            await batcher.stop()

    run(scenario())
    assert embedder.batches == [2]  # without the window: [1, 1]


def test_a_full_queue_answers_503_with_retry_after() -> None:
    embedder = CountingEmbedder(delay=0.2)

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(max_batch=1, max_wait_ms=0, max_queue=2)
        batcher.start()
        try:
            pixels = np.zeros((2, 2, 3), np.uint8)
            return await asyncio.gather(
                *(batcher.embed(embedder, pixels) for _ in range(6)),  # type: ignore[arg-type]
                return_exceptions=True,
            )
        finally:
            await batcher.stop()

    results = run(scenario())
    refused = [r for r in results if isinstance(r, ProblemError)]
    assert all(r.status == 503 and r.extra["retry_after"] == 1 for r in refused)
    # The first goes straight to the idle model, two wait in the queue, the other three are refused.
    assert [isinstance(r, np.ndarray) for r in results] == [True] * 3 + [False] * 3


def test_an_embedding_failure_answers_its_batch_and_the_worker_survives() -> None:
    class Broken(CountingEmbedder):
        def embed_arrays(self, arrays: list[np.ndarray]) -> np.ndarray:
            raise RuntimeError("boom")

    async def scenario() -> Any:
        batcher = MicroBatcher(max_batch=4, max_wait_ms=1, max_queue=8)
        batcher.start()
        try:
            pixels = np.zeros((2, 2, 3), np.uint8)
            with pytest.raises(RuntimeError, match="boom"):
                await batcher.embed(Broken(), pixels)  # type: ignore[arg-type]
            return await batcher.embed(CountingEmbedder(), pixels)  # type: ignore[arg-type]
        finally:
            await batcher.stop()

    assert run(scenario()).shape == (1,)


def test_a_lone_request_goes_straight_to_the_model_as_a_batch_of_one() -> None:
    embedder = CountingEmbedder()
    batcher, queue, sizes = spied(max_batch=8, max_wait_ms=0, max_queue=4)

    async def scenario() -> list[float]:
        batcher.start()
        try:
            # One after the other: each finds the model idle and nobody waiting.
            return [float((await embed(batcher, embedder, value))[0]) for value in (3, 5)]
        finally:
            await batcher.stop()

    assert run(scenario()) == [3.0, 5.0]
    assert queue.puts == 0  # through the queue and the worker, it was 2
    assert embedder.batches == [1, 1] and sizes == [1, 1]


def test_requests_arriving_during_a_lone_call_wait_for_it_and_form_the_next_batch() -> None:
    embedder = CountingEmbedder(delay=0.3)
    batcher, queue, sizes = spied(max_batch=8, max_wait_ms=0, max_queue=8)

    async def scenario() -> list[float]:
        batcher.start()
        try:
            jobs = [asyncio.ensure_future(embed(batcher, embedder, 0))]
            for value in range(1, 6):  # one every 20 ms, all while the first is in the model
                await asyncio.sleep(0.02)
                jobs.append(asyncio.ensure_future(embed(batcher, embedder, value)))
            return [float(vector[0]) for vector in await asyncio.gather(*jobs)]
        finally:
            await batcher.stop()

    assert run(scenario()) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert queue.puts == 5
    # A worker that did not wait for the lone call would have taken the first arrival alone.
    assert embedder.batches == [1, 5] and sizes == [1, 5]


def test_a_cancelled_lone_request_keeps_the_model_busy_until_its_call_ends() -> None:
    embedder = CountingEmbedder(delay=0.2)
    batcher, queue, sizes = spied(max_batch=8, max_wait_ms=0, max_queue=8)

    async def scenario() -> list[float]:
        batcher.start()
        try:
            first = asyncio.ensure_future(embed(batcher, embedder, 0))
            await asyncio.sleep(0.05)
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            # The call goes on in the model thread: these wait for it, then share a batch.
            vectors = await asyncio.gather(*(embed(batcher, embedder, v) for v in (1, 2)))
            return [float(vector[0]) for vector in vectors]
        finally:
            await batcher.stop()

    assert run(scenario()) == [1.0, 2.0]
    assert queue.puts == 2
    assert embedder.batches == [1, 2] and sizes == [1, 2]  # the abandoned call still counts


def test_a_lone_failure_reaches_its_caller_and_frees_the_model(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(CountingEmbedder):
        def embed_arrays(self, arrays: list[np.ndarray]) -> np.ndarray:
            raise RuntimeError("boom")

    batcher, queue, sizes = spied(max_batch=4, max_wait_ms=0, max_queue=4)

    async def scenario() -> float:
        batcher.start()
        try:
            with pytest.raises(RuntimeError, match="boom"):
                await embed(batcher, Broken(), 0)
            return float((await embed(batcher, CountingEmbedder(), 7))[0])
        finally:
            await batcher.stop()

    assert run(scenario()) == 7.0
    assert queue.puts == 0 and sizes == [1]  # both straight to the model; one succeeded
    assert "embedding a batch of 1 failed" in caplog.text
