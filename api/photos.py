"""Turning an uploaded photo into a query vector: read, decode, prepare, embed (batched)."""

from __future__ import annotations

import time

from fastapi import Request, UploadFile
from starlette.concurrency import run_in_threadpool

from api.batcher import MicroBatcher, Pixels, Vector
from api.gate import UploadGate
from api.prometheus import Metrics
from api.schemas import Timings
from api.service import Live, Service
from api.uploads import read_upload
from search.decoding import UPLOAD_FORMATS


async def prepare_upload(
    request: Request, service: Service, live: Live, image: UploadFile, timings: Timings
) -> Pixels:
    """The photo decoded and resized for the live snapshot's model; fills the decode timing."""
    metrics: Metrics = request.app.state.metrics
    gate: UploadGate = request.app.state.upload_gate
    preprocessing = live.embedder.preprocessing
    # The bytes are read only once a decoding slot is ours: waiting uploads stay in the
    # (disk-spooled) form data, not in memory.
    async with gate.slot():
        data = await read_upload(image, max_bytes=service.settings.api.max_upload_bytes)
        started = time.perf_counter()
        prepared = await gate.run(
            lambda: preprocessing.load(
                data, max_pixels=service.settings.api.max_query_pixels, formats=UPLOAD_FORMATS
            )
        )
        pixels: Pixels = prepared.pixels
    seconds = time.perf_counter() - started
    timings.decode_ms = round(seconds * 1000, 3)
    metrics.stage_seconds.labels("decode").observe(seconds)
    return pixels


async def embed_upload(
    request: Request, service: Service, live: Live, image: UploadFile, timings: Timings
) -> Vector:
    """The photo's vector with the live snapshot's embedder; fills decode and embed timings."""
    metrics: Metrics = request.app.state.metrics
    pixels = await prepare_upload(request, service, live, image, timings)
    embedder = live.embedder
    decoded = time.perf_counter()
    batcher: MicroBatcher | None = request.app.state.batcher
    if batcher is not None:
        vector = await batcher.embed(embedder, pixels)
    else:
        vector = (await run_in_threadpool(embedder.embed_arrays, [pixels]))[0]
    embedded = time.perf_counter()
    timings.embed_ms = round((embedded - decoded) * 1000, 3)
    metrics.stage_seconds.labels("embed").observe(embedded - decoded)
    return vector


def record_search_stages(request: Request, stages: dict[str, float], timings: Timings) -> None:
    metrics: Metrics = request.app.state.metrics
    for stage in ("search", "products"):
        seconds = stages.get(stage, 0.0)
        metrics.stage_seconds.labels(stage).observe(seconds)
        setattr(timings, f"{stage}_ms", round(seconds * 1000, 3))
