"""`facet build`'s index step on Milvus: a new collection, filled and indexed, for a full build."""

from __future__ import annotations

import re

from indexer.build.sources import VectorSource
from indexer.build.streaming import TUNE_K, add_chunks, chunk_rows
from search.builds import ExternalIndexes
from search.errors import BackendUnavailable
from search.index import FloatArray, IdArray, VectorIndex
from search.index_sizing import choose_nlist
from search.milvus_config import unsupported
from search.milvus_store import MilvusStore
from search.neighbours import TopK


def milvus_factory(count: int, factory: str | None, *, shards: int, descriptor: str) -> str:
    """The index a Milvus build makes: IVF_FLAT with FAISS's list count for the catalogue, or
    the explicit `IVF<n>,Flat`. Never compressed: Milvus holds the vectors, not our memory.

    Raises:
        BackendUnavailable: options only FAISS builds have (shards, compressed factories,
            descriptor transforms).
    """
    why = unsupported(shards=shards, factory=factory, descriptor=descriptor)
    if why:
        raise BackendUnavailable(why)
    return factory or f"IVF{choose_nlist(count)},Flat"


def build_in_milvus(
    external: ExternalIndexes,
    source: VectorSource,
    ids: IdArray,
    factory: str,
    queries: FloatArray,
    *,
    chunk_bytes: int,
) -> tuple[VectorIndex, TopK]:
    """A new collection holding the catalogue, indexed and loaded, plus the tuning queries'
    exact neighbours (gathered while adding, as a FAISS build does). The collection is
    dropped if anything fails before it is returned."""
    assert isinstance(external, MilvusStore)
    dim = source.vectors(ids[:1]).shape[1]
    match = re.fullmatch(r"IVF(\d+),Flat", factory)
    index = external.create(
        dim=dim, nlist=int(match.group(1)) if match else 1, trained_size=len(ids)
    )
    try:
        truth = TopK(queries, TUNE_K)
        add_chunks(
            index, source.chunks(after=-1, until=None, rows=chunk_rows(chunk_bytes, dim)), truth
        )
        index.seal()
    except BaseException:
        external.discard(index)
        raise
    return index, truth
