"""Counting what the product store holds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from search.models import Embedding, Product, ProductImage
from search.reads import catalog_revision


def catalog_stats(engine: Engine) -> dict[str, Any]:
    """Products (active / deleted), images by status, vectors by backbone, catalogue revision."""
    with engine.connect() as connection:
        active, deleted = connection.execute(
            select(
                func.count().filter(Product.deleted_at.is_(None)),
                func.count().filter(Product.deleted_at.is_not(None)),
            )
        ).one()
        images = dict(
            connection.execute(
                select(ProductImage.status, func.count()).group_by(ProductImage.status)
            ).all()
        )
        revision = catalog_revision(connection)
        embeddings = dict(
            connection.execute(
                select(Embedding.model, func.count()).group_by(Embedding.model)
            ).all()
        )
    return {
        "products": {"active": active, "deleted": deleted},
        "images": images,
        "embeddings": embeddings,
        "revision": revision,
    }
