"""Catalogue products and their look-alikes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import TypeAdapter
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.caching import REVALIDATE, body_etag, etag_matches, not_modified
from api.deps import (
    RESULT_PARAMS,
    FiltersDep,
    MinScore,
    QueryK,
    ServiceDep,
    SessionDep,
    image_url,
    only_params,
    search_response,
)
from api.schemas import ImageQualityOut, ProductImageOut, ProductOut, SearchResponse, Timings
from search.errors import UnknownProduct
from search.models import ImageStatus
from search.product import PRODUCT_FIELDS
from search.quality_list import image_quality
from search.reads import active_product

router = APIRouter(prefix="/v1/products", tags=["products"])
PRODUCT_JSON = TypeAdapter(ProductOut)


# `{sku:path}`: SKUs may contain "/". Declared before the product route, which would otherwise
# take ".../similar" as part of a SKU (so a SKU ending in "/similar" is only reachable by PUT
# and DELETE).
@router.get(
    "/{sku:path}/similar",
    response_model=SearchResponse,
    dependencies=[Depends(only_params(query=RESULT_PARAMS))],
)
async def similar(
    request: Request,
    service: ServiceDep,
    filters: FiltersDep,
    sku: str,
    k: QueryK,
    min_score: MinScore = None,
) -> SearchResponse:
    """Products that look like this one, from stored vectors; never the product itself."""
    live = service.live()
    stages: dict[str, float] = {}
    hits = await run_in_threadpool(live.searcher.similar, sku, k=k, filters=filters, stages=stages)
    timings = Timings(
        search_ms=round(stages.get("search", 0.0) * 1000, 3),
        products_ms=round(stages.get("products", 0.0) * 1000, 3),
    )
    return search_response(request, service, live, hits, min_score=min_score, timings=timings)


@router.get(
    "/{sku:path}",
    response_model=ProductOut,
    responses={304: {"description": "Not modified: the If-None-Match ETag is current"}},
)
async def get_product(request: Request, session: SessionDep, sku: str) -> Response:
    """One active product with its images; its ETag names its content (If-None-Match -> 304)."""
    body = PRODUCT_JSON.dump_json(await read_product(request, session, sku))
    # The ETag hashes the answer itself: whatever changed the product (an admin write, an
    # ingest, a build marking an image ready) changes it, whether or not a writer stamped it.
    headers = {"ETag": body_etag(body), "Cache-Control": REVALIDATE}
    if etag_matches(request, headers["ETag"]):
        return not_modified(headers)
    return Response(body, media_type="application/json", headers=headers)


async def read_product(request: Request, session: Session, sku: str) -> ProductOut:
    """The active product with this SKU, as the API shows it.

    Raises:
        UnknownProduct: no active product has this SKU.
    """
    product = await run_in_threadpool(active_product, session, sku)
    if product is None:
        raise UnknownProduct(f"no active product with sku {sku!r}")
    shown = [image for image in product.images if image.status != ImageStatus.REMOVED]
    checks = await run_in_threadpool(image_quality, session, [image.id for image in shown])
    return ProductOut(
        **{name: getattr(product, name) for name in PRODUCT_FIELDS},
        images=[
            ProductImageOut(
                image_id=image.id,
                position=image.position,
                status=image.status,
                image_url=image_url(request, image.id, image.content_hash),
                quality=None if image.id not in checks else ImageQualityOut(**checks[image.id]),
            )
            for image in shown
        ],
    )
