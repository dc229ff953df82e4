"""The FAISS index wrapper against exact ground truth on synthetic embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from search.faiss_api import faiss
from search.index import VectorIndex, choose_factory, choose_nlist
from search.neighbours import exact_neighbours, recall_at_k


def embeddings(n: int, dim: int = 32, seed: int = 1338) -> np.ndarray:
    """Clustered unit vectors with a low intrinsic dimension, like image embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // 100), dim))
    basis = rng.standard_normal((8, dim)) / 3
    points = centres[rng.integers(0, len(centres), n)] + rng.standard_normal((n, 8)) @ basis
    points += rng.standard_normal((n, dim)) * 0.05
    unit: np.ndarray = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
    return unit


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    vectors = embeddings(8000)
    ids = np.arange(len(vectors), dtype=np.int64) * 5 + 3  # ids are not positions
    return vectors, ids


@pytest.fixture
def index(data: tuple[np.ndarray, np.ndarray]) -> VectorIndex:
    vectors, ids = data
    built = VectorIndex.train(
        vectors, factory=choose_factory(len(ids), 32, memory_budget_bytes=2**30)
    )
    built.add(vectors, ids)
    return built


def test_nlist_follows_faiss_guidance() -> None:
    assert choose_nlist(0) == choose_nlist(50) == 1  # tiny: one list, i.e. exact search
    assert choose_nlist(100) == 2  # never under 39 training points per list
    assert choose_nlist(10_000) == 256
    assert choose_nlist(1_000_000) == 4000  # 4 * sqrt(n)


def test_factory_follows_the_memory_budget() -> None:
    assert choose_factory(1000, 128, memory_budget_bytes=10**9) == "IVF25,Flat"
    assert choose_factory(10**6, 1280, memory_budget_bytes=4 * 2**30) == "IVF4000,SQ6"


def test_probing_every_list_is_exact(
    index: VectorIndex, data: tuple[np.ndarray, np.ndarray]
) -> None:
    vectors, ids = data
    queries = vectors[:50]
    hits = index.search(queries, 10, nprobe=index.nlist)
    np.testing.assert_array_equal(hits.ids, exact_neighbours(queries, vectors, ids, 10))
    np.testing.assert_allclose(hits.scores[:, 0], 1.0, rtol=1e-5)


def test_tuned_nprobe_reaches_the_recall_floor_on_held_out_queries(
    index: VectorIndex, data: tuple[np.ndarray, np.ndarray]
) -> None:
    vectors, ids = data
    rng = np.random.default_rng(3)
    picks = rng.choice(len(ids), 600, replace=False)
    tune, held_out = vectors[picks[:300]], vectors[picks[300:]]
    nprobe, recall = index.tune_nprobe(tune, exact_neighbours(tune, vectors, ids, 10), target=0.95)
    assert recall >= 0.95 and 1 <= nprobe < index.nlist and index.nprobe == nprobe
    found = index.search(held_out, 10).ids
    assert recall_at_k(found, exact_neighbours(held_out, vectors, ids, 10)) >= 0.93


def test_add_remove_and_update_without_retraining(
    index: VectorIndex, data: tuple[np.ndarray, np.ndarray]
) -> None:
    vectors, ids = data
    assert index.ivf is not None
    centroids = index.ivf.quantizer.reconstruct_n(0, index.nlist)
    assert index.remove(ids[:100]) == 100 and index.ntotal == len(ids) - 100
    assert not set(index.search(vectors[:100], 1, nprobe=index.nlist).ids[:, 0]) & set(ids[:100])

    new_ids = np.array([10**9, 10**9 + 1], dtype=np.int64)
    index.add(embeddings(2, seed=99), new_ids)
    assert index.search(embeddings(2, seed=99), 1).ids[:, 0].tolist() == new_ids.tolist()

    # An update is a remove and an add under the same id.
    index.remove(ids[500:501])
    index.add(vectors[600:601], ids[500:501])
    assert set(index.search(vectors[600:601], 2, nprobe=index.nlist).ids[0]) == {ids[500], ids[600]}

    np.testing.assert_array_equal(index.ids(), np.sort(np.concatenate([ids[100:], new_ids])))
    after = index.ivf.quantizer.reconstruct_n(0, index.nlist)
    np.testing.assert_array_equal(after, centroids)  # the lists were not retrained


def test_a_selector_gives_the_true_top_k_of_the_allowed_ids(
    index: VectorIndex, data: tuple[np.ndarray, np.ndarray]
) -> None:
    vectors, ids = data
    allowed = np.sort(np.random.default_rng(5).choice(ids, 40, replace=False))
    selector = faiss.IDSelectorBatch(allowed)
    hits = index.search(vectors[:5], 10, nprobe=index.nlist, selector=selector)
    positions = (allowed - 3) // 5
    expected = exact_neighbours(vectors[:5], vectors[positions], allowed, 10)
    np.testing.assert_array_equal(hits.ids, expected)


def test_compressed_index_with_re_ranking(data: tuple[np.ndarray, np.ndarray]) -> None:
    vectors, ids = data
    factory = choose_factory(len(ids), 32, memory_budget_bytes=1000)
    assert factory.endswith("SQ6")
    index = VectorIndex.train(vectors, factory=factory)
    index.add(vectors, ids)
    assert index.compressed

    def lookup(wanted: np.ndarray) -> np.ndarray:
        found: np.ndarray = vectors[(wanted - 3) // 5]
        return found

    queries = vectors[::97]
    truth = exact_neighbours(queries, vectors, ids, 10)
    nprobe, recall = index.tune_nprobe(queries, truth, target=0.95, lookup=lookup)
    assert recall >= 0.95
    hits = index.search(queries, 10, lookup=lookup)
    # Re-ranked scores are exact inner products with the full vectors.
    np.testing.assert_allclose(
        hits.scores[:, 0], (lookup(hits.ids[:, 0]) * queries).sum(axis=1), rtol=1e-5
    )


def test_save_and_load_keep_everything(index: VectorIndex, tmp_path: Path) -> None:
    index.nprobe = 7
    path = str(tmp_path / "index.faiss")
    index.save(path)
    loaded = VectorIndex.load(
        path, factory=index.factory, trained_size=index.trained_size, nprobe=7
    )
    queries = embeddings(20, seed=4)
    np.testing.assert_array_equal(loaded.search(queries, 5).ids, index.search(queries, 5).ids)
    assert loaded.ntotal == index.ntotal and loaded.nprobe == 7
