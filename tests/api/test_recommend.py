"""POST /v1/recommend and `facet recommend`: more like these, less like that, never the examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from search.product_vectors import product_mean
from tests.conftest import SAMPLE_CATALOG, facet

QUERIES = SAMPLE_CATALOG.parent / "queries"


def recommend(client: TestClient, query: str = "", **form: Any) -> dict[str, Any]:
    response = client.post(f"/v1/recommend?{query}", data=form)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def skus(answer: dict[str, Any]) -> list[str]:
    return [hit["sku"] for hit in answer["results"]]


@pytest.mark.parametrize("strategy", ["average", "best_score"])
def test_examples_are_never_recommended(client: TestClient, strategy: str) -> None:
    liked, disliked = ["Granny-Smith", "Pink-Lady"], ["Red-Delicious"]
    answer = recommend(client, positive=liked, negative=disliked, strategy=strategy, k="10")
    found = skus(answer)
    assert len(found) == 10 and not set(found) & {*liked, *disliked}
    scores = [hit["score"] for hit in answer["results"]]
    assert scores == sorted(scores, reverse=True)


def test_a_disliked_example_pushes_its_look_alikes_down(client: TestClient) -> None:
    # The product most like the disliked one ranks lower (or not at all) once it is disliked.
    look_alike = skus(client.get("/v1/products/Red-Delicious/similar?k=1").json())[0]
    liked = skus(recommend(client, positive="Granny-Smith", k="20"))
    steered = skus(recommend(client, positive="Granny-Smith", negative="Red-Delicious", k="20"))
    rank = steered.index(look_alike) if look_alike in steered else len(steered)
    assert look_alike in liked and rank > liked.index(look_alike)


def test_best_score_scores_each_candidate_by_its_closest_example(client: TestClient) -> None:
    answer = recommend(
        client, positive="Granny-Smith", negative="Red-Delicious", strategy="best_score", k="30"
    )
    searcher = client.app.state.service.live().searcher  # type: ignore[attr-defined]
    liked, disliked = (
        searcher.index.query_space(
            product_mean(searcher.engine, searcher.backbone_id, sku)[1], photos=False
        )[0]
        for sku in ("Granny-Smith", "Red-Delicious")
    )
    ids = np.asarray([hit["image_id"] for hit in answer["results"]], dtype=np.int64)
    vectors = searcher.index.index_space(searcher.lookup)(ids)
    expected = [
        float(p) if p >= n else -float(n)
        for p, n in zip(vectors @ liked, vectors @ disliked, strict=True)
    ]
    scores = [hit["score"] for hit in answer["results"]]
    assert scores == pytest.approx(expected, abs=1e-5)
    # Both kinds occur, and everything nearer the disliked apple ranks below the rest.
    assert min(scores) < 0 < max(scores) and scores == sorted(scores, reverse=True)


def test_filters_and_photos(client: TestClient) -> None:
    apples = recommend(client, "category=Apple", positive="Lime", k="3")
    assert skus(apples) and all(hit["category"] == "Apple" for hit in apples["results"])
    photo = ("Lime.jpg", (QUERIES / "Lime.jpg").read_bytes(), "image/jpeg")
    response = client.post("/v1/recommend", data={"k": "3"}, files=[("images", photo)])
    assert response.status_code == 200, response.text
    assert skus(response.json())[0] == "Lime"


@pytest.mark.parametrize(
    ("form", "status", "slug"),
    [
        ({"negative": "Lime"}, 422, "bad-examples"),
        ({"positive": "Lime", "negative": "Lime"}, 422, "bad-examples"),
        ({"positive": ["Lime"] * 51}, 422, "bad-examples"),
        ({"positive": "No-Such-Sku"}, 404, "unknown-product"),
        ({"positive": "Lime", "strategy": "nearest"}, 422, "validation-error"),
        ({"positive": "Lime", "liked": "Kiwi"}, 422, "validation-error"),
    ],
)
def test_bad_examples_are_a_problem(
    client: TestClient, form: dict[str, Any], status: int, slug: str
) -> None:
    response = client.post("/v1/recommend", data=form)
    assert response.status_code == status, response.text
    assert response.json()["type"] == f"/problems/{slug}"


def test_facet_recommend(built_home: Path) -> None:
    result = facet(built_home, "recommend", "-p", "Granny-Smith", "-n", "Lime", "--json")
    assert result.exit_code == 0, result.output
    found = [hit["sku"] for hit in json.loads(result.stdout)["results"]]
    assert len(found) == 10 and not {"Granny-Smith", "Lime"} & set(found)
    bad = facet(built_home, "recommend", "-n", "Lime")
    assert bad.exit_code == 1
    assert (
        bad.stderr.strip() == "facet: error: give at least one positive example (a SKU or a photo)"
    )
