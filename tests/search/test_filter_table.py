"""The service's in-memory filters give exactly the database's answers, and stay current."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from indexer.ingest.upsert import ingest_dump
from search.db import utcnow
from search.faiss_api import faiss
from search.filter_params import Filters
from search.filter_table import FilterTable, bitmap_of
from search.filters import allowed_image_ids
from search.index import VectorIndex
from search.live_filters import LiveFilters
from search.models import Embedding, ImageStatus, Product, ProductImage
from search.product import ProductFields
from search.products import delete_product, upsert_product
from search.searcher import Searcher
from search.vectors import to_blob
from tests.conftest import write_jsonl

CATEGORIES = ["ring", "necklace", "earring", "bracelet"]
MATERIALS = ["gold", "silver", "platinum"]
STYLES = ["vintage", "modern"]
SIZES = ["50", "52", 52, 54.5, True, "large"]  # numbers and booleans compare as their text


def catalogue_rows(count: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):

        def pick(values: list[Any], none_share: float = 0.15) -> Any:
            return None if rng.random() < none_share else values[rng.integers(len(values))]

        row: dict[str, Any] = {
            "sku": f"P{index:04d}",
            "images": [f"img/{index}-{n}.jpg" for n in range(1 + index % 3)],
            "category": pick(CATEGORIES),
            "material": pick(MATERIALS),
            "style": pick(STYLES),
            "price": None if rng.random() < 0.1 else round(float(rng.uniform(10, 500)), 2),
            "in_stock": pick([True, False]),
        }
        size = pick(SIZES, 0.3)
        if size is not None:
            row["size"] = size
        rows.append({key: value for key, value in row.items() if value is not None})
    return rows


def random_filters(rng: np.random.Generator) -> Filters:
    def maybe(values: list[Any]) -> Any:
        return values[rng.integers(len(values))] if rng.random() < 0.35 else None

    low = maybe([0.0, 50.0, 200.0, 499.0])
    high = maybe([60.0, 250.0, 1000.0])
    if low is not None and high is not None and low > high:
        low, high = high, low
    attributes = {}
    if rng.random() < 0.3:
        attributes["size"] = str(maybe(["50", "52", "54.5", "1", "large", "nope"]) or "52")
    return Filters(
        category=maybe([*CATEGORIES, "tiara"]),
        material=maybe(MATERIALS),
        style=maybe(STYLES),
        min_price=low,
        max_price=high,
        in_stock=maybe([True, False]),
        attributes=attributes,
    )


@pytest.fixture
def catalogue(engine: Engine, tmp_path: Path) -> Engine:
    """300 products, 1-3 images each; most images ready, some failed, a few products deleted."""
    ingest_dump(engine, write_jsonl(tmp_path / "dump.jsonl", catalogue_rows(300, seed=5)))
    with Session(engine) as session:
        ids = session.scalars(select(ProductImage.id).order_by(ProductImage.id)).all()
        failed = set(ids[::11])
        for image_id in ids:
            status = ImageStatus.FAILED if image_id in failed else ImageStatus.READY
            session.execute(
                update(ProductImage).where(ProductImage.id == image_id).values(status=status)
            )
        for sku in ("P0007", "P0100", "P0201"):
            delete_product(session, sku, now=utcnow())
        session.commit()
    return engine


def assert_same_as_the_database(engine: Engine, table: FilterTable, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(150):
        filters = random_filters(rng)
        expected = allowed_image_ids(engine, filters)
        np.testing.assert_array_equal(
            table.allowed_ids(engine, filters), expected, err_msg=str(filters)
        )
        allowed = table.allowed(engine, filters)
        assert allowed.bitmap is not None and allowed.count == len(expected)
        np.testing.assert_array_equal(allowed.bitmap, bitmap_of(expected))


def test_random_filters_match_the_database(catalogue: Engine) -> None:
    table = FilterTable.load(catalogue)
    assert len(table) == len(allowed_image_ids(catalogue, Filters()))
    assert_same_as_the_database(catalogue, table, seed=1)
    assert_same_as_the_database(catalogue, table, seed=2)  # attribute masks now from the cache


def test_the_bitmap_selects_exactly_the_allowed_ids() -> None:
    ids = np.array([0, 3, 8, 9, 63, 64, 1000], dtype=np.int64)
    bitmap = bitmap_of(ids)
    selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
    members = [i for i in range(1100) if selector.is_member(i)]
    assert members == ids.tolist()
    assert not faiss.IDSelectorBitmap(1, faiss.swig_ptr(bitmap_of(ids[:0]))).is_member(0)


def test_admin_changes_are_read_again_for_those_products(catalogue: Engine) -> None:
    table = FilterTable.load(catalogue)
    table.allowed(catalogue, Filters(attributes={"size": "52"}))  # cache a mask
    with Session(catalogue) as session:
        # New fields on a product that keeps its images (as an admin PUT with the same images).
        session.execute(
            update(Product)
            .where(Product.sku == "P0003")
            .values(category="tiara", material="gold", price=1.0, attributes={"size": 52})
        )
        upsert_product(
            session, ProductFields(sku="NEW", category="ring"), [], backbone_id="m", now=utcnow()
        )
        delete_product(session, "P0004", now=utcnow())
        session.commit()
        ids = session.scalars(select(Product.id).where(Product.sku.in_(["P0003", "NEW", "P0004"])))
        updated = table.with_products(catalogue, list(ids))
    assert_same_as_the_database(catalogue, updated, seed=3)
    assert updated.allowed(catalogue, Filters(category="tiara")).count
    assert_same_as_the_database(catalogue, FilterTable.load(catalogue), seed=3)


def test_a_re_ingest_is_noticed_and_read_in_the_background(
    catalogue: Engine, tmp_path: Path
) -> None:
    live = LiveFilters(catalogue, check_every_s=0.0)
    assert not live.allowed(Filters(category="tiara")).count
    rows = [{"sku": "P0010", "category": "tiara", "images": ["img/10-0.jpg"]}]
    ingest_dump(catalogue, write_jsonl(tmp_path / "change.jsonl", rows))
    with Session(catalogue) as session:
        session.execute(update(ProductImage).values(status=ImageStatus.READY))
        session.commit()
    deadline = time.monotonic() + 10
    while not live.allowed(Filters(category="tiara")).count:
        assert time.monotonic() < deadline, "the table was not read again"
        time.sleep(0.05)
    np.testing.assert_array_equal(
        live.table.allowed_ids(catalogue, Filters(category="tiara")),
        allowed_image_ids(catalogue, Filters(category="tiara")),
    )


def test_searches_give_the_database_paths_results(catalogue: Engine) -> None:
    with Session(catalogue) as session:
        ids = np.asarray(session.scalars(select(ProductImage.id).order_by(ProductImage.id)).all())
    rng = np.random.default_rng(9)
    vectors = rng.standard_normal((len(ids), 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with Session(catalogue) as session:
        for image_id, vector in zip(ids, vectors, strict=True):
            session.add(
                Embedding(
                    model="m", image_id=int(image_id), content_hash="x", vector=to_blob(vector)
                )
            )
        session.commit()
    index = VectorIndex.train(vectors, factory="IVF8,Flat")
    index.add(vectors, ids)
    index.nprobe = 8
    database = Searcher(catalogue, index, backbone_id="m")
    memory = Searcher(catalogue, index, backbone_id="m", filters=LiveFilters(catalogue))
    for _ in range(60):
        filters = random_filters(rng)
        query = vectors[rng.integers(len(vectors))]
        expected = database.search(query, k=10, filters=filters)
        found = memory.search(query, k=10, filters=filters)
        # Small filters are scored by FAISS here and by NumPy there: the last bits may differ.
        assert [(hit.sku, hit.image_id) for hit in found] == [
            (hit.sku, hit.image_id) for hit in expected
        ], filters
        np.testing.assert_allclose(
            [hit.score for hit in found], [hit.score for hit in expected], atol=1e-5
        )
