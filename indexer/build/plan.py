"""Which catalogue images an embedding run must read: the incremental rules, shared by engines."""

from __future__ import annotations

from array import array
from collections.abc import Iterator

from sqlalchemy import Engine, and_, select

from indexer.build.fetch import file_signature, is_url
from indexer.build.loader import ImageJob
from indexer.build.vector_writer import EMBEDDINGS, IMAGES, EmbedReport
from search.models import ImageStatus, Product

PLAN_PAGE = 5000
JOB_CHUNK = 512


def plan_images(
    engine: Engine, backbone_id: str, *, retry_failed: bool, report: EmbedReport
) -> array[int]:
    """Ids of the images that must be read, in id order; counts the rest as skipped.

    An image is skipped without being read when its stored vector was computed from its current
    content (for files: same size and modification time as last read), or when it failed
    before and has not changed since (unless `retry_failed`).

    Args:
        engine: the product store.
        backbone_id: the backbone identity the vectors are for.
        retry_failed: also read failed images whose source has not changed.
        report: counts every active image, and the skipped ones.

    Returns:
        The image ids, as a compact int64 array (a catalogue can have millions).
    """
    todo: array[int] = array("q")
    after = 0
    while True:
        query = (
            select(
                IMAGES.c.id,
                IMAGES.c.uri,
                IMAGES.c.status,
                IMAGES.c.content_hash,
                IMAGES.c.source_signature,
                EMBEDDINGS.c.content_hash,
            )
            .join(Product, Product.id == IMAGES.c.product_id)
            .outerjoin(
                EMBEDDINGS,
                and_(EMBEDDINGS.c.image_id == IMAGES.c.id, EMBEDDINGS.c.model == backbone_id),
            )
            .where(IMAGES.c.status != ImageStatus.REMOVED, Product.deleted_at.is_(None))
            .where(IMAGES.c.id > after)
            .order_by(IMAGES.c.id)
            .limit(PLAN_PAGE)
        )
        # Short reads page by page: a long-open read would stop SQLite from checkpointing.
        with engine.connect() as connection:
            rows = connection.execute(query).all()
        if not rows:
            return todo
        for image_id, uri, status, content_hash, signature, embedded_hash in rows:
            report.images += 1
            current = None if is_url(uri) else file_signature(uri)
            if status == ImageStatus.READY:
                fresh = embedded_hash is not None and embedded_hash == content_hash
                if fresh and current == signature:
                    report.skipped += 1
                    continue
            elif status == ImageStatus.FAILED and not retry_failed:
                # A local file that failed stays failed until it changes; URLs are retried
                # (a download may have failed for passing reasons, and the cache makes it cheap).
                if current is not None and current == signature:
                    report.skipped += 1
                    continue
            todo.append(image_id)
        after = rows[-1][0]


def image_jobs(engine: Engine, backbone_id: str, todo: array[int]) -> Iterator[ImageJob]:
    """The read jobs of `todo`'s images, in id order, looked up a chunk at a time."""
    for start in range(0, len(todo), JOB_CHUNK):
        ids = list(todo[start : start + JOB_CHUNK])
        query = (
            select(IMAGES.c.id, IMAGES.c.uri, EMBEDDINGS.c.content_hash)
            .outerjoin(
                EMBEDDINGS,
                and_(EMBEDDINGS.c.image_id == IMAGES.c.id, EMBEDDINGS.c.model == backbone_id),
            )
            .where(IMAGES.c.id.in_(ids))
            .order_by(IMAGES.c.id)
        )
        with engine.connect() as connection:
            rows = connection.execute(query).all()
        for image_id, uri, embedded_hash in rows:
            yield ImageJob(image_id, uri, embedded_hash)
