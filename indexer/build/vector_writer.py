"""What the embedding step writes: vectors and image statuses, and the report of it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, update

from indexer.build.loader import Encoded, Failed, Loaded, LoadResult, Unchanged
from indexer.build.quality_rows import quality_row, write_quality
from search.db import upsert, utcnow, writer
from search.models import Embedding, ImageStatus, ProductImage
from search.revisions import next_vector_revision
from search.vectors import to_blob

IMAGES = cast(Table, ProductImage.__table__)
EMBEDDINGS = cast(Table, Embedding.__table__)


@dataclass(frozen=True)
class ImageFailure:
    image_id: int
    uri: str
    reason: str
    message: str


@dataclass
class EmbedReport:
    """What one embedding run did."""

    backbone: str  # the backbone identity, as in a build manifest
    precision: str
    device: str = "cpu"  # where the model ran
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


class BatchWriter:
    """Commits vectors and image statuses, one transaction per batch."""

    def __init__(self, engine: Engine, backbone_id: str, report: EmbedReport, keep: int) -> None:
        self.engine = engine
        self.backbone_id = backbone_id
        self.report = report
        self.keep = keep
        self.others: list[Unchanged | Failed] = []

    def add_other(self, result: LoadResult) -> None:
        assert not isinstance(result, Loaded | Encoded)
        self.others.append(result)

    def write(self, loaded: Sequence[Loaded | Encoded], vectors: Any) -> None:
        now = utcnow()
        with writer(self.engine).begin() as connection:
            revision = next_vector_revision(connection)
            statement = upsert(EMBEDDINGS, self.engine)
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[EMBEDDINGS.c.model, EMBEDDINGS.c.image_id],
                    set_={
                        "content_hash": statement.excluded.content_hash,
                        "vector": statement.excluded.vector,
                        "created_at": statement.excluded.created_at,
                        "revision": statement.excluded.revision,
                    },
                ),
                [
                    {
                        "model": self.backbone_id,
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
            # Photo quality checks taken while decoding (whether each is excluded from the
            # index is the quality step's to decide, after embedding).
            checks = [
                quality_row(item.job.image_id, item.content_hash, item.quality)
                for item in loaded
                if isinstance(item, Loaded) and item.quality is not None
            ]
            write_quality(connection, self.engine, checks)
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
