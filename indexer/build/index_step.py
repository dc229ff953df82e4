"""`facet build`'s index step: bring the published index in line with the stored vectors."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, select

from search.builds import BuildStore, LoadedBuild, Manifest
from search.db import utcnow
from search.errors import IncompatibleIndex, IndexNotReady
from search.filters import searchable_images
from search.index import (
    FloatArray,
    IdArray,
    VectorIndex,
    choose_factory,
    exact_neighbours,
)
from search.models import Embedding, IngestRun, ProductImage
from search.vectors import from_blob

log = logging.getLogger(__name__)

TUNE_K = 10


@dataclass(frozen=True)
class IndexOptions:
    factory: str | None = None
    memory_budget_bytes: int = 4096 * 2**20
    target_recall: float = 0.95
    tune_queries: int = 500
    retrain_growth: float = 2.0
    max_imbalance: float = 3.0
    seed: int = 1338


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _current_embeddings(model: str, *columns: Any) -> Any:
    """Embeddings of searchable images for `model`, computed from their current content."""
    return (
        select(*columns)
        .join(ProductImage, ProductImage.id == Embedding.image_id)
        .where(Embedding.model == model, Embedding.content_hash == ProductImage.content_hash)
        .where(Embedding.image_id.in_(searchable_images().scalar_subquery()))
    )


def catalogue_ids(engine: Engine, model: str) -> IdArray:
    """Ids of the images `catalogue_vectors` returns, ascending, without reading the vectors."""
    query = _current_embeddings(model, Embedding.image_id).order_by(Embedding.image_id)
    with engine.connect() as connection:
        return np.asarray(connection.execute(query).scalars().all(), dtype=np.int64)


def stored_dimensions(engine: Engine, model: str) -> set[int]:
    """The dimensions of those vectors (one, unless something is badly wrong)."""
    query = _current_embeddings(model, func.length(Embedding.vector)).distinct()
    with engine.connect() as connection:
        return {int(length) // 4 for length in connection.execute(query).scalars()}


def catalogue_vectors(engine: Engine, model: str) -> tuple[IdArray, FloatArray]:
    """Vectors of every searchable image for `model`, computed from its current content.

    Returns:
        (image ids ascending, (n, dim) vectors).
    """
    query = _current_embeddings(model, Embedding.image_id, Embedding.vector).order_by(
        Embedding.image_id
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    if not rows:
        return ids, np.zeros((0, 0), dtype=np.float32)
    return ids, np.stack([from_blob(row[1]) for row in rows])


def changed_since(engine: Engine, model: str, since: datetime) -> IdArray:
    """Image ids whose vector for `model` was (re)computed after `since`."""
    query = select(Embedding.image_id).where(Embedding.model == model, Embedding.created_at > since)
    with engine.connect() as connection:
        return np.asarray(connection.execute(query).scalars().all(), dtype=np.int64)


def build_index(
    engine: Engine,
    store: BuildStore,
    *,
    model: str,
    backbone_name: str,
    options: IndexOptions,
    rebuild: bool = False,
) -> IndexReport:
    """Publish an index of the current catalogue vectors, incrementally where possible.

    Args:
        engine: the product store.
        store: where builds are published.
        model: backbone identity whose vectors to index.
        backbone_name: its registry name, recorded for loading query embedders.
        options: sizing and tuning.
        rebuild: train from scratch even if an update would do.

    Raises:
        IndexNotReady: there are no vectors to index (run the embedding step first).
    """
    started = time.perf_counter()
    ids, vectors = catalogue_vectors(engine, model)
    if not len(ids):
        raise IndexNotReady(f"no vectors from {model} to index: ingest and embed images first")
    dim = vectors.shape[1]
    factory = options.factory or choose_factory(
        len(ids), dim, memory_budget_bytes=options.memory_budget_bytes
    )
    current = _current(store, model, dim)
    reason = _retrain_reason(current, factory, len(ids), options, rebuild)
    added = removed = 0
    if reason:
        index = VectorIndex.train(vectors, factory=factory, seed=options.seed)
        index.add(vectors, ids)
        added = len(ids)
        derived_from = None
    else:
        assert current is not None
        index = current.index.copy()
        present = index.ids()
        created = datetime.fromisoformat(current.manifest.created_at)
        changed = np.intersect1d(changed_since(engine, model, created), present)
        gone = np.setdiff1d(present, ids)
        new = np.union1d(np.setdiff1d(ids, present), np.intersect1d(changed, ids))
        if not len(gone) and not len(new) and not len(changed):
            return IndexReport(
                None, False, "unchanged", 0, 0, index.ntotal, index.factory, index.nlist,
                index.nprobe, current.manifest.recall_at_10, time.perf_counter() - started,
            )  # fmt: skip
        removed = index.remove(np.union1d(gone, changed))
        positions = np.searchsorted(ids, new)
        index.add(vectors[positions], new)
        added = len(new)
        derived_from = current.manifest.build_id
        reason = "update"
    nprobe, recall = _tune(index, ids, vectors, options)
    manifest = Manifest(
        build_id=store.new_build_id(),
        backbone=model,
        backbone_name=backbone_name,
        dim=dim,
        metric="inner_product",
        factory=index.factory,
        nlist=index.nlist,
        nprobe=nprobe,
        ntotal=index.ntotal,
        trained_size=index.trained_size,
        recall_at_10=round(recall, 4),
        catalog_revision=_revision(engine),
        created_at=utcnow().isoformat(),
        derived_from=derived_from,
    )
    store.publish(index, manifest)
    return IndexReport(
        manifest.build_id,
        derived_from is None,
        reason,
        added,
        removed,
        index.ntotal,
        index.factory,
        index.nlist,
        nprobe,
        manifest.recall_at_10,
        time.perf_counter() - started,
    )


def _current(store: BuildStore, model: str, dim: int) -> LoadedBuild | None:
    try:
        return store.load_current(backbone=model, dim=dim)
    except IncompatibleIndex as error:
        log.info("retraining: %s", error)
        return None
    except IndexNotReady:
        return None


def _retrain_reason(
    current: LoadedBuild | None, factory: str, count: int, options: IndexOptions, rebuild: bool
) -> str:
    if rebuild:
        return "--rebuild"
    if current is None:
        return "no compatible index"
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
    return ""


def _kind(factory: str) -> str:
    return re.sub(r"IVF\d+", "IVF", factory)


def _tune(
    index: VectorIndex, ids: IdArray, vectors: FloatArray, options: IndexOptions
) -> tuple[int, float]:
    """Pick nprobe on a sample of the catalogue's own vectors as queries."""
    rng = np.random.default_rng(options.seed)
    sample = rng.choice(len(ids), min(options.tune_queries, len(ids)), replace=False)
    queries = vectors[np.sort(sample)]
    truth = exact_neighbours(queries, vectors, ids, TUNE_K)

    def lookup(wanted: IdArray) -> FloatArray:
        result: FloatArray = vectors[np.searchsorted(ids, wanted)]
        return result

    return index.tune_nprobe(queries, truth, target=options.target_recall, lookup=lookup)


def _revision(engine: Engine) -> int | None:
    with engine.connect() as connection:
        revision: int | None = connection.execute(select(func.max(IngestRun.id))).scalar_one()
    return revision
