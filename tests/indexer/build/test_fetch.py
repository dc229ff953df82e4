"""Fetching is bounded: regular files only, a deadline per download, private addresses refusable."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from indexer.build.fetch import FetchError, ImageFetcher, is_url

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100


class Trickle:
    """A local server: /trickle sends one byte every 0.1 s, /ok answers at once."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                if self.path == "/ok":
                    self.wfile.write(b"x" * 1000)
                    return
                for _ in range(1000):
                    if owner.stop.wait(0.1):
                        return
                    self.wfile.write(b"x")
                    self.wfile.flush()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def trickle() -> Iterator[Trickle]:
    server = Trickle()
    yield server
    server.close()


def test_a_trickling_download_fails_at_the_deadline(trickle: Trickle, tmp_path: Path) -> None:
    # Each byte comes well within the per-read timeout; only an overall deadline stops it.
    with ImageFetcher(cache_dir=tmp_path, timeout_s=5, retries=3, deadline_s=0.5) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError, match="deadline") as caught:
            fetcher.fetch(trickle.url + "/trickle")
        # Not retried: the deadline covers the URL, all tries together (well under 1000 bytes).
        assert time.monotonic() - started < 30
        assert caught.value.reason == "download"
        assert fetcher.fetch(trickle.url + "/ok") == b"x" * 1000


def test_uppercase_schemes_are_urls_not_files() -> None:
    assert is_url("HTTP://host/etc/passwd") and is_url("Https://host/a.jpg")
    assert not is_url("file:///etc/passwd") and not is_url("/etc/passwd")


def test_an_uppercase_http_uri_is_never_read_as_a_file(tmp_path: Path) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=PNG))
    client = httpx.Client(transport=transport)
    with ImageFetcher(cache_dir=tmp_path, client=client) as fetcher:
        assert fetcher.fetch("HTTP://example.test/etc/passwd") == PNG


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with ImageFetcher(cache_dir=tmp_path / "cache") as fetcher:
        # A FIFO with no writer blocks open() forever: fetched in a thread so a regression
        # fails this test instead of hanging the suite.
        outcome: list[BaseException | bytes] = []

        def fetch_fifo() -> None:
            try:
                outcome.append(fetcher.fetch(fifo.as_uri()))
            except FetchError as error:
                outcome.append(error)

        thread = threading.Thread(target=fetch_fifo, daemon=True)
        thread.start()
        thread.join(timeout=10)
        if thread.is_alive():
            with open(fifo, "wb"):  # release the blocked reader
                pass
        assert outcome and isinstance(outcome[0], FetchError), "reading a FIFO blocked"
        assert outcome[0].reason == "not-a-file"
        for uri in ("file:///dev/zero", "file:///proc/self/environ", tmp_path.as_uri()):
            with pytest.raises(FetchError) as caught:
                fetcher.fetch(uri)
            assert caught.value.reason == "not-a-file", uri
        with pytest.raises(FetchError) as caught:
            fetcher.fetch((tmp_path / "absent.jpg").as_uri())
        assert caught.value.reason == "missing"


def test_local_files_have_the_download_size_limit(tmp_path: Path) -> None:
    small, big = tmp_path / "small.png", tmp_path / "big.png"
    small.write_bytes(PNG)
    big.write_bytes(PNG + b"\0" * 1000)
    with ImageFetcher(cache_dir=tmp_path / "cache", max_bytes=500) as fetcher:
        assert fetcher.fetch(small.as_uri()) == PNG
        with pytest.raises(FetchError) as caught:
            fetcher.fetch(big.as_uri())
        assert caught.value.reason == "too-large"


def public_resolver(host: str, port: int) -> list[str]:
    return ["93.184.216.34"] if host.endswith(".test") else [host]


def test_private_addresses_can_be_refused_redirects_included(tmp_path: Path) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.host == "shop.test":
            return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest"})
        return httpx.Response(200, content=PNG)

    def fetcher(allow: bool) -> ImageFetcher:
        return ImageFetcher(
            cache_dir=tmp_path / str(allow),
            client=httpx.Client(transport=httpx.MockTransport(handler)),
            allow_private_addresses=allow,
            resolver=public_resolver,
            retries=0,
        )

    with fetcher(False) as strict:
        for url in ("http://127.0.0.1/a.jpg", "http://[::1]/a.jpg", "http://10.1.2.3/a.jpg"):
            with pytest.raises(FetchError) as caught:
                strict.fetch(url)
            assert caught.value.reason == "refused"
        assert seen == []
        with pytest.raises(FetchError) as caught:
            strict.fetch("http://shop.test/a.jpg")
        # The public host was asked; the link-local hop it redirected to never was.
        assert caught.value.reason == "refused" and seen == ["http://shop.test/a.jpg"]
        assert strict.fetch("http://cdn.test/b.jpg") == PNG
    with fetcher(True) as lenient:
        assert lenient.fetch("http://shop.test/a.jpg") == PNG
        assert seen[-1] == "http://169.254.169.254/latest"


def test_redirect_loops_end(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "/again"})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    with ImageFetcher(cache_dir=tmp_path, client=client, retries=0) as fetcher:
        with pytest.raises(FetchError, match="redirects"):
            fetcher.fetch("http://loop.test/a.jpg")
