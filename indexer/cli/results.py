"""Printing the products a search, similar or recommend command found, judged for confidence."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from search.config import Settings
    from search.searcher import ProductHit

MinScoreOption = Annotated[
    float | None,
    typer.Option(
        "--min-score", min=-1.0, max=1.0, help="Leave out results scoring below this (cosine)."
    ),
]


def print_hits(
    hits: list[ProductHit],
    as_json: bool,
    settings: Settings,
    min_score: float | None = None,
    *,
    judged_by: list[ProductHit] | None = None,
) -> None:
    """The results, best first; below the confidence threshold they are said to be only the
    nearest products ("no confident match"), not a match. `judged_by`: the photo's own hits,
    when `hits` fused them with words (confidence is the photo's)."""
    from search.confidence import Judged, judge

    threshold = settings.search.confident_score
    judged = judge(hits, threshold=threshold, min_score=min_score)
    if judged_by is not None:
        photo = judge(judged_by, threshold=threshold)
        judged = Judged(hits, confident=photo.confident)
    if as_json:
        answer = {
            "results": [result_json(hit) for hit in judged.hits],
            "confident": judged.confident,
            "confidence_threshold": threshold,
        }
        typer.echo(json.dumps(answer))
        return
    if not judged.hits:
        typer.echo("no results")
    elif not judged.confident:
        typer.echo(
            f"no confident match (best score {judged.hits[0].score:.3f} < {threshold:.3f}); "
            "the nearest products:"
        )
    for rank, hit in enumerate(judged.hits, start=1):
        typer.echo(
            f"{rank:>3}  {hit.score:.3f}  {hit.sku:<28} {hit.title or '':<30} image {hit.image_id}"
        )


def print_words(hits: list[ProductHit], as_json: bool) -> None:
    """Keyword results: relevance scores, no confidence threshold (a match is a match)."""
    if as_json:
        results = [result_json(hit) for hit in hits]
        typer.echo(json.dumps({"results": results, "confident": bool(hits)}))
        return
    if not hits:
        typer.echo("no product matches these words")
    for rank, hit in enumerate(hits, start=1):
        typer.echo(f"{rank:>3}  {hit.score:7.3f}  {hit.sku:<28} {hit.title or ''}")


def result_json(hit: ProductHit) -> dict[str, Any]:
    """One result as `--json` prints it."""
    return {
        "sku": hit.sku,
        "score": round(hit.score, 6),
        "image_id": hit.image_id,
        "title": hit.title,
        "category": hit.category,
        "price": hit.price,
    }
