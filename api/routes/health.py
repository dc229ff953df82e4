"""Liveness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from search.stats import catalog_stats

router = APIRouter(prefix="/v1", tags=["health"])


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """The service is up; reports what the product database holds."""
    stats = await run_in_threadpool(catalog_stats, request.app.state.engine)
    return {"status": "ok", **stats}
