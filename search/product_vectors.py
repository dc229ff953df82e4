"""A product's appearance from its stored vectors: the query of similar items and examples."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine, select

from search.errors import UnknownProduct
from search.filters import searchable_images
from search.index import FloatArray
from search.models import Product, ProductImage
from search.vectors import load_vectors


def product_mean(engine: Engine, backbone_id: str, sku: str) -> tuple[int, FloatArray | None]:
    """(product id, the unit mean of its searchable images' stored vectors).

    One vector for the whole product rather than one per image: a third of the work for a
    three-image product, and it favours look-alikes of the whole product. None when no image of
    the product is embedded yet.

    Raises:
        UnknownProduct: no active product has this SKU.
    """
    with engine.connect() as connection:
        row = connection.execute(
            select(Product.id).where(Product.sku == sku, Product.deleted_at.is_(None))
        ).first()
        if row is None:
            raise UnknownProduct(f"no active product with sku {sku!r}")
        image_ids = (
            connection.execute(searchable_images().where(ProductImage.product_id == row[0]))
            .scalars()
            .all()
        )
    _, vectors = load_vectors(engine, backbone_id, [int(i) for i in image_ids])
    if not len(vectors):
        return int(row[0]), None
    mean = vectors.mean(axis=0)
    return int(row[0]), (mean / np.linalg.norm(mean)).astype(np.float32)
