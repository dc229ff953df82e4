"""`facet build`'s embedding step: embed every catalogue image that is new or changed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from sqlalchemy import Engine

from indexer.build.loader import Encoded, Failed, ImageLoader, Loaded
from indexer.build.plan import image_jobs, plan_images
from indexer.build.vector_writer import BatchWriter, EmbedReport
from search.embed import Embedder
from search.jpeg_batches import decode_on_device

log = logging.getLogger(__name__)


def embed_catalog(
    engine: Engine,
    embedder: Embedder,
    loader: ImageLoader,
    *,
    retry_failed: bool = False,
    compile_min_images: int | None = None,
    compile_cache: Path | None = None,
    max_reported_failures: int = 10,
    on_start: Callable[[int], object] | None = None,
    on_progress: Callable[[int], object] | None = None,
) -> EmbedReport:
    """Embed the active images that have no up-to-date vector for this backbone.

    An image is skipped without being read when its stored vector was computed from its current
    content (for files: same size and modification time as last read). Each batch is committed
    with its vectors and image statuses together, so an interrupted run loses at most one batch
    and the next run resumes.

    Args:
        engine: the product store.
        embedder: the backbone to embed with; its identity keys the stored vectors.
        loader: reads and decodes images ahead of the model.
        retry_failed: also retry failed images whose source has not changed.
        compile_min_images: torch.compile the model first when at least this many images are
            to be read (0: whenever there is work); None never compiles.
        compile_cache: torch.compile's cache folder.
        max_reported_failures: how many failures the report lists.
        on_start: called once with the number of images to read.
        on_progress: called with the number of images done since the last call.

    Returns:
        The report: embedded, unchanged, skipped and failed counts (failed by reason).
    """
    backbone_id = embedder.backbone.identity
    report = EmbedReport(
        backbone=backbone_id, precision=str(embedder.precision), device=str(embedder.device)
    )
    clock = time.perf_counter()
    todo = plan_images(engine, backbone_id, retry_failed=retry_failed, report=report)
    if compile_min_images is not None and todo and len(todo) >= compile_min_images:
        report.compile_seconds = embedder.compile(compile_cache)
    if on_start is not None:
        on_start(len(todo))
    batch_size = embedder.batch_size
    writer = BatchWriter(engine, backbone_id, report, max_reported_failures)
    pending: list[Loaded | Encoded] = []
    for result in loader.load(
        image_jobs(engine, backbone_id, todo), window=max(4 * batch_size, 64)
    ):
        if isinstance(result, Loaded | Encoded):
            pending.append(result)
            if len(pending) >= batch_size:
                embed_and_write(embedder, writer, pending)
                notify(on_progress, len(pending) + writer.flush_others())
                pending = []
        else:
            writer.add_other(result)
    if pending:
        embed_and_write(embedder, writer, pending)
    notify(on_progress, len(pending) + writer.flush_others())
    report.seconds = time.perf_counter() - clock
    return report


def embed_and_write(
    embedder: Embedder, writer: BatchWriter, pending: Sequence[Loaded | Encoded]
) -> None:
    """Embed one batch (JPEGs left encoded are decoded on the embedder's device) and commit it;
    a JPEG that does not decode there fails as `corrupt`, like one Pillow could not decode."""
    loaded = [item for item in pending if isinstance(item, Loaded)]
    encoded = [item for item in pending if isinstance(item, Encoded)]
    if not encoded:
        writer.write(loaded, embedder.embed_arrays([item.pixels for item in loaded]))
        return
    on_device = decode_on_device(
        [item.data for item in encoded], embedder.preprocessing, embedder.device
    )
    for position, message in on_device.failed.items():
        item = encoded[position]
        writer.add_other(Failed(item.job, "corrupt", message, item.signature))
    parts = [on_device.pixels]
    if loaded:
        parts.insert(
            0, embedder.preprocessing.to_batch([i.pixels for i in loaded], embedder.device)
        )
    items: list[Loaded | Encoded] = [*loaded, *(encoded[i] for i in on_device.decoded)]
    if items:
        writer.write(items, embedder.embed_batch(torch.cat(parts)))


def notify(callback: Callable[[int], object] | None, done: int) -> None:
    if callback is not None and done:
        callback(done)
