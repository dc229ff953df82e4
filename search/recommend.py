"""Recommendations from examples: "more like these, less like that".

Positive and negative examples are catalogue products (their stored vectors, nothing is
re-embedded) and, for positives, uploaded photos. Two strategies, as in Qdrant's recommend API:

- `average`: one query, the mean of the positives pushed away from the mean of the negatives
  (2 * mean(positive) - mean(negative)), searched like a photo.
- `best_score`: every positive is searched; each candidate is then scored by its closest
  example: its best similarity to a positive when that beats its best similarity to a negative,
  else minus its best similarity to a negative, so anything nearer a disliked example ranks below
  everything nearer a liked one.

The examples themselves are never returned.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from search.errors import FacetError
from search.filter_params import Filters
from search.index import FloatArray
from search.product_vectors import product_mean
from search.searcher import ProductHit, Searcher

MAX_EXAMPLES = 50
# Candidates per result for best_score: its order may differ from the positives' search order.
CANDIDATES_PER_RESULT = 4


class Strategy(StrEnum):
    AVERAGE = "average"
    BEST_SCORE = "best_score"


class BadExamples(FacetError):
    """No positive example, too many examples, or a product that is both liked and disliked."""


@dataclass(frozen=True)
class Examples:
    positive: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    # Embeddings of uploaded photos (n, d), positives too.
    photos: FloatArray | None = None

    def check(self) -> None:
        """Raises BadExamples for examples no recommendation can come from."""
        photos = 0 if self.photos is None else len(self.photos)
        if not self.positive and not photos:
            raise BadExamples("give at least one positive example (a SKU or a photo)")
        if len(self.positive) + len(self.negative) + photos > MAX_EXAMPLES:
            raise BadExamples(f"at most {MAX_EXAMPLES} examples in all")
        both = sorted(set(self.positive) & set(self.negative))
        if both:
            raise BadExamples(f"sku {both[0]!r} is both a positive and a negative example")


def recommend(
    searcher: Searcher,
    examples: Examples,
    *,
    strategy: Strategy = Strategy.AVERAGE,
    k: int = 10,
    filters: Filters | None = None,
    stages: dict[str, float] | None = None,
) -> list[ProductHit]:
    """The k products most like the positive examples and least like the negative ones.

    Raises:
        BadExamples: see `Examples.check`.
        UnknownProduct: an example SKU is not an active product.
    """
    examples.check()
    positives = _catalogue(searcher, examples.positive)
    if examples.photos is not None and len(examples.photos):
        positives = np.vstack([positives, searcher.index.query_space(examples.photos)])
    negatives = _catalogue(searcher, examples.negative)
    if not len(positives):  # every positive SKU is still waiting for its vectors
        return []
    excluded = set(examples.positive) | set(examples.negative)
    fetch = k + len(excluded)
    if strategy is Strategy.AVERAGE:
        query = positives.mean(axis=0)
        if len(negatives):
            query = 2 * query - negatives.mean(axis=0)
        query = (query / max(float(np.linalg.norm(query)), 1e-12)).astype(np.float32)
        hits = searcher.search_index_space(query[None, :], fetch, filters, None, None, stages)
    else:
        candidates = searcher.search_index_space(
            positives, fetch * CANDIDATES_PER_RESULT, filters, None, None, stages
        )
        hits = _best_scores(searcher, candidates, positives, negatives)
    return [hit for hit in hits if hit.sku not in excluded][:k]


def _catalogue(searcher: Searcher, skus: tuple[str, ...]) -> FloatArray:
    """The examples' mean stored vectors in the index's space, (n, d); products without
    vectors yet are left out."""
    means = [product_mean(searcher.engine, searcher.backbone_id, sku)[1] for sku in skus]
    found = [mean for mean in means if mean is not None]
    if not found:
        return np.zeros((0, searcher.index.dim), dtype=np.float32)
    return searcher.index.query_space(np.vstack(found), photos=False)


def _best_scores(
    searcher: Searcher,
    candidates: list[ProductHit],
    positives: FloatArray,
    negatives: FloatArray,
) -> list[ProductHit]:
    if not candidates:
        return []
    ids = np.asarray([hit.image_id for hit in candidates], dtype=np.int64)
    vectors = searcher.index.index_space(searcher.lookup)(ids)
    best_positive = (vectors @ positives.T).max(axis=1)
    if len(negatives):
        best_negative = (vectors @ negatives.T).max(axis=1)
        scores = np.where(best_positive >= best_negative, best_positive, -best_negative)
    else:
        scores = best_positive
    rescored = [
        replace(hit, score=float(score)) for hit, score in zip(candidates, scores, strict=True)
    ]
    return sorted(rescored, key=lambda hit: -hit.score)
