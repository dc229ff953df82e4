"""Retrieval quality: Recall@K, AP@K and reciprocal rank from ranked relevance."""

from __future__ import annotations

from collections.abc import Sequence


def first_relevant_rank(relevant: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant result, or None if there is none."""
    for rank, is_relevant in enumerate(relevant, start=1):
        if is_relevant:
            return rank
    return None


def hit_at(relevant: Sequence[bool], k: int) -> float:
    """1.0 if a relevant result is among the first k (Recall@K for a single right answer)."""
    return 1.0 if any(relevant[:k]) else 0.0


def average_precision_at(relevant: Sequence[bool], k: int, total_relevant: int) -> float:
    """AP@k: mean precision at the ranks of relevant results in the top k, over min(R, k).

    Args:
        relevant: relevance of the ranked results, best first.
        k: cut-off.
        total_relevant: how many relevant items exist in the catalogue (R).
    """
    if total_relevant <= 0:
        return 0.0
    hits = 0
    precision_sum = 0.0
    for rank, is_relevant in enumerate(relevant[:k], start=1):
        if is_relevant:
            hits += 1
            precision_sum += hits / rank
    return precision_sum / min(total_relevant, k)


def reciprocal_rank(relevant: Sequence[bool]) -> float:
    rank = first_relevant_rank(relevant)
    return 1.0 / rank if rank else 0.0
