"""`facet build`'s embedding step: embed every catalogue image that is new or changed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from indexer.build.loader import ImageLoader, Loaded
from indexer.build.plan import image_jobs, plan_images
from indexer.build.vector_writer import BatchWriter, EmbedReport
from search.embed import Embedder

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
    report = EmbedReport(backbone=backbone_id, precision=str(embedder.precision))
    clock = time.perf_counter()
    todo = plan_images(engine, backbone_id, retry_failed=retry_failed, report=report)
    if compile_min_images is not None and todo and len(todo) >= compile_min_images:
        report.compile_seconds = embedder.compile(compile_cache)
    if on_start is not None:
        on_start(len(todo))
    batch_size = embedder.batch_size
    writer = BatchWriter(engine, backbone_id, report, max_reported_failures)
    pending: list[Loaded] = []
    for result in loader.load(
        image_jobs(engine, backbone_id, todo), window=max(4 * batch_size, 64)
    ):
        if isinstance(result, Loaded):
            pending.append(result)
            if len(pending) >= batch_size:
                writer.write(pending, embedder.embed_arrays([r.pixels for r in pending]))
                notify(on_progress, len(pending) + writer.flush_others())
                pending = []
        else:
            writer.add_other(result)
    if pending:
        writer.write(pending, embedder.embed_arrays([r.pixels for r in pending]))
    notify(on_progress, len(pending) + writer.flush_others())
    report.seconds = time.perf_counter() - clock
    return report


def notify(callback: Callable[[int], object] | None, done: int) -> None:
    if callback is not None and done:
        callback(done)
