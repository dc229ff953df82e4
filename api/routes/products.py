"""Catalogue products and their look-alikes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from api.deps import (
    FILTER_PARAMS,
    FiltersDep,
    QueryK,
    ServiceDep,
    SessionDep,
    image_url,
    only_params,
    to_results,
)
from api.schemas import ProductImageOut, ProductOut, SearchResponse, Timings
from search.errors import UnknownProduct
from search.models import ImageStatus
from search.product import PRODUCT_FIELDS
from search.reads import active_product

router = APIRouter(prefix="/v1/products", tags=["products"])


# `{sku:path}`: SKUs may contain "/". Declared before the product route, which would otherwise
# take ".../similar" as part of a SKU (so a SKU ending in "/similar" is only reachable by PUT
# and DELETE).
@router.get(
    "/{sku:path}/similar",
    response_model=SearchResponse,
    dependencies=[Depends(only_params(query=FILTER_PARAMS | {"k"}))],
)
async def similar(
    request: Request,
    service: ServiceDep,
    filters: FiltersDep,
    sku: str,
    k: QueryK,
) -> SearchResponse:
    """Products that look like this one, from stored vectors; never the product itself."""
    live = service.live()
    stages: dict[str, float] = {}
    hits = await run_in_threadpool(live.searcher.similar, sku, k=k, filters=filters, stages=stages)
    timings = Timings(
        search_ms=round(stages.get("search", 0.0) * 1000, 3),
        products_ms=round(stages.get("products", 0.0) * 1000, 3),
    )
    return SearchResponse(
        results=to_results(request, hits), build_id=live.manifest.build_id, timings=timings
    )


@router.get("/{sku:path}", response_model=ProductOut)
async def get_product(request: Request, session: SessionDep, sku: str) -> ProductOut:
    """One active product with its images."""
    product = await run_in_threadpool(active_product, session, sku)
    if product is None:
        raise UnknownProduct(f"no active product with sku {sku!r}")
    return ProductOut(
        **{name: getattr(product, name) for name in PRODUCT_FIELDS},
        images=[
            ProductImageOut(
                image_id=image.id,
                position=image.position,
                status=image.status,
                image_url=image_url(request, image.id),
            )
            for image in product.images
            if image.status != ImageStatus.REMOVED
        ],
    )
