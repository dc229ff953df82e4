"""Retrieval and classification metrics against cases computed by hand."""

from __future__ import annotations

from dataclasses import astuple

import pytest

from indexer.evaluation.metrics import (
    ClassScores,
    average_precision_at,
    class_scores,
    confusion_counts,
    first_relevant_rank,
    hit_at,
    macro_average,
    reciprocal_rank,
)

T, F = True, False


def test_rank_hit_and_reciprocal_rank() -> None:
    ranked = [F, F, T, F, T]
    assert first_relevant_rank(ranked) == 3
    assert (hit_at(ranked, 1), hit_at(ranked, 2), hit_at(ranked, 3)) == (0.0, 0.0, 1.0)
    assert reciprocal_rank(ranked) == pytest.approx(1 / 3)
    assert first_relevant_rank([F, F]) is None and reciprocal_rank([F, F]) == 0.0


def test_average_precision_single_right_answer_is_one_over_rank() -> None:
    assert average_precision_at([F, T, F], 10, total_relevant=1) == pytest.approx(0.5)
    assert average_precision_at([F] * 10 + [T], 10, total_relevant=1) == 0.0


def test_average_precision_with_several_relevant_items() -> None:
    # Relevant at ranks 1, 3 and 6 of 10; 4 relevant exist: (1/1 + 2/3 + 3/6) / 4.
    ranked = [T, F, T, F, F, T, F, F, F, F]
    assert average_precision_at(ranked, 10, total_relevant=4) == pytest.approx(
        (1 + 2 / 3 + 3 / 6) / 4
    )
    # More relevant items than the cut-off: divide by k, not R.
    assert average_precision_at([T, T], 2, total_relevant=50) == pytest.approx(1.0)
    assert average_precision_at([T], 1, total_relevant=0) == 0.0


def test_three_classes_by_hand() -> None:
    truth = ["cat", "cat", "cat", "dog", "dog", "fox"]
    predicted = ["cat", "cat", "cat", "cat", "dog", "dog"]
    scores = class_scores(truth, predicted)
    # cat: 3 right of 4 predicted, all 3 found. dog: 1 of 2, 1 of 2. fox: never predicted.
    assert astuple(scores["cat"]) == pytest.approx((3 / 4, 1.0, 6 / 7, 3))
    assert astuple(scores["dog"]) == pytest.approx((1 / 2, 1 / 2, 1 / 2, 2))
    assert scores["fox"] == ClassScores(0.0, 0.0, 0.0, 1)
    macro = macro_average(scores)
    assert (macro.precision, macro.recall, macro.f1, macro.support) == pytest.approx(
        (5 / 12, 1 / 2, (6 / 7 + 1 / 2) / 3, 6)
    )
    assert confusion_counts(truth, predicted) == {
        "cat": {"cat": 3},
        "dog": {"cat": 1, "dog": 1},
        "fox": {"dog": 1},
    }


def test_a_class_only_predicted_is_listed_but_not_averaged() -> None:
    scores = class_scores(["a", "a"], ["a", "z"])
    assert scores["z"] == ClassScores(0.0, 0.0, 0.0, 0)
    assert astuple(scores["a"]) == pytest.approx((1.0, 0.5, 2 / 3, 2))
    macro = macro_average(scores)
    assert (macro.precision, macro.recall, macro.f1) == pytest.approx((1.0, 0.5, 2 / 3))


def test_no_queries_scores_nothing() -> None:
    assert class_scores([], []) == {} and confusion_counts([], []) == {}
    assert macro_average({}) == ClassScores(0.0, 0.0, 0.0, 0)
