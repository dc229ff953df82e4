"""Micro-batching: concurrent requests share one forward pass of the model.

Every model call runs on one thread (torch's OpenMP team stays warm). A request that finds the
model idle and nobody waiting hands its image straight to that thread, and the thread's one
wake-up of the event loop when it is done answers the request: no queue, no worker task to wake
and then to wake the request in turn; the unbatched path's route, one call in a thread. Until
that call ends the model counts as busy, so requests arriving meanwhile wait in a bounded queue;
one worker takes up to `max_batch` of them as the next batch as soon as the model is free. With
`max_wait_ms` = 0 (the default) it never waits for a batch to fill: it takes whatever queued up
while the previous call ran, so batches grow with the load. A window (`max_wait_ms` > 0) asks
even a lone request to wait for company, so then every request goes through the queue. A full
queue answers at once with 503 and Retry-After rather than letting latency grow without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from api.errors import overloaded
from search.embed import Embedder

log = logging.getLogger(__name__)

Pixels = npt.NDArray[np.uint8]
Vector = npt.NDArray[np.float32]
Vectors = npt.NDArray[np.float32]


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
        # The worker holds a batch: from taking its first image until the model has embedded it.
        self._batching = False
        # Cleared while a lone image is in the model thread; the worker gathers its next batch
        # until then.
        self._model_free = asyncio.Event()
        self._model_free.set()

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
        """The vector of one prepared image: at once if the model is idle, else in the next batch.

        Raises:
            ProblemError: 503 when the queue is full.
        """
        # The queue is checked too: an image put there has not reached the worker yet.
        idle = self._model_free.is_set() and not self._batching and self.queue.empty()
        if idle and self.max_wait == 0:
            return await self._embed_alone(embedder, pixels)
        future: asyncio.Future[Vector] = asyncio.get_running_loop().create_future()
        try:
            self.queue.put_nowait(_Item(embedder, pixels, future))
        except asyncio.QueueFull:
            raise overloaded(
                f"{self.queue.maxsize} images are already waiting to be embedded"
            ) from None
        return await future

    async def _embed_alone(self, embedder: Embedder, pixels: Pixels) -> Vector:
        """One image through the model thread, awaited by its own request: a batch of one."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Vector] = loop.create_future()
        self._model_free.clear()
        started = time.perf_counter()
        job = self._executor.submit(embedder.embed_arrays, [pixels])
        # The thread wakes the loop once, when it is done: that answers the caller and frees the
        # model. Then, not when the caller stops waiting: a cancelled request leaves the call
        # running, and what arrives meanwhile must still queue behind it.
        job.add_done_callback(lambda done: _tell(loop, self._alone_done, done, future, started))
        return await future

    def _alone_done(
        self, job: Future[Vectors], future: asyncio.Future[Vector], started: float
    ) -> None:
        self._model_free.set()
        if job.cancelled():  # the executor was shut down before the call began
            future.cancel()
            return
        error = job.exception()
        if error is not None:  # a failure answers its caller, not the batcher
            log.error("embedding a batch of 1 failed", exc_info=error)
            if not future.done():
                future.set_exception(error)
            return
        if self.on_batch is not None:
            self.on_batch(1, time.perf_counter() - started)
        if not future.done():
            future.set_result(job.result()[0])

    async def _run(self) -> None:
        while True:
            first = await self.queue.get()
            self._batching = True
            # A lone image may still be in the model: what queues up meanwhile joins this batch.
            await self._model_free.wait()
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
            self._batching = False

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


def _tell(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: object) -> None:
    """Run `callback` on the event loop, from another thread."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:  # the loop has closed: the server stopped during the call
        pass
