"""Getting catalogue image bytes: local files, or http(s) downloads with retries and a cache.

Every fetch is bounded: local files must be regular files within the size limit, a download
has an overall deadline (all tries and redirects together) besides its per-read timeout, and
URLs resolving to loopback, private or link-local addresses can be refused, at every redirect.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from search.errors import UnsafeImageFile
from search.files import (
    download_cache_path,
    file_path,
    file_signature,
    is_url,
    read_regular_file,
)

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5

# host, port -> the IP addresses it resolves to.
Resolver = Callable[[str, int], list[str]]


__all__ = ["FetchError", "ImageFetcher", "file_path", "file_signature", "is_url"]


class FetchError(Exception):
    """An image's bytes could not be had; `reason` is "missing", "not-a-file", "too-large",
    "download" or "refused" (a private address, with private addresses not allowed)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise _Retryable(f"cannot resolve {host}: {error}") from None
    return [str(info[4][0]) for info in infos]


def is_public(address: str) -> bool:
    """False for loopback, private, link-local, multicast, reserved and unspecified addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class ImageFetcher:
    """Reads image bytes. Thread-safe: one fetcher serves all download threads.

    Downloads go through an on-disk cache keyed by URL, so a URL is downloaded once; failures
    (connection errors, timeouts, 408/429/5xx) are retried with exponential backoff, within
    the URL's deadline.
    """

    def __init__(
        self,
        *,
        cache_dir: Path,
        timeout_s: float = 20.0,
        deadline_s: float = 60.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_bytes: int = 20 * 2**20,
        allow_private_addresses: bool = True,
        client: httpx.Client | None = None,
        resolver: Resolver = resolve_host,
    ) -> None:
        self.cache_dir = cache_dir
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_bytes = max_bytes
        self.allow_private_addresses = allow_private_addresses
        self.resolver = resolver
        self.client = client or httpx.Client(
            timeout=timeout_s,
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
            FetchError: a missing, unreadable, irregular or oversized file, a refused URL, or a
                download that failed for good.
        """
        if not is_url(uri):
            return self._read_file(uri)
        cached = self.cached_path(uri)
        if cached.is_file():
            return cached.read_bytes()
        data = self._download(uri)
        self._store(cached, data)
        return data

    def cached_path(self, url: str) -> Path:
        return download_cache_path(self.cache_dir, url)

    def _read_file(self, uri: str) -> bytes:
        try:
            return read_regular_file(file_path(uri), max_bytes=self.max_bytes)
        except UnsafeImageFile as error:
            raise FetchError(error.reason, str(error)) from None
        except ValueError as error:
            raise FetchError("missing", str(error)) from None
        except OSError as error:
            raise FetchError("missing", f"cannot read {uri}: {error.strerror}") from None

    def _download(self, url: str) -> bytes:
        deadline = time.monotonic() + self.deadline_s
        attempt = 0
        while True:
            try:
                return self._follow(url, deadline)
            except _Retryable as error:
                delay = self.backoff_s * 2**attempt
                if attempt >= self.retries or time.monotonic() + delay >= deadline:
                    message = f"{url}: {error} (after {attempt + 1} tries)"
                    raise FetchError("download", message) from None
                log.debug("retrying %s in %.1f s: %s", url, delay, error)
                time.sleep(delay)
                attempt += 1

    def _follow(self, url: str, deadline: float) -> bytes:
        """GET `url`, following redirects by hand so that every hop's host is checked."""
        for _ in range(MAX_REDIRECTS + 1):
            self._check_host(url)
            location = self._get(url, deadline)
            if isinstance(location, bytes):
                return location
            url = location
        raise FetchError("download", f"{url}: more than {MAX_REDIRECTS} redirects")

    def _check_host(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise FetchError("download", f"{url}: not an http(s) URL")
        if self.allow_private_addresses:
            return
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        for address in self.resolver(parts.hostname, port):
            if not is_public(address):
                raise FetchError(
                    "refused", f"{url}: {parts.hostname} is a private address ({address})"
                )

    def _get(self, url: str, deadline: float) -> bytes | str:
        """The body of a 200, or the URL a redirect points to."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError("download", f"{url}: deadline of {self.deadline_s:g} s passed")
        try:
            with self.client.stream(
                "GET",
                url,
                follow_redirects=False,
                timeout=httpx.Timeout(min(self.timeout_s, remaining)),
            ) as response:
                if response.status_code in REDIRECT_STATUSES:
                    location: str | None = response.headers.get("location")
                    if not location:
                        raise FetchError("download", f"{url}: redirect without a Location")
                    return urljoin(url, location)
                if response.status_code in RETRY_STATUSES:
                    raise _Retryable(f"HTTP {response.status_code}")
                if response.status_code != 200:
                    raise FetchError("download", f"{url}: HTTP {response.status_code}")
                return self._read_body(url, response, deadline)
        except httpx.TimeoutException as error:
            if time.monotonic() >= deadline:
                raise FetchError(
                    "download", f"{url}: deadline of {self.deadline_s:g} s passed"
                ) from None
            raise _Retryable(f"{type(error).__name__}: {error}") from None
        except httpx.TransportError as error:  # connection refused, resets...
            raise _Retryable(f"{type(error).__name__}: {error}") from None

    def _read_body(self, url: str, response: httpx.Response, deadline: float) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError("download", f"{url}: {declared} bytes, limit {self.max_bytes}")
        chunks: list[bytes] = []
        received = 0
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > self.max_bytes:
                raise FetchError("download", f"{url}: more than {self.max_bytes} bytes")
            # A server trickling bytes never trips the per-read timeout; the deadline stops it.
            if time.monotonic() >= deadline:
                raise FetchError("download", f"{url}: deadline of {self.deadline_s:g} s passed")
            chunks.append(chunk)
        return b"".join(chunks)

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
