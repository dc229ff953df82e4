"""HTTP caching: ETags, conditional requests (304) and Cache-Control values."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response

# A URL naming one content version (`?v=`) never changes what it serves.
IMMUTABLE = "public, max-age=31536000, immutable"
# Anything else may be cached, but only used after asking whether it is still current.
REVALIDATE = "no-cache"
# Answers to uploads: never worth keeping.
NO_STORE = "no-store"


def etag_matches(request: Request, etag: str) -> bool:
    """Whether the request's If-None-Match names `etag` (RFC 9110: weak comparison)."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    wanted = _opaque(etag)
    return any(
        tag == "*" or _opaque(tag) == wanted for tag in (part.strip() for part in header.split(","))
    )


def not_modified(headers: dict[str, str]) -> Response:
    """304: the client's copy is current. The headers are those a 200 would carry (RFC 9110
    15.4.5: ETag, Cache-Control, Vary), without a body."""
    return Response(status_code=304, headers=headers)


def body_etag(body: bytes) -> str:
    """A strong ETag naming these exact bytes."""
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def _opaque(tag: str) -> str:
    return tag.removeprefix("W/")
