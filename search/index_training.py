"""Training an index on a sample: k-means for the lists, then the encoder, in bounded memory.

A build reads only the sample it trains on (`training_positions`), so the catalogue's size
does not decide the memory training needs: at most MAX_TRAINING_POINTS_PER_LIST vectors a
list, plus FAISS's encoder sample (100,000 for SQ) on top.
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
    """Train `index` in place on `sample`, (n, d) float32 in the index's space.

    The rows of `sample` may be reordered (it must be the caller's own array). FAISS's own
    `train` copies a 100,000-vector encoder sample out of the training sample and then makes
    its residuals; here the lists are trained first, the sample is shuffled in place and the
    encoder learns from a prefix of it: one copy fewer (300 MB at 768 dimensions). Up to that
    size the result is exactly FAISS's.
    """
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    if not isinstance(index, faiss.IndexIVF):  # no lists, or a transform in front of them
        if _has_ivf(index):
            _configure(faiss.extract_index_ivf(index), seed)
        index.train(sample)
        return
    _configure(index, seed)
    clustering = faiss.Clustering(index.d, index.nlist, index.cp)
    index.quantizer.reset()
    clustering.train(sample, index.quantizer)
    index.quantizer.is_trained = True
    encoder_points = int(index.train_encoder_num_vectors())
    if 0 < encoder_points < len(sample):
        np.random.default_rng(seed).shuffle(sample)
        sample = sample[:encoder_points]
    index.train(sample)  # the quantizer is trained, so FAISS trains only the encoder


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
