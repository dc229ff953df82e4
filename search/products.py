"""Writing single products: what the admin API does (the indexer's bulk path is in indexer/)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from search.errors import UnknownProduct
from search.models import Embedding, ImageStatus, Product, ProductImage
from search.revisions import next_vector_revision


def product_fingerprint(
    *,
    sku: str,
    title: str | None,
    description: str | None,
    category: str | None,
    material: str | None,
    style: str | None,
    price: float | None,
    currency: str | None,
    in_stock: bool | None,
    images: Sequence[str],
    attributes: dict[str, Any],
) -> str:
    """A hash of everything a catalogue row says: equal fingerprints mean an unchanged product."""
    payload = [
        sku,
        title,
        description,
        category,
        material,
        style,
        price,
        currency,
        in_stock,
        tuple(images),
        attributes,
    ]
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class ProductFields:
    sku: str
    title: str | None = None
    description: str | None = None
    category: str | None = None
    material: str | None = None
    style: str | None = None
    price: float | None = None
    currency: str | None = None
    in_stock: bool | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EmbeddedImage:
    """An image already stored locally and embedded, ready to be attached to a product."""

    uri: str
    content_hash: str
    signature: str
    width: int
    height: int
    vector: bytes


@dataclass
class ProductChange:
    product_id: int
    created: bool
    added: dict[int, bytes]  # image id -> vector blob, now searchable
    removed: list[int]  # image ids no longer searchable


def upsert_product(
    session: Session,
    fields: ProductFields,
    images: Sequence[EmbeddedImage],
    *,
    model: str,
    now: datetime,
) -> ProductChange:
    """Insert or replace one product and its images (with their vectors), in `session`.

    Images that stay keep their ids; dropped ones are marked removed, as an ingest does. The
    same image given twice counts once. New vectors take the next vector revision.
    """
    unique: dict[str, EmbeddedImage] = {}
    for image in images:
        unique.setdefault(image.uri, image)
    images = list(unique.values())
    product = session.scalars(select(Product).where(Product.sku == fields.sku)).first()
    created = product is None
    if product is None:
        product = Product(sku=fields.sku, created_at=now, attributes={}, content_hash="")
        session.add(product)
    for name in ("title", "description", "category", "material", "style", "price"):
        setattr(product, name, getattr(fields, name))
    product.currency, product.in_stock = fields.currency, fields.in_stock
    product.attributes = dict(fields.attributes)
    product.deleted_at = None
    product.updated_at = now
    product.content_hash = product_fingerprint(
        **{name: getattr(fields, name) for name in ProductFields.__dataclass_fields__},
        images=[image.uri for image in images],
    )
    session.flush()

    existing = {image.uri: image for image in product.images}
    wanted = {image.uri for image in images}
    removed = []
    for uri, old in existing.items():
        if uri not in wanted and old.status != ImageStatus.REMOVED:
            removed.append(old.id)
            old.status, old.updated_at = ImageStatus.REMOVED, now
    added: dict[int, bytes] = {}
    revision: int | None = None
    for position, image in enumerate(images):
        row = existing.get(image.uri)
        if row is None:
            row = ProductImage(product_id=product.id, uri=image.uri, created_at=now)
            session.add(row)
        elif row.status == ImageStatus.READY and row.content_hash == image.content_hash:
            row.position = position
            continue
        row.position, row.status, row.error = position, ImageStatus.READY, None
        row.content_hash, row.source_signature = image.content_hash, image.signature
        row.width, row.height, row.updated_at = image.width, image.height, now
        session.flush()
        if revision is None:
            revision = next_vector_revision(session.connection())
        session.merge(
            Embedding(
                model=model,
                image_id=row.id,
                content_hash=image.content_hash,
                vector=image.vector,
                created_at=now,
                revision=revision,
            )
        )
        added[row.id] = image.vector
    return ProductChange(product.id, created, added, removed)


def delete_product(session: Session, sku: str, *, now: datetime) -> list[int]:
    """Soft-delete an active product; returns the ids of its images that were searchable.

    Raises:
        UnknownProduct: no active product has this SKU.
    """
    product = session.scalars(
        select(Product).where(Product.sku == sku, Product.deleted_at.is_(None))
    ).first()
    if product is None:
        raise UnknownProduct(f"no active product with sku {sku!r}")
    product.deleted_at = product.updated_at = now
    return [image.id for image in product.images if image.status == ImageStatus.READY]
