"""Filter menus: the values the catalogue's label fields take."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.deps import SessionDep
from search.reads import label_values

router = APIRouter(prefix="/v1", tags=["products"])


@router.get("/facets")
async def facets(session: SessionDep) -> dict[str, list[str]]:
    """The distinct categories, materials and styles of active products, for filter menus."""
    return await run_in_threadpool(label_values, session)
