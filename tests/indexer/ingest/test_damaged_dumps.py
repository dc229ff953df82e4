"""Dumps that cannot be read to their end, and values no catalogue row may hold."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from indexer.ingest.rows import (
    CatalogRow,
    Rejection,
    open_catalog,
    read_catalog,
    resolve_image_reference,
)
from tests.conftest import write_csv


def read_all(path: Path, **options: int) -> list[CatalogRow | Rejection]:
    with open_catalog(path, **options) as reader:
        return list(read_catalog(reader))


def skus(items: list[CatalogRow | Rejection]) -> list[str | None]:
    return [item.sku for item in items]


def test_a_stray_quote_damages_the_dump_from_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        'sku,title,price,images\nP0,Ring,10,a.jpg\nA,"Ring 12 inch,10,x.jpg\n'
        "P2,Ring,10,b.jpg\nP3,Ring,10,c.jpg\n",
        encoding="utf-8",
    )
    first, damage = read_all(path)
    assert isinstance(first, CatalogRow) and first.sku == "P0"
    assert isinstance(damage, Rejection) and damage.damaged and damage.sku is None
    assert damage.line == 3 and "quoted field runs to the end of the file" in damage.reason


def test_reading_stops_at_a_csv_error_instead_of_resuming_mid_file(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('sku,title\nA,ok\nB,"12" ring\nC,ok\n', encoding="utf-8")
    first, damage = read_all(path)
    assert first == CatalogRow(line=2, sku="A", title="ok")
    assert isinstance(damage, Rejection) and damage.damaged and damage.line == 3
    assert "malformed CSV" in damage.reason


def test_a_long_quoted_field_is_one_field_not_an_injected_row(tmp_path: Path) -> None:
    description = "x" * 140_000 + "\nB,injected\n" + "y" * 10
    path = write_csv(tmp_path / "c.csv", [{"sku": "A", "description": description}])
    (row,) = read_all(path)
    assert isinstance(row, CatalogRow) and row.sku == "A"
    assert row.description == description


def test_a_field_over_the_limit_damages_the_dump(tmp_path: Path) -> None:
    rows = [
        {"sku": "A", "description": "short"},
        {"sku": "Z", "description": "x" * 5000 + "\nB,injected\n" + "y" * 5000},
        {"sku": "C", "description": "short"},
    ]
    items = read_all(write_csv(tmp_path / "c.csv", rows), max_field_chars=2000)
    assert skus(items) == ["A", None]
    damage = items[1]
    assert isinstance(damage, Rejection) and damage.damaged and damage.line == 3
    assert "longer than 2,000 characters" in damage.reason


@pytest.mark.parametrize("name", ["c.csv.gz", "c.jsonl.gz"])
def test_a_truncated_gzip_dump_keeps_its_rows_and_reports_the_damage(
    tmp_path: Path, name: str
) -> None:
    if name.startswith("c.csv"):
        lines = b"sku\n" + b"".join(b"S%d\n" % (i * 7919) for i in range(20000))
    else:
        lines = b"".join(b'{"sku": "S%d"}\n' % (i * 7919) for i in range(20000))
    data = gzip.compress(lines)
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    items = read_all(path)
    *rows, damage = items
    assert rows and all(isinstance(row, CatalogRow) for row in rows)
    assert isinstance(damage, Rejection) and damage.damaged and damage.sku is None
    assert "ends early" in damage.reason


def test_a_file_that_is_not_gzip_at_all_is_still_a_dump_error(tmp_path: Path) -> None:
    from search.errors import DumpError

    path = tmp_path / "c.csv.gz"
    path.write_bytes(b"sku\nA\n")
    with pytest.raises(DumpError, match="cannot read dump"):
        read_all(path)


DEEP = b'{"sku": "D", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.mark.parametrize(
    ("line", "reason", "sku"),
    [
        (DEEP, "invalid JSON: nested too deeply", None),
        (b'{"sku": "N", "a": ' + b"[" * 40 + b"]" * 40 + b"}", "nested deeper than 32", "N"),
        (b'{"sku": "N", "price": NaN}', "invalid JSON: NaN", "N"),
        (b'{"sku": "N", "weight": Infinity}', "invalid JSON: Infinity", "N"),
        (b'{"sku": "N", "weight": -Infinity}', "invalid JSON: -Infinity", "N"),
        (b'{"sku": "N", "weight": 1e400}', "invalid JSON: number 1e400 is out of range", "N"),
        (b'{"sku": "N", "weight": ' + b"1" * 5000 + b"}", "invalid JSON:", None),
        (b'{"sku": "N", "price": ' + b"9" * 400 + b"}", "unparseable price", "N"),
    ],
)
def test_jsonl_values_no_row_may_hold_are_rejected(
    tmp_path: Path, line: bytes, reason: str, sku: str | None
) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"sku": "OK"}\n' + line + b'\n{"sku": "AFTER"}\n')
    ok, bad, after = read_all(path)
    assert isinstance(ok, CatalogRow) and isinstance(after, CatalogRow)
    assert isinstance(bad, Rejection) and not bad.damaged
    assert bad.line == 2 and bad.reason.startswith(reason) and bad.sku == sku


@pytest.mark.parametrize("price", ["nan", "NaN", "inf", "-inf", "Infinity", "9" * 400])
def test_non_finite_csv_prices_are_rejected(tmp_path: Path, price: str) -> None:
    (bad,) = read_all(write_csv(tmp_path / "c.csv", [{"sku": "A", "price": price}]))
    assert isinstance(bad, Rejection) and bad.reason.startswith("unparseable price")


@pytest.mark.parametrize(
    ("reference", "uri"),
    [
        ("HTTP://h/etc/passwd", "http://h/etc/passwd"),
        ("Https://CDN.example.com/R.jpg", "https://CDN.example.com/R.jpg"),
        ("FILE:///srv/x.jpg", "file:///srv/x.jpg"),
    ],
)
def test_url_schemes_are_matched_and_stored_in_lower_case(reference: str, uri: str) -> None:
    assert resolve_image_reference(reference, "/shop") == uri
