"""Prometheus metrics: latency per stage, requests per outcome, batching behaviour."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# "{sku:path}" is labelled "{sku}": the converter is routing detail, not part of the route's name.
CONVERTER = re.compile(r"\{(\w+):\w+\}")
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """One registry per app, so several apps (tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.stage_seconds = Histogram(
            "facet_stage_seconds",
            "Time spent in each stage of a request",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "facet_requests",
            "Requests by route and HTTP status",
            ["route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "facet_request_seconds",
            "Whole-request latency by route",
            ["route"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "facet_embed_batch_size",
            "Images per forward pass of the model",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "facet_embed_queue_depth", "Images waiting to be embedded", registry=self.registry
        )

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.stage_seconds.labels("embed_batch").observe(seconds)

    def install(self, app: FastAPI) -> None:
        @app.middleware("http")
        async def count(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            started = time.perf_counter()
            response = await call_next(request)
            route = request.scope.get("route")
            name = CONVERTER.sub(r"{\1}", getattr(route, "path", "unmatched"))
            self.requests.labels(name, str(response.status_code)).inc()
            self.request_seconds.labels(name).observe(time.perf_counter() - started)
            return response

        @app.get("/metrics", include_in_schema=False)
        async def metrics() -> Response:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
