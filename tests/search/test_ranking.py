"""Query expansion and product scores: the maths on hand-made cases, then through a Searcher."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from search.index import VectorIndex
from search.models import ImageStatus, Product, ProductImage
from search.ranking import ProductScore, Ranking, expand_queries, product_score
from search.searcher import Searcher


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_alpha_weights_close_neighbours_far_more_than_distant_ones() -> None:
    query = unit(1, 0, 0)[None, :]
    near, far = unit(0.9, 0.43589, 0), unit(0.5, 0, 0.86603)
    neighbours = np.stack([near, far])[None, :, :]
    similarities = np.array([[0.9, 0.5]], dtype=np.float32)
    even = expand_queries(query, neighbours, similarities, alpha=0.0)[0]
    assert np.allclose(even, unit(*(query[0] + near + far)), atol=1e-6)
    sharp = expand_queries(query, neighbours, similarities, alpha=3.0)[0]
    expected = query[0] + 0.9**3 * near + 0.5**3 * far
    assert np.allclose(sharp, unit(*expected), atol=1e-6)
    assert sharp @ near > even @ near and sharp @ far < even @ far


def test_neighbours_on_the_far_side_weigh_nothing() -> None:
    query = unit(1, 0)[None, :]
    neighbours = np.stack([unit(-1, 0.1)])[None, :, :]
    expanded = expand_queries(query, neighbours, np.array([[-0.99]], np.float32), alpha=1.0)
    assert np.allclose(expanded, query)


def test_product_scores() -> None:
    scores = [0.5, 0.9, 0.1]
    assert product_score(scores, ProductScore.BEST) == 0.9
    assert product_score(scores, ProductScore.MEAN) == pytest.approx(0.5)
    assert product_score(scores, ProductScore.TOP2) == pytest.approx(0.7)
    assert product_score([0.4], ProductScore.TOP2) == 0.4


def catalogue(engine: Engine, images: dict[str, list[np.ndarray]]) -> VectorIndex:
    """Products with their images' vectors, in the store and in an exact index."""
    vectors, ids, next_id = [], [], 1
    with Session(engine) as session:
        for sku, product_vectors in images.items():
            product = Product(sku=sku, content_hash=sku, category="ring")
            for position, vector in enumerate(product_vectors):
                uri = f"file:///{sku}{position}.jpg"
                product.images.append(
                    ProductImage(id=next_id, position=position, uri=uri, status=ImageStatus.READY)
                )
                vectors.append(vector)
                ids.append(next_id)
                next_id += 1
            session.add(product)
        session.commit()
    index = VectorIndex.train(np.stack(vectors), factory="IVF1,Flat")
    index.add(np.stack(vectors), np.array(ids, dtype=np.int64))
    return index


@pytest.mark.parametrize(
    ("how", "order"),
    [(ProductScore.BEST, ["X", "Y"]), (ProductScore.MEAN, ["Y", "X"]), ("top2", ["Y", "X"])],
)
def test_a_product_is_scored_over_all_its_images(
    engine: Engine, how: str, order: list[str]
) -> None:
    query = unit(1, 0, 0, 0)
    # X has one excellent image and two poor ones; Y two good ones.
    index = catalogue(
        engine,
        {
            "X": [unit(1, 0.1, 0, 0), unit(0.1, 1, 0, 0), unit(0.1, 0, 1, 0)],
            "Y": [unit(1, 0.4, 0, 0), unit(1, 0, 0.45, 0)],
        },
    )
    ranking = Ranking(product_score=ProductScore(how))
    hits = Searcher(engine, index, backbone_id="t", ranking=ranking).search(query, k=2)
    assert [hit.sku for hit in hits] == order
    x = next(hit for hit in hits if hit.sku == "X")
    expected = {"best": 0.995, "mean": (0.995 + 0.0995 + 0.0995) / 3, "top2": (0.995 + 0.0995) / 2}
    assert x.score == pytest.approx(expected[how], abs=1e-3)


def test_query_expansion_follows_the_cluster_of_the_nearest_neighbours(engine: Engine) -> None:
    # The query sits between two groups; B is the single closest image, but A's three images
    # agree with each other. Expanded by its 3 nearest (B and two of A's), the query moves
    # towards A's group, and all of A now comes before B.
    index = catalogue(
        engine,
        {
            "A1": [unit(1, 0.55, 0)],
            "A2": [unit(1, 0.6, 0.05)],
            "A3": [unit(1, 0.58, -0.05)],
            "B": [unit(1, -0.5, 0)],
            "C": [unit(0.2, 1, 0)],
        },
    )
    query = unit(1, 0, 0)
    plain = Searcher(engine, index, backbone_id="t").search(query, k=5)
    assert plain[0].sku == "B" and plain[-1].sku == "C"
    ranking = Ranking(expansion=3, expansion_alpha=1.0)
    expanded = Searcher(engine, index, backbone_id="t", ranking=ranking).search(query, k=5)
    assert {hit.sku for hit in expanded[:3]} == {"A1", "A2", "A3"}
    assert expanded[3].sku == "B"
