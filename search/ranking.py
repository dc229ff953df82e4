"""How image hits become results: query expansion before the search, product scores after it.

- **alpha-QE** (average query expansion with weights, Radenović et al., TPAMI 2019): the query is
  searched once, then again as the normalised sum of itself and its n nearest index vectors,
  each weighted by its similarity to the power alpha, so that close neighbours pull the query
  towards the cluster they share with it.
- **Product scores**: a product with several images is scored by its best image (the default),
  by the mean over its images, or by the mean of its two best.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the settings import this module; the CLI starts without NumPy
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]


class ProductScore(StrEnum):
    BEST = "best"
    MEAN = "mean"
    TOP2 = "top2"


@dataclass(frozen=True)
class Ranking:
    """The ranking settings a searcher applies (FACET_SEARCH__...)."""

    rerank_factor: int = 10  # candidates per result re-ranked with full vectors (compressed)
    expansion: int = 0  # alpha-QE neighbours; 0 turns it off
    expansion_alpha: float = 3.0
    product_score: ProductScore = ProductScore.BEST


def expand_queries(
    queries: FloatArray, neighbours: FloatArray, similarities: FloatArray, alpha: float
) -> FloatArray:
    """alpha-QE: each query plus its neighbours weighted by similarity**alpha, normalised.

    Args:
        queries: (nq, d) unit vectors.
        neighbours: (nq, n, d) the index vectors of each query's n nearest (zeros where missing).
        similarities: (nq, n) their similarities to the query; negative ones weigh nothing.
        alpha: the weighting exponent (0 weighs every neighbour like the query itself).
    """
    import numpy as np

    weights = np.clip(similarities, 0.0, None) ** alpha
    expanded = queries + np.einsum("qn,qnd->qd", weights, neighbours)
    norms = np.linalg.norm(expanded, axis=1, keepdims=True)
    result: FloatArray = (expanded / np.maximum(norms, 1e-12)).astype(np.float32)
    return result


def product_score(image_scores: list[float], how: ProductScore) -> float:
    """One product's score from its images' scores (at least one)."""
    ranked = sorted(image_scores, reverse=True)
    if how is ProductScore.BEST:
        return ranked[0]
    kept = ranked[:2] if how is ProductScore.TOP2 else ranked
    return sum(kept) / len(kept)
