"""Liveness and readiness."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import ServiceDep
from api.schemas import Ready
from search.stats import catalog_stats

router = APIRouter(prefix="/v1", tags=["health"])


@router.get("/health")
async def health(service: ServiceDep) -> dict[str, Any]:
    """The process is up (it may still have no index: see /v1/ready); with an index, the
    served nprobe and its last measured recall@10 (at the build, or by a re-tune after admin
    writes changed the index), and how many vectors changed since."""
    body: dict[str, Any] = {"status": "ok"}
    tuning = service.index.retuner.tuning
    if service.loaded and tuning is not None:
        body["index"] = {
            "nprobe": tuning.nprobe,
            "recall_at_10": tuning.recall_at_10,
            "measured_at": datetime.fromtimestamp(tuning.measured_at, UTC).isoformat(),
            "measured_by": "retune" if tuning.queries else "build",
            "changed_since": service.index.retuner.changed,
        }
    return body


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
