"""Bounding how many uploads are decoded at once, with the same back-pressure as the model queue.

Decoding costs memory in proportion to the stored pixels, so only `slots` uploads are decoded at
the same time (about one per core); the others wait for a slot. Uploads waiting here and images
waiting in the embedding queue share one limit: beyond it the answer is 503 with Retry-After at
once, rather than memory and latency growing without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypeVar

from api.errors import overloaded

T = TypeVar("T")


class UploadGate:
    def __init__(
        self, *, slots: int, max_waiting: int, queued: Callable[[], int] = lambda: 0
    ) -> None:
        """`queued` gives how many images already wait for the model (counted with ours)."""
        self.slots = slots
        self.max_waiting = max_waiting
        self.queued = queued
        self.waiting = 0
        self._free = asyncio.Semaphore(slots)
        # Always the same few threads: each new thread that decodes a large image leaves a
        # malloc arena holding its peak behind (the shared threadpool has 40 of them).
        self._executor = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="decode")

    async def run(self, work: Callable[[], T]) -> T:
        """Run `work` (decoding) on one of the gate's threads; call it while holding a slot."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one decoding slot for the duration of the block.

        Raises:
            ProblemError: 503 when every slot is busy and the waiting line is full.
        """
        if self._free.locked() and self.waiting + self.queued() >= self.max_waiting:
            raise overloaded(
                f"{self.slots} uploads are being decoded and {self.max_waiting} are waiting"
            )
        self.waiting += 1
        try:
            await self._free.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._free.release()
