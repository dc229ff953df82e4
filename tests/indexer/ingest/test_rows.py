"""Reading and validating dumps: every format, every field, every kind of bad row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from indexer.ingest.rows import (
    CatalogRow,
    Rejection,
    RowError,
    open_catalog,
    read_catalog,
    resolve_image_reference,
)
from search.errors import DumpError
from tests.conftest import write_csv, write_jsonl

ROWS: list[dict[str, Any]] = [
    {
        "sku": "R-1",
        "title": " Solitaire ring ",
        "description": "Gold ring, one diamond",
        "category": "ring",
        "material": "gold",
        "style": "solitaire",
        "price": "1299.50",
        "currency": "eur",
        "in_stock": "yes",
        "images": "img/r1.jpg|img/r1-side.jpg",
        "stone": "diamond",
    },
    {
        "sku": "N-2",
        "title": "Pearl necklace",
        "description": "",
        "category": "necklace",
        "material": "silver",
        "style": "",
        "price": "89",
        "currency": "",
        "in_stock": "0",
        "images": "https://cdn.example.com/n2.jpg",
        "stone": "",
    },
]


def read_all(path: Path) -> list[CatalogRow | Rejection]:
    with open_catalog(path) as reader:
        return list(read_catalog(reader))


def as_jsonl_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    converted = []
    for row in rows:
        item = {key: value for key, value in row.items() if value != ""}
        item["images"] = row["images"].split("|")
        converted.append(item)
    return converted


@pytest.mark.parametrize("name", ["c.csv", "c.csv.gz", "c.jsonl", "c.jsonl.gz", "C.CSV"])
def test_every_format_reads_the_same_catalog(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    compress = name.endswith(".gz")
    if ".jsonl" in name:
        write_jsonl(path, as_jsonl_rows(ROWS), compress=compress)
    else:
        write_csv(path, ROWS, compress=compress)

    ring, necklace = read_all(path)

    assert ring == CatalogRow(
        line=2 if "csv" in name.lower() else 1,
        sku="R-1",
        title="Solitaire ring",
        description="Gold ring, one diamond",
        category="ring",
        material="gold",
        style="solitaire",
        price=1299.5,
        currency="EUR",
        in_stock=True,
        images=(
            (tmp_path / "img/r1.jpg").as_uri(),
            (tmp_path / "img/r1-side.jpg").as_uri(),
        ),
        attributes={"stone": "diamond"},
    )
    assert isinstance(necklace, CatalogRow)
    assert necklace.description is None and necklace.style is None and necklace.currency is None
    assert necklace.in_stock is False and necklace.price == 89.0
    assert necklace.images == ("https://cdn.example.com/n2.jpg",)
    assert necklace.attributes == {}
    assert ring.fingerprint() != necklace.fingerprint()


def test_jsonl_keeps_typed_attributes_and_merges_an_attributes_object(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "c.jsonl",
        [{"sku": 17, "price": 10, "in_stock": True, "carat": 0.5, "attributes": {"size": 52}}],
    )
    (row,) = read_all(path)
    assert isinstance(row, CatalogRow)
    assert row.sku == "17" and row.price == 10.0 and row.in_stock is True
    assert row.attributes == {"carat": 0.5, "size": 52}


def test_csv_header_is_case_insensitive_for_known_columns(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("SKU,Title,Colour\nA,Ring,red\n", encoding="utf-8")
    (row,) = read_all(path)
    assert isinstance(row, CatalogRow)
    assert (row.sku, row.title, row.attributes) == ("A", "Ring", {"Colour": "red"})


def test_multiline_csv_fields_keep_line_numbers_right(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('sku,description,price\nA,"two\nlines",1\nB,x,oops\n', encoding="utf-8")
    first, second = read_all(path)
    assert isinstance(first, CatalogRow) and first.description == "two\nlines"
    assert second == Rejection(4, "unparseable price 'oops'", "B")


CSV_BAD_ROWS = [
    (",Ring,1,yes", "missing sku"),
    ("A,Ring,12.3.4,yes", "unparseable price '12.3.4'"),
    ("A,Ring,-5,yes", "unparseable price '-5'"),
    ("A,Ring,nan,yes", "unparseable price 'nan'"),
    ("A,Ring,1,perhaps", "unparseable in_stock 'perhaps'"),
    ("A,Ring,1", "expected 4 fields, found 3"),
]


@pytest.mark.parametrize(("line", "reason"), CSV_BAD_ROWS)
def test_bad_csv_rows_are_rejected_with_line_and_reason(
    tmp_path: Path, line: str, reason: str
) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f"sku,title,price,in_stock\nOK,Fine,1,no\n{line}\n", encoding="utf-8")
    ok, bad = read_all(path)
    assert isinstance(ok, CatalogRow)
    assert isinstance(bad, Rejection)
    assert bad.line == 3
    assert bad.reason.startswith(reason)


def test_invalid_utf8_rejects_only_that_row(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(b"sku,title\nA,caf\xe9\nB,caf\xc3\xa9\n")
    bad, good = read_all(path)
    assert bad == Rejection(2, "invalid UTF-8", "A")
    assert isinstance(good, CatalogRow) and good.title == "café"


JSONL_BAD_LINES = [
    (b'{"sku": "A", "price": 1', "invalid JSON"),
    (b'["A", 1]', "not a JSON object"),
    (b'{"sku": "caf\xe9"}', "invalid UTF-8"),
    (b'{"title": "no sku"}', "missing sku"),
    (b'{"sku": "A", "price": true}', "unparseable price True"),
    (b'{"sku": "A", "in_stock": "maybe"}', "unparseable in_stock 'maybe'"),
    (b'{"sku": "A", "images": [1, 2]}', "images must be a list of strings"),
    (b'{"sku": "A", "title": 5}', "title must be a string"),
    (b'{"sku": "A", "currency": "euro"}', "currency must be a 3-letter"),
    (b'{"sku": "A", "images": ["s3://bucket/a.jpg"]}', "unsupported image reference"),
]


@pytest.mark.parametrize(("line", "reason"), JSONL_BAD_LINES)
def test_bad_jsonl_lines_are_rejected_with_line_and_reason(
    tmp_path: Path, line: bytes, reason: str
) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"sku": "OK"}\n\n' + line + b"\n")
    ok, bad = read_all(path)
    assert isinstance(ok, CatalogRow)
    assert isinstance(bad, Rejection)
    assert bad.line == 3
    assert bad.reason.startswith(reason)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("title,price\nRing,1\n", "no 'sku' column"),
        ("sku,title,Title\nA,b,c\n", "appears twice"),
    ],
)
def test_a_bad_header_fails_the_whole_dump(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "c.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DumpError, match=message):
        read_all(path)


def test_unreadable_dumps_raise_dump_error(tmp_path: Path) -> None:
    with pytest.raises(DumpError, match="No such file"):
        read_all(tmp_path / "missing.csv")
    with pytest.raises(DumpError, match="unknown dump format"):
        read_all(tmp_path / "catalog.xlsx")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(DumpError, match="is a directory"):
        read_all(tmp_path / "folder.csv")
    # A gzip dump cut short is read up to the cut: see test_damaged_dumps.py.


def test_an_empty_dump_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("", encoding="utf-8")
    assert read_all(path) == []


@pytest.mark.parametrize(
    ("reference", "uri"),
    [
        ("a b/ring.jpg", "file:///shop/dump/a%20b/ring.jpg"),
        ("../img/ring.jpg", "file:///shop/img/ring.jpg"),
        ("/srv/img/ring.jpg", "file:///srv/img/ring.jpg"),
        ("file:///srv/img/ring%201.jpg", "file:///srv/img/ring%201.jpg"),
        ("file://localhost/srv/x.jpg", "file:///srv/x.jpg"),
        ("https://cdn.example.com/r.jpg?w=800", "https://cdn.example.com/r.jpg?w=800"),
    ],
)
def test_image_references_resolve_to_absolute_uris(reference: str, uri: str) -> None:
    assert resolve_image_reference(reference, "/shop/dump") == uri


@pytest.mark.parametrize(
    "reference", ["ftp://host/a.jpg", "https:///no-host.jpg", "file://otherhost/a.jpg"]
)
def test_unusable_image_references_are_refused(reference: str) -> None:
    with pytest.raises(RowError):
        resolve_image_reference(reference, "/shop")


def test_repeated_image_references_in_a_row_are_kept_once(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", [{"sku": "A", "images": "a.jpg| a.jpg |b.jpg|"}])
    (row,) = read_all(path)
    assert isinstance(row, CatalogRow)
    assert row.images == ((tmp_path / "a.jpg").as_uri(), (tmp_path / "b.jpg").as_uri())
