"""Reading and decoding catalogue images in worker threads, ahead of the model, as they complete."""

from __future__ import annotations

import hashlib
import queue
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from indexer.build.fetch import FetchError, ImageFetcher, file_signature, is_url
from search.errors import ImageDecodeError
from search.jpeg_batches import plain_jpeg_size
from search.photo_quality import PhotoCheck, check_photo
from search.preprocess import Preprocessing
from search.quality_config import QualitySettings


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
    # The photo quality checks, taken on these pixels (None: checks off, or not measured here).
    quality: PhotoCheck | None = None


@dataclass(frozen=True, slots=True)
class Encoded:
    """A plain JPEG left encoded, for the embedding device to decode (`search.jpeg_batches`)."""

    job: ImageJob
    content_hash: str
    signature: str | None
    width: int
    height: int
    data: bytes


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


LoadResult = Loaded | Encoded | Unchanged | Failed


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
        device_jpegs: bool = False,
        quality: QualitySettings | None = None,
    ) -> None:
        """`device_jpegs`: leave plain JPEGs encoded (`Encoded`) for the embedding device to
        decode; everything else is decoded here. `quality`: check each decoded photo's quality
        with these limits (None: no checks)."""
        self.device_jpegs = device_jpegs
        self.quality = quality
        self.fetcher = fetcher
        self.preprocessing = preprocessing
        self.max_pixels = max_pixels
        self.fetch_workers = fetch_workers
        self.decode_workers = decode_workers

    def load(self, jobs: Iterable[ImageJob], *, window: int = 128) -> Iterator[LoadResult]:
        """Results in the order they complete, with at most `window` images in flight.

        Not in job order: a slow download or file holds one slot of the window, never the
        results behind it. Every job gives exactly one result.
        """
        fetch_pool = ThreadPoolExecutor(self.fetch_workers, thread_name_prefix="fetch")
        decode_pool = ThreadPoolExecutor(self.decode_workers, thread_name_prefix="decode")
        done: queue.SimpleQueue[LoadResult | BaseException] = queue.SimpleQueue()

        def hand_on(future: Future[LoadResult]) -> None:
            if not future.cancelled():
                error = future.exception()
                done.put(error if error is not None else future.result())

        def fetch_then_decode(job: ImageJob) -> None:
            try:
                fetched = self._fetch(job)
                if isinstance(fetched, Failed | Unchanged):
                    done.put(fetched)
                    return
                data, content_hash, signature = fetched
                decoding = decode_pool.submit(self._decode, job, data, content_hash, signature)
                decoding.add_done_callback(hand_on)
            except BaseException as error:  # a bug, not a bad image: re-raised to the caller
                done.put(error)

        in_flight = 0
        try:
            for job in jobs:
                fetch_pool.submit(fetch_then_decode, job)
                in_flight += 1
                if in_flight >= window:
                    yield _take(done)
                    in_flight -= 1
            while in_flight:
                yield _take(done)
                in_flight -= 1
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
        if self.device_jpegs:
            size = plain_jpeg_size(data, max_pixels=self.max_pixels)
            if size is not None:
                return Encoded(job, content_hash, signature, size[0], size[1], data)
        try:
            prepared = self.preprocessing.load(data, max_pixels=self.max_pixels)
        except ImageDecodeError as error:
            return Failed(job, error.reason, str(error), signature)
        quality = None
        if self.quality is not None:
            quality = check_photo(prepared.pixels, prepared.width, prepared.height, self.quality)
        return Loaded(
            job, content_hash, signature, prepared.width, prepared.height, prepared.pixels, quality
        )


def _take(done: queue.SimpleQueue[LoadResult | BaseException]) -> LoadResult:
    result = done.get()
    if isinstance(result, BaseException):
        raise result
    return result
