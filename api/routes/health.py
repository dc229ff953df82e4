"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import ServiceDep
from api.schemas import Ready
from search.stats import catalog_stats

router = APIRouter(prefix="/v1", tags=["health"])


@router.get("/health")
async def health() -> dict[str, Any]:
    """The process is up (it may still have no index: see /v1/ready)."""
    return {"status": "ok"}


@router.get("/ready", response_model=Ready, responses={503: {"model": Ready}})
async def ready(service: ServiceDep) -> JSONResponse:
    """Whether an index is loaded, with its backbone, build and what the catalogue holds."""
    stats = await run_in_threadpool(catalog_stats, service.engine)
    products = int(stats["products"]["active"])
    if not service.loaded:
        body = Ready(ready=False, products=products, vectors=0)
        return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "5"})
    live = service.live()
    body = Ready(
        ready=True,
        backbone=live.manifest.backbone,
        build_id=live.manifest.build_id,
        products=products,
        vectors=live.searcher.index.ntotal,
    )
    return JSONResponse(body.model_dump())
