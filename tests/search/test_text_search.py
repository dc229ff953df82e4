"""Keyword search with the database's own full-text engine, on SQLite (FTS5) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update

from indexer.ingest.upsert import ingest_dump
from search.filter_params import make_filters
from search.models import ImageStatus, ProductImage
from search.text_search import BadTextQuery, keyword_search
from tests.conftest import write_jsonl

ROWS: list[dict[str, Any]] = [
    {"sku": "R1", "title": "Gold solitaire ring", "category": "ring", "images": ["r1.jpg"],
     "stone": "ruby"},
    {"sku": "R2", "title": "Silver halo ring", "category": "ring", "material": "silver",
     "images": ["r2.jpg"]},
    {"sku": "N1", "title": "Silver chain necklace", "category": "necklace",
     "description": "A fine chain of sterling silver.", "images": ["n1.jpg"]},
    {"sku": "E1", "title": "Pearl earrings", "category": "earrings", "images": ["e1.jpg"]},
]  # fmt: skip


def load(engine: Engine, tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    ingest_dump(engine, write_jsonl(tmp_path / "dump.jsonl", rows))
    with engine.begin() as connection:  # as if built: only products with vectors are found
        connection.execute(update(ProductImage).values(status=ImageStatus.READY))


def skus(engine: Engine, query: str, **filters: Any) -> list[str]:
    return [hit.sku for hit in keyword_search(engine, query, filters=make_filters(**filters))]


def test_words_find_products_on_each_store(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, ROWS)
    assert set(skus(engine, "rings")) == {"R1", "R2"}  # stemmed: "ring"
    assert skus(engine, "ruby") == ["R1"]  # attribute values are words too
    assert skus(engine, "sterling") == ["N1"]  # and descriptions
    # More of the words, first: both "silver" and "ring" beat "silver" alone.
    assert skus(engine, "silver ring")[0] == "R2"
    assert skus(engine, "silver", category="necklace") == ["N1"]
    assert skus(engine, "diamond") == []


def test_the_index_follows_ingest(engine: Engine, tmp_path: Path) -> None:
    load(engine, tmp_path, ROWS)
    changed = [dict(ROWS[3], title="Pearl drop earrings, freshwater"), *ROWS[:3]]
    load(engine, tmp_path, changed)
    assert skus(engine, "freshwater") == ["E1"]
    ingest_dump(engine, write_jsonl(tmp_path / "full.jsonl", ROWS[:3]), full=True)
    assert skus(engine, "pearl") == []  # soft-deleted


@pytest.mark.parametrize("query", ['"', "OR", "NEAR(ring", "ring*", "a:b", "-ring", "ring | gold"])
def test_query_syntax_from_users_is_only_words(engine: Engine, tmp_path: Path, query: str) -> None:
    load(engine, tmp_path, ROWS)
    if not any(ch.isalnum() for ch in query):
        with pytest.raises(BadTextQuery):
            keyword_search(engine, query)
    else:
        keyword_search(engine, query)  # never a database error
