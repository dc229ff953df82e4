"""Dependencies handed to routes: the service, parsed filters, result conversion."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from api.errors import ProblemError
from api.schemas import ProductResult
from api.service import Service
from search.filters import Filters, InvalidFilter, make_filters
from search.searcher import ProductHit


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def get_filters(
    category: Annotated[str | None, Query(description="Only this category")] = None,
    material: Annotated[str | None, Query(description="Only this material")] = None,
    style: Annotated[str | None, Query(description="Only this style")] = None,
    min_price: Annotated[float | None, Query(ge=0, description="Price at least")] = None,
    max_price: Annotated[float | None, Query(ge=0, description="Price at most")] = None,
    in_stock: Annotated[bool | None, Query(description="Only in (or out of) stock")] = None,
    attr: Annotated[
        list[str] | None, Query(description="Attribute equality KEY=VALUE, repeatable")
    ] = None,
) -> Filters:
    """Filters from query parameters (for POST /v1/search too, next to the form fields)."""
    try:
        return make_filters(
            category=category,
            material=material,
            style=style,
            min_price=min_price,
            max_price=max_price,
            in_stock=in_stock,
            attributes=attr,
        )
    except InvalidFilter as error:
        raise ProblemError(422, "validation-error", "Invalid request", str(error)) from None


FiltersDep = Annotated[Filters, Depends(get_filters)]


def image_url(request: Request, image_id: int) -> str:
    return str(request.url_for("get_image", image_id=image_id))


def to_results(request: Request, hits: list[ProductHit]) -> list[ProductResult]:
    return [
        ProductResult(
            sku=hit.sku,
            title=hit.title,
            category=hit.category,
            price=hit.price,
            currency=hit.currency,
            score=round(hit.score, 6),
            image_id=hit.image_id,
            image_url=image_url(request, hit.image_id),
        )
        for hit in hits
    ]
