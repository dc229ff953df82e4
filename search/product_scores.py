"""Scoring products with several images by more than their best image (search.ranking)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Engine

from search.filters import searchable_images
from search.index import FloatArray, IdArray, VectorIndex
from search.models import ProductImage
from search.ranking import ProductScore, product_score

if TYPE_CHECKING:
    from search.searcher import ProductHit


def rescore_products(
    engine: Engine,
    index: VectorIndex,
    indexed_ids: IdArray,
    queries: FloatArray,
    products: list[ProductHit],
    how: ProductScore,
) -> list[ProductHit]:
    """Score each candidate product over all its indexed images (not only those the search
    happened to return), then sort again. `queries` are in the index's space; with several, an
    image's score is its best over them, as in the search."""
    if not products or how is ProductScore.BEST:
        return products
    wanted = [hit.product_id for hit in products]
    query = searchable_images().add_columns(ProductImage.product_id)
    with engine.connect() as connection:
        rows = connection.execute(query.where(ProductImage.product_id.in_(wanted))).all()
    ids = np.array([image_id for image_id, _ in rows], dtype=np.int64)
    present = np.isin(ids, indexed_ids)
    ids = ids[present]
    owners = [owner for (_, owner), keep in zip(rows, present, strict=True) if keep]
    scores = (queries @ index.reconstruct(ids).T).max(axis=0) if len(ids) else np.zeros(0)
    by_product: dict[int, list[float]] = defaultdict(list)
    for owner, score in zip(owners, scores.tolist(), strict=True):
        by_product[owner].append(score)
    rescored = [
        replace(hit, score=product_score(by_product[hit.product_id], how))
        if by_product.get(hit.product_id)
        else hit
        for hit in products
    ]
    return sorted(rescored, key=lambda hit: -hit.score)
