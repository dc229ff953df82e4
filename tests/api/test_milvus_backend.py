"""The Milvus backend, on a real Milvus Lite (a folder in the test's home): the same answers as
FAISS, filters inside Milvus, publishing through the alias, admin writes, verify.

The sample catalogue is embedded and built with FAISS once per session (tests/api/conftest.py);
a copy is then built into Milvus once (no embedding: the vectors are stored), and tests that
change it work on copies of that.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from search.backends import build_store
from search.config import ApiSettings, IndexSettings, Settings
from search.errors import BackendUnavailable
from search.milvus_store import MilvusStore, milvus_client
from tests.conftest import SAMPLE_CATALOG, facet

MILVUS = {"FACET_INDEX__BACKEND": "milvus"}
QUERIES = SAMPLE_CATALOG.parent / "queries"
KEY = {"X-API-Key": "s3cret"}
# Filters each query photo is searched with on both backends (and without any).
# (The sample has no prices or stock: those filters keep nothing, on both.)
FILTERS = ["", "category=Apple", "attr=department=Fruit", "in_stock=true", "max_price=2.5"]


@pytest.fixture(scope="session")
def milvus_home(built_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("milvus") / "home"
    shutil.copytree(built_home, home)
    result = facet(home, "build", env=MILVUS)
    assert result.exit_code == 0, result.output
    assert "retrained (index backend changes from faiss to milvus)" in result.output
    return home


def milvus_settings(home: Path) -> Settings:
    return Settings(
        home=home,
        index=IndexSettings(backend="milvus"),
        api=ApiSettings(api_key=SecretStr("s3cret")),
    )


@pytest.fixture
def milvus_copy(milvus_home: Path, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(milvus_home, home)
    return home


def store(home: Path) -> MilvusStore:
    external = build_store(milvus_settings(home)).external
    assert isinstance(external, MilvusStore)
    return external


def skus(client: TestClient, photo: str, query: str = "", k: int = 10) -> list[str]:
    image = (photo, (QUERIES / photo).read_bytes(), "image/jpeg")
    response = client.post(f"/v1/search?k={k}&{query}", files={"image": image})
    assert response.status_code == 200, response.text
    return [hit["sku"] for hit in response.json()["results"]]


def test_both_backends_give_the_same_answers(built_home: Path, milvus_home: Path) -> None:
    photos = sorted(path.name for path in QUERIES.iterdir())
    answers: dict[str, list[list[str]]] = {}
    for name, settings in (
        ("faiss", Settings(home=built_home)),
        ("milvus", milvus_settings(milvus_home)),
    ):
        with TestClient(create_app(settings)) as client:
            answers[name] = [skus(client, p, q) for p in photos for q in FILTERS]
            answers[name] += [
                [
                    hit["sku"]
                    for hit in client.get(f"/v1/products/{sku}/similar?{q}").json()["results"]
                ]
                for sku in ("Banana", "Granny-Smith")
                for q in FILTERS
            ]
    overlaps = [
        len(set(f) & set(m)) / len(f) if f else float(not m)
        for f, m in zip(answers["faiss"], answers["milvus"], strict=True)
    ]
    assert sum(overlaps) / len(overlaps) >= 0.95, json.dumps(answers)
    assert any(len(a) < 10 for a in answers["milvus"])  # some filter really narrowed them
    # The command line too.
    for home, env in ((built_home, {}), (milvus_home, MILVUS)):
        result = facet(home, "similar", "Banana", "--category", "Apple", "--json", env=env)
        assert result.exit_code == 0, result.output
        answers.setdefault("cli", []).append(
            [hit["sku"] for hit in json.loads(result.output)["results"]]
        )
    assert answers["cli"][0] == answers["cli"][1]


def test_filters_with_quotes_and_backslashes_run_inside_milvus(milvus_copy: Path) -> None:
    tricky = "Ap\"ple\\ 'x'"
    with sqlite3.connect(milvus_copy / "facet.db") as db:
        db.execute(
            "UPDATE products SET category = ?, attributes = ? WHERE sku = 'Banana'",
            (tricky, json.dumps({'c"ut\\': 'a\\"b', "n": 52})),
        )
    # Changed behind Facet's back (no catalogue revision): verify finds the rows' fields
    # wrong, and repairs them in place.
    result = facet(milvus_copy, "verify", env=MILVUS)
    assert result.exit_code == 1 and "fields" in result.output, result.output
    result = facet(milvus_copy, "verify", "--repair", env=MILVUS)
    assert result.exit_code == 0, result.output
    assert facet(milvus_copy, "verify", env=MILVUS).exit_code == 0
    with TestClient(create_app(milvus_settings(milvus_copy))) as client:
        assert skus(client, "Banana.jpg", f"category={_url(tricky)}") == ["Banana"]
        attribute = 'c"ut\\=a\\"b'  # key c"ut\, value a\"b
        assert skus(client, "Banana.jpg", f"attr={_url(attribute)}") == ["Banana"]
        assert skus(client, "Banana.jpg", "attr=n=52") == ["Banana"]
        assert skus(client, "Banana.jpg", "category=Ap") == []


def _url(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def test_rollback_switches_the_alias_and_old_collections_are_dropped(milvus_copy: Path) -> None:
    milvus = store(milvus_copy)
    first = milvus.alias_target()
    assert first is not None and first.startswith("facet_")
    result = facet(milvus_copy, "build", "--rebuild", env=MILVUS)
    assert result.exit_code == 0, result.output
    second = milvus.alias_target()
    assert second not in (None, first)
    result = facet(milvus_copy, "rollback", env=MILVUS)
    assert result.exit_code == 0, result.output
    assert milvus.alias_target() == first
    listed = facet(milvus_copy, "builds", "--json", env=MILVUS)
    builds = json.loads(listed.output)["builds"]
    assert [b["collection"] for b in builds if b["backend"] == "milvus"] == [first, second]
    # Two more full builds: the kept count (3) prunes the oldest builds and their collections.
    for _ in range(2):
        assert facet(milvus_copy, "build", "--rebuild", env=MILVUS).exit_code == 0
    names = set(milvus.client.list_collections())
    assert first not in names and second in names and len(names) == 3
    assert facet(milvus_copy, "status", "--json", env=MILVUS).exit_code == 0


def test_admin_writes_change_the_live_collection_in_place(milvus_copy: Path) -> None:
    with TestClient(create_app(milvus_settings(milvus_copy))) as client:
        # Milvus filters inside the collection: the service keeps no filter table of its own.
        assert client.app.state.service.index.filters is None  # type: ignore[attr-defined]
        _admin_writes(client)
    live = build_store(milvus_settings(milvus_copy)).load_current()
    assert live.manifest.collection == store(milvus_copy).alias_target()
    assert live.manifest.derived_from is not None  # published in place, from the first build
    assert facet(milvus_copy, "verify", env=MILVUS).exit_code == 0


def _admin_writes(client: TestClient) -> None:
    image = ("Banana.jpg", (QUERIES / "Banana.jpg").read_bytes(), "image/jpeg")
    put = client.put(
        "/v1/products/NEW-1",
        headers=KEY,
        files=[("images", image)],
        data={
            "category": "Exotic",
            "price": "99",
            "in_stock": "false",
            "attributes": '{"origin": "Peru"}',
        },
    )
    assert put.status_code == 201, put.text
    assert skus(client, "Banana.jpg", "category=Exotic&attr=origin=Peru") == ["NEW-1"]
    # Fields only (same photo): no new vector, the row's fields change in Milvus.
    put = client.put(
        "/v1/products/NEW-1",
        headers=KEY,
        files=[("images", image)],
        data={"category": "Tropical", "price": "99", "in_stock": "false"},
    )
    assert put.status_code == 200, put.text
    assert skus(client, "Banana.jpg", "category=Exotic") == []
    assert skus(client, "Banana.jpg", "category=Tropical") == ["NEW-1"]
    assert client.delete("/v1/products/NEW-1", headers=KEY).status_code == 204
    assert "NEW-1" not in skus(client, "Banana.jpg")


def test_an_ingest_changing_fields_reaches_milvus_on_the_next_build(
    milvus_copy: Path, tmp_path: Path
) -> None:
    dump = tmp_path / "catalog.csv"
    text = SAMPLE_CATALOG.read_text(encoding="utf-8").replace(",Banana,Fruit,", ",Curved,Fruit,")
    # The same image files: only the product's fields change, no vector does.
    text = text.replace(",images/", f",{SAMPLE_CATALOG.parent}/images/")
    dump.write_text(text, encoding="utf-8")
    assert facet(milvus_copy, "ingest", str(dump), env=MILVUS).exit_code == 0
    assert facet(milvus_copy, "verify", env=MILVUS).exit_code == 1  # fields out of date
    result = facet(milvus_copy, "build", "--json", env=MILVUS)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["index"]["fields"] >= 1, result.output
    assert facet(milvus_copy, "verify", env=MILVUS).exit_code == 0
    result = facet(
        milvus_copy,
        "search",
        str(QUERIES / "Banana.jpg"),
        "--category",
        "Curved",
        "--json",
        env=MILVUS,
    )
    assert [hit["sku"] for hit in json.loads(result.output)["results"]] == ["Banana"]


def test_faiss_only_features_are_one_line_errors(milvus_copy: Path) -> None:
    result = facet(milvus_copy, "build", "--factory", "IVF4,SQ8", env=MILVUS)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "facet: error: the Milvus backend builds IVF_FLAT or FLAT indexes, not 'IVF4,SQ8' "
        "(no compressed indexes): use IVF<n>,Flat or no factory"
    ]
    result = facet(milvus_copy, "build", env={**MILVUS, "FACET_INDEX__SHARDS": "2"})
    assert result.exit_code == 1
    assert "FACET_INDEX: Value error, the Milvus backend builds unsharded" in result.output
    result = facet(milvus_copy, "builds", env={**MILVUS, "FACET_MILVUS__URI": "x.sqlite"})
    assert result.exit_code == 1 and "FACET_MILVUS__URI" in result.output
    # A FAISS process cannot serve a Milvus build by mistake.
    result = facet(milvus_copy, "similar", "Banana")
    assert result.exit_code == 1 and "set FACET_INDEX__BACKEND=milvus" in result.output


def test_a_missing_pymilvus_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymilvus", None)  # what `import` sees when absent
    with pytest.raises(BackendUnavailable, match=r"pip install 'facet\[milvus\]'"):
        milvus_client("unused.db", None)
