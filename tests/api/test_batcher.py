"""Micro-batching: concurrent requests share forward passes; a full queue answers 503."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from api.batcher import MicroBatcher
from api.errors import ProblemError


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
    assert refused and all(r.status == 503 and r.extra["retry_after"] == 1 for r in refused)
    assert any(isinstance(r, np.ndarray) for r in results)


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
