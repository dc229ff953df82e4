"""Image search and classification of uploaded photos."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from api.caching import NO_STORE
from api.deps import (
    FILTER_PARAMS,
    RESULT_PARAMS,
    FiltersDep,
    FormOrQueryK,
    MinScore,
    QueryK,
    ServiceDep,
    only_params,
    search_response,
    to_results,
)
from api.photos import embed_upload, prepare_upload, record_search_stages
from api.schemas import Classification, Estimate, LabelScore, SearchResponse, Timings
from api.service import Live, Service
from search.hybrid import search_with_words
from search.text_search import keyword_search

router = APIRouter(prefix="/v1", tags=["search"])
Photo = Annotated[UploadFile, File(description="JPEG, PNG, WebP or GIF (first frame)")]
CLASSIFIED_FIELDS = ("category", "material", "style")
UPLOAD_FIELDS = frozenset({"image", "k"})


@router.post(
    "/search",
    response_model=SearchResponse,
    dependencies=[
        Depends(only_params(query=RESULT_PARAMS | {"q", "text_weight"}, form=UPLOAD_FIELDS))
    ],
)
async def search(
    request: Request,
    response: Response,
    service: ServiceDep,
    filters: FiltersDep,
    image: Photo,
    k: FormOrQueryK,
    min_score: MinScore = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=500, description="Words to combine with the photo"),
    ] = None,
    text_weight: Annotated[
        float, Query(ge=0, le=10, description="The words' weight in the fusion (photo: 1)")
    ] = 1.0,
) -> SearchResponse:
    """The catalogue products that look most like an uploaded photo, best first; `confident`
    is false ("no confident match") when the best scores under `confidence_threshold`. With
    `q`, the photo's neighbours and the products matching the words are fused by reciprocal
    rank (`score` is then the fused score; `confident` still judges the photo's best match)."""
    response.headers["Cache-Control"] = NO_STORE
    live = service.live()
    timings = Timings()
    vector = await embed_upload(request, service, live, image, timings)
    stages: dict[str, float] = {}
    if q is not None:
        photo_hits, fused = await run_in_threadpool(
            search_with_words,
            live.searcher,
            vector,
            q,
            k=k,
            filters=filters,
            text_weight=text_weight,
            min_score=min_score,
            stages=stages,
        )
        record_search_stages(request, stages, timings)
        answer = search_response(
            request, service, live, photo_hits, min_score=None, timings=timings
        )
        return answer.model_copy(update={"results": to_results(request, fused)})
    hits = await run_in_threadpool(
        live.searcher.search, vector, k=k, filters=filters, stages=stages
    )
    record_search_stages(request, stages, timings)
    return search_response(request, service, live, hits, min_score=min_score, timings=timings)


@router.get(
    "/search",
    response_model=SearchResponse,
    dependencies=[Depends(only_params(query=FILTER_PARAMS | {"k", "q"}))],
)
async def search_words(
    request: Request,
    response: Response,
    service: ServiceDep,
    filters: FiltersDep,
    q: Annotated[str, Query(min_length=1, max_length=500, description="Words to look for")],
    k: QueryK,
) -> SearchResponse:
    """Keyword search over titles, descriptions, categories, materials, styles and attribute
    values (BM25 on SQLite, cover density on PostgreSQL), with the same filters and product
    results as image search; `score` is that relevance (comparable within one answer only),
    and `confident` says whether anything matched."""
    response.headers["Cache-Control"] = NO_STORE
    live = service.live()
    started = time.perf_counter()
    hits = await run_in_threadpool(keyword_search, service.engine, q, k=k, filters=filters)
    timings = Timings(search_ms=round((time.perf_counter() - started) * 1000, 3))
    return SearchResponse(
        results=to_results(request, hits),
        build_id=live.manifest.build_id,
        timings=timings,
        confident=bool(hits),
    )


@router.post(
    "/classify",
    response_model=Classification,
    dependencies=[Depends(only_params(query=frozenset({"k"}), form=UPLOAD_FIELDS))],
)
async def classify(
    request: Request,
    response: Response,
    service: ServiceDep,
    image: Photo,
    k: FormOrQueryK,
) -> Classification:
    """Category (and material, style) of a photo, with confidences: from the heads of a
    fine-tuned model when the index was built with one (with its estimates of numeric fields,
    such as a price, under `regression`), else a similarity-weighted vote of the k nearest
    catalogue products. Fields the catalogue does not fill are left out."""
    response.headers["Cache-Control"] = NO_STORE
    live = service.live()
    if live.embedder.backbone.heads is not None:
        return await _classify_with_heads(request, service, live, image, k)
    timings = Timings()
    vector = await embed_upload(request, service, live, image, timings)
    stages: dict[str, float] = {}
    hits = await run_in_threadpool(live.searcher.search, vector, k=k, stages=stages)
    record_search_stages(request, stages, timings)
    votes: dict[str, dict[str, float]] = {field: defaultdict(float) for field in CLASSIFIED_FIELDS}
    for hit in hits:
        weight = max(hit.score, 0.0)
        for field in CLASSIFIED_FIELDS:
            label = getattr(hit, field)
            if label:
                votes[field][label] += weight
    predictions: dict[str, list[LabelScore]] = {}
    for field, tally in votes.items():
        total = sum(tally.values())
        if total > 0:
            ranked = sorted(tally.items(), key=lambda item: -item[1])
            predictions[field] = [
                LabelScore(label=label, confidence=round(score / total, 4))
                for label, score in ranked
            ]
    return Classification(
        predictions=predictions,
        method="knn-vote",
        neighbours=len(hits),
        build_id=live.manifest.build_id,
        timings=timings,
    )


async def _classify_with_heads(
    request: Request, service: Service, live: Live, image: UploadFile, top: int
) -> Classification:
    timings = Timings()
    pixels = await prepare_upload(request, service, live, image, timings)
    embedder = live.embedder
    started = time.perf_counter()
    answers = await run_in_threadpool(embedder.predict_heads, [pixels])
    timings.embed_ms = round((time.perf_counter() - started) * 1000, 3)
    predictions = {}
    for label, rows in answers.probabilities.items():
        classes = embedder.backbone.vocabularies[label]
        order = np.argsort(-rows[0])[:top]
        predictions[label] = [
            LabelScore(label=classes[i], confidence=round(float(rows[0][i]), 4)) for i in order
        ]
    return Classification(
        predictions=predictions,
        method="heads",
        neighbours=0,
        build_id=live.manifest.build_id,
        timings=timings,
        regression={
            field: Estimate(value=round(float(values[0]), 4))
            for field, values in answers.values.items()
        },
    )
