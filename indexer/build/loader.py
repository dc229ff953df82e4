"""Reading and decoding catalogue images in worker threads, ahead of the model, in order."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from indexer.build.fetch import FetchError, ImageFetcher, file_signature, is_url
from search.decoding import decode_image_with_size
from search.errors import ImageDecodeError
from search.preprocess import Preprocessing


@dataclass(frozen=True, slots=True)
class ImageJob:
    image_id: int
    uri: str
    # Content hash of this image's stored vector for the current backbone, if there is one.
    embedded_hash: str | None


@dataclass(frozen=True, slots=True)
class Loaded:
    """Decoded and prepared for the model."""

    job: ImageJob
    content_hash: str
    signature: str | None
    width: int
    height: int
    pixels: npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Unchanged:
    """Read, but its bytes are those of the stored vector: nothing to embed."""

    job: ImageJob
    content_hash: str
    signature: str | None


@dataclass(frozen=True, slots=True)
class Failed:
    job: ImageJob
    reason: str
    message: str
    signature: str | None


LoadResult = Loaded | Unchanged | Failed


class ImageLoader:
    """Fetches (I/O threads) then decodes and resizes (CPU threads) images ahead of use."""

    def __init__(
        self,
        fetcher: ImageFetcher,
        preprocessing: Preprocessing,
        *,
        max_pixels: int,
        fetch_workers: int = 8,
        decode_workers: int = 2,
    ) -> None:
        self.fetcher = fetcher
        self.preprocessing = preprocessing
        self.max_pixels = max_pixels
        self.fetch_workers = fetch_workers
        self.decode_workers = decode_workers

    def load(self, jobs: Iterable[ImageJob], *, window: int = 128) -> Iterator[LoadResult]:
        """Results in job order, with at most `window` images read ahead."""
        fetch_pool = ThreadPoolExecutor(self.fetch_workers, thread_name_prefix="fetch")
        decode_pool = ThreadPoolExecutor(self.decode_workers, thread_name_prefix="decode")

        def fetch_then_decode(job: ImageJob) -> LoadResult | Future[LoadResult]:
            fetched = self._fetch(job)
            if isinstance(fetched, Failed | Unchanged):
                return fetched
            data, content_hash, signature = fetched
            return decode_pool.submit(self._decode, job, data, content_hash, signature)

        in_flight: deque[Future[LoadResult | Future[LoadResult]]] = deque()
        try:
            for job in jobs:
                in_flight.append(fetch_pool.submit(fetch_then_decode, job))
                if len(in_flight) >= window:
                    yield _resolve(in_flight.popleft())
            while in_flight:
                yield _resolve(in_flight.popleft())
        finally:
            # On an interrupt, drop what has not started; nothing of it was written anywhere.
            fetch_pool.shutdown(wait=False, cancel_futures=True)
            decode_pool.shutdown(wait=False, cancel_futures=True)

    def _fetch(self, job: ImageJob) -> tuple[bytes, str, str | None] | Failed | Unchanged:
        signature = None if is_url(job.uri) else file_signature(job.uri)
        try:
            data = self.fetcher.fetch(job.uri)
        except FetchError as error:
            return Failed(job, error.reason, str(error), signature)
        content_hash = hashlib.sha256(data).hexdigest()
        if content_hash == job.embedded_hash:
            return Unchanged(job, content_hash, signature)
        return data, content_hash, signature

    def _decode(
        self, job: ImageJob, data: bytes, content_hash: str, signature: str | None
    ) -> LoadResult:
        try:
            image, width, height = decode_image_with_size(
                data, max_pixels=self.max_pixels, draft_size=self.preprocessing.decode_size
            )
        except ImageDecodeError as error:
            return Failed(job, error.reason, str(error), signature)
        pixels = self.preprocessing.prepare(image)
        return Loaded(job, content_hash, signature, width, height, pixels)


def _resolve(future: Future[LoadResult | Future[LoadResult]]) -> LoadResult:
    result = future.result()
    return result.result() if isinstance(result, Future) else result
