"""Metadata filters in SQL: which catalogue images a search may return."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.sql import Select

from search.filter_params import Filters
from search.index import IdArray
from search.json_text import json_text
from search.models import ImageQuality, ImageStatus, Product, ProductImage
from search.product import LABEL_FIELDS


def searchable_images() -> Select[Any]:
    """Image ids that may appear in results: embedded images of active products, but for
    photos kept out by their quality (FACET_QUALITY__EXCLUDE_FAILED)."""
    excluded = select(ImageQuality.image_id).where(
        ImageQuality.image_id == ProductImage.id, ImageQuality.excluded.is_(True)
    )
    return (
        select(ProductImage.id)
        .join(Product, Product.id == ProductImage.product_id)
        .where(ProductImage.status == ImageStatus.READY, Product.deleted_at.is_(None))
        .where(~excluded.exists())
    )


def apply_filters(query: Select[Any], filters: Filters) -> Select[Any]:
    """Restrict a query that joins `Product` to the products matching `filters`."""
    for name in LABEL_FIELDS:
        value = getattr(filters, name)
        if value is not None:
            query = query.where(getattr(Product, name) == value)
    if filters.min_price is not None:
        query = query.where(Product.price >= filters.min_price)
    if filters.max_price is not None:
        query = query.where(Product.price <= filters.max_price)
    if filters.in_stock is not None:
        query = query.where(Product.in_stock.is_(filters.in_stock))
    for key, value in filters.attributes.items():
        # JSON values compare as text, so "52" matches both "52" and 52 in the dump.
        query = query.where(json_text(Product.attributes, key) == value)
    return query


def allowed_image_ids(engine: Engine, filters: Filters) -> IdArray:
    """Ascending ids of the searchable images whose product matches `filters`."""
    query = apply_filters(searchable_images(), filters).order_by(ProductImage.id)
    with engine.connect() as connection:
        ids = connection.execute(query).scalars().all()
    return np.asarray(ids, dtype=np.int64)
