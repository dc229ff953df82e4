"""Image search."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from api.deps import FiltersDep, ServiceDep, to_results
from api.schemas import SearchResponse, Timings
from api.uploads import read_upload
from search.images import decode_image

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/search", response_model=SearchResponse)
async def search(
    request: Request,
    service: ServiceDep,
    filters: FiltersDep,
    image: Annotated[UploadFile, File(description="JPEG, PNG, WebP or GIF (first frame)")],
    k: Annotated[int, Form(ge=1, le=100)] = 10,
) -> SearchResponse:
    """The catalogue products that look most like an uploaded photo, best first."""
    live = service.live()
    data = await read_upload(image, max_bytes=service.settings.api.max_upload_bytes)
    timings = Timings()
    started = time.perf_counter()
    embedder = live.embedder
    picture = await run_in_threadpool(
        decode_image,
        data,
        max_pixels=service.settings.embed.max_image_pixels,
        draft_size=embedder.preprocessing.decode_size,
    )
    timings.decode_ms = _since(started)
    started = time.perf_counter()
    vectors = await run_in_threadpool(embedder.embed_images, [picture])
    timings.embed_ms = _since(started)
    stages: dict[str, float] = {}
    hits = await run_in_threadpool(
        live.searcher.search, vectors[0], k=k, filters=filters, stages=stages
    )
    timings.search_ms = round(stages.get("search", 0.0) * 1000, 3)
    timings.products_ms = round(stages.get("products", 0.0) * 1000, 3)
    return SearchResponse(
        results=to_results(request, hits), build_id=live.manifest.build_id, timings=timings
    )


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
