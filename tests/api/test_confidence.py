"""Knowing when there is no match: `min_score`, and `confident` against the calibrated threshold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from search.confidence import judge
from search.config import SearchSettings, Settings
from search.searcher import ProductHit
from tests.conftest import SAMPLE_CATALOG, facet

QUERIES = SAMPLE_CATALOG.parent / "queries"


def banana(client: TestClient, query: str = "") -> Any:
    photo = ("Banana.jpg", (QUERIES / "Banana.jpg").read_bytes(), "image/jpeg")
    return client.post(f"/v1/search?{query}", files={"image": photo})


def hit(score: float) -> ProductHit:
    return ProductHit(1, "A", None, None, None, None, None, None, score, 1)


def test_judge() -> None:
    assert judge([hit(0.5), hit(0.2)], threshold=0.3).confident
    assert not judge([hit(0.25)], threshold=0.3).confident
    floored = judge([hit(0.5), hit(0.2)], threshold=0.3, min_score=0.4)
    assert [h.score for h in floored.hits] == [0.5] and floored.confident
    assert judge([hit(0.5)], threshold=0.3, min_score=0.6).hits == []
    assert not judge([], threshold=0.3).confident


def test_every_result_list_says_whether_it_is_confident(client: TestClient) -> None:
    default = SearchSettings().confident_score
    answers = [
        banana(client).json(),
        client.get("/v1/products/Lime/similar").json(),
        client.post("/v1/recommend", data={"positive": "Lime"}).json(),
    ]
    for answer in answers:
        assert answer["confidence_threshold"] == default
        assert answer["confident"] == (answer["results"][0]["score"] >= default)


def test_below_the_threshold_the_nearest_are_still_shown(api_settings: Settings) -> None:
    strict = api_settings.model_copy(update={"search": SearchSettings(confident_score=0.99)})
    with TestClient(create_app(strict)) as client:
        answer = banana(client).json()
    assert answer["results"] and answer["confident"] is False


def test_min_score_leaves_out_weaker_results(client: TestClient) -> None:
    everything = banana(client, "k=10").json()["results"]
    floor = everything[2]["score"]
    kept = banana(client, f"k=10&min_score={floor}").json()
    assert [r["sku"] for r in kept["results"]] == [r["sku"] for r in everything[:3]]
    nothing = banana(client, "min_score=0.999").json()
    assert nothing["results"] == [] and nothing["confident"] is False


@pytest.mark.parametrize("query", ["min_score=2", "min_score=high"])
def test_a_bad_min_score_is_a_422(client: TestClient, query: str) -> None:
    response = banana(client, query)
    assert response.status_code == 422 and response.json()["type"] == "/problems/validation-error"


def test_the_command_line_says_no_confident_match(built_home: Path) -> None:
    photo = str(QUERIES / "Banana.jpg")
    strict = {"FACET_SEARCH__CONFIDENT_SCORE": "0.99"}
    text = facet(built_home, "search", photo, "--k", "3", env=strict)
    assert text.exit_code == 0 and text.stdout.startswith("no confident match (best score ")
    answer = json.loads(facet(built_home, "search", photo, "--min-score", "0.99", "--json").stdout)
    assert answer["results"] == [] and answer["confident"] is False
