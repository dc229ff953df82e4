"""The search page: static HTML, CSS and JavaScript, no build step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.deps import ServiceDep
from search.models import Product

STATIC = Path(__file__).resolve().parent.parent / "static"
router = APIRouter()


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/v1/facets", tags=["products"])
async def facets(service: ServiceDep) -> dict[str, Any]:
    """The distinct categories, materials and styles of active products, for filter menus."""

    def read() -> dict[str, list[str]]:
        values: dict[str, list[str]] = {}
        with service.engine.connect() as connection:
            for name in ("category", "material", "style"):
                column = getattr(Product, name)
                query = (
                    select(column)
                    .where(Product.deleted_at.is_(None), column.is_not(None))
                    .distinct()
                    .order_by(column)
                )
                values[name] = list(connection.execute(query).scalars())
        return values

    return await run_in_threadpool(read)
