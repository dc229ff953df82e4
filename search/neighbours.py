"""The maths around an approximate search: exact ground truth, recall, exact re-ranking."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from search.faiss_api import faiss

FloatArray = npt.NDArray[np.float32]
IdArray = npt.NDArray[np.int64]
# Looks up the stored full-precision vectors of image ids (for re-ranking compressed results).
VectorLookup = Callable[[IdArray], FloatArray]


def exact_neighbours(queries: FloatArray, vectors: FloatArray, ids: IdArray, k: int) -> IdArray:
    """Ground truth: the k nearest ids by exact inner product (FAISS's brute force)."""
    _, positions = faiss.knn(
        np.ascontiguousarray(queries, dtype=np.float32),
        np.ascontiguousarray(vectors, dtype=np.float32),
        min(k, len(vectors)),
        metric=faiss.METRIC_INNER_PRODUCT,
    )
    return np.where(positions >= 0, ids[np.maximum(positions, 0)], -1)


class TopK:
    """Exact nearest neighbours of fixed queries, over vectors seen a chunk at a time.

    Ground truth for a catalogue that is never in memory at once: each chunk's k best merge
    into the running k best (ties keep the earlier chunk's first). Memory: the queries and
    (nq, k) results.
    """

    def __init__(self, queries: FloatArray, k: int) -> None:
        self.queries = np.ascontiguousarray(queries, dtype=np.float32)
        self.k = k
        self.scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        self.ids = np.full((len(queries), k), -1, dtype=np.int64)

    def update(self, vectors: FloatArray, ids: IdArray) -> None:
        """Take in one chunk: (m, d) vectors in the queries' space, their ids."""
        if not len(ids) or not len(self.queries):
            return
        scores, positions = faiss.knn(
            self.queries,
            np.ascontiguousarray(vectors, dtype=np.float32),
            min(self.k, len(ids)),
            metric=faiss.METRIC_INNER_PRODUCT,
        )
        found = np.where(positions >= 0, ids[np.maximum(positions, 0)], -1)
        self.merge(np.where(positions >= 0, scores, -np.inf).astype(np.float32), found)

    def merge(self, scores: FloatArray, ids: IdArray) -> None:
        """Take in another (nq, m) result, e.g. another shard's running top k."""
        both = np.concatenate([self.scores, scores], axis=1)
        order = np.argsort(-both, axis=1, kind="stable")[:, : self.k]
        self.scores = np.take_along_axis(both, order, axis=1)
        self.ids = np.take_along_axis(np.concatenate([self.ids, ids], axis=1), order, axis=1)


def recall_at_k(found: IdArray, truth: IdArray) -> float:
    """Mean share of each query's true k nearest that were found (ignoring -1 padding)."""
    total = hits = 0
    for got, want in zip(found, truth, strict=True):
        wanted = set(want[want >= 0].tolist())
        total += len(wanted)
        hits += len(wanted & set(got.tolist()))
    return hits / total if total else 1.0


def rerank(
    queries: FloatArray, candidates: IdArray, lookup: VectorLookup, k: int
) -> tuple[FloatArray, IdArray]:
    """Re-score each query's candidate ids with full vectors; keep the best k (-1 padded)."""
    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    ids = np.full((len(queries), k), -1, dtype=np.int64)
    for row, (query, found) in enumerate(zip(queries, candidates, strict=True)):
        valid = found[found >= 0]
        if not len(valid):
            continue
        exact = lookup(valid) @ query
        order = np.argsort(-exact)[:k]
        scores[row, : len(order)] = exact[order]
        ids[row, : len(order)] = valid[order]
    return scores, ids
