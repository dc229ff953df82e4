"""GET /v1/admin/duplicates and each image's quality in GET /v1/products/{sku}, on the generated
catalogue with planted problems (tests/hygiene_catalog.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from search.config import ApiSettings, Settings
from tests.hygiene_catalog import build_hygiene_catalog
from tests.hygiene_images import scene

KEY = {"X-API-Key": "s3cret"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    home, _ = build_hygiene_catalog(tmp_path_factory.mktemp("hygiene-api"))
    settings = Settings(home=home, api=ApiSettings(api_key=SecretStr("s3cret")))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_duplicates_lists_the_reused_picture_with_its_products(client: TestClient) -> None:
    answer = client.get("/v1/admin/duplicates", headers=KEY)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [cluster["skus"] for cluster in body["clusters"]] == [["COPY1", "P1"]]
    images = body["clusters"][0]["images"]
    assert {image["title"] for image in images} == {"title of COPY1", "title of P1"}
    for image in images:
        assert client.get(image["image_url"]).status_code == 200
    assert body["pairs"] == 1 and body["clusters"][0]["min_match"] >= body["threshold"]
    assert [entry["sku"] for entry in body["within_product"]] == ["TWICE"]


def test_duplicates_takes_a_threshold_and_refuses_a_bad_one(client: TestClient) -> None:
    strict = client.get("/v1/admin/duplicates", params={"threshold": 1}, headers=KEY)
    assert strict.status_code == 200 and strict.json()["clusters"] == []
    bad = client.get("/v1/admin/duplicates", params={"threshold": 1.5}, headers=KEY)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


def test_duplicates_needs_the_admin_key(client: TestClient) -> None:
    assert client.get("/v1/admin/duplicates").status_code == 401
    assert client.get("/v1/admin/duplicates", headers={"X-API-Key": "no"}).status_code == 403


def test_the_endpoint_is_in_the_openapi_document(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/admin/duplicates"]["get"]
    assert "admin" in operation["tags"]
    assert {parameter["name"] for parameter in operation["parameters"]} >= {"threshold"}
    assert "DuplicatesOut" in str(operation["responses"]["200"])


@pytest.mark.parametrize(
    ("sku", "verdict", "reasons"),
    [("P2", "ok", []), ("BLANK", "fail", ["blank"]), ("BLUR", "fail", ["blurred"])],
)
def test_a_product_shows_each_image_quality(
    client: TestClient, sku: str, verdict: str, reasons: list[str]
) -> None:
    (image,) = client.get(f"/v1/products/{sku}").json()["images"]
    assert image["quality"] == {"verdict": verdict, "reasons": reasons, "excluded": False}


def test_an_image_not_checked_yet_has_no_quality(client: TestClient) -> None:
    # An image added through the admin API is checked by the next build, not before.
    photo = io.BytesIO()
    scene(30).save(photo, "JPEG")
    put = client.put(
        "/v1/products/NEW",
        files={"images": ("new.jpg", photo.getvalue(), "image/jpeg")},
        data={"title": "new"},
        headers=KEY,
    )
    assert put.status_code == 201, put.text
    (image,) = client.get("/v1/products/NEW").json()["images"]
    assert image["quality"] is None
    assert client.delete("/v1/products/NEW", headers=KEY).status_code == 204
