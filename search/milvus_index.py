"""A Milvus collection as the vector index: the same interface as the FAISS `VectorIndex`.

The collection is keyed by image id and holds each image's vector (inner product on unit
vectors, as FAISS) and its product's filterable fields (`search.milvus_fields`), so filters run
inside Milvus's search as boolean expressions (`search.milvus_expr`). Changes apply in place:
an update of the live collection is seen by every reader at once (there is no private copy to
publish, unlike FAISS), which is why `changed(copy=True)` changes the collection itself.

pymilvus is never imported here: the client comes from `search.milvus_store`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import Engine

from search.errors import BackendUnavailable
from search.index import FloatArray, IdArray, SearchHits, VectorIndex
from search.milvus_fields import SCALARS, Fields, differing, images_of, product_fields, rows
from search.neighbours import VectorLookup

# Milvus answers at most this many results a query (its topk limit).
MAX_TOPK = 16_384
# Queries, rows and ids per request: well inside gRPC's 64 MiB message limit at 1280 floats.
BATCH = 1_000
IVF_FACTORY = "IVF{nlist},Flat"
# Milvus's largest nprobe.
PROBE_ALL = 65_536


class MilvusIndex(VectorIndex):
    """One Milvus collection of image vectors with their product fields."""

    backend = "milvus"

    def __init__(
        self,
        client: Any,
        collection: str,
        *,
        dim: int,
        nlist: int,
        trained_size: int,
        nprobe: int = 1,
        engine: Engine | None = None,
    ) -> None:
        """`engine`: the product store, where the rows' product fields are read; only a
        process that writes rows needs it."""
        # No FAISS index behind it: VectorIndex's attributes, set by hand.
        self.index = None
        self.factory = IVF_FACTORY.format(nlist=nlist)
        self.trained_size = trained_size
        self.transform = None
        self.ivf = None
        self.nprobe = nprobe
        self.client = client
        self.collection = collection
        self.engine = engine
        self._dim = dim
        self._nlist = nlist
        self._ntotal = self._count()

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def nlist(self) -> int:
        return self._nlist

    @property
    def ntotal(self) -> int:
        return self._ntotal

    @property
    def compressed(self) -> bool:
        return False

    def _count(self) -> int:
        return self.count()

    def count(self, expression: str = "") -> int:
        """Rows that `expression` keeps (all rows for "")."""
        result = self.client.query(self.collection, filter=expression, output_fields=["count(*)"])
        return int(result[0]["count(*)"])

    def seal(self) -> None:
        """Index the filled collection (IVF_FLAT, `nlist` lists) and load it for searching."""
        self.client.flush(self.collection)
        params = self.client.prepare_index_params()
        params.add_index(
            "vector", index_type="IVF_FLAT", metric_type="IP", params={"nlist": self._nlist}
        )
        self.client.create_index(self.collection, params)
        self.client.load_collection(self.collection)

    def add(self, vectors: FloatArray, ids: IdArray, *, in_index_space: bool = False) -> None:
        """Write (upsert) these images' vectors and their products' fields."""
        if not len(ids):
            return
        if self.engine is None:
            raise BackendUnavailable("this process opened Milvus without the product store")
        for start in range(0, len(ids), BATCH):
            part = ids[start : start + BATCH]
            fields = product_fields(self.engine, part.tolist())
            block = np.asarray(vectors[start : start + BATCH], dtype=np.float32)
            self.client.upsert(self.collection, rows(part, block, fields))
        self._ntotal = self._count()

    def remove(self, ids: IdArray) -> int:
        if not len(ids):
            return 0
        present = 0
        for start in range(0, len(ids), BATCH):
            part = [int(i) for i in ids[start : start + BATCH]]
            present += len(self.client.get(self.collection, ids=part, output_fields=["id"]))
            self.client.delete(self.collection, ids=part)
        self._ntotal = self._count()
        return present

    def changed(
        self, remove: IdArray, add: IdArray, vectors_for: VectorLookup, *, copy: bool
    ) -> tuple[VectorIndex, int]:
        """Changes the collection in place whatever `copy` says (see the module's doc)."""
        removed = self.remove(remove)
        if len(add):
            self.add(vectors_for(add), add)
        return self, removed

    def copy(self) -> VectorIndex:
        return self  # one collection, shared: see `changed`

    def ids(self) -> IdArray:
        found = [row["id"] for row in self._rows(["id"])]
        return np.sort(np.asarray(found, dtype=np.int64))

    def _rows(self, fields: list[str]) -> list[dict[str, Any]]:
        """Every row's `fields`, read in batches."""
        iterator = self.client.query_iterator(
            self.collection, batch_size=BATCH, output_fields=fields
        )
        found: list[dict[str, Any]] = []
        try:
            while batch := iterator.next():
                found.extend(batch)
        finally:
            iterator.close()
        return found

    def reconstruct(self, ids: IdArray) -> FloatArray:
        """The stored vectors of these ids, in the order given (KeyError for a missing one)."""
        by_id: dict[int, list[float]] = {}
        for start in range(0, len(ids), BATCH):
            part = [int(i) for i in ids[start : start + BATCH]]
            for row in self.client.get(self.collection, ids=part, output_fields=["vector"]):
                by_id[int(row["id"])] = row["vector"]
        out = np.zeros((len(ids), self._dim), dtype=np.float32)
        for row, image_id in enumerate(ids):
            out[row] = by_id[int(image_id)]
        return out

    def imbalance(self) -> float:
        """Milvus does not expose its list sizes: never a reason to retrain."""
        return 1.0

    def search(
        self,
        queries: FloatArray,
        k: int,
        *,
        nprobe: int | None = None,
        selector: Any | None = None,
        lookup: VectorLookup | None = None,
        rerank_factor: int = 10,
        expression: str = "",
    ) -> SearchHits:
        """The k nearest image ids of each query among the rows `expression` keeps (a Milvus
        boolean expression; "" keeps all). Results beyond Milvus's topk limit are left -1."""
        if selector is not None:
            raise TypeError("Milvus filters by expression, not by FAISS selector")
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        probe = nprobe or self.nprobe
        # Probing every list means every list, whatever Milvus made: it serves small and growing
        # segments with an interim index of its own (more lists than ours), where nprobe = our
        # nlist would miss most rows.
        probe = PROBE_ALL if probe >= self._nlist else probe
        params = {"metric_type": "IP", "params": {"nprobe": probe}}
        for start in range(0, len(queries), BATCH):
            results = self.client.search(
                self.collection,
                data=queries[start : start + BATCH].tolist(),
                limit=max(1, min(k, MAX_TOPK)),
                search_params=params,
                filter=expression,
                output_fields=["id"],
            )
            for row, hits in enumerate(results, start=start):
                for column, hit in enumerate(hits[:k]):
                    ids[row, column] = int(hit["id"])
                    scores[row, column] = float(hit["distance"])
        return SearchHits(scores, ids)

    def save(self, path: str) -> None:
        """Nothing to write: the rows are in Milvus, the manifest names the collection."""

    def held_fields(self, ids: IdArray | None = None) -> dict[int, Fields]:
        """The product fields the collection holds, by image id (all rows, or these)."""
        names = ["id", *SCALARS]
        if ids is None:
            found = self._rows(names)
        else:
            found = []
            for start in range(0, len(ids), BATCH):
                part = [int(i) for i in ids[start : start + BATCH]]
                found.extend(self.client.get(self.collection, ids=part, output_fields=names))
        return {int(row["id"]): {name: row.get(name) for name in SCALARS} for row in found}

    def wrong_fields(self, ids: IdArray | None = None) -> list[int]:
        """Ids whose product fields in the collection are not the store's."""
        if self.engine is None:
            raise BackendUnavailable("this process opened Milvus without the product store")
        held = self.held_fields(ids)
        return differing(held, product_fields(self.engine, held))

    def sync_fields(self, ids: IdArray | None = None) -> int:
        """Re-write the rows whose product fields changed (all rows, or these ids); returns
        how many were re-written (with the vectors they hold)."""
        wrong = np.asarray(self.wrong_fields(ids), dtype=np.int64)
        if len(wrong):
            self.add(self.reconstruct(wrong), wrong)
        return int(len(wrong))

    def sync_products(self, skus: list[str]) -> int:
        """`sync_fields` for these products' images (an admin write changed them)."""
        assert self.engine is not None
        return self.sync_fields(np.asarray(images_of(self.engine, skus), dtype=np.int64))
