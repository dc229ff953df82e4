"""The FastAPI application factory. Heavy resources are opened once, in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from api.batcher import MicroBatcher
from api.compression import Compression
from api.errors import install_error_handlers
from api.gate import UploadGate
from api.limits import BodyLimit
from api.prometheus import Metrics
from api.routes import admin, facets, health, images, page, products, recommend, search
from api.routes import duplicates as duplicate_routes
from api.routes import inspect as inspect_routes
from api.service import Service
from migrations.runner import upgrade_database
from search.config import Settings
from search.db import make_engine

# Multipart framing around the image: boundaries, part headers, the other form fields.
MULTIPART_OVERHEAD = 64 * 1024
# What a page on an allowed origin may send (no cookies: the admin key is a header).
CORS_METHODS = ["GET", "POST", "PUT", "DELETE"]
CORS_HEADERS = ["Content-Type", "X-API-Key", "If-None-Match"]


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
    # Middleware added first runs innermost. Compression sees the route's answer whole: the
    # metrics middleware outside it re-sends bodies as a stream, which GZip would compress
    # whatever its size.
    app.add_middleware(Compression, minimum_size=settings.api.gzip_min_bytes)
    metrics.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_upload_bytes + MULTIPART_OVERHEAD)
    # Outermost: every answer (a 413 from BodyLimit, a 304) carries the CORS headers a page on
    # another origin needs to read it, and preflights are answered before anything else runs.
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
            expose_headers=["ETag"],
        )
    for module in (health, search, recommend, products, facets, images, admin, page):
        app.include_router(module.router)
    app.include_router(inspect_routes.router)
    app.include_router(duplicate_routes.router)
    app.mount("/static", StaticFiles(directory=page.STATIC), name="static")
    return app
