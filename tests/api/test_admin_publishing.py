"""Admin writes publish on top of whatever is current, and are idempotent (issue: trust)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from api.app import create_app
from search.builds import BuildStore
from search.config import ApiSettings, Settings
from search.db import make_engine
from search.models import ImageStatus, Product, ProductImage
from tests.api.test_admin import KEY, assert_consistent, photo, top_sku
from tests.conftest import SAMPLE_CATALOG, facet, store_env, write_csv


@pytest.fixture
def admin_settings(store_api_settings: Settings) -> Settings:
    return store_api_settings.model_copy(update={"api": ApiSettings(api_key=SecretStr("s3cret"))})


def run_cli(settings: Settings, *args: str) -> str:
    result = facet(settings.home, *args, env=store_env(settings))
    assert result.exit_code == 0, result.output
    return result.output


def put(client: TestClient, sku: str, *names: str) -> int:
    response = client.put(
        f"/v1/products/{sku}",
        headers=KEY,
        files=[("images", photo(name)) for name in names],
        data={"title": sku, "category": "Test"},
    )
    assert response.status_code in (200, 201), response.text
    return response.status_code


def index_ids(settings: Settings) -> set[int]:
    return {int(i) for i in BuildStore(settings.index_dir).load_current().index.ids()}


def image_ids(settings: Settings, sku: str) -> set[int]:
    engine = make_engine(settings.database_url)
    query = (
        select(ProductImage.id)
        .join(Product, Product.id == ProductImage.product_id)
        .where(Product.sku == sku, ProductImage.status == ImageStatus.READY)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    engine.dispose()
    return {row[0] for row in rows}


def test_an_admin_write_keeps_a_build_published_by_another_process(
    admin_settings: Settings, tmp_path: Path
) -> None:
    with TestClient(create_app(admin_settings)) as client:
        # Another process ingests a product and publishes a build; the server has not reloaded.
        source = SAMPLE_CATALOG.parent
        dump = write_csv(
            tmp_path / "extra.csv",
            [{"sku": "Extra", "title": "Extra", "images": str(source / "images" / "Banana.jpg")}],
        )
        run_cli(admin_settings, "ingest", str(dump))
        run_cli(admin_settings, "build")
        extra = image_ids(admin_settings, "Extra")
        assert extra and extra <= index_ids(admin_settings)
        put(client, "Fresh", "Banana.jpg")
        assert extra <= index_ids(admin_settings), "the admin write threw the CLI's build away"
        assert image_ids(admin_settings, "Fresh") <= index_ids(admin_settings)
    assert_consistent(admin_settings)


def test_an_admin_write_after_a_rollback_builds_on_the_rolled_back_index(
    admin_settings: Settings,
) -> None:
    with TestClient(create_app(admin_settings)) as client:
        put(client, "First", "Banana.jpg")
        store = BuildStore(admin_settings.index_dir)
        _, rolled_back_to = store.rollback()
        put(client, "Second", "Banana.jpg")
        current = store.manifest(store.current_id() or "")
        assert current.derived_from == rolled_back_to, "the write undid the rollback"


def test_put_delete_put_of_the_same_image_is_searchable_again(admin_settings: Settings) -> None:
    with TestClient(create_app(admin_settings)) as client:
        put(client, "Again", "Banana.jpg")
        assert client.delete("/v1/products/Again", headers=KEY).status_code == 204
        assert top_sku(client, "Banana.jpg") != "Again"
        put(client, "Again", "Banana.jpg")
        assert top_sku(client, "Banana.jpg") == "Again"
    assert_consistent(admin_settings)


def test_the_same_image_twice_in_one_put_is_one_image(admin_settings: Settings) -> None:
    with TestClient(create_app(admin_settings)) as client:
        put(client, "Twice", "Banana.jpg", "Banana.jpg")
        product = client.get("/v1/products/Twice").json()
        assert len(product["images"]) == 1
    assert_consistent(admin_settings)


@contextmanager
def publishing_fails(why: str) -> Iterator[None]:
    """Every publish in the block fails after the store was written (a full disk, a kill)."""

    def failing_publish(*args: object, **kwargs: object) -> object:
        raise OSError(why)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BuildStore, "publish", failing_publish)
        yield


def test_a_put_whose_publish_failed_is_completed_by_its_retry(admin_settings: Settings) -> None:
    with TestClient(create_app(admin_settings), raise_server_exceptions=False) as client:
        with publishing_fails("disk full"):
            response = client.put(
                "/v1/products/Retried", headers=KEY, files=[("images", photo("Banana.jpg"))]
            )
        assert response.status_code == 500
        put(client, "Retried", "Banana.jpg")
        assert top_sku(client, "Banana.jpg") == "Retried"
    assert_consistent(admin_settings)


def test_a_restarted_server_publishes_a_change_committed_before_a_crash(
    admin_settings: Settings,
) -> None:
    with (
        TestClient(create_app(admin_settings), raise_server_exceptions=False) as client,
        publishing_fails("killed between the commit and the publish"),
    ):
        client.put("/v1/products/Pending", headers=KEY, files=[("images", photo("Banana.jpg"))])
    with TestClient(create_app(admin_settings)) as client:
        assert top_sku(client, "Banana.jpg") == "Pending"
    assert_consistent(admin_settings)


def test_an_admin_write_that_cannot_get_the_publish_lock_is_a_503(
    admin_settings: Settings,
) -> None:
    settings = admin_settings.model_copy(
        update={"api": ApiSettings(api_key=SecretStr("s3cret"), write_timeout_s=0.2)}
    )
    with TestClient(create_app(settings)) as client, BuildStore(settings.index_dir).locked():
        response = client.put(
            "/v1/products/Blocked", headers=KEY, files=[("images", photo("Banana.jpg"))]
        )
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"]
