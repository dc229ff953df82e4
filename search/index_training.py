"""Training an index on a sample: k-means for the lists, then the encoder, in bounded memory.

A build reads only the sample it trains on (`training_positions`), so the catalogue's size
does not decide the memory training needs: at most MAX_TRAINING_POINTS_PER_LIST vectors a
list. The two stages are separate so that the large sample can be freed before the encoder's:
FAISS's own `train` keeps the sample while it copies an encoder subset (100,000 vectors for SQ)
and makes that subset's residuals and, for SQ, a transposed copy: 1.1 GB + 3 x 300 MB at
2,000,000 x 768, against 1.1 GB + 300 MB here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from search.faiss_api import faiss
from search.index_sizing import MAX_TRAINING_POINTS_PER_LIST
from search.neighbours import FloatArray


def empty_index(dim: int, factory: str) -> Any:
    """A new, untrained FAISS index of `factory` for inner-product search."""
    return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)


def training_limit(index: Any) -> int | None:
    """How many vectors train `index` at most (None: no limit, it has no lists)."""
    if not _has_ivf(index):
        return None
    return int(faiss.extract_index_ivf(index).nlist) * MAX_TRAINING_POINTS_PER_LIST


def training_positions(n: int, limit: int | None, seed: int) -> npt.NDArray[np.int64]:
    """Which of n catalogue vectors (by position, ascending) train an index: all of them up to
    `limit`, else a random sample of `limit`. The same seed picks the same sample, whether the
    catalogue is in RAM or streamed from the store."""
    if limit is None or n <= limit:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, limit, replace=False)).astype(np.int64)


def train_index(index: Any, sample: FloatArray, *, seed: int) -> None:
    """Train `index` in place on `sample`, (n, d) float32 in the index's space: `train_lists`,
    then `train_encoder` on `encoder_sample` (a caller that owns a large sample can drop it in
    between, as `indexer.build.streaming` does)."""
    train_lists(index, sample, seed=seed)
    train_encoder(index, encoder_sample(index, sample, seed=seed))


def train_lists(index: Any, sample: FloatArray, *, seed: int) -> None:
    """k-means: the coarse quantizer of an IVF index, as FAISS's own `train` makes it.

    An index that is not a plain IVF one (no lists, or a transform in front of them) is
    trained whole, by FAISS, here.
    """
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    if not isinstance(index, faiss.IndexIVF):
        if _has_ivf(index):
            _configure(faiss.extract_index_ivf(index), seed)
        index.train(sample)
        return
    _configure(index, seed)
    clustering = faiss.Clustering(index.d, index.nlist, index.cp)
    index.quantizer.reset()
    clustering.train(sample, index.quantizer)
    index.quantizer.is_trained = True


def encoder_sample(index: Any, sample: FloatArray, *, seed: int) -> FloatArray:
    """What the encoder (SQ) learns from: the sample, or a random subset of FAISS's encoder
    size (100,000 for SQ), copied, so that the caller can free the rest before FAISS adds its
    residuals (and SQ's transposed copy) of it."""
    wanted = int(index.train_encoder_num_vectors()) if isinstance(index, faiss.IndexIVF) else 0
    if index.is_trained or not 0 < wanted < len(sample):
        return sample
    rng = np.random.default_rng(seed)
    subset: FloatArray = sample[np.sort(rng.choice(len(sample), wanted, replace=False))]
    return subset


def train_encoder(index: Any, sample: FloatArray) -> None:
    """Train what is left of `index` once its lists are: the encoder (nothing for Flat)."""
    if not index.is_trained:
        # The quantizer is trained, so FAISS's `train` skips k-means and trains the encoder.
        index.train(np.ascontiguousarray(sample, dtype=np.float32))


def _configure(ivf: Any, seed: int) -> None:
    ivf.cp.seed = seed
    ivf.cp.max_points_per_centroid = MAX_TRAINING_POINTS_PER_LIST
    ivf.cp.min_points_per_centroid = 1  # tiny catalogues: train anyway, quietly


def _has_ivf(index: Any) -> bool:
    try:
        faiss.extract_index_ivf(index)
    except RuntimeError:
        return False
    return True
