"""`facet build`'s embedding step: embed every catalogue image that is new or changed."""

from __future__ import annotations

import logging
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, and_, bindparam, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from indexer.build.fetch import file_signature, is_url
from indexer.build.loader import Failed, ImageJob, ImageLoader, Loaded, LoadResult, Unchanged
from search.db import utcnow, writer
from search.embed import Embedder
from search.models import Embedding, ImageStatus, Product, ProductImage
from search.revisions import next_vector_revision
from search.vectors import to_blob

log = logging.getLogger(__name__)

IMAGES = cast(Table, ProductImage.__table__)
EMBEDDINGS = cast(Table, Embedding.__table__)
PLAN_PAGE = 5000
JOB_CHUNK = 512


@dataclass(frozen=True)
class ImageFailure:
    image_id: int
    uri: str
    reason: str
    message: str


@dataclass
class EmbedReport:
    """What one embedding run did."""

    model: str
    precision: str
    images: int = 0  # active images of active products
    embedded: int = 0  # read, decoded and embedded
    unchanged: int = 0  # read, but the bytes were those already embedded
    skipped: int = 0  # not even read: known unchanged, or failed before and unchanged
    failed: Counter[str] = field(default_factory=Counter)
    failures: list[ImageFailure] = field(default_factory=list)
    compile_seconds: float = 0.0  # included in seconds
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.embedded / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed"] = dict(self.failed)
        data["failures"] = [asdict(failure) for failure in self.failures]
        data["images_per_s"] = round(self.images_per_s, 1)
        return data


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
    model = embedder.backbone.identity
    report = EmbedReport(model=model, precision=str(embedder.precision))
    clock = time.perf_counter()
    todo = _plan(engine, model, retry_failed, report)
    if compile_min_images is not None and todo and len(todo) >= compile_min_images:
        report.compile_seconds = embedder.compile(compile_cache)
    if on_start is not None:
        on_start(len(todo))
    batch_size = embedder.batch_size
    writer = _BatchWriter(engine, model, report, max_reported_failures)
    pending: list[Loaded] = []
    for result in loader.load(_jobs(engine, model, todo), window=max(4 * batch_size, 64)):
        if isinstance(result, Loaded):
            pending.append(result)
            if len(pending) >= batch_size:
                writer.write(pending, embedder.embed_arrays([r.pixels for r in pending]))
                _notify(on_progress, len(pending) + writer.flush_others())
                pending = []
        else:
            writer.add_other(result)
    if pending:
        writer.write(pending, embedder.embed_arrays([r.pixels for r in pending]))
    _notify(on_progress, len(pending) + writer.flush_others())
    report.seconds = time.perf_counter() - clock
    return report


def _notify(callback: Callable[[int], object] | None, done: int) -> None:
    if callback is not None and done:
        callback(done)


def _plan(engine: Engine, model: str, retry_failed: bool, report: EmbedReport) -> array[int]:
    """Ids of the images that must be read, in id order; counts the rest as skipped."""
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
                and_(EMBEDDINGS.c.image_id == IMAGES.c.id, EMBEDDINGS.c.model == model),
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


def _jobs(engine: Engine, model: str, todo: array[int]) -> Iterator[ImageJob]:
    for start in range(0, len(todo), JOB_CHUNK):
        ids = list(todo[start : start + JOB_CHUNK])
        query = (
            select(IMAGES.c.id, IMAGES.c.uri, EMBEDDINGS.c.content_hash)
            .outerjoin(
                EMBEDDINGS,
                and_(EMBEDDINGS.c.image_id == IMAGES.c.id, EMBEDDINGS.c.model == model),
            )
            .where(IMAGES.c.id.in_(ids))
            .order_by(IMAGES.c.id)
        )
        with engine.connect() as connection:
            rows = connection.execute(query).all()
        for image_id, uri, embedded_hash in rows:
            yield ImageJob(image_id, uri, embedded_hash)


class _BatchWriter:
    """Commits vectors and image statuses, one transaction per batch."""

    def __init__(self, engine: Engine, model: str, report: EmbedReport, keep: int) -> None:
        self.engine = engine
        self.model = model
        self.report = report
        self.keep = keep
        self.others: list[Unchanged | Failed] = []

    def add_other(self, result: LoadResult) -> None:
        assert not isinstance(result, Loaded)
        self.others.append(result)

    def write(self, loaded: list[Loaded], vectors: Any) -> None:
        now = utcnow()
        with writer(self.engine).begin() as connection:
            revision = next_vector_revision(connection)
            upsert = sqlite_insert(EMBEDDINGS)
            connection.execute(
                upsert.on_conflict_do_update(
                    index_elements=[EMBEDDINGS.c.model, EMBEDDINGS.c.image_id],
                    set_={
                        "content_hash": upsert.excluded.content_hash,
                        "vector": upsert.excluded.vector,
                        "created_at": upsert.excluded.created_at,
                        "revision": upsert.excluded.revision,
                    },
                ),
                [
                    {
                        "model": self.model,
                        "image_id": item.job.image_id,
                        "content_hash": item.content_hash,
                        "vector": to_blob(vector),
                        "created_at": now,
                        "revision": revision,
                    }
                    for item, vector in zip(loaded, vectors, strict=True)
                ],
            )
            self._set_status(
                connection,
                [
                    self._status(item, ImageStatus.READY, now, item.width, item.height)
                    for item in loaded
                ],
            )
            self._write_others(connection, now)
        self.report.embedded += len(loaded)

    def flush_others(self) -> int:
        """Write the unchanged and failed results gathered so far; returns how many."""
        if not self.others:
            return 0
        count = len(self.others)
        with writer(self.engine).begin() as connection:
            self._write_others(connection, utcnow())
        return count

    def _write_others(self, connection: Connection, now: Any) -> None:
        rows = []
        for item in self.others:
            if isinstance(item, Unchanged):
                self.report.unchanged += 1
                rows.append(self._status(item, ImageStatus.READY, now))
            else:
                self.report.failed[item.reason] += 1
                if len(self.report.failures) < self.keep:
                    failure = ImageFailure(
                        item.job.image_id, item.job.uri, item.reason, item.message
                    )
                    self.report.failures.append(failure)
                rows.append(self._status(item, ImageStatus.FAILED, now))
        self._set_status(connection, rows)
        self.others = []

    @staticmethod
    def _status(
        item: LoadResult,
        status: ImageStatus,
        now: Any,
        width: int | None = None,
        height: int | None = None,
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            "_id": item.job.image_id,
            "_uri": item.job.uri,
            "status": status.value,
            "source_signature": item.signature,
            "updated_at": now,
        }
        if isinstance(item, Failed):
            values["error"] = f"{item.reason}: {item.message}"
        else:
            values["error"] = None
            values["content_hash"] = item.content_hash
        if width is not None:
            values["width"], values["height"] = width, height
        return values

    @staticmethod
    def _set_status(connection: Connection, rows: list[dict[str, Any]]) -> None:
        # Grouped by the set of columns, as executemany needs one statement shape.
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            shapes.setdefault(tuple(sorted(row)), []).append(row)
        for group in shapes.values():
            connection.execute(
                update(IMAGES)
                # An image removed or re-pointed by an ingest meanwhile is left alone.
                .where(IMAGES.c.id == bindparam("_id"), IMAGES.c.uri == bindparam("_uri"))
                .where(IMAGES.c.status != ImageStatus.REMOVED),
                group,
            )
