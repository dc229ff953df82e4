"""Training on a sample in bounded memory gives what FAISS's own training gives."""

from __future__ import annotations

import numpy as np
import pytest

from search.faiss_api import faiss
from search.index_training import empty_index, train_index, training_limit, training_positions
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


def test_a_large_sample_trains_the_encoder_on_a_shuffled_prefix() -> None:
    nlist = 1600  # 64 a list: a sample over FAISS's 100,000 encoder vectors
    index = empty_index(8, f"IVF{nlist},SQ6")
    limit = training_limit(index)
    assert limit == nlist * 64 and training_limit(empty_index(8, "Flat")) is None
    sample = embeddings(limit, dim=8)
    before = sample.copy()
    train_index(index, sample, seed=1)
    assert index.is_trained and faiss.extract_index_ivf(index).quantizer.ntotal == nlist
    assert not np.array_equal(sample, before)  # reordered in place, as documented
    np.testing.assert_array_equal(np.sort(sample, axis=0), np.sort(before, axis=0))
    index.add(before[:2000])
    found = index.search(before[:100], 1)[1][:, 0]
    assert (found == np.arange(100)).mean() > 0.9


def test_the_sample_is_all_vectors_up_to_the_limit_then_a_seeded_draw() -> None:
    np.testing.assert_array_equal(training_positions(5, 10, 1), np.arange(5))
    drawn = training_positions(1000, 64, 3)
    assert len(drawn) == 64 and (np.diff(drawn) > 0).all()
    np.testing.assert_array_equal(drawn, training_positions(1000, 64, 3))
