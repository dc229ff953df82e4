"""/v1/images/{id} serves only ready images of active products, from the catalogue's folders."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.app import create_app
from search.config import Settings
from search.db import make_engine, utcnow
from search.models import ImageStatus, Product, ProductImage
from tests.conftest import SAMPLE_CATALOG, facet, write_csv

PHOTOS = SAMPLE_CATALOG.parent / "images"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalogue with a JPEG named .png, /etc/passwd, an HTTP:// URL and a file outside."""
    root = tmp_path_factory.mktemp("images")
    dump_dir, outside = root / "dump", root / "outside"
    dump_dir.mkdir()
    outside.mkdir()
    shutil.copy(PHOTOS / "Banana.jpg", dump_dir / "a.jpg")
    shutil.copy(PHOTOS / "Lime.jpg", dump_dir / "b.png")
    shutil.copy(PHOTOS / "Kiwi.jpg", outside / "d.jpg")
    rows = [
        {"sku": "A", "images": "a.jpg"},
        {"sku": "B", "images": "b.png"},
        {"sku": "C", "images": "/etc/passwd"},
        {"sku": "D", "images": "../outside/d.jpg"},
        {"sku": "E", "images": "HTTP://127.0.0.1:9/etc/passwd"},
    ]
    dump = write_csv(dump_dir / "catalog.csv", rows)
    home = root / "home"
    env = {"FACET_DOWNLOAD__RETRIES": "0"}
    for args in (["ingest", str(dump)], ["build", "--random-weights"]):
        result = facet(home, *args, env=env)
        assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def settings(built: Path, tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    shutil.copytree(built / "home", home)
    return Settings(home=home)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def image_ids(settings: Settings) -> dict[str, tuple[int, str]]:
    """SKU -> (image id, status)."""
    engine = make_engine(settings.database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(Product.sku, ProductImage.id, ProductImage.status).join(ProductImage)
        ).all()
    engine.dispose()
    return {sku: (image_id, status) for sku, image_id, status in rows}


def set_image(settings: Settings, image_id: int, **values: object) -> None:
    engine = make_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(update(ProductImage).where(ProductImage.id == image_id).values(values))
    engine.dispose()


def assert_not_served(client: TestClient, image_id: int) -> None:
    response = client.get(f"/v1/images/{image_id}")
    assert response.status_code == 404, response.content[:200]
    assert response.json()["type"] == "/problems/unknown-image"


def test_a_ready_image_is_served_with_its_decoded_type(
    client: TestClient, settings: Settings
) -> None:
    ids = image_ids(settings)
    response = client.get(f"/v1/images/{ids['A'][0]}")
    assert response.status_code == 200
    assert response.content == (PHOTOS / "Banana.jpg").read_bytes()
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-content-type-options"] == "nosniff"
    # b.png holds a JPEG: the type comes from the bytes, never the name.
    assert client.get(f"/v1/images/{ids['B'][0]}").headers["content-type"] == "image/jpeg"


def test_failed_images_are_never_served(client: TestClient, settings: Settings) -> None:
    ids = image_ids(settings)
    # /etc/passwd and an upper-case HTTP:// URL of it were listed by the dump; neither decoded.
    assert ids["C"][1] == ids["E"][1] == ImageStatus.FAILED
    for sku in ("C", "E"):
        assert_not_served(client, ids[sku][0])


def test_files_outside_the_catalog_folders_are_not_served(
    client: TestClient, settings: Settings
) -> None:
    ids = image_ids(settings)
    assert ids["D"][1] == ImageStatus.READY
    assert_not_served(client, ids["D"][0])


def test_uploads_and_the_download_cache_are_served(
    client: TestClient, settings: Settings, built: Path
) -> None:
    ids = image_ids(settings)
    for folder in (settings.uploads_dir, settings.image_cache_dir):
        copy = folder / "ab" / "a-copy"
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(built / "dump" / "a.jpg", copy)
        set_image(settings, ids["A"][0], uri=copy.resolve().as_uri())
        assert client.get(f"/v1/images/{ids['A'][0]}").status_code == 200


def test_only_active_products_and_ready_images(client: TestClient, settings: Settings) -> None:
    ids = image_ids(settings)
    for status in (ImageStatus.PENDING, ImageStatus.REMOVED):
        set_image(settings, ids["A"][0], status=status)
        assert_not_served(client, ids["A"][0])
    engine = make_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(update(Product).where(Product.sku == "B").values(deleted_at=utcnow()))
    engine.dispose()
    assert_not_served(client, ids["B"][0])


def test_a_file_changed_since_the_build_is_not_served(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    ids = image_ids(settings)
    # Same folder, other bytes than those hashed at build time (e.g. swapped for a symlink).
    swapped = tmp_path / "dump"
    swapped.mkdir()
    (swapped / "a.jpg").write_bytes((PHOTOS / "Kiwi.jpg").read_bytes())
    set_image(settings, ids["A"][0], uri=(swapped / "a.jpg").as_uri())
    assert_not_served(client, ids["A"][0])
    digest = hashlib.sha256((PHOTOS / "Kiwi.jpg").read_bytes()).hexdigest()
    set_image(settings, ids["A"][0], content_hash=digest)
    # Matching hash, but tmp_path/dump is no catalogue folder.
    assert_not_served(client, ids["A"][0])


def test_ready_urls_redirect_whatever_the_scheme_case(
    client: TestClient, settings: Settings
) -> None:
    ids = image_ids(settings)
    set_image(settings, ids["E"][0], status=ImageStatus.READY, uri="HTTPS://cdn.example/e.jpg")
    response = client.get(f"/v1/images/{ids['E'][0]}", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "HTTPS://cdn.example/e.jpg"
