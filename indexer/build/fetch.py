"""Getting catalogue image bytes: local files, or http(s) downloads with retries and a cache."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path

import httpx

from search.files import file_path, file_signature

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


__all__ = ["FetchError", "ImageFetcher", "file_path", "file_signature", "is_url"]


class FetchError(Exception):
    """An image's bytes could not be had; `reason` is "missing" or "download"."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def is_url(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


class ImageFetcher:
    """Reads image bytes. Thread-safe: one fetcher serves all download threads.

    Downloads go through an on-disk cache keyed by URL, so a URL is downloaded once; failures
    (connection errors, timeouts, 408/429/5xx) are retried with exponential backoff.
    """

    def __init__(
        self,
        *,
        cache_dir: Path,
        timeout_s: float = 20.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_bytes: int = 20 * 2**20,
        client: httpx.Client | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_bytes = max_bytes
        self.client = client or httpx.Client(
            timeout=timeout_s,
            follow_redirects=True,
            headers={"User-Agent": "facet-indexer"},
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ImageFetcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def fetch(self, uri: str) -> bytes:
        """The bytes of a `file://` or http(s) image.

        Raises:
            FetchError: a missing or unreadable file, or a download that failed for good.
        """
        if not is_url(uri):
            try:
                return file_path(uri).read_bytes()
            except OSError as error:
                raise FetchError("missing", f"cannot read {uri}: {error.strerror}") from None
        cached = self.cached_path(uri)
        if cached.is_file():
            return cached.read_bytes()
        data = self._download(uri)
        self._store(cached, data)
        return data

    def cached_path(self, url: str) -> Path:
        key = hashlib.sha256(url.encode("utf-8")).hexdigest()
        return self.cache_dir / key[:2] / key

    def _download(self, url: str) -> bytes:
        attempt = 0
        while True:
            try:
                return self._get(url)
            except _Retryable as error:
                if attempt >= self.retries:
                    message = f"{url}: {error} (after {attempt + 1} tries)"
                    raise FetchError("download", message) from None
                delay = self.backoff_s * 2**attempt
                log.debug("retrying %s in %.1f s: %s", url, delay, error)
                time.sleep(delay)
                attempt += 1

    def _get(self, url: str) -> bytes:
        try:
            with self.client.stream("GET", url) as response:
                if response.status_code in RETRY_STATUSES:
                    raise _Retryable(f"HTTP {response.status_code}")
                if response.status_code != 200:
                    raise FetchError("download", f"{url}: HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                    raise FetchError("download", f"{url}: {declared} bytes, limit {self.max_bytes}")
                chunks: list[bytes] = []
                received = 0
                for chunk in response.iter_bytes():
                    received += len(chunk)
                    if received > self.max_bytes:
                        raise FetchError("download", f"{url}: more than {self.max_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TransportError as error:  # connection refused, timeouts, resets...
            raise _Retryable(f"{type(error).__name__}: {error}") from None

    def _store(self, path: Path, data: bytes) -> None:
        # Written under a temporary name and renamed: a crash never leaves half a file cached.
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


class _Retryable(Exception):
    """A download failure worth another try."""
