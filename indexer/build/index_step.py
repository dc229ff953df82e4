"""`facet build`'s index step: bring the published index in line with the stored vectors."""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine

from indexer.build.milvus_step import build_in_milvus, milvus_factory
from indexer.build.shards import ShardMap, build_sharded, local_map
from indexer.build.sources import StoreSource, VectorSource
from indexer.build.streaming import (
    TUNE_K,
    add_chunks,
    chunk_rows,
    exact_truth,
    train_on_sample,
    tuning_sample,
)
from search.backends import sync_fields
from search.builds import BuildStore, LoadedBuild, Manifest
from search.db import utcnow
from search.descriptors import DescriptorPlan
from search.errors import IncompatibleIndex, IndexNotReady
from search.index import FloatArray, IdArray, VectorIndex, choose_factory
from search.index_sync import apply_changes, changed_since, sync_index
from search.neighbours import TopK
from search.reads import catalog_revision

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexOptions:
    factory: str | None = None
    memory_budget_bytes: int = 4096 * 2**20
    target_recall: float = 0.95
    tune_queries: int = 500
    retrain_growth: float = 2.0
    max_imbalance: float = 3.0
    seed: int = 1338
    descriptor: DescriptorPlan = DescriptorPlan()
    # Vectors read at once (docs/index.md#memory): this, not the catalogue, bounds reading.
    chunk_bytes: int = 64 * 2**20
    # 1: one process, lists in memory. More: that many shard jobs (an id range each) add
    # in parallel, and the lists are written to a file the service memory-maps.
    shards: int = 1
    # Runs shard jobs; None: worker processes on this machine (indexer.build.shards).
    shard_map: ShardMap | None = None


@dataclass
class IndexReport:
    """What the index step did; `build_id` is None when nothing needed publishing."""

    build_id: str | None
    retrained: bool
    reason: str
    added: int
    removed: int
    ntotal: int
    factory: str
    nlist: int
    nprobe: int
    recall_at_10: float
    seconds: float
    lists: str = "memory"  # "disk": memory-mapped from a file (sharded builds, their updates)
    fields: int = 0  # rows whose product fields were re-written (Milvus, after an ingest)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_index(
    engine: Engine,
    store: BuildStore,
    *,
    backbone_id: str,
    backbone_name: str,
    options: IndexOptions,
    rebuild: bool = False,
) -> IndexReport:
    """Publish an index of the current catalogue vectors, incrementally where possible.

    Vectors are read a chunk at a time (`options.chunk_bytes`), never all at once: training
    reads a sample, adding and the tuning's ground truth stream the catalogue, and re-ranking
    reads the vectors it needs by id (the memory bound is in indexer/build/streaming.py). With
    `options.shards` > 1 a full build adds in parallel shard jobs and keeps its lists on disk.

    The heavy work (reading vectors, training, tuning) runs without the publish lock; under it,
    the new index learns whatever was stored meanwhile (admin writes, say), so publishing never
    loses a change another process made.

    Args:
        engine: the product store.
        store: where builds are published.
        backbone_id: backbone identity whose vectors to index.
        backbone_name: its registry name, recorded for loading query embedders.
        options: sizing and tuning.
        rebuild: train from scratch even if an update would do.

    Raises:
        IndexNotReady: there are no vectors to index (run the embedding step first).
    """
    started = time.perf_counter()
    source = StoreSource.of(engine, backbone_id)
    ids, revision = source.catalogue()
    if not len(ids):
        raise IndexNotReady(
            f"no vectors from {backbone_id} to index: ingest and embed images first"
        )
    dim = source.vectors(ids[:1]).shape[1]
    backend = store.external.name if store.external is not None else "faiss"
    if backend == "milvus":
        signature = options.descriptor.signature
        factory = milvus_factory(
            len(ids), options.factory, shards=options.shards, descriptor=signature
        )
    else:
        factory = options.factory or choose_factory(
            len(ids), dim, memory_budget_bytes=options.memory_budget_bytes
        )
    current = _current(store, backbone_id, dim)
    reason = _retrain_reason(current, factory, len(ids), options, rebuild, backend)
    # Tuning queries: a sample of the catalogue's own vectors.
    queries = source.vectors(ids[tuning_sample(len(ids), options.tune_queries, options.seed)])
    fields = 0
    if reason and store.external is not None:
        index, truth = build_in_milvus(
            store.external, source, ids, factory, queries, chunk_bytes=options.chunk_bytes
        )
        space, added, removed, derived_from = queries, len(ids), 0, None
        descriptor, query_views = options.descriptor.signature, options.descriptor.query_views
    elif reason:
        index, space, truth = _build(source, ids, factory, queries, options, store)
        added, removed, derived_from = len(ids), 0, None
        descriptor, query_views = options.descriptor.signature, options.descriptor.query_views
    else:
        assert current is not None
        # An update keeps its build's transform and query views.
        descriptor, query_views = current.manifest.descriptor, current.manifest.query_views
        with engine.connect() as connection:
            changed = changed_since(connection, backbone_id, current.manifest.vector_revision)
            ingested = catalog_revision(connection) != current.manifest.catalog_revision
        # In place (an on-disk index writes a new file instead): the build was read from its
        # file for this run alone, so nobody else sees it (a Milvus collection: everybody does).
        index, added, removed = apply_changes(current.index, ids, changed, source.vectors)
        derived_from = current.manifest.build_id
        # An ingest may have changed products' fields, which a Milvus collection holds too.
        fields = sync_fields(index) if ingested else 0
        if not added and not removed and not fields:
            return IndexReport(
                None, False, "unchanged", 0, 0, index.ntotal, index.factory, index.nlist,
                index.nprobe, current.manifest.recall_at_10, time.perf_counter() - started,
                current.manifest.lists,
            )  # fmt: skip
        reason = "update"
        space = index.query_space(queries, photos=False)
        truth = exact_truth(source, index, space, rows=chunk_rows(options.chunk_bytes, dim))
    # Queries and ground truth in the index's space; the lookup stays raw (the index maps it).
    nprobe, recall = index.tune_nprobe(
        space, truth.ids, target=options.target_recall, lookup=source.vectors
    )
    with store.locked():
        live = store.current_id()
        if derived_from is not None and live != derived_from:
            # Someone published since this update started: start again from their build.
            log.info("the live index moved to %s; updating from it", live)
            return build_index(
                engine, store, backbone_id=backbone_id, backbone_name=backbone_name, options=options
            )
        index, late = sync_index(engine, index, backbone_id=backbone_id, since=revision)
        with engine.connect() as connection:
            catalog = catalog_revision(connection)
        manifest = store.publish(
            index,
            Manifest(
                build_id="",
                backbone=backbone_id,
                backbone_name=backbone_name,
                dim=dim,
                metric="inner_product",
                factory=index.factory,
                nlist=index.nlist,
                nprobe=nprobe,
                ntotal=index.ntotal,
                trained_size=index.trained_size,
                recall_at_10=round(recall, 4),
                catalog_revision=catalog,
                created_at=utcnow().isoformat(),
                derived_from=derived_from,
                vector_revision=late.revision,
                descriptor=descriptor,
                query_views=query_views,
                lists="disk" if index.on_disk else "memory",
                backend=index.backend,
                collection=index.collection,
            ),
            parent=live,
        )
    return IndexReport(
        manifest.build_id,
        derived_from is None,
        reason,
        added + late.added,
        removed + late.removed,
        index.ntotal,
        index.factory,
        index.nlist,
        nprobe,
        manifest.recall_at_10,
        time.perf_counter() - started,
        manifest.lists,
        fields,
    )


def _current(store: BuildStore, backbone_id: str, dim: int) -> LoadedBuild | None:
    try:
        return store.load_current(backbone=backbone_id, dim=dim)
    except IncompatibleIndex as error:
        log.info("retraining: %s", error)
        return None
    except IndexNotReady:
        return None


def _retrain_reason(
    current: LoadedBuild | None,
    factory: str,
    count: int,
    options: IndexOptions,
    rebuild: bool,
    backend: str,
) -> str:
    if rebuild:
        return "--rebuild"
    if current is None:
        return "no compatible index"
    if current.manifest.backend != backend:
        return f"index backend changes from {current.manifest.backend} to {backend}"
    # The list count of an automatic choice grows with the catalogue; that alone is not worth a
    # retrain (growth past retrain_growth is). A change of kind or an explicit factory is.
    explicit = options.factory is not None
    before, after = current.index.factory, factory
    if (before != after) if explicit else (_kind(before) != _kind(after)):
        return f"index type changes from {before} to {after}"
    if count > options.retrain_growth * current.index.trained_size:
        return f"catalogue grew from {current.index.trained_size:,} to {count:,} vectors"
    if current.index.imbalance() > options.max_imbalance:
        return f"lists unbalanced ({current.index.imbalance():.1f})"
    if current.manifest.descriptor != options.descriptor.signature:
        before, after = current.manifest.descriptor, options.descriptor.signature
        return f"descriptors change from {before} to {after}"
    return ""


def _kind(factory: str) -> str:
    return re.sub(r"IVF\d+", "IVF", factory)


def _build(
    source: VectorSource,
    ids: IdArray,
    factory: str,
    queries: FloatArray,
    options: IndexOptions,
    store: BuildStore,
) -> tuple[VectorIndex, FloatArray, TopK]:
    """Train on a sample, then add the catalogue chunk by chunk: in this process, or in shards
    whose lists end up in a memory-mapped file. Returns (the index, the tuning queries in its
    space, their ground truth, gathered while adding)."""
    trained = train_on_sample(
        source, ids, factory=factory, seed=options.seed, descriptor=options.descriptor
    )
    space = trained.query_space(queries, photos=False)
    rows = chunk_rows(options.chunk_bytes, trained.dim)
    if options.shards <= 1:
        truth = TopK(space, TUNE_K)
        add_chunks(trained, source.chunks(after=-1, until=None, rows=rows), truth)
        return trained, space, truth
    # More processes than cores gain nothing; jobs beyond them queue.
    workers = min(options.shards, os.cpu_count() or 1)
    index, truth = build_sharded(
        source,
        ids,
        trained,
        shards=options.shards,
        rows=rows,
        queries=space,
        folder=store.builds,
        shard_map=options.shard_map or local_map(workers),
        workers=workers,
    )
    return index, space, truth
