"""Streaming and sharded index builds on a real SQLite store, against the build in memory.

A tiny chunk size forces many chunks; shards run in this process (`serial_map`) except in one
test, which runs them in worker processes as `facet build` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from indexer.build.index_step import IndexOptions, build_index
from indexer.build.shards import local_map, serial_map, shard_bounds
from indexer.build.verify import verify_index
from indexer.ingest.upsert import ingest_dump
from search.builds import BuildStore
from search.index import VectorIndex
from search.index_sync import catalog_vectors
from search.models import ImageStatus, Product, ProductImage
from search.neighbours import exact_neighbours, recall_at_k
from search.ondisk import LISTS_FILE
from search.ondisk_index import OnDiskIndex
from search.searcher import Searcher
from tests.conftest import write_csv
from tests.indexer.build.test_index_step import DIM, MODEL, direction, embed_all, rows

CHUNK = 7 * DIM * 4  # seven vectors a chunk


def build(engine: Engine, store: BuildStore, **options: Any) -> Any:
    rebuild = options.pop("rebuild", False)
    options.setdefault("chunk_bytes", CHUNK)
    if options.get("shards", 1) > 1:
        options.setdefault("shard_map", serial_map)
    return build_index(
        engine,
        store,
        backbone_id=MODEL,
        backbone_name="test",
        options=IndexOptions(**options),
        rebuild=rebuild,
    )


def queries(count: int = 12) -> np.ndarray:
    return np.stack(
        [direction(("ring", "necklace", "bracelet")[i % 3], 5000 + i) for i in range(count)]
    )


@pytest.fixture
def catalogue(engine: Engine, tmp_path: Path) -> Engine:
    ingest_dump(engine, write_csv(tmp_path / "c.csv", rows(200)))  # 400 images
    embed_all(engine)
    return engine


@pytest.mark.parametrize("factory", ["IVF8,Flat", "IVF8,SQ6"])
def test_a_streamed_build_equals_the_build_in_memory(
    catalogue: Engine, tmp_path: Path, factory: str
) -> None:
    store = BuildStore(tmp_path / "streamed")
    report = build(catalogue, store, factory=factory)
    streamed = store.load_current(backbone=MODEL).index
    ids, vectors, _ = catalog_vectors(catalogue, MODEL)
    reference = VectorIndex.train(vectors, factory=factory, seed=1338)
    reference.add(vectors, ids)
    assert report.ntotal == reference.ntotal == 400
    np.testing.assert_array_equal(streamed.ids(), reference.ids())

    def lookup(wanted: np.ndarray) -> np.ndarray:
        found: np.ndarray = vectors[np.searchsorted(ids, wanted)]
        return found

    for nprobe in (1, 3, 8):
        ours = streamed.search(queries(), 10, nprobe=nprobe, lookup=lookup)
        theirs = reference.search(queries(), 10, nprobe=nprobe, lookup=lookup)
        np.testing.assert_array_equal(ours.ids, theirs.ids)
        np.testing.assert_allclose(ours.scores, theirs.scores, rtol=1e-6)
    # The tuning's ground truth, gathered chunk by chunk, is the exact one.
    rng = np.random.default_rng(1338)
    sample = np.sort(rng.choice(len(ids), 400, replace=False))
    truth = exact_neighbours(vectors[sample], vectors, ids, 10)
    nprobe = store.manifest(report.build_id).nprobe
    found = reference.search(vectors[sample], 10, nprobe=nprobe, lookup=lookup).ids
    assert report.recall_at_10 == round(recall_at_k(found, truth), 4)


def test_shard_ranges_cover_every_id() -> None:
    ids = np.array([3, 5, 8, 9, 20, 31, 40], dtype=np.int64)
    assert shard_bounds(ids, 3) == [(-1, 5), (5, 9), (9, None)]
    assert shard_bounds(ids[:2], 4) == [(-1, 3), (3, None)]
    assert shard_bounds(ids, 1) == [(-1, None)]


@pytest.mark.parametrize("factory", ["IVF8,Flat", "IVF8,SQ6"])
def test_a_sharded_build_searches_like_the_single_one_from_memory_mapped_lists(
    catalogue: Engine, tmp_path: Path, factory: str
) -> None:
    single_store, sharded_store = BuildStore(tmp_path / "single"), BuildStore(tmp_path / "sharded")
    single = build(catalogue, single_store, factory=factory)
    sharded = build(catalogue, sharded_store, factory=factory, shards=3)
    assert (sharded.ntotal, sharded.nprobe) == (single.ntotal, single.nprobe)
    assert abs(sharded.recall_at_10 - single.recall_at_10) <= 0.005

    manifest = sharded_store.manifest(sharded.build_id)
    folder = sharded_store.builds / manifest.build_id
    assert manifest.lists == "disk" and (folder / LISTS_FILE).is_file()
    assert sorted(path.name for path in sharded_store.builds.iterdir()) == [
        ".publish.lock",
        manifest.build_id,
    ]  # no scratch folders left behind
    one = single_store.load_current(backbone=MODEL)
    other = sharded_store.load_current(backbone=MODEL)
    assert isinstance(other.index, OnDiskIndex) and not isinstance(one.index, OnDiskIndex)
    for nprobe in (1, 4, 8):
        ours = other.index.search(queries(), 10, nprobe=nprobe)
        theirs = one.index.search(queries(), 10, nprobe=nprobe)
        np.testing.assert_array_equal(ours.ids, theirs.ids)
    # Served through the searcher: products, filters (exact over few images), similar items.
    searcher = Searcher(catalogue, other.index, backbone_id=MODEL)
    reference = Searcher(catalogue, one.index, backbone_id=MODEL)
    for query in queries(3):
        assert searcher.search(query, k=5) == reference.search(query, k=5)
    assert searcher.similar("S003", k=4) == reference.similar("S003", k=4)
    assert verify_index(catalogue, sharded_store, backbone=MODEL, dim=DIM).ok


def test_shards_in_worker_processes_build_the_same_index(catalogue: Engine, tmp_path: Path) -> None:
    single_store, sharded_store = BuildStore(tmp_path / "single"), BuildStore(tmp_path / "sharded")
    build(catalogue, single_store)
    report = build(catalogue, sharded_store, shards=2, shard_map=local_map(2), chunk_bytes=2**20)
    one = single_store.load_current().index
    other = sharded_store.load_current().index
    assert other.on_disk and report.ntotal == 400
    np.testing.assert_array_equal(other.ids(), one.ids())
    np.testing.assert_array_equal(
        other.search(queries(), 10, nprobe=3).ids, one.search(queries(), 10, nprobe=3).ids
    )


def test_updates_of_an_on_disk_build_stay_on_disk_and_correct(
    catalogue: Engine, tmp_path: Path
) -> None:
    store = BuildStore(tmp_path / "indexes")
    first = build(catalogue, store, shards=2)
    # S000 leaves, a new product arrives, S002's images get new vectors.
    changed = [row for row in rows(200) if row["sku"] != "S000"]
    changed.append({**rows(4)[3], "sku": "NEW", "images": "new.jpg"})
    ingest_dump(catalogue, write_csv(tmp_path / "2.csv", changed), full=True)
    with Session(catalogue) as session:
        session.execute(
            update(ProductImage)
            .where(
                ProductImage.product_id
                == select(Product.id).where(Product.sku == "S002").scalar_subquery()
            )
            .values(status=ImageStatus.PENDING)
        )
        session.commit()
    embed_all(catalogue, seed=1)
    assert not verify_index(catalogue, store, backbone=MODEL).ok

    report = build(catalogue, store, shards=2)
    assert report.reason == "update" and (report.added, report.removed) == (3, 4)
    manifest = store.manifest(report.build_id)
    assert manifest.lists == "disk" and manifest.derived_from == first.build_id
    assert verify_index(catalogue, store, backbone=MODEL).ok
    index = store.load_current().index
    ids, vectors, _ = catalog_vectors(catalogue, MODEL)
    np.testing.assert_array_equal(index.ids(), ids)
    exact = exact_neighbours(queries(), vectors, ids, 10)
    np.testing.assert_array_equal(index.search(queries(), 10, nprobe=index.nlist).ids, exact)
    assert build(catalogue, store, shards=2).build_id is None  # nothing changed
    # The first build is still intact (rollback target): its file was never written to.
    old = store.load(first.build_id).index
    assert old.ntotal == 400 and 400 == len(np.unique(old.ids()))
