"""The vector index: a FAISS IVF index keyed by image id, sized and tuned for its catalogue."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search.descriptors import DescriptorTransform
from search.faiss_api import faiss
from search.index_sizing import MAX_TRAINING_POINTS_PER_LIST as MAX_TRAINING_POINTS_PER_LIST
from search.index_sizing import MIN_POINTS_PER_LIST as MIN_POINTS_PER_LIST
from search.index_sizing import choose_factory as choose_factory
from search.index_sizing import choose_nlist as choose_nlist
from search.index_sizing import is_compressed
from search.index_training import empty_index, train_index, training_limit, training_positions
from search.neighbours import FloatArray as FloatArray
from search.neighbours import IdArray as IdArray
from search.neighbours import VectorLookup as VectorLookup
from search.neighbours import recall_at_k, rerank

log = logging.getLogger(__name__)


DESCRIPTOR_FILE = "descriptor.npz"
NPROBE_STEPS = (1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024)


@dataclass
class SearchHits:
    """Results for each query, best first; missing results have id -1."""

    scores: FloatArray  # (nq, k) inner products = cosine similarities
    ids: IdArray  # (nq, k) image ids


class VectorIndex:
    """A trained FAISS index on L2-normalised vectors with inner-product (cosine) metric.

    With a descriptor transform (search.descriptors), the index holds transformed vectors:
    `train` and `add` take stored (raw) vectors and transform them as catalogue images, lookups
    for re-ranking are transformed alike, and queries must be put into the index's space first
    (`query_space`). `dim` is always the raw vectors' dimension.
    """

    backend = "faiss"  # where the vectors live; search.milvus_index: "milvus", in `collection`
    collection = ""

    def __init__(
        self,
        index: Any,
        factory: str,
        trained_size: int,
        transform: DescriptorTransform | None = None,
    ) -> None:
        self.index = index
        self.factory = factory
        self.trained_size = trained_size
        self.transform = transform
        self.ivf = faiss.extract_index_ivf(index) if "IVF" in factory else None
        self.nprobe = 1
        self._mapping = threading.Lock()

    def _direct_map(self) -> None:
        """Make the id -> list entry map that reconstruct and remove need, on first use.

        Arbitrary ids (ours are image ids) need FAISS's hash-table direct map: some 50 bytes a
        vector, which a process that only searches (the service, mostly) never pays.
        """
        if self.ivf is None or self.ivf.direct_map.type == faiss.DirectMap.Hashtable:
            return
        with self._mapping:  # searches run in several threads
            if self.ivf.direct_map.type != faiss.DirectMap.Hashtable:
                self.ivf.set_direct_map_type(faiss.DirectMap.Hashtable)

    @property
    def on_disk(self) -> bool:
        """Whether the lists live in a memory-mapped file (search.ondisk_index)."""
        return False

    @property
    def dim(self) -> int:
        """The dimension of the vectors it takes (stored vectors, query embeddings)."""
        return self.transform.in_dim if self.transform is not None else int(self.index.d)

    def query_space(self, vectors: FloatArray, *, photos: bool = True) -> FloatArray:
        """Query vectors in the index's space: uploaded photos, or catalogue images' stored
        vectors (similar items) with `photos=False`."""
        if self.transform is None:
            return np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        return self.transform.photos(vectors) if photos else self.transform.catalogue(vectors)

    def _stored(self, vectors: FloatArray) -> FloatArray:
        return vectors if self.transform is None else self.transform.catalogue(vectors)

    def index_space(self, lookup: VectorLookup) -> VectorLookup:
        """A lookup of stored vectors that answers in the index's space (for re-ranking)."""
        if self.transform is None:
            return lookup
        return lambda ids: self._stored(lookup(ids))

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def nlist(self) -> int:
        return int(self.ivf.nlist) if self.ivf is not None else 1

    @property
    def compressed(self) -> bool:
        return is_compressed(self.factory)

    @classmethod
    def train(
        cls,
        vectors: FloatArray,
        *,
        factory: str,
        seed: int = 1338,
        transform: DescriptorTransform | None = None,
    ) -> VectorIndex:
        """Create an empty index of `factory` and train it on (a sample of) `vectors`.

        Args:
            vectors: (n, d) float32, unit length: the catalogue, or a sample of it.
            factory: FAISS factory string, e.g. from `choose_factory`.
            seed: for the training sample and k-means, so builds are reproducible.
            transform: the build's descriptor transform; training sees transformed vectors.
        """
        dim = vectors.shape[1] if transform is None else transform.out_dim
        index = empty_index(dim, factory)
        positions = training_positions(len(vectors), training_limit(index), seed)
        # A copy of its own either way: training may reorder the rows of its sample.
        sample = (
            vectors[positions] if transform is None else transform.catalogue(vectors[positions])
        )
        train_index(index, sample, seed=seed)
        return cls(index, factory, trained_size=len(vectors), transform=transform)

    def add(self, vectors: FloatArray, ids: IdArray, *, in_index_space: bool = False) -> None:
        """Add stored (raw) vectors under their image ids (already transformed: in_index_space)."""
        if len(ids):
            space = vectors if in_index_space else self._stored(vectors)
            self.index.add_with_ids(
                np.ascontiguousarray(space, dtype=np.float32),
                np.ascontiguousarray(ids, np.int64),
            )

    def remove(self, ids: IdArray) -> int:
        """Remove these image ids; returns how many were present."""
        if not len(ids):
            return 0
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        self._direct_map()
        # The hash-table direct map only supports removal through an IDSelectorArray.
        return int(self.index.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids))))

    def changed(
        self, remove: IdArray, add: IdArray, vectors_for: VectorLookup, *, copy: bool
    ) -> tuple[VectorIndex, int]:
        """This index without the ids `remove`, with `add` (their vectors from `vectors_for`).

        Changes this index, or with `copy` a copy of it. Returns (the changed index, how many of
        `remove` were present).
        """
        target = self.copy() if copy else self
        removed = target.remove(remove)
        if len(add):
            target.add(vectors_for(add), add)
        return target, removed

    def ids(self) -> IdArray:
        """Every id in the index, ascending."""
        if self.ivf is None:
            raise TypeError("only IVF indexes list their ids")
        invlists = self.ivf.invlists
        parts = []
        for list_no in range(self.ivf.nlist):
            size = invlists.list_size(list_no)
            if size:
                pointer = invlists.get_ids(list_no)
                parts.append(faiss.rev_swig_ptr(pointer, size).copy())
                invlists.release_ids(list_no, pointer)
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def reconstruct(self, ids: IdArray) -> FloatArray:
        """The index's vectors for these ids (approximations, for a compressed index)."""
        if not len(ids):
            return np.zeros((0, int(self.index.d)), dtype=np.float32)
        self._direct_map()
        vectors: FloatArray = self.index.reconstruct_batch(np.ascontiguousarray(ids, np.int64))
        return vectors

    def imbalance(self) -> float:
        """FAISS's list imbalance factor: 1.0 is perfectly even; large means slow searches."""
        if self.ivf is None or self.ntotal == 0:
            return 1.0
        return float(self.ivf.invlists.imbalance_factor())

    def search(
        self,
        queries: FloatArray,
        k: int,
        *,
        nprobe: int | None = None,
        selector: Any | None = None,
        lookup: VectorLookup | None = None,
        rerank_factor: int = 10,
    ) -> SearchHits:
        """The k nearest image ids of each query.

        Args:
            queries: (nq, d) float32, unit length, in the index's space (`query_space`).
            k: results per query.
            nprobe: lists to visit (default: the tuned value).
            selector: only these ids may be returned (FAISS filters inside the search, so a
                selective filter still yields the true top-k of the allowed set).
            lookup: stored vectors by id; when given and the index is compressed, the best
                `k * rerank_factor` candidates are re-scored exactly and the top k kept.
            rerank_factor: candidates per result to re-rank.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        re_rank = lookup is not None and self.compressed
        fetch = min(k * rerank_factor, max(self.ntotal, 1)) if re_rank else k
        params = None
        if self.ivf is not None:
            params = faiss.SearchParametersIVF(nprobe=min(nprobe or self.nprobe, self.nlist))
            if selector is not None:
                params.sel = selector
        elif selector is not None:
            params = faiss.SearchParameters(sel=selector)
        scores, ids = self.index.search(queries, fetch, params=params)
        if re_rank:
            assert lookup is not None
            scores, ids = rerank(queries, ids, self.index_space(lookup), k)
        return SearchHits(scores, ids)

    def tune_nprobe(
        self,
        queries: FloatArray,
        truth: IdArray,
        *,
        target: float,
        lookup: VectorLookup | None = None,
    ) -> tuple[int, float]:
        """The smallest nprobe whose recall@k against `truth` reaches `target`; sets it.

        Args:
            queries: (nq, d) sample queries, in the index's space.
            truth: (nq, k) exact nearest ids of each query.
            target: recall to reach, e.g. 0.95.
            lookup: as for `search` (re-ranking counts towards recall).

        Returns:
            (nprobe, its measured recall). If no nprobe reaches the target, every list is
            searched and that recall is returned.
        """
        k = truth.shape[1]
        steps = [step for step in NPROBE_STEPS if step < self.nlist] + [self.nlist]
        recall = 0.0
        for nprobe in steps:
            hits = self.search(queries, k, nprobe=nprobe, lookup=lookup)
            recall = recall_at_k(hits.ids, truth)
            if recall >= target:
                break
        self.nprobe = nprobe
        return nprobe, recall

    def save(self, path: str) -> None:
        """Write the FAISS index to `path` and its transform (if any) beside it."""
        faiss.write_index(self.index, path)
        if self.transform is not None:
            self.transform.save(descriptor_path(path))

    @classmethod
    def load(cls, path: str, *, factory: str, trained_size: int, nprobe: int) -> VectorIndex:
        beside = descriptor_path(path)
        transform = DescriptorTransform.load(beside) if beside.is_file() else None
        loaded = cls(faiss.read_index(path), factory, trained_size, transform)
        loaded.nprobe = nprobe
        return loaded

    def copy(self) -> VectorIndex:
        clone = VectorIndex(
            faiss.clone_index(self.index), self.factory, self.trained_size, self.transform
        )
        clone.nprobe = self.nprobe
        return clone


def descriptor_path(index_path: str) -> Path:
    """Where an index file's descriptor transform lives: beside it, in the build's folder."""
    return Path(index_path).with_name(DESCRIPTOR_FILE)
