"""Small reads of the product store, shared by the HTTP routes (which hold no SQL) and the rest."""

from __future__ import annotations

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session, selectinload

from search.models import IngestRun, Product
from search.product import LABEL_FIELDS


def active_product(session: Session, sku: str) -> Product | None:
    """The product with this SKU, with its images loaded, unless it is deleted."""
    return session.scalars(
        select(Product)
        .where(Product.sku == sku, Product.deleted_at.is_(None))
        .options(selectinload(Product.images))
    ).first()


def label_values(session: Session) -> dict[str, list[str]]:
    """Per label field (category, material, style), its distinct values among active products."""
    values: dict[str, list[str]] = {}
    for name in LABEL_FIELDS:
        column = getattr(Product, name)
        query = (
            select(column)
            .where(Product.deleted_at.is_(None), column.is_not(None))
            .distinct()
            .order_by(column)
        )
        values[name] = list(session.scalars(query))
    return values


def catalog_revision(source: Connection | Session) -> int | None:
    """The newest ingest run's id: the catalogue revision builds record."""
    revision: int | None = source.scalar(select(func.max(IngestRun.id)))
    return revision
