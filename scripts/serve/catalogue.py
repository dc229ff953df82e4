"""A synthetic catalogue written straight into a product store, for serving benchmarks.

Products have one of 100 categories (a category filter allows 1% of them), 8 materials, 5
styles, a price uniform in 10-1000, stock on for half of them, and a `size` attribute out of 20
values (5% each); one image each, all pointing at the same real JPEG, marked ready; vectors drawn
around 256 random centres (clustered, as real embeddings are), unit length, of the backbone's
dimension, under that backbone's identity, so the service loads the build with its real model.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, insert, update

from search.models import Counter, Embedding, ImageStatus, Product, ProductImage
from search.vectors import to_blob

CATEGORIES = [f"category-{index:03d}" for index in range(100)]
MATERIALS = ["gold", "silver", "platinum", "steel", "titanium", "brass", "copper", "resin"]
STYLES = ["classic", "modern", "vintage", "minimal", "bold"]
SIZES = [f"size-{index:02d}" for index in range(20)]
CENTRES = 256
CHUNK = 20_000


def write_catalogue(
    engine: Engine, *, products: int, dim: int, backbone_id: str, image: Path, seed: int = 1338
) -> None:
    """Write `products` products, their images and their vectors, in chunks."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CENTRES, dim)).astype(np.float32)
    content_hash = hashlib.sha256(image.read_bytes()).hexdigest()
    now = datetime.now(UTC).replace(tzinfo=None)
    for start in range(0, products, CHUNK):
        ids = range(start + 1, min(start + CHUNK, products) + 1)
        count = len(ids)
        category = rng.integers(len(CATEGORIES), size=count)
        material = rng.integers(len(MATERIALS), size=count)
        style = rng.integers(len(STYLES), size=count)
        size = rng.integers(len(SIZES), size=count)
        price = np.round(rng.uniform(10, 1000, size=count), 2)
        stock = rng.random(count) < 0.5
        vectors = centres[rng.integers(CENTRES, size=count)]
        vectors = vectors + 0.6 * rng.standard_normal((count, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        with engine.begin() as connection:
            connection.execute(
                insert(Product),
                [
                    {
                        "id": product_id,
                        "sku": f"P{product_id:07d}",
                        "title": f"Product {product_id}",
                        "category": CATEGORIES[category[i]],
                        "material": MATERIALS[material[i]],
                        "style": STYLES[style[i]],
                        "price": float(price[i]),
                        "currency": "EUR",
                        "in_stock": bool(stock[i]),
                        "attributes": {"size": SIZES[size[i]]},
                        "content_hash": f"{product_id:040x}",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i, product_id in enumerate(ids)
                ],
            )
            connection.execute(
                insert(ProductImage),
                [
                    {
                        "id": product_id,
                        "product_id": product_id,
                        "position": 0,
                        "uri": str(image),
                        "content_hash": content_hash,
                        "status": ImageStatus.READY,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for product_id in ids
                ],
            )
            connection.execute(
                insert(Embedding),
                [
                    {
                        "model": backbone_id,
                        "image_id": product_id,
                        "content_hash": content_hash,
                        "vector": to_blob(vectors[i]),
                        "created_at": now,
                        "revision": 1,
                    }
                    for i, product_id in enumerate(ids)
                ],
            )
    with engine.begin() as connection:
        connection.execute(update(Counter).where(Counter.name == "vectors").values(value=1))
