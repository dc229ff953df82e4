"""GET /v1/search?q= (words), POST /v1/search with a photo and q (fused), and the CLI's --text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import SAMPLE_CATALOG, facet

QUERIES = SAMPLE_CATALOG.parent / "queries"


def skus(answer: dict[str, Any]) -> list[str]:
    return [hit["sku"] for hit in answer["results"]]


def photo_search(client: TestClient, query: str) -> dict[str, Any]:
    photo = ("Granny-Smith.jpg", (QUERIES / "Granny-Smith.jpg").read_bytes(), "image/jpeg")
    response = client.post(f"/v1/search?k=5&{query}", files={"image": photo})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_words_find_products(client: TestClient) -> None:
    answer = client.get("/v1/search", params={"q": "oat milk", "k": 3}).json()
    assert skus(answer)[0] == "Oatly-Oat-Milk" and answer["confident"] is True
    apples = client.get("/v1/search", params={"q": "juice", "category": "Juice"}).json()
    assert apples["results"] and {hit["category"] for hit in apples["results"]} == {"Juice"}
    nothing = client.get("/v1/search", params={"q": "diamond"}).json()
    assert nothing["results"] == [] and nothing["confident"] is False


def test_a_photo_with_words_ranks_what_matches_both_first(client: TestClient) -> None:
    # A green apple's photo alone finds the green apple; "red" brings red look-alikes first.
    assert skus(photo_search(client, ""))[0] == "Granny-Smith"
    fused = photo_search(client, "q=red")
    assert skus(fused)[0] == "Red-Delicious" and fused["results"][0]["score"] < 0.05
    # With no weight on the words the photo's order is back.
    assert skus(photo_search(client, "q=red&text_weight=0"))[0] == "Granny-Smith"


@pytest.mark.parametrize(
    ("params", "slug"),
    [({"q": "!!!"}, "bad-text-query"), ({}, "validation-error"), ({"q": "a", "min_score": "0.5"},
     "validation-error")],
)  # fmt: skip
def test_bad_text_queries_are_a_422(client: TestClient, params: dict[str, str], slug: str) -> None:
    response = client.get("/v1/search", params=params)
    assert response.status_code == 422 and response.json()["type"] == f"/problems/{slug}"


def test_facet_search_text(built_home: Path) -> None:
    result = facet(built_home, "search", "--text", "oat milk", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"][0]["sku"] == "Oatly-Oat-Milk"
    photo = str(QUERIES / "Granny-Smith.jpg")
    fused = facet(built_home, "search", photo, "--text", "red", "--k", "3", "--json")
    assert json.loads(fused.stdout)["results"][0]["sku"] == "Red-Delicious"
    neither = facet(built_home, "search")
    assert neither.exit_code == 1 and "give a photo, --text WORDS, or both" in neither.stderr
