"""Upserting dumps into a real SQLite product store."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from indexer.ingest.upsert import IngestReport, ingest_dump
from search.errors import IngestAborted
from search.models import ImageStatus, IngestRun, Product, ProductImage
from tests.conftest import write_csv


def product(sku: str, **fields: Any) -> dict[str, Any]:
    row = {
        "sku": sku,
        "title": f"Item {sku}",
        "price": "10",
        "in_stock": "",
        "images": f"{sku}.jpg",
    }
    row["colour"] = ""
    row.update(fields)
    return row


def ingest(engine: Engine, path: Path, **options: Any) -> IngestReport:
    return ingest_dump(engine, path, **options)


def products(engine: Engine) -> dict[str, Product]:
    with Session(engine) as session:
        return {p.sku: p for p in session.scalars(select(Product))}


def images(engine: Engine, sku: str) -> list[tuple[int, int, str, str]]:
    """(id, position, file name, status) of a product's image rows, by id."""
    with Session(engine) as session:
        rows = session.execute(
            select(ProductImage.id, ProductImage.position, ProductImage.uri, ProductImage.status)
            .join(Product)
            .where(Product.sku == sku)
            .order_by(ProductImage.id)
        ).all()
    return [(i, pos, uri.rsplit("/", 1)[-1], status) for i, pos, uri, status in rows]


def counts(report: IngestReport) -> tuple[int, int, int, int, int]:
    return report.inserted, report.updated, report.unchanged, report.deleted, report.rejected


def test_first_ingest_inserts_products_and_images(engine: Engine, tmp_path: Path) -> None:
    dump = write_csv(
        tmp_path / "c.csv",
        [product("A", images="a1.jpg|a2.jpg", colour="red"), product("B", images="")],
    )
    report = ingest(engine, dump)
    assert counts(report) == (2, 0, 0, 0, 0)
    assert report.committed and report.revision == 1 and report.images_added == 2
    stored = products(engine)
    assert stored["A"].attributes == {"colour": "red"} and stored["A"].price == 10.0
    assert stored["A"].deleted_at is None
    assert [(pos, name, st) for _, pos, name, st in images(engine, "A")] == [
        (0, "a1.jpg", "pending"),
        (1, "a2.jpg", "pending"),
    ]
    assert images(engine, "B") == []


def test_ingesting_the_same_dump_twice_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    dump = write_csv(tmp_path / "c.csv", [product("A"), product("B")])
    ingest(engine, dump)
    before = {sku: (p.id, p.updated_at, p.content_hash) for sku, p in products(engine).items()}
    before_images = images(engine, "A")

    report = ingest(engine, dump)

    assert counts(report) == (0, 0, 2, 0, 0)
    assert report.images_added == report.images_removed == 0
    after = {sku: (p.id, p.updated_at, p.content_hash) for sku, p in products(engine).items()}
    assert after == before and images(engine, "A") == before_images
    assert report.revision == 2


def test_changed_rows_are_updated_in_place(engine: Engine, tmp_path: Path) -> None:
    ingest(engine, write_csv(tmp_path / "1.csv", [product("A"), product("B")]))
    old = products(engine)
    report = ingest(
        engine,
        write_csv(tmp_path / "2.csv", [product("A", price="12.5"), product("B"), product("C")]),
    )
    assert counts(report) == (1, 1, 1, 0, 0)
    new = products(engine)
    assert new["A"].id == old["A"].id and new["A"].price == 12.5
    assert new["A"].updated_at > old["A"].updated_at
    assert new["B"].updated_at == old["B"].updated_at


def test_image_changes_keep_the_ids_of_images_that_stay(engine: Engine, tmp_path: Path) -> None:
    ingest(engine, write_csv(tmp_path / "1.csv", [product("A", images="x.jpg|y.jpg")]))
    (x_id, _, _, _), (y_id, _, _, _) = images(engine, "A")

    report = ingest(engine, write_csv(tmp_path / "2.csv", [product("A", images="z.jpg|x.jpg")]))
    assert report.updated == 1 and report.images_added == 1 and report.images_removed == 1
    rows = images(engine, "A")
    assert rows[:2] == [(x_id, 1, "x.jpg", "pending"), (y_id, 1, "y.jpg", "removed")]
    assert rows[2][1:] == (0, "z.jpg", "pending") and rows[2][0] > y_id

    # Listing a removed image again revives the same row and id.
    report = ingest(engine, write_csv(tmp_path / "3.csv", [product("A", images="y.jpg")]))
    assert report.images_added == 1 and report.images_removed == 2
    statuses = {name: (image_id, status) for image_id, _, name, status in images(engine, "A")}
    assert statuses["y.jpg"] == (y_id, ImageStatus.PENDING)
    assert statuses["x.jpg"][1] == statuses["z.jpg"][1] == ImageStatus.REMOVED


def test_full_dump_soft_deletes_absent_products_and_restores_them(
    engine: Engine, tmp_path: Path
) -> None:
    ingest(engine, write_csv(tmp_path / "1.csv", [product("A"), product("B"), product("C")]))
    partial = write_csv(tmp_path / "2.csv", [product("A"), product("B", price="bad")])

    report = ingest(engine, partial)  # without --full nothing is deleted
    assert counts(report) == (0, 0, 1, 0, 1)

    report = ingest(engine, partial, full=True)
    # B's row was rejected, but B is still in the catalogue: only C goes.
    assert counts(report) == (0, 0, 1, 1, 1)
    stored = products(engine)
    assert stored["C"].deleted_at is not None
    assert stored["A"].deleted_at is None and stored["B"].deleted_at is None

    report = ingest(engine, write_csv(tmp_path / "3.csv", [product("C")]))
    assert counts(report) == (0, 1, 0, 0, 0)
    assert products(engine)["C"].deleted_at is None


def test_full_dump_without_valid_rows_refuses_to_delete_everything(
    engine: Engine, tmp_path: Path
) -> None:
    ingest(engine, write_csv(tmp_path / "1.csv", [product("A")]))
    with pytest.raises(IngestAborted, match="refusing to delete"):
        ingest(engine, write_csv(tmp_path / "2.csv", [product("", title="x")]), full=True)
    assert products(engine)["A"].deleted_at is None


def test_repeated_skus_are_rejected_across_batches(engine: Engine, tmp_path: Path) -> None:
    rows = [product("A"), product("B"), product("C"), product("A", title="again"), product("B")]
    report = ingest(engine, write_csv(tmp_path / "c.csv", rows), batch_size=2)
    assert counts(report) == (3, 0, 0, 0, 2)
    assert [str(r) for r in report.rejections] == [
        "line 5 (sku 'A'): sku repeated (first on line 2)",
        "line 6 (sku 'B'): sku repeated (first on line 3)",
    ]
    assert products(engine)["A"].title == "Item A"


def test_strict_mode_writes_nothing_when_a_row_is_rejected(engine: Engine, tmp_path: Path) -> None:
    ingest(engine, write_csv(tmp_path / "1.csv", [product("A")]))
    before = products(engine)
    rows = [product("A", price="99"), product("N"), product("BAD", in_stock="dunno")]
    rows += [product(f"X{i}") for i in range(10)] + [product("N")]

    report = ingest(engine, write_csv(tmp_path / "2.csv", rows), strict=True, batch_size=3)

    assert not report.committed and report.revision is None
    assert report.rejected == 2  # the bad boolean and the repeated N, both reported
    after = products(engine)
    assert after.keys() == before.keys() and after["A"].price == before["A"].price
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(IngestRun)) == 1


def test_strict_mode_commits_a_clean_dump(engine: Engine, tmp_path: Path) -> None:
    report = ingest(engine, write_csv(tmp_path / "c.csv", [product("A")]), strict=True)
    assert report.committed and report.inserted == 1


def test_rejections_are_written_out_and_the_report_keeps_the_first(
    engine: Engine, tmp_path: Path
) -> None:
    rows = [product(f"S{i}", price="x") for i in range(5)] + [product("OK")]
    out = io.StringIO()
    report = ingest(
        engine, write_csv(tmp_path / "c.csv", rows), max_reported_rejections=2, rejects_out=out
    )
    assert report.rejected == 5 and len(report.rejections) == 2
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0] == {"line": 2, "reason": "unparseable price 'x'", "sku": "S0"}
    assert [line["sku"] for line in lines] == [f"S{i}" for i in range(5)]


def test_progress_reports_bytes_read(engine: Engine, tmp_path: Path) -> None:
    dump = write_csv(tmp_path / "c.csv", [product(f"P{i}") for i in range(50)])
    seen: list[int] = []
    ingest(engine, dump, batch_size=10, on_progress=seen.append)
    assert len(seen) == 5 and seen == sorted(seen) and seen[-1] == dump.stat().st_size


def test_bulk_written_values_are_stored_as_the_orm_stores_them(
    engine: Engine, tmp_path: Path
) -> None:
    ingest(engine, write_csv(tmp_path / "c.csv", [product("A", colour="red")]))
    with engine.connect() as connection:
        stored = connection.exec_driver_sql(
            "SELECT p.created_at, p.updated_at, i.created_at, r.started_at, p.attributes"
            " FROM products p JOIN product_images i ON i.product_id = p.id"
            " JOIN ingest_runs r ON r.id = 1"
        ).one()
    # ingest_runs goes through SQLAlchemy's own parameter handling; the others must match it.
    assert stored[0] == stored[1] == stored[2] == stored[3]
    if engine.dialect.name == "sqlite":
        assert isinstance(stored[0], str) and " " in stored[0]
        assert json.loads(stored[4]) == {"colour": "red"}
    else:  # psycopg hands back typed values: a timestamp and the parsed JSON
        assert isinstance(stored[0], datetime) and stored[4] == {"colour": "red"}


def test_the_ingest_run_is_recorded(engine: Engine, tmp_path: Path) -> None:
    dump = write_csv(tmp_path / "c.csv", [product("A"), product("", title="x")])
    ingest(engine, dump)
    with Session(engine) as session:
        run = session.scalars(select(IngestRun)).one()
    assert (run.source, run.inserted, run.rejected, run.full) == (str(dump), 1, 1, False)
    assert run.finished_at >= run.started_at


def test_a_dump_given_by_a_relative_path_is_recorded_absolute(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The service resolves catalogue folders long after, from another working directory.
    write_csv(tmp_path / "catalog.csv", [{"sku": "A", "images": "a.jpg"}])
    monkeypatch.chdir(tmp_path)
    ingest_dump(engine, Path("catalog.csv"))
    with engine.connect() as connection:
        source = connection.execute(select(IngestRun.source)).scalar_one()
    assert source == str(tmp_path / "catalog.csv")
