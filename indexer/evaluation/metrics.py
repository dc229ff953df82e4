"""Retrieval quality: Recall@K, AP@K and reciprocal rank from ranked relevance; per-class
precision, recall and F1 and the confusion counts when the top result is read as a prediction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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


# --- Classification: the top result's label (or SKU) is the query's predicted class ----------


@dataclass(frozen=True)
class ClassScores:
    """Precision, recall and F1 of one class; `support` is how many queries truly belong to it."""

    precision: float
    recall: float
    f1: float
    support: int


def confusion_counts(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, dict[str, int]]:
    """True class -> predicted class -> number of queries; only the pairs that occur."""
    counts: dict[str, dict[str, int]] = {}
    for true_class, predicted_class in zip(truth, predicted, strict=True):
        row = counts.setdefault(true_class, {})
        row[predicted_class] = row.get(predicted_class, 0) + 1
    return counts


def class_scores(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, ClassScores]:
    """P, R and F1 of every class that some query truly has or was predicted as, by name.

    A ratio with nothing to divide by is 0, never an error: a class never predicted has
    precision 0; a class only predicted (no query of it) has recall 0 and support 0.
    """
    right: dict[str, int] = {}
    support: dict[str, int] = {}
    predictions: dict[str, int] = {}
    for true_class, predicted_class in zip(truth, predicted, strict=True):
        support[true_class] = support.get(true_class, 0) + 1
        predictions[predicted_class] = predictions.get(predicted_class, 0) + 1
        if true_class == predicted_class:
            right[true_class] = right.get(true_class, 0) + 1
    scores = {}
    for name in sorted(support.keys() | predictions.keys()):
        precision = _ratio(right.get(name, 0), predictions.get(name, 0))
        recall = _ratio(right.get(name, 0), support.get(name, 0))
        f1 = _ratio(2 * precision * recall, precision + recall)
        scores[name] = ClassScores(precision, recall, f1, support.get(name, 0))
    return scores


def macro_average(scores: dict[str, ClassScores]) -> ClassScores:
    """The unweighted mean P, R and F1 over the classes that have queries (support > 0).

    Classes that were only predicted are left out: a query sent to one already lowers its true
    class's recall, and averaging in their zero F1 too would make the figure depend on how many
    different wrong classes the search happened to pick. Support is the total.
    """
    counted = [score for score in scores.values() if score.support > 0]
    if not counted:
        return ClassScores(0.0, 0.0, 0.0, 0)
    return ClassScores(
        precision=sum(score.precision for score in counted) / len(counted),
        recall=sum(score.recall for score in counted) / len(counted),
        f1=sum(score.f1 for score in counted) / len(counted),
        support=sum(score.support for score in counted),
    )


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0
