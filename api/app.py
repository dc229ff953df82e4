"""The FastAPI application factory. Heavy resources are opened once, in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.errors import install_error_handlers
from api.limits import BodyLimit
from api.routes import health, images, products, search
from api.service import Service
from search.config import Settings
from search.db import make_engine
from search.migrate import upgrade_database

# Multipart framing around the image: boundaries, part headers, the other form fields.
MULTIPART_OVERHEAD = 64 * 1024


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; `settings` defaults to the environment's (`FACET_...`)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        await run_in_threadpool(upgrade_database, engine)
        service = Service(settings, engine)
        await run_in_threadpool(service.try_load)
        app.state.service = service
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="Facet",
        version="0.1.0",
        description="Visual similarity search for product catalogues.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_upload_bytes + MULTIPART_OVERHEAD)
    for module in (health, search, products, images):
        app.include_router(module.router)
    return app
