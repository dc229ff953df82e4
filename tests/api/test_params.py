"""Request parameters: SKUs with slashes, FACET_API__MAX_K, k where a client sends it, no
parameter silently ignored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from search.config import ApiSettings, Settings
from tests.conftest import SAMPLE_CATALOG

QUERIES = SAMPLE_CATALOG.parent / "queries"
KEY = {"X-API-Key": "s3cret"}


def photo(name: str = "Banana.jpg") -> dict[str, tuple[str, bytes, str]]:
    return {"image": (name, (QUERIES / name).read_bytes(), "image/jpeg")}


def problem(response: object, status: int = 422, slug: str = "validation-error") -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["type"] == f"/problems/{slug}"
    return str(body["detail"])


@pytest.fixture
def admin_client(api_settings: Settings) -> Iterator[TestClient]:
    settings = api_settings.model_copy(update={"api": ApiSettings(api_key=SecretStr("s3cret"))})
    with TestClient(create_app(settings)) as client:
        yield client


def test_a_sku_with_slashes_is_reachable_on_every_route(admin_client: TestClient) -> None:
    client = admin_client
    images = [("images", ("b.jpg", (QUERIES / "Banana.jpg").read_bytes(), "image/jpeg"))]
    created = client.put("/v1/products/A/B", headers=KEY, files=images, data={"title": "slash"})
    assert created.status_code == 201, created.text
    assert created.json()["sku"] == "A/B"
    assert client.get("/v1/products/A/B").json()["title"] == "slash"
    similar = client.get("/v1/products/A/B/similar", params={"k": 3})
    assert similar.status_code == 200 and len(similar.json()["results"]) == 3
    assert "A/B" not in [result["sku"] for result in similar.json()["results"]]
    # Plain SKUs still route as before, /similar included.
    assert client.get("/v1/products/Banana/similar").status_code == 200
    assert client.delete("/v1/products/A/B", headers=KEY).status_code == 204
    problem(client.get("/v1/products/A/B"), 404, "unknown-product")
    problem(client.get("/v1/products/A/B/similar"), 404, "unknown-product")


def test_max_k_is_the_configured_one(api_settings: Settings) -> None:
    for max_k, allowed, refused in ((5, 5, 6), (150, 150, 151)):
        settings = api_settings.model_copy(update={"api": ApiSettings(max_k=max_k)})
        with TestClient(create_app(settings)) as client:
            response = client.post("/v1/search", files=photo(), data={"k": str(allowed)})
            assert response.status_code == 200, response.text
            assert "k" in problem(client.post("/v1/search", files=photo(), data={"k": refused}))
            assert "k" in problem(client.post("/v1/classify", files=photo(), data={"k": refused}))
            similar = "/v1/products/Banana/similar"
            assert client.get(similar, params={"k": allowed}).status_code == 200
            problem(client.get(similar, params={"k": refused}))


def test_k_is_accepted_as_a_query_parameter_too(client: TestClient) -> None:
    by_query = client.post("/v1/search?k=3", files=photo())
    assert by_query.status_code == 200 and len(by_query.json()["results"]) == 3
    by_form = client.post("/v1/search", files=photo(), data={"k": "3"})
    assert [r["sku"] for r in by_form.json()["results"]] == [
        r["sku"] for r in by_query.json()["results"]
    ]
    assert client.post("/v1/search?k=3", files=photo(), data={"k": "3"}).status_code == 200
    assert "k" in problem(client.post("/v1/search?k=3", files=photo(), data={"k": "4"}))
    problem(client.post("/v1/search?k=0", files=photo()))
    classified = client.post("/v1/classify?k=2", files=photo())
    assert classified.status_code == 200 and classified.json()["neighbours"] == 2


@pytest.mark.parametrize(
    ("path", "data", "name"),
    [
        ("/v1/search?colour=red", {}, "colour"),
        ("/v1/search", {"category": "Banana"}, "category"),  # filters are query parameters
        ("/v1/classify?category=Banana", {}, "category"),  # classify takes no filters
        ("/v1/classify", {"top": "3"}, "top"),
    ],
)
def test_unknown_parameters_are_422_not_ignored(
    client: TestClient, path: str, data: dict[str, str], name: str
) -> None:
    assert name in problem(client.post(path, files=photo(), data=data))


def test_unknown_similar_parameters_are_422(client: TestClient) -> None:
    assert "colour" in problem(client.get("/v1/products/Banana/similar?colour=red"))
