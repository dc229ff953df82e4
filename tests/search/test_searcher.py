"""Collapsing image hits to products: only images that may appear in results count."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from search.filter_params import Filters
from search.index import VectorIndex
from search.models import ImageStatus, Product, ProductImage
from search.searcher import Searcher

DIM = 8


def unit(axis: int, tilt: float = 0.0) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[axis] = 1.0
    vector[(axis + 1) % DIM] = tilt
    return vector / np.linalg.norm(vector)


@pytest.fixture
def searcher(engine: Engine) -> Searcher:
    """Product X's old image 1 (removed, its stale vector still indexed) and image 2; Y's 3."""
    with Session(engine) as session:
        x = Product(sku="X", content_hash="x", category="ring")
        y = Product(sku="Y", content_hash="y", category="ring")
        x.images = [
            ProductImage(id=1, position=0, uri="file:///old.jpg", status=ImageStatus.REMOVED),
            ProductImage(id=2, position=1, uri="file:///new.jpg", status=ImageStatus.READY),
        ]
        y.images = [ProductImage(id=3, position=0, uri="file:///y.jpg", status=ImageStatus.READY)]
        session.add_all([x, y])
        session.commit()
    vectors = np.stack([unit(0), unit(5), unit(0, tilt=0.3)])
    index = VectorIndex.train(vectors, factory="IVF1,Flat")
    index.add(vectors, np.array([1, 2, 3], dtype=np.int64))
    return Searcher(engine, index, backbone_id="test")


@pytest.mark.parametrize("filters", [None, Filters(category="ring")])
def test_a_removed_images_stale_vector_never_makes_a_hit(
    searcher: Searcher, filters: Filters | None
) -> None:
    hits = searcher.search(unit(0), k=2, filters=filters)
    # The query is image 1's twin: X may only be found through image 2, far below Y.
    assert [hit.sku for hit in hits] == ["Y", "X"]
    assert [hit.image_id for hit in hits] == [3, 2]
