"""Catalogue images by id: only what the database lists, never a path from the request."""

from __future__ import annotations

import mimetypes
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.deps import ServiceDep
from api.errors import ProblemError
from search.models import ImageStatus, ProductImage

router = APIRouter(prefix="/v1/images", tags=["images"])


@router.get("/{image_id}", name="get_image", response_model=None)
async def get_image(service: ServiceDep, image_id: int) -> Response:
    """The catalogue image with this id (http(s) images redirect to their URL)."""
    with service.engine.connect() as connection:
        uri = connection.execute(
            select(ProductImage.uri).where(
                ProductImage.id == image_id, ProductImage.status != ImageStatus.REMOVED
            )
        ).scalar_one_or_none()
    if uri is None:
        raise ProblemError(404, "unknown-image", "No such image", f"no image {image_id}")
    if uri.startswith(("http://", "https://")):
        return RedirectResponse(uri, status_code=307)
    path = unquote(urlsplit(uri).path)
    try:
        data = await run_in_threadpool(_read, path)
    except OSError:
        raise ProblemError(
            404, "unknown-image", "No such image", f"image {image_id} is not readable"
        ) from None
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return Response(data, media_type=media_type, headers={"Cache-Control": "max-age=3600"})


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()
