"""Admin: near-duplicate photos across products, as `facet duplicates` finds them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.deps import ServiceDep, image_url
from api.errors import ProblemError
from api.routes.admin import AdminDep
from search.duplicates import DEFAULT_THRESHOLD, DuplicateReport, find_duplicates

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class DuplicateImageOut(BaseModel):
    image_id: int
    sku: str
    title: str | None
    image_url: str


class DuplicateClusterOut(BaseModel):
    """Images of at least two products that are the same picture."""

    skus: list[str]
    min_match: float  # the lowest picture match of the pairs that joined the cluster
    images: list[DuplicateImageOut]


class RepeatedImagesOut(BaseModel):
    """One product listing the same image bytes more than once."""

    sku: str
    image_ids: list[int]


class DuplicatesOut(BaseModel):
    threshold: float
    pairs: int  # pairs of images of different products that match
    candidates: int  # pairs the index proposed and the picture match checked
    unreadable: int  # images of candidate pairs that could not be read to check
    clusters: list[DuplicateClusterOut]
    within_product: list[RepeatedImagesOut]


@router.get(
    "/duplicates",
    response_model=DuplicatesOut,
    responses={409: {"description": "The index backend cannot list its vectors (Milvus)"}},
)
async def duplicates(
    request: Request,
    service: ServiceDep,
    _: AdminDep,
    threshold: Annotated[
        float, Query(gt=0.0, le=1.0, description="Picture match of the same picture")
    ] = DEFAULT_THRESHOLD,
) -> DuplicatesOut:
    """Clusters of near-duplicate photos listed under different products in the live index,
    and the same image listed twice by one product (the logic of `facet duplicates`)."""
    live = service.live()
    try:
        found = await run_in_threadpool(
            find_duplicates,
            service.engine,
            live.searcher.index,
            live.manifest.backbone,
            threshold=threshold,
            download_cache=service.settings.image_cache_dir,
        )
    except (AttributeError, NotImplementedError) as error:
        raise ProblemError(
            409, "duplicates-unsupported", "Cannot list duplicates", f"this index: {error}"
        ) from error
    return _answer(request, found)


def _answer(request: Request, found: DuplicateReport) -> DuplicatesOut:
    clusters = [
        DuplicateClusterOut(
            skus=sorted({member.sku for member in cluster.members}),
            min_match=round(cluster.min_match, 4),
            images=[
                DuplicateImageOut(
                    image_id=member.image_id,
                    sku=member.sku,
                    title=member.title,
                    image_url=image_url(request, member.image_id, member.content_hash),
                )
                for member in cluster.members
            ],
        )
        for cluster in found.clusters
    ]
    return DuplicatesOut(
        threshold=found.threshold,
        pairs=found.pairs,
        candidates=found.candidates,
        unreadable=found.unreadable,
        clusters=clusters,
        within_product=[
            RepeatedImagesOut(sku=sku, image_ids=ids) for sku, ids in found.within_product
        ],
    )
