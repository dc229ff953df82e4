"""Index builds that stream: train on a sample, then add the catalogue a chunk at a time.

Nothing here holds the catalogue's vectors. Peak memory of a build, for n vectors of d floats:

    training:  S*d*4 (the sample, S = min(n, 64*nlist)) + E*d*4 (its encoder subset, E =
               min(S, 100k) for SQ, 0 for Flat), then the sample is freed and FAISS adds 2*E*d*4
               (residuals, SQ's transposed copy) [+ S*d_out*4 while a descriptor transform with
               fewer dimensions runs]
    adding:    the index being built (n * (code bytes + 8), none for sharded builds, whose
               workers spill each chunk to disk) + about 3 chunks (rows*d*4: the rows read,
               their vectors, their transformed copy)
    always:    n*8 (the ids), the tuning queries and their ground truth (nq*(d*4 + k*12))

so the chunk size (FACET_INDEX__CHUNK_MB), not the catalogue, bounds what the reading costs.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from indexer.build.sources import VectorSource
from search.descriptors import DescriptorPlan, DescriptorTransform
from search.index import FloatArray, IdArray, VectorIndex
from search.index_training import (
    empty_index,
    encoder_sample,
    train_encoder,
    train_lists,
    training_limit,
    training_positions,
)
from search.neighbours import TopK

TUNE_K = 10
# Rows transformed at once when a sample is put into the index's space in place.
TRANSFORM_BLOCK = 16_384


def chunk_rows(chunk_bytes: int, dim: int) -> int:
    """Rows of dim float32 values in a chunk of chunk_bytes (at least one)."""
    return max(1, chunk_bytes // (dim * 4))


def train_on_sample(
    source: VectorSource,
    ids: IdArray,
    *,
    factory: str,
    seed: int,
    descriptor: DescriptorPlan,
) -> VectorIndex:
    """An empty index of `factory`, trained on a sample of the catalogue read by id.

    The sample is the one `VectorIndex.train` would take from the whole catalogue in memory
    (same seed, same positions); the descriptor transform is learned from it too.

    Args:
        source: where the vectors are.
        ids: the catalogue's ids, ascending.
        factory: FAISS factory string.
        seed: for the sample and k-means.
        descriptor: what transform to learn (nothing, centring, PCA).
    """
    dim = source.vectors(ids[:1]).shape[1]
    positions = training_positions(len(ids), training_limit(empty_index(dim, factory)), seed)
    sample = source.vectors(ids[positions])
    transform = descriptor.learn(sample)
    if transform is not None:
        sample = in_index_space(sample, transform)
    index = empty_index(sample.shape[1], factory)
    train_lists(index, sample, seed=seed)
    encoder = encoder_sample(index, sample, seed=seed)
    del sample  # the encoder's subset (if any) is a copy: free the rest before FAISS's residuals
    train_encoder(index, encoder)
    return VectorIndex(index, factory, trained_size=len(ids), transform=transform)


def in_index_space(sample: FloatArray, transform: DescriptorTransform) -> FloatArray:
    """The sample as catalogue vectors in the index's space, transformed a block at a time and,
    when the dimension stays, in place: never two copies of a large sample."""
    out = sample if transform.out_dim == transform.in_dim else None
    if out is None:
        out = np.empty((len(sample), transform.out_dim), dtype=np.float32)
    for start in range(0, len(sample), TRANSFORM_BLOCK):
        block = slice(start, start + TRANSFORM_BLOCK)
        out[block] = transform.catalogue(sample[block])
    return out


def add_chunks(
    index: VectorIndex, chunks: Iterable[tuple[IdArray, FloatArray]], truth: TopK | None
) -> int:
    """Add every chunk's vectors to `index` and show them to the ground truth; returns the count.

    Each chunk is put into the index's space once, for both.
    """
    added = 0
    for ids, vectors in chunks:
        space = index.query_space(vectors, photos=False)
        index.add(space, ids, in_index_space=True)
        if truth is not None:
            truth.update(space, ids)
        added += len(ids)
    return added


def exact_truth(
    source: VectorSource, index: VectorIndex, queries: FloatArray, *, rows: int
) -> TopK:
    """Ground truth for queries (in the index's space) over the whole catalogue, streamed."""
    truth = TopK(queries, TUNE_K)
    for ids, vectors in source.chunks(after=-1, until=None, rows=rows):
        truth.update(index.query_space(vectors, photos=False), ids)
    return truth


def tuning_sample(count: int, queries: int, seed: int) -> IdArray:
    """Positions (ascending) of the catalogue vectors that serve as tuning queries."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(count, min(queries, count), replace=False)).astype(np.int64)
