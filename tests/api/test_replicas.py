"""Stateless replicas: two services over one product store and one shared build folder.

Each replica is a whole app (its own live index, filter table and embedder), as two `facet serve`
processes would be; what one writes, or a `facet build` publishes, the other serves without a
restart or a reload call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from search.config import ApiSettings, IndexSettings, SearchSettings, Settings
from tests.api.test_admin import KEY, photo
from tests.conftest import facet, store_env


@pytest.fixture(params=["faiss", "milvus"])
def replicas(
    request: pytest.FixtureRequest, store_api_settings: Settings
) -> Iterator[tuple[TestClient, TestClient, Settings]]:
    """Two apps on each store and index backend. (Milvus Lite is one process's: the replicas
    share its file inside this process; real replicas share a Milvus server.)"""
    settings = store_api_settings.model_copy(
        update={
            "api": ApiSettings(api_key=SecretStr("s3cret"), follow_builds_s=0.1),
            "search": SearchSettings(filter_check_s=0.1),
            "index": IndexSettings(backend=request.param),
        }
    )
    if request.param == "milvus":  # the sample's stored vectors, built into a collection
        result = facet(settings.home, "build", env=store_env(settings))
        assert result.exit_code == 0, result.output
    with ExitStack() as stack:
        first, second = (stack.enter_context(TestClient(create_app(settings))) for _ in range(2))
        yield first, second, settings


def eventually(probe: Callable[[], Any], *, within_s: float = 15.0) -> Any:
    """Poll until `probe` returns something truthy (replicas look every 0.1 s)."""
    deadline = time.monotonic() + within_s
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def skus(client: TestClient, **filters: str) -> list[str]:
    response = client.post(
        "/v1/search", files={"image": photo("Banana.jpg")}, params={"k": "5", **filters}
    )
    assert response.status_code == 200, response.text
    return [hit["sku"] for hit in response.json()["results"]]


def put_banana(client: TestClient, *, price: float) -> int:
    response = client.put(
        "/v1/products/Replica-Banana",
        headers=KEY,
        files=[("images", photo("Banana.jpg"))],
        data={"title": "Replica banana", "category": "Replica", "price": str(price)},
    )
    assert response.status_code in (200, 201), response.text
    return response.status_code


def test_a_write_through_one_replica_is_served_by_the_other(
    replicas: tuple[TestClient, TestClient, Settings],
) -> None:
    first, second, _ = replicas
    assert "Replica-Banana" not in skus(second, category="Replica")
    assert put_banana(first, price=5) == 201
    assert eventually(lambda: skus(second, category="Replica") == ["Replica-Banana"])

    # A field change alone publishes no build: the other replica's filter table must notice.
    assert put_banana(first, price=50) == 200
    assert eventually(lambda: skus(second, category="Replica", max_price="10") == [])

    assert first.delete("/v1/products/Replica-Banana", headers=KEY).status_code == 204
    assert eventually(lambda: "Replica-Banana" not in skus(second))


def test_a_published_build_reaches_every_replica(
    replicas: tuple[TestClient, TestClient, Settings],
) -> None:
    first, second, settings = replicas
    before = first.get("/v1/ready").json()["build_id"]
    result = facet(settings.home, "build", "--rebuild", env=store_env(settings))
    assert result.exit_code == 0, result.output

    def serving(client: TestClient) -> str:
        return str(client.get("/v1/ready").json()["build_id"])

    after = eventually(lambda: serving(first) != before and serving(first))
    assert after and eventually(lambda: serving(second) == after)
    assert "Banana" in skus(second)
