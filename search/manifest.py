"""What a published build is (`Manifest`), and where builds kept outside FACET_HOME live."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from search.index import VectorIndex


@dataclass(frozen=True)
class Manifest:
    """What a build holds and how it was made."""

    build_id: str
    backbone: str  # backbone identity: name plus weights hash
    backbone_name: str
    dim: int
    metric: str
    factory: str
    nlist: int
    nprobe: int
    ntotal: int
    trained_size: int  # vectors the lists were trained for
    recall_at_10: float  # measured at nprobe against exact search
    catalog_revision: int | None
    created_at: str  # ISO 8601, UTC
    derived_from: str | None  # the build this one updated incrementally, if any
    # Every stored vector with a revision up to this one is in the build (None: unknown, for
    # builds published before revisions existed).
    vector_revision: int | None = None
    # The descriptor transform the index's vectors went through (search.descriptors
    # DescriptorPlan.signature); "none" for raw vectors, and for builds made before it existed.
    descriptor: str = "none"
    # How query photos are embedded for this build (search.views): its photo mean was learned
    # with these views, so the service uses them whatever the settings say now.
    query_views: str = "1"
    # "disk": the lists are a memory-mapped file beside the index (search.ondisk_index).
    lists: str = "memory"
    # Where the vectors live: "faiss" (index.faiss in the build's folder) or "milvus" (in the
    # collection named here; search.milvus_store).
    backend: str = "faiss"
    collection: str = ""


class ExternalIndexes(Protocol):
    """Indexes kept outside FACET_HOME (search.milvus_store), published with their manifests."""

    name: str

    def load(self, manifest: Manifest) -> VectorIndex: ...
    def point_to(self, manifest: Manifest) -> None: ...
    def drop(self, gone: Collection[Manifest], kept: Collection[Manifest]) -> None: ...
