"""Recommendations from liked and disliked products (and liked photos)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from api.caching import NO_STORE
from api.deps import (
    RESULT_PARAMS,
    FiltersDep,
    FormOrQueryK,
    MinScore,
    ServiceDep,
    only_params,
    search_response,
)
from api.photos import embed_upload, record_search_stages
from api.schemas import SearchResponse, Timings
from search.recommend import Examples, Strategy, recommend

router = APIRouter(prefix="/v1", tags=["search"])
FORM_FIELDS = frozenset({"positive", "negative", "strategy", "images", "k"})
Skus = Annotated[
    list[str], Form(description="SKUs of catalogue products (repeat the field for several)")
]


@router.post(
    "/recommend",
    response_model=SearchResponse,
    dependencies=[Depends(only_params(query=RESULT_PARAMS, form=FORM_FIELDS))],
)
async def recommend_products(
    request: Request,
    response: Response,
    service: ServiceDep,
    filters: FiltersDep,
    k: FormOrQueryK,
    min_score: MinScore = None,
    positive: Skus | None = None,
    negative: Skus | None = None,
    strategy: Annotated[
        Strategy,
        Form(
            description="`average`: one query, 2 x mean(positive) - mean(negative); "
            "`best_score`: each candidate scored by its closest example, liked or disliked"
        ),
    ] = Strategy.AVERAGE,
    images: Annotated[
        list[UploadFile] | None, File(description="Photos of liked items (positives too)")
    ] = None,
) -> SearchResponse:
    """Products like the positive examples and unlike the negative ones, never the examples
    themselves; with filters as query parameters, as for search. 422 `bad-examples` without a
    positive example, with over 50 examples, or with a SKU both liked and disliked; 404 for an
    unknown SKU."""
    response.headers["Cache-Control"] = NO_STORE
    live = service.live()
    timings = Timings()
    photos = [await embed_upload(request, service, live, image, timings) for image in images or []]
    examples = Examples(
        positive=tuple(positive or ()),
        negative=tuple(negative or ()),
        photos=np.vstack(photos) if photos else None,
    )
    stages: dict[str, float] = {}
    hits = await run_in_threadpool(
        recommend,
        live.searcher,
        examples,
        strategy=strategy,
        k=k,
        filters=filters,
        stages=stages,
    )
    record_search_stages(request, stages, timings)
    return search_response(request, service, live, hits, min_score=min_score, timings=timings)
