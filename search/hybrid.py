"""Photo and words together: reciprocal rank fusion of image search and keyword search.

"This ring, but in silver": the photo's nearest products and the products matching the words
are fused by rank, not by score (cosine similarities and text relevances are not on one scale):
each product scores sum(weight / (RRF_K + rank)) over the lists it appears in, so silver
look-alikes, high in both, come first. RRF_K = 60 is the constant of Cormack et al. (SIGIR 2009).
"""

from __future__ import annotations

import time
from dataclasses import replace

from search.confidence import judge_floor
from search.filter_params import Filters
from search.index import FloatArray
from search.searcher import ProductHit, Searcher
from search.text_search import keyword_search

RRF_K = 60
# Candidates taken from each list per result asked for.
DEPTH = 5


def fuse(
    image_hits: list[ProductHit],
    text_hits: list[ProductHit],
    *,
    k: int,
    text_weight: float = 1.0,
) -> list[ProductHit]:
    """The k best products by weighted reciprocal rank fusion; `score` becomes the fused score.

    A product found by both lists is shown with its image hit (the image that looked most
    like the photo).
    """
    fused: dict[str, float] = {}
    shown: dict[str, ProductHit] = {}
    for hits, weight in ((image_hits, 1.0), (text_hits, text_weight)):
        for rank, hit in enumerate(hits, start=1):
            fused[hit.sku] = fused.get(hit.sku, 0.0) + weight / (RRF_K + rank)
            shown.setdefault(hit.sku, hit)
    order = sorted(fused, key=lambda sku: (-fused[sku], sku))[:k]
    return [replace(shown[sku], score=round(fused[sku], 6)) for sku in order]


def search_with_words(
    searcher: Searcher,
    query: FloatArray,
    words: str,
    *,
    k: int,
    filters: Filters | None = None,
    text_weight: float = 1.0,
    min_score: float | None = None,
    nprobe: int | None = None,
    stages: dict[str, float] | None = None,
) -> tuple[list[ProductHit], list[ProductHit]]:
    """A photo's embedding and words together: (the photo's own hits, none under
    `min_score`, which confidence is judged on; the fused top k).

    `stages`, if given, receives the word search's seconds under "search" as well.
    """
    depth = k * DEPTH
    found = searcher.search(query, k=depth, filters=filters, nprobe=nprobe, stages=stages)
    image_hits = judge_floor(found, min_score)
    started = time.perf_counter()
    word_hits = keyword_search(searcher.engine, words, k=depth, filters=filters)
    if stages is not None:
        stages["search"] = stages.get("search", 0.0) + time.perf_counter() - started
    return image_hits, fuse(image_hits, word_hits, k=k, text_weight=text_weight)
