"""The index backend's seam: which store, searcher and field upkeep the settings call for.

FAISS is the default and needs nothing here; with FACET_INDEX__BACKEND=milvus, builds live in
Milvus collections (search.milvus_store), found through their manifests under FACET_HOME as
FAISS builds are. Everything Milvus-specific is imported only when it is configured.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Engine

from search.builds import BuildStore, ExternalIndexes, Manifest
from search.config import Settings
from search.index import IdArray, VectorIndex
from search.live_filters import LiveFilters
from search.milvus_index import MilvusIndex
from search.ranking import Ranking
from search.searcher import Searcher


def external_indexes(settings: Settings, engine: Engine | None = None) -> ExternalIndexes | None:
    """Where the configured backend keeps builds outside FACET_HOME (None: FAISS, inside it).

    `engine`: the product store, for processes that write rows (Milvus rows carry product
    fields); searching and publishing need none.
    """
    if settings.index.backend != "milvus":
        return None
    from search.milvus_store import MilvusStore

    token = settings.milvus.token
    return MilvusStore(
        settings.milvus_uri,
        token=None if token is None else token.get_secret_value(),
        prefix=settings.milvus.prefix,
        engine=engine,
    )


def build_store(settings: Settings, engine: Engine | None = None) -> BuildStore:
    """The published builds, for the configured backend."""
    return BuildStore(
        settings.index_dir,
        keep=settings.index.keep_builds,
        external=external_indexes(settings, engine),
    )


def make_searcher(
    engine: Engine,
    index: VectorIndex,
    *,
    backbone_id: str,
    ranking: Ranking,
    filters: LiveFilters | None = None,
) -> Searcher:
    """A searcher over `index`: Milvus collections filter in Milvus, not with `filters`."""
    if isinstance(index, MilvusIndex):
        from search.milvus_search import MilvusSearcher

        return MilvusSearcher(engine, index, backbone_id=backbone_id, ranking=ranking)
    return Searcher(engine, index, backbone_id=backbone_id, ranking=ranking, filters=filters)


def sync_fields(index: VectorIndex, ids: IdArray | None = None) -> int:
    """Re-write the product fields an index holds where the store's changed (FAISS holds
    none: 0); returns how many rows were re-written."""
    return index.sync_fields(ids) if isinstance(index, MilvusIndex) else 0


def sync_products(index: VectorIndex, skus: Collection[str]) -> int:
    """`sync_fields` for these products' images (after an admin write)."""
    return index.sync_products(list(skus)) if isinstance(index, MilvusIndex) else 0


def wrong_fields(index: VectorIndex) -> list[int]:
    """Ids whose product fields in the index are not the store's (FAISS holds none)."""
    return index.wrong_fields() if isinstance(index, MilvusIndex) else []


def alias_problem(store: BuildStore, manifest: Manifest) -> str:
    """What is wrong with the Milvus alias of a live Milvus build ("" if nothing)."""
    if manifest.backend != "milvus" or store.external is None:
        return ""
    from search.milvus_store import MilvusStore

    assert isinstance(store.external, MilvusStore)
    target = store.external.alias_target()
    if target == manifest.collection:
        return ""
    return f"alias {store.external.prefix} names {target or 'nothing'}, not {manifest.collection}"


def repair_fields(store: BuildStore, manifest: Manifest) -> int:
    """Bring the live build's product fields and alias in line (`facet verify --repair`):
    returns the rows re-written."""
    if store.external is not None:
        store.external.point_to(manifest)
    return sync_fields(store.load_current().index)
