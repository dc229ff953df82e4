"""Admin updates: auth, upsert and delete visible at once, durable, consistent, reload."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from search.builds import BuildStore
from search.config import ApiSettings, IndexSettings, Settings
from tests.conftest import SAMPLE_CATALOG, facet, store_env

QUERIES = SAMPLE_CATALOG.parent / "queries"
KEY = {"X-API-Key": "s3cret"}


@pytest.fixture
def admin_settings(store_api_settings: Settings) -> Settings:
    return store_api_settings.model_copy(update={"api": ApiSettings(api_key=SecretStr("s3cret"))})


def photo(name: str) -> tuple[str, bytes, str]:
    return (name, (QUERIES / name).read_bytes(), "image/jpeg")


def top(client: TestClient, name: str) -> tuple[str, float]:
    response = client.post("/v1/search", files={"image": photo(name)}, data={"k": "1"})
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    return result["sku"], result["score"]


def top_sku(client: TestClient, name: str) -> str:
    return top(client, name)[0]


def assert_consistent(settings: Settings) -> None:
    """`facet verify` finds the live index in line with the product store."""
    result = facet(settings.home, "verify", env=store_env(settings))
    assert result.exit_code == 0, result.output


def test_admin_is_disabled_without_a_configured_key(client: TestClient) -> None:
    response = client.delete("/v1/products/Banana", headers=KEY)
    assert response.status_code == 403 and response.json()["type"] == "/problems/admin-disabled"


def test_admin_needs_the_right_key(admin_settings: Settings) -> None:
    with TestClient(create_app(admin_settings)) as client:
        assert client.delete("/v1/products/Banana").status_code == 401
        wrong = client.delete("/v1/products/Banana", headers={"X-API-Key": "nope"})
        assert wrong.status_code == 403 and wrong.json()["type"] == "/problems/forbidden"
        assert client.post("/v1/admin/reload").status_code == 401


def test_upsert_and_delete_are_searchable_at_once_and_survive_a_restart(
    admin_settings: Settings,
) -> None:
    fields = {"title": "Banana bunch", "category": "Banana", "price": "1.5", "in_stock": "true"}
    with TestClient(create_app(admin_settings)) as client:
        response = client.put(
            "/v1/products/NEW-1",
            headers=KEY,
            files=[("images", photo("Banana.jpg"))],
            data={**fields, "attributes": '{"origin": "Ecuador"}'},
        )
        assert response.status_code == 201, response.text
        product = response.json()
        assert product["price"] == 1.5 and product["attributes"] == {"origin": "Ecuador"}
        sku, score = top(client, "Banana.jpg")
        assert sku == "NEW-1" and score > 0.999  # its own photo: the nearest

        response = client.put(
            "/v1/products/NEW-1", headers=KEY, files=[("images", photo("Lime.jpg"))], data=fields
        )
        assert response.status_code == 200 and len(response.json()["images"]) == 1
        sku, score = top(client, "Lime.jpg")
        assert sku == "NEW-1" and score > 0.999
        assert top(client, "Banana.jpg")[1] < 0.99  # the banana photo is gone from the index
    assert_consistent(admin_settings)

    with TestClient(create_app(admin_settings)) as restarted:
        assert top_sku(restarted, "Lime.jpg") == "NEW-1"
        assert restarted.delete("/v1/products/NEW-1", headers=KEY).status_code == 204
        assert top_sku(restarted, "Lime.jpg") != "NEW-1"
        assert restarted.get("/v1/products/NEW-1").status_code == 404
        assert restarted.delete("/v1/products/NEW-1", headers=KEY).status_code == 404
    assert_consistent(admin_settings)

    with TestClient(create_app(admin_settings)) as again:
        assert top_sku(again, "Lime.jpg") != "NEW-1"


def test_new_fields_reach_filtered_searches_at_once(admin_settings: Settings) -> None:
    """The service answers filters from memory: an admin write that changes only a product's
    fields (the same photo: no new vector, no new build) must still reach them."""

    def skus(client: TestClient, query: str) -> list[str]:
        response = client.post(f"/v1/search?{query}", files={"image": photo("Banana.jpg")})
        assert response.status_code == 200, response.text
        return [result["sku"] for result in response.json()["results"]]

    with TestClient(create_app(admin_settings)) as client:
        before = {"category": "Banana", "price": "1.5", "in_stock": "true"}
        put = client.put(
            "/v1/products/NEW-1",
            headers=KEY,
            files=[("images", photo("Banana.jpg"))],
            data={**before, "attributes": '{"origin": "Ecuador"}'},
        )
        assert put.status_code == 201
        assert "NEW-1" in skus(client, "category=Banana&in_stock=true&attr=origin=Ecuador")
        after = {"category": "Exotic", "price": "99", "in_stock": "false"}
        put = client.put(
            "/v1/products/NEW-1",
            headers=KEY,
            files=[("images", photo("Banana.jpg"))],
            data={**after, "attributes": '{"origin": "Peru"}'},
        )
        assert put.status_code == 200
        assert "NEW-1" not in skus(client, "category=Banana")
        assert "NEW-1" not in skus(client, "attr=origin=Ecuador")
        assert skus(client, "category=Exotic&in_stock=false&min_price=50&attr=origin=Peru") == [
            "NEW-1"
        ]


def test_writes_past_the_retune_share_re_measure_recall(admin_settings: Settings) -> None:
    settings = admin_settings.model_copy(update={"index": IndexSettings(retune_share=0.0)})
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/health").json()["index"]["measured_by"] == "build"
        put = client.put("/v1/products/NEW-1", headers=KEY, files=[("images", photo("Banana.jpg"))])
        assert put.status_code == 201
        deadline = time.monotonic() + 30
        while (index := client.get("/v1/health").json()["index"])["measured_by"] != "retune":
            assert time.monotonic() < deadline, "no re-tune after the write"
            time.sleep(0.05)
        assert index["recall_at_10"] >= 0.95 and index["changed_since"] == 0
        # The next published build records what the re-tune measured.
        client.delete("/v1/products/NEW-1", headers=KEY)
    manifest = BuildStore(settings.index_dir).load_current().manifest
    assert manifest.nprobe == index["nprobe"]


@pytest.mark.parametrize(
    ("files", "data", "status"),
    [
        ([("images", ("a.txt", b"text", "text/plain"))], {}, 415),
        ([("images", ("a.jpg", b"junk", "image/jpeg"))], {}, 422),
        ([("images", photo("Lime.jpg"))], {"attributes": "[1, 2]"}, 422),
        ([("images", photo("Lime.jpg"))], {"price": "-3"}, 422),
        ([("images", photo("Lime.jpg"))], {"currency": "euro"}, 422),
        ([], {"title": "no image"}, 422),
    ],
)
def test_bad_upserts_are_refused_and_change_nothing(
    admin_settings: Settings, files: list[Any], data: dict[str, str], status: int
) -> None:
    with TestClient(create_app(admin_settings)) as client:
        response = client.put("/v1/products/BAD", headers=KEY, files=files, data=data)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert client.get("/v1/products/BAD").status_code == 404


def test_reload_switches_builds_without_failing_requests_in_flight(
    admin_settings: Settings,
) -> None:
    with TestClient(create_app(admin_settings)) as client:
        before = client.get("/v1/ready").json()["build_id"]
        assert (
            facet(
                admin_settings.home, "build", "--rebuild", env=store_env(admin_settings)
            ).exit_code
            == 0
        )
        statuses: list[int] = []

        def searching() -> None:
            for _ in range(5):
                response = client.post("/v1/search", files={"image": photo("Banana.jpg")})
                statuses.append(response.status_code)

        threads = [threading.Thread(target=searching) for _ in range(3)]
        for thread in threads:
            thread.start()
        reloaded = client.post("/v1/admin/reload", headers=KEY)
        for thread in threads:
            thread.join()
        assert reloaded.status_code == 200 and reloaded.json()["build_id"] != before
        assert statuses == [200] * 15
        assert client.get("/v1/ready").json()["build_id"] == reloaded.json()["build_id"]
