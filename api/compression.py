"""gzip for JSON and text answers; images go out as they are."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# JPEG, WebP and the other image formats are compressed already: gzip would cost CPU for nothing.
EXCLUDED = (*DEFAULT_EXCLUDED_CONTENT_TYPES, "image/*")


class Compression:
    """ASGI middleware: Starlette's GZipMiddleware for answers of at least `minimum_size` bytes
    (not images), whose ETag then becomes weak.

    A strong ETag promises the exact bytes; the gzip-encoded bytes are others (RFC 9110 8.8.3),
    so a compressed answer names the same content with `W/"..."`, which If-None-Match still
    matches (weak comparison). A 304 to a client that holds the compressed copy (it sent the
    weak tag) names it the same way, so the tag the client keeps is the one it had.
    """

    def __init__(self, app: ASGIApp, *, minimum_size: int) -> None:
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, exclude_content_types=EXCLUDED)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.gzip(scope, receive, send)
            return

        held = Headers(scope=scope).get("if-none-match", "")

        async def weaken_etag(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                etag = headers.get("etag")
                if etag and not etag.startswith("W/"):
                    compressed = "content-encoding" in headers
                    if compressed or (message["status"] == 304 and f"W/{etag}" in held):
                        headers["etag"] = f"W/{etag}"
            await send(message)

        await self.gzip(scope, receive, weaken_etag)
