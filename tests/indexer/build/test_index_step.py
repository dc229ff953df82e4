"""The index step, search, filters, similar items and verify, on a real SQLite store.

Vectors are written straight into the store (no CNN): each product's category decides the
direction of its vectors, so neighbours are known.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from indexer.build.index_step import IndexOptions, build_index
from indexer.build.verify import verify_index
from indexer.cli import app
from indexer.ingest.upsert import ingest_dump
from search.builds import BuildStore
from search.db import utcnow
from search.errors import IndexNotReady, UnknownProduct
from search.filter_params import Filters
from search.index_sync import catalog_ids, catalog_vectors, stored_dimensions
from search.models import Embedding, ImageStatus, Product, ProductImage
from search.revisions import next_vector_revision
from search.searcher import Searcher
from search.vectors import to_blob
from tests.conftest import SAMPLE_CATALOG, write_csv

MODEL = "test-model-1"
DIM = 16
CATEGORIES = {"ring": 0, "necklace": 1, "bracelet": 2}


def direction(category: str, jitter: int) -> np.ndarray:
    rng = np.random.default_rng(jitter)
    vector = np.zeros(DIM, dtype=np.float32)
    vector[CATEGORIES[category] * 4] = 1.0
    vector += rng.standard_normal(DIM).astype(np.float32) * 0.15
    return vector / np.linalg.norm(vector)


def rows(count: int, **overrides: Any) -> list[dict[str, Any]]:
    items = []
    for i in range(count):
        category = list(CATEGORIES)[i % 3]
        items.append(
            {
                "sku": f"S{i:03d}",
                "title": f"{category} {i}",
                "category": category,
                "material": "gold" if i % 2 else "silver",
                "price": str(10 + i),
                "in_stock": "yes" if i % 4 else "no",
                "images": f"{i}a.jpg|{i}b.jpg",
                "stone": "ruby" if i % 5 == 0 else "",
            }
        )
    for item in items:
        item.update(overrides)
    return items


def embed_all(engine: Engine, seed: int = 0) -> None:
    """Stand-in for the embedding step: a vector for every pending image."""
    now = utcnow()
    with Session(engine) as session:
        pending = session.execute(
            select(ProductImage, Product.category)
            .join(Product)
            .where(ProductImage.status == ImageStatus.PENDING)
        ).all()
        revision = next_vector_revision(session.connection())
        for image, category in pending:
            assert category is not None
            digest = f"hash-{image.id}-{seed}"
            image.status = ImageStatus.READY
            image.content_hash = digest
            vector = direction(category, image.id * 7 + seed)
            session.merge(
                Embedding(
                    model=MODEL,
                    image_id=image.id,
                    content_hash=digest,
                    vector=to_blob(vector),
                    created_at=now,
                    revision=revision,
                )
            )
        session.commit()


def index(engine: Engine, store: BuildStore, **options: Any) -> Any:
    rebuild = options.pop("rebuild", False)
    return build_index(
        engine,
        store,
        backbone_id=MODEL,
        backbone_name="test",
        options=IndexOptions(**options),
        rebuild=rebuild,
    )


@pytest.fixture
def store(tmp_path: Path) -> BuildStore:
    return BuildStore(tmp_path / "indexes")


@pytest.fixture
def searcher_factory(engine: Engine, store: BuildStore) -> Any:
    def make() -> Searcher:
        build = store.load_current(backbone=MODEL)
        return Searcher(engine, build.index, backbone_id=MODEL)

    return make


def test_no_vectors_means_no_index(engine: Engine, store: BuildStore) -> None:
    with pytest.raises(IndexNotReady, match="no vectors"):
        index(engine, store)


def test_first_build_trains_tunes_and_publishes(
    engine: Engine, store: BuildStore, tmp_path: Path
) -> None:
    ingest_dump(engine, write_csv(tmp_path / "c.csv", rows(60)))
    embed_all(engine)
    report = index(engine, store)
    assert report.retrained and report.ntotal == 120 and report.added == 120
    assert report.recall_at_10 >= 0.95 and report.factory == "IVF3,Flat"
    manifest = store.manifest(report.build_id)
    assert (manifest.backbone, manifest.dim, manifest.ntotal) == (MODEL, DIM, 120)
    assert manifest.catalog_revision == 1 and manifest.nprobe == report.nprobe

    assert index(engine, store).build_id is None  # nothing changed: nothing published


def test_results_collapse_to_products_with_their_best_image(
    engine: Engine, store: BuildStore, tmp_path: Path, searcher_factory: Any
) -> None:
    ingest_dump(engine, write_csv(tmp_path / "c.csv", rows(30)))
    embed_all(engine)
    index(engine, store)
    hits = searcher_factory().search(direction("ring", 12345), k=8)
    assert len(hits) == 8 and len({hit.sku for hit in hits}) == 8
    assert all(hit.category == "ring" for hit in hits)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    with Session(engine) as session:
        owner = dict(session.execute(select(ProductImage.id, ProductImage.product_id)).all())
    assert all(owner[hit.image_id] == hit.product_id for hit in hits)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(category="necklace"), lambda r: r["category"] == "necklace"),
        (
            Filters(material="gold", max_price=30),
            lambda r: r["material"] == "gold" and int(r["price"]) <= 30,
        ),
        (Filters(min_price=60), lambda r: int(r["price"]) >= 60),
        (Filters(in_stock=False), lambda r: r["in_stock"] == "no"),
        (Filters(attributes={"stone": "ruby"}), lambda r: r["stone"] == "ruby"),
    ],
)
def test_filters_return_the_true_filtered_top_k(
    engine: Engine,
    store: BuildStore,
    tmp_path: Path,
    searcher_factory: Any,
    filters: Filters,
    expected: Any,
) -> None:
    catalog = rows(60)
    ingest_dump(engine, write_csv(tmp_path / "c.csv", catalog))
    embed_all(engine)
    index(engine, store)
    query = direction("ring", 999)  # far from necklaces: post-filtering would find none
    hits = searcher_factory().search(query, k=5, filters=filters)
    allowed = {row["sku"] for row in catalog if expected(row)}
    assert hits and {hit.sku for hit in hits} <= allowed
    # Brute force over the allowed products' images gives the same products.
    with Session(engine) as session:
        stored = session.execute(
            select(Product.sku, Embedding.vector)
            .join(ProductImage, ProductImage.product_id == Product.id)
            .join(Embedding, Embedding.image_id == ProductImage.id)
        ).all()
    best: dict[str, float] = {}
    for sku, blob in stored:
        if sku in allowed:
            best[sku] = max(best.get(sku, -2.0), float(np.frombuffer(blob, "<f4") @ query))
    truth = sorted(best, key=lambda sku: -best[sku])[:5]
    assert [hit.sku for hit in hits] == truth


def test_a_filter_matching_nothing_returns_nothing(
    engine: Engine, store: BuildStore, tmp_path: Path, searcher_factory: Any
) -> None:
    ingest_dump(engine, write_csv(tmp_path / "c.csv", rows(10)))
    embed_all(engine)
    index(engine, store)
    assert searcher_factory().search(direction("ring", 1), filters=Filters(style="none")) == []


def test_similar_items_come_from_stored_vectors_and_exclude_the_product(
    engine: Engine, store: BuildStore, tmp_path: Path, searcher_factory: Any
) -> None:
    ingest_dump(engine, write_csv(tmp_path / "c.csv", rows(30)))
    embed_all(engine)
    index(engine, store)
    searcher = searcher_factory()
    hits = searcher.similar("S003", k=5)  # a ring
    assert len(hits) == 5 and "S003" not in {hit.sku for hit in hits}
    assert all(hit.category == "ring" for hit in hits)
    hits = searcher.similar("S003", k=3, filters=Filters(category="bracelet"))
    assert [hit.category for hit in hits] == ["bracelet"] * 3
    with pytest.raises(UnknownProduct):
        searcher.similar("NOPE")


def test_updates_add_remove_and_replace_without_retraining(
    engine: Engine, store: BuildStore, tmp_path: Path, searcher_factory: Any
) -> None:
    catalog = rows(60)
    ingest_dump(engine, write_csv(tmp_path / "1.csv", catalog))
    embed_all(engine)
    first = index(engine, store)

    # S000 leaves, S001 gets a third image, a new product arrives, S002's vectors change.
    changed = [row for row in catalog if row["sku"] != "S000"]
    changed[0] = {**changed[0], "images": "1a.jpg|1b.jpg|1c.jpg"}
    changed.append({**catalog[3], "sku": "NEW", "images": "new.jpg"})
    ingest_dump(engine, write_csv(tmp_path / "2.csv", changed), full=True)
    with Session(engine) as session:
        session.execute(
            update(ProductImage)
            .where(
                ProductImage.product_id
                == select(Product.id).where(Product.sku == "S002").scalar_subquery()
            )
            .values(status=ImageStatus.PENDING)
        )
        session.commit()
    embed_all(engine, seed=1)

    report = index(engine, store)
    assert not report.retrained and report.reason == "update"
    assert (report.added, report.removed) == (4, 4)  # 2 new + 2 changed in; 2 gone + 2 changed out
    assert report.ntotal == 120 - 2 + 2
    assert store.manifest(report.build_id).derived_from == first.build_id
    skus = {hit.sku for hit in searcher_factory().search(direction("ring", 5), k=60)}
    assert "S000" not in skus and "NEW" in skus
    assert verify_index(engine, store, backbone=MODEL).ok


def test_retrains_when_the_catalog_doubles_or_when_asked(
    engine: Engine, store: BuildStore, tmp_path: Path
) -> None:
    ingest_dump(engine, write_csv(tmp_path / "1.csv", rows(50)))  # 100 images: 2 lists
    embed_all(engine)
    index(engine, store)
    ingest_dump(engine, write_csv(tmp_path / "2.csv", rows(90)))  # 180: 4 lists if retrained
    embed_all(engine)
    report = index(engine, store)
    assert not report.retrained and report.nlist == 2  # under 2x the trained size: updated
    ingest_dump(engine, write_csv(tmp_path / "3.csv", rows(101)))  # 202 > 2 x 100
    embed_all(engine)
    report = index(engine, store)
    assert report.retrained and "grew" in report.reason and report.nlist == 5
    assert index(engine, store, rebuild=True).reason == "--rebuild"


def test_verify_finds_and_repair_fixes_differences(
    engine: Engine, store: BuildStore, tmp_path: Path
) -> None:
    catalog = rows(30)
    ingest_dump(engine, write_csv(tmp_path / "1.csv", catalog))
    embed_all(engine)
    index(engine, store)
    assert verify_index(engine, store, backbone=MODEL, dim=DIM).ok
    with engine.connect() as connection:
        assert stored_dimensions(connection, MODEL) == {DIM}
        assert list(catalog_ids(connection, MODEL)) == list(catalog_vectors(engine, MODEL)[0])

    ingest_dump(engine, write_csv(tmp_path / "2.csv", catalog[1:] + rows(1, sku="X")), full=True)
    embed_all(engine)
    report = verify_index(engine, store, backbone=MODEL, dim=DIM)
    assert (report.missing, report.stale, report.outdated) == (2, 2, 0)
    assert verify_index(engine, store, backbone="other-model").mismatches

    index(engine, store)
    assert verify_index(engine, store, backbone=MODEL, dim=DIM).ok


def test_the_sample_catalog_is_searchable_from_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path)]
    assert runner.invoke(app, [*home, "ingest", str(SAMPLE_CATALOG)]).exit_code == 0
    result = runner.invoke(app, [*home, "build", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["index"]["ntotal"] == 81

    photo = SAMPLE_CATALOG.parent / "queries" / "Banana.jpg"
    result = runner.invoke(app, [*home, "search", str(photo), "--k", "3", "--json"])
    assert result.exit_code == 0, result.output
    results = json.loads(result.stdout)["results"]
    assert results[0]["sku"] == "Banana" and len(results) == 3
    assert set(results[0]) >= {"sku", "score", "image_id"}

    result = runner.invoke(app, [*home, "search", str(photo), "--category", "Apple", "--json"])
    assert {r["category"] for r in json.loads(result.stdout)["results"]} == {"Apple"}

    result = runner.invoke(app, [*home, "similar", "Granny-Smith", "--k", "5", "--json"])
    assert result.exit_code == 0
    assert "Granny-Smith" not in [r["sku"] for r in json.loads(result.stdout)["results"]]

    result = runner.invoke(app, [*home, "verify", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["ok"]

    result = runner.invoke(app, [*home, "build", "--rebuild"])
    assert result.exit_code == 0
    result = runner.invoke(app, [*home, "rollback"])
    assert result.exit_code == 0 and "current index:" in result.stdout

    result = runner.invoke(app, [*home, "similar", "NOPE"])
    assert result.exit_code == 1 and "no active product with sku 'NOPE'" in result.stderr
    result = runner.invoke(app, [*home, "search", str(tmp_path / "missing.jpg")])
    assert result.exit_code == 1 and "cannot read image" in result.stderr


def test_search_without_an_index_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--home", str(tmp_path), "similar", "X"])
    assert result.exit_code == 1 and "no index has been built yet" in result.stderr


def test_a_vector_rewritten_with_an_old_clock_still_reaches_the_index(
    engine: Engine, store: BuildStore, tmp_path: Path, searcher_factory: Any
) -> None:
    ingest_dump(engine, write_csv(tmp_path / "1.csv", rows(30)))
    embed_all(engine)
    index(engine, store)
    # A writer whose clock is behind the build's: only the vector revision says it is newer.
    target = direction("necklace", 99)
    with Session(engine) as session:
        image_id = session.scalars(
            select(ProductImage.id).join(Product).where(Product.sku == "S000")
        ).first()
        assert image_id is not None
        revision = next_vector_revision(session.connection())
        session.execute(
            update(Embedding)
            .where(Embedding.image_id == image_id)
            .values(
                vector=to_blob(target),
                created_at=datetime(2000, 1, 1),
                revision=revision,
            )
        )
        session.commit()
    report = index(engine, store)
    assert report.reason == "update" and report.added == 1
    assert searcher_factory().search(target, k=1)[0].sku == "S000"
    assert verify_index(engine, store, backbone=MODEL).ok
