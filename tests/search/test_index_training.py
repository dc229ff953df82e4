"""Training on a sample in bounded memory gives what FAISS's own training gives."""

from __future__ import annotations

import numpy as np
import pytest

from search.faiss_api import faiss
from search.index_training import (
    empty_index,
    encoder_sample,
    train_encoder,
    train_index,
    train_lists,
    training_limit,
    training_positions,
)
from tests.search.test_index import embeddings


@pytest.mark.parametrize("factory", ["IVF32,Flat", "IVF32,SQ6", "Flat"])
def test_training_equals_faiss_own_up_to_the_encoder_sample(factory: str) -> None:
    sample = embeddings(3000, dim=16)
    ours, theirs = empty_index(16, factory), empty_index(16, factory)
    train_index(ours, sample.copy(), seed=5)
    if "IVF" in factory:
        ivf = faiss.extract_index_ivf(theirs)
        ivf.cp.seed, ivf.cp.max_points_per_centroid, ivf.cp.min_points_per_centroid = 5, 64, 1
    theirs.train(sample)
    assert ours.is_trained and theirs.is_trained
    for index in (ours, theirs):
        index.add(sample)
    np.testing.assert_array_equal(ours.search(sample[:50], 5)[1], theirs.search(sample[:50], 5)[1])


def test_a_large_sample_trains_the_encoder_on_a_seeded_subset() -> None:
    nlist = 1600  # 64 a list: a sample over FAISS's 100,000 encoder vectors
    index = empty_index(8, f"IVF{nlist},SQ6")
    limit = training_limit(index)
    assert limit == nlist * 64 and training_limit(empty_index(8, "Flat")) is None
    sample = embeddings(limit, dim=8)
    train_lists(index, sample, seed=1)
    assert not index.is_trained and faiss.extract_index_ivf(index).quantizer.ntotal == nlist
    subset = encoder_sample(index, sample, seed=1)
    assert len(subset) == 100_000 and not np.shares_memory(subset, sample)
    np.testing.assert_array_equal(subset, encoder_sample(index, sample, seed=1))
    train_encoder(index, subset)
    assert index.is_trained
    index.add(sample[:2000])
    found = index.search(sample[:100], 1)[1][:, 0]
    assert (found == np.arange(100)).mean() > 0.9
    flat = empty_index(8, "IVF4,Flat")
    assert encoder_sample(flat, sample, seed=1) is sample  # Flat has no encoder to train


def test_the_sample_is_all_vectors_up_to_the_limit_then_a_seeded_draw() -> None:
    np.testing.assert_array_equal(training_positions(5, 10, 1), np.arange(5))
    drawn = training_positions(1000, 64, 3)
    assert len(drawn) == 64 and (np.diff(drawn) > 0).all()
    np.testing.assert_array_equal(drawn, training_positions(1000, 64, 3))
