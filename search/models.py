"""The product store's tables. The schema itself is only ever created by the Alembic migrations."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false

from search.db import Base, utcnow

# Maintained by the database itself, mapped by no model (migration 0006: text search): the FTS5
# table and its shadow tables on SQLite, the tsvector column and its index on PostgreSQL.
UNMODELLED_PREFIXES = ("products_fts", "search_document", "ix_products_search_document")


def is_modelled(name: str | None) -> bool:
    """Whether a schema object is one the models describe (for Alembic comparisons)."""
    return not (name or "").startswith(UNMODELLED_PREFIXES)


class ImageStatus(StrEnum):
    """Where a catalogue image stands in the embedding pipeline."""

    PENDING = "pending"  # recorded, not yet embedded (or its reference changed)
    READY = "ready"  # embedded; its vector may be in the index
    FAILED = "failed"  # could not be read or decoded; `error` says why
    REMOVED = "removed"  # no longer listed by its product; kept so its id is never reused


class Product(Base):
    """One catalogue item, identified by the retailer's SKU."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(255), index=True)
    material: Mapped[str | None] = mapped_column(String(255))
    style: Mapped[str | None] = mapped_column(String(255))
    price: Mapped[float | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    in_stock: Mapped[bool | None]
    # Every dump column Facet has no dedicated field for.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Fingerprint of the dump row this product was last loaded from: equal means unchanged.
    content_hash: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Soft delete: the row stays (its ids may still be referenced by built indexes).
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)

    images: Mapped[list[ProductImage]] = relationship(
        back_populates="product", order_by="ProductImage.position", cascade="all, delete-orphan"
    )


class ProductImage(Base):
    """One image of a product. Its id is the key of its vector in the index."""

    __tablename__ = "product_images"
    __table_args__ = (
        UniqueConstraint("product_id", "uri"),
        CheckConstraint("status IN ('pending', 'ready', 'failed', 'removed')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No index of its own: the (product_id, uri) unique index serves lookups by product.
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    position: Mapped[int]
    # Absolute file:// URI or http(s):// URL.
    uri: Mapped[str] = mapped_column(Text)
    # SHA-256 of the image bytes, filled in when the image is read.
    content_hash: Mapped[str | None] = mapped_column(String(64))
    width: Mapped[int | None]
    height: Mapped[int | None]
    # What the source looked like when last read ("size:mtime_ns" for files), so an unchanged
    # file is skipped without reading it.
    source_signature: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=ImageStatus.PENDING, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    product: Mapped[Product] = relationship(back_populates="images")


class Embedding(Base):
    """An image's vector from one backbone, and the image content it was computed from."""

    __tablename__ = "embeddings"

    # The backbone identity first: reading all vectors of one model is a range scan.
    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    image_id: Mapped[int] = mapped_column(
        ForeignKey("product_images.id", ondelete="CASCADE"), primary_key=True
    )
    content_hash: Mapped[str] = mapped_column(String(64))
    # float32, little-endian, `dim` values.
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The vector revision of the write that stored it (see search.revisions): index builds
    # record the revision they include, so changes are found without trusting clocks.
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0", index=True)


class Counter(Base):
    """Named monotonic counters; "vectors" numbers every write of embeddings."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class IngestRun(Base):
    """One successful `facet ingest`; the newest id is the catalogue's revision."""

    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    full: Mapped[bool]
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime] = mapped_column(DateTime)
    inserted: Mapped[int]
    updated: Mapped[int]
    unchanged: Mapped[int]
    deleted: Mapped[int]
    rejected: Mapped[int]


class ImageQuality(Base):
    """An image's photo quality measurements (search.photo_quality) and the verdict on them."""

    __tablename__ = "image_quality"
    __table_args__ = (CheckConstraint("verdict IN ('ok', 'warn', 'fail')", name="verdict_known"),)

    image_id: Mapped[int] = mapped_column(
        ForeignKey("product_images.id", ondelete="CASCADE"), primary_key=True
    )
    # SHA-256 of the bytes measured: a changed image is measured again.
    content_hash: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(8), index=True)
    # Comma-separated `Reason` values, worst first; empty when `ok`.
    reasons: Mapped[str] = mapped_column(String(255), default="")
    # The measurements, as `Measurements.to_dict()`.
    measurements: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Kept out of the index: a `fail` verdict while FACET_QUALITY__EXCLUDE_FAILED is on.
    excluded: Mapped[bool] = mapped_column(default=False, server_default=false())
    measured_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
