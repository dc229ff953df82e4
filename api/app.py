"""The FastAPI application factory. Heavy resources are opened once, in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from api.batcher import MicroBatcher
from api.errors import install_error_handlers
from api.gate import UploadGate
from api.limits import BodyLimit
from api.prometheus import Metrics
from api.routes import admin, facets, health, images, page, products, search
from api.service import Service
from migrations.runner import upgrade_database
from search.config import Settings
from search.db import make_engine

# Multipart framing around the image: boundaries, part headers, the other form fields.
MULTIPART_OVERHEAD = 64 * 1024


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; `settings` defaults to the environment's (`FACET_...`)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Admin writes wait this long for another writer's lock, then answer 503.
        busy_ms = int(settings.api.write_timeout_s * 1000)
        engine = make_engine(settings.database_url, busy_timeout_ms=busy_ms)
        await run_in_threadpool(upgrade_database, engine)
        service = Service(settings, engine)
        await run_in_threadpool(service.try_load)
        app.state.service = service
        batcher = MicroBatcher(
            max_batch=settings.api.batch_max,
            max_wait_ms=settings.api.batch_wait_ms,
            max_queue=settings.api.queue_max,
            on_batch=metrics.observe_batch,
        )
        metrics.queue_depth.set_function(lambda: batcher.depth)
        app.state.batcher = batcher if settings.api.micro_batching else None
        app.state.upload_gate = UploadGate(
            slots=settings.api.decode_concurrency,
            max_waiting=settings.api.queue_max,
            queued=lambda: batcher.depth,
        )
        batcher.start()
        try:
            yield
        finally:
            await batcher.stop()
            app.state.upload_gate.close()
            engine.dispose()

    app = FastAPI(
        title="Facet",
        version="0.1.0",
        description="Visual similarity search for product catalogues.",
        lifespan=lifespan,
    )
    metrics = Metrics()
    app.state.metrics = metrics
    install_error_handlers(app)
    metrics.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_upload_bytes + MULTIPART_OVERHEAD)
    for module in (health, search, products, facets, images, admin, page):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=page.STATIC), name="static")
    return app
