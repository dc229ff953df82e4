"""Settings of the HTTP service's browser-facing side: CORS, compression, the thumbnail cache.

`ApiSettings` (search/config.py) extends this group, so these are `FACET_API__...` variables
like every other setting of the service; they are declared apart only to keep config.py within
the module size limit.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode


class HttpSettings(BaseModel):
    """CORS, gzip and thumbnails (see docs/http-api.md#caching-cors-and-compression)."""

    # Browser origins allowed to call the API from their pages (CORS), e.g.
    # "https://shop.example,https://admin.shop.example" or a JSON list; "*" for any. Empty: no
    # CORS headers, so browsers let only the service's own page read its answers.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # JSON and text answers at least this large are gzip-compressed for clients that accept it
    # (images never are: JPEG and WebP are compressed already).
    gzip_min_bytes: int = Field(default=1024, ge=0)
    # Thumbnails are kept under FACET_HOME/cache/thumbnails; beyond this size the least
    # recently served ones are deleted (and made again when asked for).
    thumbnail_cache_mb: int = Field(default=512, ge=1)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins_from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, origins: list[str]) -> list[str]:
        # Browsers send "scheme://host[:port]" and the middleware compares strings exactly: a
        # trailing slash or a path would silently never match.
        for origin in origins:
            parts = urlsplit(origin)
            if origin != "*" and (
                parts.scheme not in ("http", "https")
                or not parts.netloc
                or origin != f"{parts.scheme}://{parts.netloc}"
            ):
                raise ValueError(f"{origin!r}: an origin is scheme://host[:port], nothing more")
        return origins
