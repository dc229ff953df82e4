"""Writing single products: what the admin API does (the indexer's bulk path is in indexer/)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from search.errors import UnknownProduct
from search.models import Embedding, ImageStatus, Product, ProductImage
from search.product import ProductFields, product_fingerprint
from search.revisions import next_product_revision, next_vector_revision


@dataclass(frozen=True)
class EmbeddedImage:
    """An image already stored locally and embedded, ready to be attached to a product."""

    uri: str
    content_hash: str
    signature: str
    width: int
    height: int
    vector: bytes


def upsert_product(
    session: Session,
    fields: ProductFields,
    images: Sequence[EmbeddedImage],
    *,
    backbone_id: str,
    now: datetime,
) -> bool:
    """Insert or replace one product and its images (with their vectors), in `session`.

    Images that stay keep their ids; dropped ones are marked removed, as an ingest does. The
    same image given twice counts once. New vectors take the next vector revision; the index
    learns the change from the store (`search.index_sync`).

    Returns:
        Whether the product was created (rather than replaced or restored).
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
    for name, value in fields.values().items():
        setattr(product, name, value)
    product.deleted_at = None
    product.updated_at = now
    product.content_hash = product_fingerprint(fields, [image.uri for image in images])
    session.flush()
    next_product_revision(session.connection())

    existing = {image.uri: image for image in product.images}
    wanted = {image.uri for image in images}
    for uri, old in existing.items():
        if uri not in wanted and old.status != ImageStatus.REMOVED:
            old.status, old.updated_at = ImageStatus.REMOVED, now
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
                model=backbone_id,
                image_id=row.id,
                content_hash=image.content_hash,
                vector=image.vector,
                created_at=now,
                revision=revision,
            )
        )
    return created


def delete_product(session: Session, sku: str, *, now: datetime) -> None:
    """Soft-delete an active product (the index learns it from the store).

    Raises:
        UnknownProduct: no active product has this SKU.
    """
    product = session.scalars(
        select(Product).where(Product.sku == sku, Product.deleted_at.is_(None))
    ).first()
    if product is None:
        raise UnknownProduct(f"no active product with sku {sku!r}")
    product.deleted_at = product.updated_at = now
    next_product_revision(session.connection())
