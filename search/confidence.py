"""Knowing when there is no match: a score floor, and whether the best result is trustworthy.

Nearest-neighbour search always answers; a photo of something the catalogue does not sell gets
its ten least-bad products. The top score says how far off they are: below the confidence
threshold (FACET_SEARCH__CONFIDENT_SCORE, chosen on shopper photos by
`scripts/bench_shopper.py`), the top result was wrong at least 85 times in 100, so the answer
says "no confident match" and shows the nearest products as such. (Off the shelf the top score
is a weak signal: above the threshold the top result is right only a little more often.)
"""

from __future__ import annotations

from dataclasses import dataclass

from search.searcher import ProductHit


@dataclass(frozen=True)
class Judged:
    hits: list[ProductHit]  # best first, none below the caller's min_score
    confident: bool  # the best hit reaches the confidence threshold


def judge(hits: list[ProductHit], *, threshold: float, min_score: float | None = None) -> Judged:
    """Drop hits under `min_score` (if given) and judge what is left against `threshold`."""
    hits = judge_floor(hits, min_score)
    return Judged(hits, confident=bool(hits) and hits[0].score >= threshold)


def judge_floor(hits: list[ProductHit], min_score: float | None) -> list[ProductHit]:
    """The hits scoring at least `min_score` (all of them without one)."""
    return hits if min_score is None else [hit for hit in hits if hit.score >= min_score]
