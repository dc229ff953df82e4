"""Catalogue images and their thumbnails by id: only what the database lists, never a path from
the request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from api.caching import IMMUTABLE, REVALIDATE, etag_matches, not_modified
from api.deps import ServiceDep, invalid, only_params
from api.errors import ProblemError
from api.service import Service
from search.files import is_url
from search.served_images import ImageRecord, ServedImage, find_image, find_served_image
from search.served_images import image_version as version_of
from search.thumbnails import THUMBNAIL_SIZES, ThumbnailFormat

router = APIRouter(prefix="/v1/images", tags=["images"])
# Browsers must take the declared type, which comes from the decoded bytes, at its word.
NOSNIFF = {"X-Content-Type-Options": "nosniff"}
Version = Annotated[
    str | None, Query(description="The content version from `image_url`; makes it immutable")
]
Size = Annotated[
    int | None,
    Query(description=f"A thumbnail, longer side in pixels: one of {list(THUMBNAIL_SIZES)}"),
]


@router.get(
    "/{image_id}",
    name="get_image",
    response_model=None,
    dependencies=[Depends(only_params(query=frozenset({"v", "size"})))],
)
async def get_image(
    request: Request, service: ServiceDep, image_id: int, v: Version = None, size: Size = None
) -> Response:
    """A ready image of an active product, or its thumbnail (`size`; WebP where accepted, else
    JPEG); http(s) images redirect to their URL. With the `v` of its current content the answer
    is immutable, else it must be revalidated (ETag, If-None-Match -> 304).

    Local files are served only from the folders the catalogue was ingested from, the uploads
    folder and the download cache, and only while they hold the bytes that were embedded.
    """
    if size is not None and size not in THUMBNAIL_SIZES:
        sizes = ", ".join(map(str, THUMBNAIL_SIZES))
        raise invalid("query", "size", f"Input should be one of {sizes}", "literal_error")
    record = await run_in_threadpool(find_image, service.engine, image_id)
    if record is None:
        raise _unknown(image_id)
    if size is None:
        return await _original(request, service, image_id, record, v)
    fmt = ThumbnailFormat.WEBP if accepts(request, "image/webp") else ThumbnailFormat.JPEG
    thumbnails = service.thumbnails
    if record.content_hash is not None:
        # Answered from the record and the cache alone: a thumbnail's name is its content hash.
        headers = _headers(record.content_hash, v, size, fmt)
        if etag_matches(request, headers["ETag"]):
            return not_modified(headers)
        cached = await run_in_threadpool(thumbnails.get, record.content_hash, size, fmt)
        if cached is not None:
            return Response(cached.data, media_type=cached.media_type, headers=headers)
    served = await _served(service, image_id, thumbnails=True)
    if served.url is not None and not served.data:
        # Neither the download cache nor this service has the bytes: the original it is.
        return RedirectResponse(served.url, status_code=307, headers=NOSNIFF)
    assert served.content_hash is not None  # bytes are served only when their hash matched
    made = await run_in_threadpool(
        thumbnails.make,
        served.content_hash,
        served.data,
        size=size,
        fmt=fmt,
        max_pixels=service.settings.embed.max_image_pixels,
    )
    headers = _headers(served.content_hash, v, size, fmt)
    return Response(made.data, media_type=made.media_type, headers=headers)


async def _original(
    request: Request, service: Service, image_id: int, record: ImageRecord, v: str | None
) -> Response:
    if record.content_hash is not None and not is_url(record.uri):
        headers = _headers(record.content_hash, v)
        if etag_matches(request, headers["ETag"]):
            return not_modified(headers)
    served = await _served(service, image_id, thumbnails=False)
    if served.url is not None:
        return RedirectResponse(served.url, status_code=307, headers=NOSNIFF)
    assert served.content_hash is not None
    headers = _headers(served.content_hash, v)
    return Response(served.data, media_type=served.media_type, headers=headers)


async def _served(service: Service, image_id: int, *, thumbnails: bool) -> ServedImage:
    settings = service.settings
    served = await run_in_threadpool(
        find_served_image,
        service.engine,
        image_id,
        own_folders=[settings.uploads_dir, settings.image_cache_dir],
        max_bytes=settings.download.max_bytes,
        download_cache=settings.image_cache_dir if thumbnails else None,
    )
    if served is None:
        raise _unknown(image_id)
    return served


def _headers(
    content_hash: str, v: str | None, size: int | None = None, fmt: ThumbnailFormat | None = None
) -> dict[str, str]:
    """ETag and Cache-Control of one content version (and thumbnail variant).

    Only a URL naming the current content is immutable: a stale `v` gets today's bytes, to be
    revalidated every time, never cached for a year under a name they do not match.
    """
    version = version_of(content_hash)
    variant = "" if size is None or fmt is None else f"-{size}.{fmt.value}"
    headers = {
        "ETag": f'"{version}{variant}"',
        "Cache-Control": IMMUTABLE if v == version else REVALIDATE,
        **NOSNIFF,
    }
    if variant:
        headers["Vary"] = "Accept"  # WebP or JPEG, by what the client accepts
    return headers


def accepts(request: Request, media_type: str) -> bool:
    """Whether the Accept header names `media_type` with a quality above 0."""
    for part in request.headers.get("accept", "").split(","):
        kind, *parameters = (piece.strip() for piece in part.split(";"))
        if kind.lower() != media_type:
            continue
        quality = next((p[2:] for p in parameters if p.lower().startswith("q=")), "1")
        try:
            return float(quality) > 0
        except ValueError:
            return False
    return False


def _unknown(image_id: int) -> ProblemError:
    return ProblemError(404, "unknown-image", "No such image", f"no image {image_id}")
