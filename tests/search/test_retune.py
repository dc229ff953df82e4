"""nprobe re-tuned in the background once admin writes have changed enough of the index."""

from __future__ import annotations

import threading

import numpy as np

from search.index import FloatArray, IdArray, VectorIndex
from search.neighbours import exact_neighbours, recall_at_k
from search.retune import RetunePolicy, Retuner, Tuning, retune


def clustered(count: int, dim: int = 24, seed: int = 3) -> tuple[IdArray, FloatArray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim))
    vectors = centres[rng.integers(40, size=count)] + 0.7 * rng.standard_normal((count, dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.arange(10, 10 + count, dtype=np.int64), vectors.astype(np.float32)


def lookup_of(ids: IdArray, vectors: FloatArray):  # type: ignore[no-untyped-def]
    return lambda wanted: vectors[np.searchsorted(ids, wanted)]


def test_retune_finds_the_nprobe_that_reaches_the_target() -> None:
    ids, vectors = clustered(4000)
    index = VectorIndex.train(vectors, factory="IVF64,Flat")
    index.add(vectors, ids)
    index.nprobe = 1  # far too few lists for 0.95
    tuning = retune(index, lookup_of(ids, vectors), target=0.95, queries=200)
    assert tuning.nprobe > 1 and index.nprobe == tuning.nprobe
    assert tuning.recall_at_10 >= 0.95 and tuning.queries == 200
    # The measured recall holds against exact search too (Flat lists: every list is exact).
    queries = vectors[::20]
    truth = exact_neighbours(queries, vectors, ids, 10)
    assert recall_at_k(index.search(queries, 10).ids, truth) >= 0.93


def test_the_retuner_waits_for_enough_changes_then_applies_once() -> None:
    ids, vectors = clustered(4000)
    index = VectorIndex.train(vectors, factory="IVF64,Flat")
    index.add(vectors, ids)
    index.nprobe = 1
    applied: list[Tuning] = []
    done = threading.Event()

    def apply(tuning: Tuning) -> None:
        applied.append(tuning)
        done.set()

    retuner = Retuner(RetunePolicy(share=0.1, target=0.95, queries=100))
    retuner.loaded(1, 0.5)
    lookup = lookup_of(ids, vectors)
    retuner.note(300, index, lookup, apply)  # 7.5% of 4,000: not yet
    retuner.wait()
    assert not applied and retuner.changed == 300
    retuner.note(120, index, lookup, apply)  # 10.5%: re-tune
    assert done.wait(30)
    assert retuner.changed == 0 and applied[0].nprobe > 1
    assert retuner.tuning is applied[0] and applied[0].recall_at_10 >= 0.95
