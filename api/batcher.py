"""Micro-batching: concurrent requests share one forward pass of the model.

Requests put their prepared image in a bounded queue; one worker takes up to `max_batch` of them
and embeds them together in a thread. With `max_wait_ms` = 0 (the default) it never waits for a
batch to fill: it takes whatever queued up while the previous batch ran, so a lone request pays no
delay and batches grow with the load. A full queue answers at once with 503 and Retry-After
rather than letting latency grow without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from api.errors import overloaded
from search.embed import Embedder

log = logging.getLogger(__name__)

Pixels = npt.NDArray[np.uint8]
Vector = npt.NDArray[np.float32]


@dataclass
class _Item:
    embedder: Embedder
    pixels: Pixels
    future: asyncio.Future[Vector]


class MicroBatcher:
    def __init__(
        self,
        *,
        max_batch: int,
        max_wait_ms: float,
        max_queue: int,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=max_queue)
        self.on_batch = on_batch
        self._worker: asyncio.Task[None] | None = None
        # Always the same thread for the model: torch's OpenMP team stays warm (a new calling
        # thread each time cost milliseconds per batch).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def depth(self) -> int:
        return self.queue.qsize()

    async def embed(self, embedder: Embedder, pixels: Pixels) -> Vector:
        """The vector of one prepared image, computed in a batch with whatever else is waiting.

        Raises:
            ProblemError: 503 when the queue is full.
        """
        future: asyncio.Future[Vector] = asyncio.get_running_loop().create_future()
        try:
            self.queue.put_nowait(_Item(embedder, pixels, future))
        except asyncio.QueueFull:
            raise overloaded(
                f"{self.queue.maxsize} images are already waiting to be embedded"
            ) from None
        return await future

    async def _run(self) -> None:
        while True:
            first = await self.queue.get()
            batch = [first]
            while len(batch) < self.max_batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            deadline = time.monotonic() + self.max_wait
            while len(batch) < self.max_batch and self.max_wait > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), remaining))
                except TimeoutError:
                    break
            await self._embed(batch)

    async def _embed(self, batch: list[_Item]) -> None:
        # Items of one embedder go through the model together (a reload may switch backbones).
        groups: dict[int, list[_Item]] = {}
        for item in batch:
            groups.setdefault(id(item.embedder), []).append(item)
        for items in groups.values():
            live = [item for item in items if not item.future.cancelled()]
            if not live:
                continue
            started = time.perf_counter()
            try:
                vectors = await asyncio.get_running_loop().run_in_executor(
                    self._executor, live[0].embedder.embed_arrays, [item.pixels for item in live]
                )
            except Exception as error:  # one failure answers its whole batch, not the worker
                log.exception("embedding a batch of %d failed", len(live))
                for item in live:
                    if not item.future.done():
                        item.future.set_exception(error)
                continue
            if self.on_batch is not None:
                self.on_batch(len(live), time.perf_counter() - started)
            for item, vector in zip(live, vectors, strict=True):
                if not item.future.done():
                    item.future.set_result(vector)
