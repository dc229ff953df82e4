"""The product fields a Milvus collection holds beside each image's vector, read from the store.

Milvus filters inside the search, so every row carries its product's filterable fields; they
are written with the vector, and re-written when the product changes (`facet build` after an
ingest, admin writes, `facet verify --repair`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import Engine, select

from search.index import FloatArray, IdArray
from search.models import Product, ProductImage

# The scalar fields, in the collection's schema order (after the id and the vector).
SCALARS = ("product_id", "category", "material", "style", "price", "in_stock", "attributes")
# SQLite allows 32,766 bound parameters; stay well below.
ID_CHUNK = 10_000

Fields = dict[str, Any]


def attribute_text(value: Any) -> str:
    """An attribute's value as the text filters compare it with (`search.json_text`): strings
    as they are, numbers as written in JSON ("52" matches 52), anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def product_fields(engine: Engine, image_ids: Iterable[int]) -> dict[int, Fields]:
    """Each image's product fields, by image id (images no longer stored are left out)."""
    ids = [int(i) for i in image_ids]
    found: dict[int, Fields] = {}
    columns = (
        ProductImage.id,
        Product.id,
        Product.category,
        Product.material,
        Product.style,
        Product.price,
        Product.in_stock,
        Product.attributes,
    )
    with engine.connect() as connection:
        for start in range(0, len(ids), ID_CHUNK):
            query = (
                select(*columns)
                .join(Product, Product.id == ProductImage.product_id)
                .where(ProductImage.id.in_(ids[start : start + ID_CHUNK]))
            )
            for image_id, *values in connection.execute(query):
                found[int(image_id)] = _fields(values)
    return found


def _fields(values: list[Any]) -> Fields:
    product_id, category, material, style, price, in_stock, attributes = values
    return {
        "product_id": int(product_id),
        "category": category,
        "material": material,
        "style": style,
        "price": None if price is None else float(price),
        "in_stock": None if in_stock is None else bool(in_stock),
        "attributes": {str(k): attribute_text(v) for k, v in (attributes or {}).items()},
    }


# Rows of images that lost their product before the row was written: never match a filter.
NO_PRODUCT: Fields = {name: None for name in SCALARS} | {"product_id": -1, "attributes": {}}


def rows(ids: IdArray, vectors: FloatArray, fields: dict[int, Fields]) -> list[dict[str, Any]]:
    """Collection rows: id, vector and product fields of each image."""
    return [
        {"id": int(image_id), "vector": vector.tolist(), **fields.get(int(image_id), NO_PRODUCT)}
        for image_id, vector in zip(ids, vectors, strict=True)
    ]


def differing(held: dict[int, Fields], stored: dict[int, Fields]) -> list[int]:
    """Ids whose held fields are not the stored ones (ids the store no longer has are left to
    the vector synchronisation, which removes them)."""
    return sorted(
        image_id
        for image_id, fields in held.items()
        if image_id in stored and {k: fields.get(k) for k in SCALARS} != stored[image_id]
    )


def images_of(engine: Engine, skus: Collection[str]) -> list[int]:
    """The image ids of these products, whatever their state."""
    if not skus:
        return []
    query = (
        select(ProductImage.id)
        .join(Product, Product.id == ProductImage.product_id)
        .where(Product.sku.in_(list(skus)))
    )
    with engine.connect() as connection:
        return [int(i) for i in connection.execute(query).scalars()]
