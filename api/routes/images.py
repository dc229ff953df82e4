"""Catalogue images by id: only what the database lists, never a path from the request."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from api.deps import ServiceDep
from api.errors import ProblemError
from search.served_images import find_served_image

router = APIRouter(prefix="/v1/images", tags=["images"])
# Browsers must take the declared type, which comes from the decoded bytes, at its word.
NOSNIFF = {"X-Content-Type-Options": "nosniff"}


@router.get("/{image_id}", name="get_image", response_model=None)
async def get_image(service: ServiceDep, image_id: int) -> Response:
    """A ready image of an active product (http(s) images redirect to their URL).

    Local files are served only from the folders the catalogue was ingested from, the uploads
    folder and the download cache, and only while they hold the bytes that were embedded.
    """
    settings = service.settings
    served = await run_in_threadpool(
        find_served_image,
        service.engine,
        image_id,
        own_folders=[settings.uploads_dir, settings.image_cache_dir],
        max_bytes=settings.download.max_bytes,
    )
    if served is None:
        raise ProblemError(404, "unknown-image", "No such image", f"no image {image_id}")
    if served.url is not None:
        return RedirectResponse(served.url, status_code=307, headers=NOSNIFF)
    headers = {"Cache-Control": "max-age=3600", **NOSNIFF}
    return Response(served.data, media_type=served.media_type, headers=headers)
