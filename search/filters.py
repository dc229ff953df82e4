"""Metadata filters: which catalogue images a search may return."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine, String, cast, func, select
from sqlalchemy.sql import Select

from search.index import IdArray
from search.models import ImageStatus, Product, ProductImage


@dataclass(frozen=True)
class Filters:
    """Conditions on the product; all given ones must hold. Text matches are exact."""

    category: str | None = None
    material: str | None = None
    style: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    in_stock: bool | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return self == Filters()


class InvalidFilter(ValueError):
    """A filter that cannot be applied (bad KEY=VALUE, empty price range)."""


def make_filters(
    *,
    category: str | None = None,
    material: str | None = None,
    style: str | None = None,
    min_price: float | None = None,
    max_price: float | None = None,
    in_stock: bool | None = None,
    attributes: list[str] | None = None,
) -> Filters:
    """Filters from user input; `attributes` are "KEY=VALUE" strings.

    Raises:
        InvalidFilter: an attribute without "=" or key, or min_price above max_price.
    """
    pairs: dict[str, str] = {}
    for item in attributes or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidFilter(f"attribute filter {item!r}: expected KEY=VALUE")
        pairs[key] = value
    if min_price is not None and max_price is not None and min_price > max_price:
        raise InvalidFilter(f"min_price {min_price} is above max_price {max_price}")
    return Filters(category, material, style, min_price, max_price, in_stock, pairs)


def searchable_images() -> Select[Any]:
    """Image ids that may appear in results: embedded images of active products."""
    return (
        select(ProductImage.id)
        .join(Product, Product.id == ProductImage.product_id)
        .where(ProductImage.status == ImageStatus.READY, Product.deleted_at.is_(None))
    )


def apply_filters(query: Select[Any], filters: Filters) -> Select[Any]:
    """Restrict a query that joins `Product` to the products matching `filters`."""
    for column, value in (
        (Product.category, filters.category),
        (Product.material, filters.material),
        (Product.style, filters.style),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.min_price is not None:
        query = query.where(Product.price >= filters.min_price)
    if filters.max_price is not None:
        query = query.where(Product.price <= filters.max_price)
    if filters.in_stock is not None:
        query = query.where(Product.in_stock.is_(filters.in_stock))
    for key, value in filters.attributes.items():
        # JSON values compare as text, so "52" matches both "52" and 52 in the dump.
        path = '$."' + key.replace('"', '\\"') + '"'
        query = query.where(cast(func.json_extract(Product.attributes, path), String) == value)
    return query


def allowed_image_ids(engine: Engine, filters: Filters) -> IdArray:
    """Ascending ids of the searchable images whose product matches `filters`."""
    query = apply_filters(searchable_images(), filters).order_by(ProductImage.id)
    with engine.connect() as connection:
        ids = connection.execute(query).scalars().all()
    return np.asarray(ids, dtype=np.int64)
