"""Admin writes against other publishers and against themselves, on a small scale.

The long version (admin writes while `facet ingest` and `facet build` publish) is
`scripts/bench_faults.py` (its concurrency part).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from scripts.faults.common import API_KEY, unique_image
from search.builds import BuildStore
from search.config import ApiSettings, Settings
from search.db import make_engine

ADMIN = {"X-API-Key": API_KEY}


@pytest.fixture
def admin_settings(api_settings: Settings) -> Settings:
    return api_settings.model_copy(update={"api": ApiSettings(api_key=SecretStr(API_KEY))})


@pytest.fixture
def admin_client(admin_settings: Settings) -> TestClient:
    from api.app import create_app

    return TestClient(create_app(admin_settings))


def _put(client: TestClient, sku: str, image: bytes) -> int:
    response = client.put(
        f"/v1/products/{sku}",
        files=[("images", (f"{sku}.png", image, "image/png"))],
        data={"title": sku},
        headers=ADMIN,
    )
    return response.status_code


def _found(client: TestClient, image: bytes) -> list[str]:
    response = client.post("/v1/search", files={"image": ("q.png", image, "image/png")})
    assert response.status_code == 200, response.text
    return [hit["sku"] for hit in response.json()["results"]]


def test_an_admin_write_keeps_the_build_another_process_published(
    admin_client: TestClient, admin_settings: Settings
) -> None:
    with admin_client as client:
        store = BuildStore(admin_settings.index_dir, keep=admin_settings.index.keep_builds)
        live = store.load_current()
        dropped = int(live.index.ids()[0])
        # Another process (`facet ingest --full` then `facet build`, say) deletes the product
        # of image `dropped` and publishes build Z without it.
        engine = make_engine(admin_settings.database_url)
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE products SET deleted_at = CURRENT_TIMESTAMP WHERE id = "
                "(SELECT product_id FROM product_images WHERE id = ?)",
                (dropped,),
            )
        engine.dispose()
        index = live.index.copy()
        index.remove(np.array([dropped], dtype=np.int64))
        other = replace(
            live.manifest,
            build_id=store.new_build_id(),
            ntotal=index.ntotal,
            derived_from=live.manifest.build_id,
        )
        store.publish(index, other, parent=live.manifest.build_id)

        assert _put(client, "after-other-build", unique_image(11)) in (200, 201)

        current = store.load_current()
        kept_other_build = dropped not in set(current.index.ids().tolist())
        assert kept_other_build, f"build {other.build_id}'s removal of image {dropped} was undone"
        assert current.index.ntotal == other.ntotal + 1


def test_put_delete_put_of_the_same_image_is_searchable(admin_client: TestClient) -> None:
    image = unique_image(12)
    with admin_client as client:
        assert _put(client, "again", image) in (200, 201)
        assert "again" in _found(client, image)
        assert client.delete("/v1/products/again", headers=ADMIN).status_code == 204
        assert "again" not in _found(client, image)
        assert _put(client, "again", image) in (200, 201)

        assert client.get("/v1/products/again").status_code == 200
        assert "again" in _found(client, image)
