"""Keeping a product's image rows in step with the image references of its dump row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update

from indexer.ingest.bulk import BulkInsert
from search.models import ImageStatus, ProductImage

IMAGES = cast(Table, ProductImage.__table__)
PENDING = ImageStatus.PENDING.value
IMAGE_INSERT_COLUMNS = ("product_id", "position", "uri", "status", "created_at", "updated_at")


class ImageSync:
    """Writes image rows for inserted and updated products on one connection."""

    def __init__(self, connection: Connection, *, now: Any) -> None:
        self.connection = connection
        self.now = now
        self.bulk_insert = BulkInsert(connection, IMAGES, IMAGE_INSERT_COLUMNS)
        self.now_db = self.bulk_insert.to_db("created_at", now)

    def add_new(self, products: Sequence[tuple[int, Sequence[str]]]) -> int:
        """Insert the image rows of new products; returns how many."""
        rows = [
            (product_id, position, uri, PENDING, self.now_db, self.now_db)
            for product_id, uris in products
            for position, uri in enumerate(uris)
        ]
        self.bulk_insert.execute(rows)
        return len(rows)

    def sync(self, products: Sequence[tuple[int, Sequence[str]]]) -> tuple[int, int]:
        """Bring existing products' image rows to the given URIs; returns (added, removed).

        An image that stays keeps its row and id, so its vector is not recomputed; one that goes
        is marked removed rather than deleted, so its id is never reused for another image.
        """
        wanted = {product_id: list(uris) for product_id, uris in products}
        current: dict[int, dict[str, tuple[int, int, str]]] = {pid: {} for pid in wanted}
        query = select(
            IMAGES.c.product_id, IMAGES.c.uri, IMAGES.c.id, IMAGES.c.position, IMAGES.c.status
        ).where(IMAGES.c.product_id.in_(list(wanted)))
        for product_id, uri, image_id, position, status in self.connection.execute(query):
            current[product_id][uri] = (image_id, position, status)

        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        revived = removed = 0
        for product_id, uris in wanted.items():
            existing = current[product_id]
            for position, uri in enumerate(uris):
                if uri not in existing:
                    new.append(self._new_image(product_id, position, uri))
                    continue
                image_id, old_position, status = existing[uri]
                if status == ImageStatus.REMOVED:
                    # Listed again: back to pending; the embedder skips it if its bytes are known.
                    changed.append(self._change(image_id, position, ImageStatus.PENDING))
                    revived += 1
                elif old_position != position:
                    changed.append(self._change(image_id, position, status))
            keep = set(uris)
            for uri, (image_id, position, status) in existing.items():
                if uri not in keep and status != ImageStatus.REMOVED:
                    changed.append(self._change(image_id, position, ImageStatus.REMOVED))
                    removed += 1
        if new:
            self.connection.execute(insert(IMAGES), new)
        if changed:
            statement = update(IMAGES).where(IMAGES.c.id == bindparam("_id"))
            self.connection.execute(statement, changed)
        return len(new) + revived, removed

    def _new_image(self, product_id: int, position: int, uri: str) -> dict[str, Any]:
        return {
            "product_id": product_id,
            "position": position,
            "uri": uri,
            "status": PENDING,
            "created_at": self.now,
            "updated_at": self.now,
        }

    def _change(self, image_id: int, position: int, status: str) -> dict[str, Any]:
        return {
            "_id": image_id,
            "position": position,
            "status": str(status),
            "updated_at": self.now,
        }
