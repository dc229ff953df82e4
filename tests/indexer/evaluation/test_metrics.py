"""Retrieval metrics against cases computed by hand."""

from __future__ import annotations

import pytest

from indexer.evaluation.metrics import (
    average_precision_at,
    first_relevant_rank,
    hit_at,
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
