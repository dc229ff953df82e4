"""Every command works the same on each product store (SQLite, and a real PostgreSQL server) and
each index backend (FAISS files, and a real Milvus Lite)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from search.config import Settings
from tests.conftest import SAMPLE_CATALOG, facet, store_env, write_csv

QUERIES = SAMPLE_CATALOG.parent / "queries"


def run(settings: Settings, *args: str) -> Any:
    """Run a command with `--json` and return its answer; it must succeed."""
    result = facet(settings.home, *args, "--json", env=store_env(settings))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["faiss", "milvus"])
def test_every_command_on_each_store(
    store_settings: Settings, backend: str, tmp_path: Path
) -> None:
    index = store_settings.index.model_copy(update={"backend": backend})
    settings = store_settings.model_copy(update={"index": index})
    assert run(settings, "ingest", str(SAMPLE_CATALOG))["inserted"] == 81
    built = run(settings, "build")
    assert built["embedding"]["embedded"] == 81

    status = run(settings, "status")
    assert status["products"] == {"active": 81, "deleted": 0} and status["images"] == {"ready": 81}

    found = run(settings, "search", str(QUERIES / "Banana.jpg"), "--k", "3")
    assert found["results"][0]["sku"] == "Banana"
    filtered = run(settings, "search", str(QUERIES / "Banana.jpg"), "--category", "Apple")
    assert {hit["category"] for hit in filtered["results"]} == {"Apple"}
    by_attribute = run(settings, "search", str(QUERIES / "Lime.jpg"), "--attr", "department=Fruit")
    assert by_attribute["results"] and by_attribute["results"][0]["sku"] == "Lime"

    similar = run(settings, "similar", "Lime", "--k", "5")
    assert similar["results"] and "Lime" not in {hit["sku"] for hit in similar["results"]}

    liked = run(settings, "recommend", "-p", "Lime", "-n", "Banana", "--strategy", "best_score")
    assert liked["results"] and not {"Lime", "Banana"} & {hit["sku"] for hit in liked["results"]}

    scores = run(settings, "evaluate", str(SAMPLE_CATALOG.parent / "queries.csv"))
    assert scores["recall_at_10"] > 0.5

    assert run(settings, "verify")["ok"] is True

    # A change reaches the index incrementally; rollback and the build list work on the store.
    dump = write_csv(tmp_path / "one.csv", [_row("Extra-Banana", "Banana.jpg")])
    assert run(settings, "ingest", str(dump))["inserted"] == 1
    assert run(settings, "build")["embedding"]["embedded"] == 1
    assert run(settings, "search", str(QUERIES / "Banana.jpg"), "--k", "2")["results"]
    assert len(run(settings, "builds")["builds"]) == 2
    # A rollback needs an older build to go back to: FAISS keeps the first one; Milvus changed
    # the first build's collection in place, so it builds a new collection first (--rebuild).
    if backend == "milvus":
        assert run(settings, "build", "--rebuild")["index"]["retrained"]
    assert facet(settings.home, "rollback", env=store_env(settings)).exit_code == 0
    assert run(settings, "search", str(QUERIES / "Banana.jpg"), "--k", "2")["results"]
    assert facet(settings.home, "db", "current", env=store_env(settings)).exit_code == 0


def _row(sku: str, image: str) -> dict[str, str]:
    return {
        "sku": sku,
        "title": sku,
        "category": "Banana",
        "department": "Fruit",
        "images": str(QUERIES / image),
    }
