"""Attribute values read as text the same way on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from indexer.ingest.upsert import ingest_dump
from search.json_text import json_text
from search.models import Product
from tests.conftest import write_jsonl


def test_attribute_values_as_text_on_each_store(engine: Engine, tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        {"sku": "A", "images": ["a.jpg"], "size": 52, 'cut "A"': "oval", "stone": "ruby"},
        {"sku": "B", "images": ["b.jpg"], "size": "52", "weight": 1.5},
        {"sku": "C", "images": ["c.jpg"]},
    ]
    ingest_dump(engine, write_jsonl(tmp_path / "dump.jsonl", rows))

    def skus_where(key: str, value: str) -> list[str]:
        query = select(Product.sku).where(json_text(Product.attributes, key) == value)
        with engine.connect() as connection:
            return sorted(connection.execute(query).scalars())

    # Numbers and strings compare as text; a quote in the key is no obstacle; absent is NULL.
    assert skus_where("size", "52") == ["A", "B"]
    assert skus_where('cut "A"', "oval") == ["A"]
    assert skus_where("weight", "1.5") == ["B"]
    assert skus_where("stone", "ruby") == ["A"] and skus_where("stone", "") == []
