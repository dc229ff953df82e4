"""`--full` deletes only what a complete, readable dump proves absent, and never too much."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from indexer.ingest.upsert import ingest_dump
from search.errors import DeletionRefused
from search.models import IngestRun, Product
from tests.conftest import write_csv

HEADER = "sku,title,price,images\n"


def catalog_line(i: int, price: int = 10) -> str:
    return f"P{i},Ring {i},{price},p{i}.jpg\n"


def write_catalog(path: Path, count: int, *, replace: dict[int, str] | None = None) -> Path:
    lines = [(replace or {}).get(i, catalog_line(i)) for i in range(count)]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


def active(engine: Engine) -> set[str]:
    with Session(engine) as session:
        return set(session.scalars(select(Product.sku).where(Product.deleted_at.is_(None))))


def price_of(engine: Engine, sku: str) -> float | None:
    with Session(engine) as session:
        return session.scalars(select(Product.price).where(Product.sku == sku)).one()


def runs(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(IngestRun)) or 0)


def test_a_stray_quote_in_a_full_dump_deletes_nothing(engine: Engine, tmp_path: Path) -> None:
    # The reproduction: one typo used to soft-delete 999 of 1,000 products.
    ingest_dump(engine, write_catalog(tmp_path / "1.csv", 1000))
    typo = write_catalog(
        tmp_path / "2.csv",
        1000,
        replace={0: catalog_line(0, 11), 1: 'A,"Ring 12 inch,10,x.jpg\n'},
    )

    report = ingest_dump(engine, typo, full=True)

    assert report.deleted == 0 and report.committed
    assert report.damaged is not None and "line 3" in report.damaged
    assert report.full_delete_skipped is not None and "line 3" in report.full_delete_skipped
    assert len(active(engine)) == 1000
    assert price_of(engine, "P0") == 11.0  # the rows before the damage still count


@pytest.mark.parametrize(
    "bad_row", ["   ,Ring,10,x.jpg\n", "P1,Ring,10\n", "P1,Ring,10,x.jpg,extra\n"]
)
def test_a_rejected_row_without_a_readable_sku_stops_full_deletion(
    engine: Engine, tmp_path: Path, bad_row: str
) -> None:
    ingest_dump(engine, write_catalog(tmp_path / "1.csv", 10))
    dump = write_catalog(tmp_path / "2.csv", 8, replace={1: bad_row, 2: catalog_line(2, 12)})

    report = ingest_dump(engine, dump, full=True)

    assert report.committed and report.deleted == 0 and report.damaged is None
    assert report.full_delete_skipped is not None and "line 3" in report.full_delete_skipped
    assert len(active(engine)) == 10 and price_of(engine, "P2") == 12.0


def test_rejected_rows_with_a_sku_still_allow_full_deletion(engine: Engine, tmp_path: Path) -> None:
    ingest_dump(engine, write_catalog(tmp_path / "1.csv", 10))
    dump = write_catalog(tmp_path / "2.csv", 9, replace={1: "P1,Ring,oops,x.jpg\n"})
    report = ingest_dump(engine, dump, full=True, max_delete_pct=10)
    assert report.full_delete_skipped is None and report.deleted == 1
    assert active(engine) == {f"P{i}" for i in range(9)}


def test_a_truncated_gzip_full_dump_deletes_nothing(engine: Engine, tmp_path: Path) -> None:
    ingest_dump(engine, write_catalog(tmp_path / "1.csv", 3000))
    text = HEADER + "".join(catalog_line(i, 20) for i in range(3000))
    data = gzip.compress(text.encode())
    truncated = tmp_path / "2.csv.gz"
    truncated.write_bytes(data[: len(data) // 2])

    report = ingest_dump(engine, truncated, full=True)

    assert report.committed and report.deleted == 0
    assert report.damaged is not None and "ends early" in report.damaged
    assert report.full_delete_skipped is not None
    assert len(active(engine)) == 3000 and price_of(engine, "P0") == 20.0


def test_strict_writes_nothing_on_a_damaged_dump(engine: Engine, tmp_path: Path) -> None:
    ingest_dump(engine, write_catalog(tmp_path / "1.csv", 10))
    dump = write_catalog(
        tmp_path / "2.csv", 10, replace={0: catalog_line(0, 11), 5: 'P5,"Ring,10,x.jpg\n'}
    )
    report = ingest_dump(engine, dump, full=True, strict=True)
    assert not report.committed and report.damaged is not None
    assert price_of(engine, "P0") == 10.0 and runs(engine) == 1


def test_deleting_more_than_the_allowed_share_writes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    ingest_dump(engine, write_catalog(tmp_path / "1.csv", 20))
    # 3 of 20 absent (15%), and a price change that must not be applied either.
    dump = write_catalog(tmp_path / "2.csv", 17, replace={0: catalog_line(0, 99)})

    with pytest.raises(DeletionRefused) as refused:
        ingest_dump(engine, dump, full=True, max_delete_pct=10)

    message = str(refused.value)
    assert "3 of 20 active products (15.0%)" in message and "10% limit" in message
    assert "--max-delete 15" in message and "nothing was written" in message
    assert len(active(engine)) == 20 and price_of(engine, "P0") == 10.0 and runs(engine) == 1

    report = ingest_dump(engine, dump, full=True, max_delete_pct=15)
    assert report.deleted == 3 and price_of(engine, "P0") == 99.0


def test_the_share_counts_against_products_active_before_the_run(
    engine: Engine, tmp_path: Path
) -> None:
    ingest_dump(engine, write_catalog(tmp_path / "1.csv", 10))
    # 1 of the 10 existing products goes (10%, allowed); 30 new ones do not dilute the share.
    rows: list[dict[str, Any]] = [{"sku": f"P{i}"} for i in range(1, 10)]
    rows += [{"sku": f"N{i}"} for i in range(30)]
    report = ingest_dump(engine, write_csv(tmp_path / "2.csv", rows), full=True, max_delete_pct=10)
    assert report.deleted == 1
    rows = [{"sku": f"P{i}"} for i in range(3, 10)] + [{"sku": f"N{i}"} for i in range(30)]
    with pytest.raises(DeletionRefused, match="2 of 39 active products"):
        ingest_dump(engine, write_csv(tmp_path / "3.csv", rows), full=True, max_delete_pct=5)


def test_jsonl_lines_without_a_readable_sku_stop_full_deletion(
    engine: Engine, tmp_path: Path
) -> None:
    ingest_dump(engine, write_csv(tmp_path / "1.csv", [{"sku": f"P{i}"} for i in range(3)]))
    refused_nan = tmp_path / "2.jsonl"
    refused_nan.write_text('{"sku": "P0"}\n{"sku": "P1", "price": NaN}\n', encoding="utf-8")
    report = ingest_dump(engine, refused_nan, full=True)
    # P1's line is rejected but names its SKU: only P2 is absent.
    assert report.rejected == 1 and report.deleted == 1 and report.full_delete_skipped is None

    broken = tmp_path / "3.jsonl"
    broken.write_text('{"sku": "P0"}\n{"sku": "P1", "price": 1\n', encoding="utf-8")
    report = ingest_dump(engine, broken, full=True)
    assert report.deleted == 0 and report.full_delete_skipped is not None
    assert active(engine) == {"P0", "P1"}
