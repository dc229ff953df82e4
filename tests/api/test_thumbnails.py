"""/v1/images/{id}?size=N: thumbnails over HTTP, from the cache, and what may not have one."""

from __future__ import annotations

import hashlib
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select, update

from api.app import create_app
from search.config import Settings
from search.db import make_engine
from search.files import download_cache_path
from search.models import Product, ProductImage
from search.thumbnails import thumbnail_dir
from tests.conftest import facet, write_csv

WEBP = {"Accept": "image/avif,image/webp,image/apng,*/*;q=0.8"}


def photo(width: int, height: int, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wide photo, a tall one, and one listed by URL (whose download fails at build time)."""
    root = tmp_path_factory.mktemp("thumbnails")
    (root / "dump").mkdir()
    (root / "dump" / "wide.jpg").write_bytes(photo(1200, 600, 0))
    (root / "dump" / "tall.jpg").write_bytes(photo(300, 900, 1))
    rows = [
        {"sku": "WIDE", "images": "wide.jpg"},
        {"sku": "TALL", "images": "tall.jpg"},
        {"sku": "URL", "images": "http://127.0.0.1:9/url.jpg"},
    ]
    dump = write_csv(root / "dump" / "catalog.csv", rows)
    env = {"FACET_DOWNLOAD__RETRIES": "0"}
    for args in (["ingest", str(dump)], ["build", "--random-weights"]):
        result = facet(root / "home", *args, env=env)
        assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def settings(built: Path, tmp_path: Path) -> Settings:
    shutil.copytree(built / "home", tmp_path / "home")
    return Settings(home=tmp_path / "home")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def image_of(settings: Settings, sku: str) -> int:
    engine = make_engine(settings.database_url)
    with engine.connect() as connection:
        image_id = connection.execute(
            select(ProductImage.id).join(Product).where(Product.sku == sku)
        ).scalar_one()
    engine.dispose()
    return int(image_id)


def set_image(settings: Settings, image_id: int, **values: object) -> None:
    engine = make_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(update(ProductImage).where(ProductImage.id == image_id).values(values))
    engine.dispose()


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


@pytest.mark.parametrize("size", [128, 256, 512])
def test_thumbnails_keep_the_aspect_in_the_accepted_format(
    client: TestClient, settings: Settings, size: int
) -> None:
    wide, tall = image_of(settings, "WIDE"), image_of(settings, "TALL")
    response = client.get(f"/v1/images/{wide}?size={size}", headers=WEBP)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    assert size_of(response.content) == (size, size // 2)
    response = client.get(f"/v1/images/{tall}?size={size}", headers={"Accept": "image/*"})
    assert response.headers["content-type"] == "image/jpeg"
    assert size_of(response.content) == (round(size / 3), size)
    # WebP refused by quality 0 is not accepted.
    refused = client.get(f"/v1/images/{tall}?size={size}", headers={"Accept": "image/webp;q=0"})
    assert refused.headers["content-type"] == "image/jpeg"


def test_a_thumbnail_is_made_once_then_read_from_the_cache(
    client: TestClient, settings: Settings, built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wide = image_of(settings, "WIDE")
    first = client.get(f"/v1/images/{wide}?size=256", headers=WEBP)
    digest = hashlib.sha256((built / "dump" / "wide.jpg").read_bytes()).hexdigest()
    files = [p for p in thumbnail_dir(settings.home).rglob("*") if p.is_file()]
    assert [p.name for p in files] == [f"{digest}-256.webp"]
    assert files[0].read_bytes() == first.content

    def fail(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("made again")

    monkeypatch.setattr("search.thumbnails.make_thumbnail", fail)
    again = client.get(f"/v1/images/{wide}?size=256", headers=WEBP)
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]


def test_bad_sizes_and_parameters_are_problems(client: TestClient, settings: Settings) -> None:
    wide = image_of(settings, "WIDE")
    for query in ("size=100", "size=big", "size=256&width=3"):
        response = client.get(f"/v1/images/{wide}?{query}")
        assert response.status_code == 422, query
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "/problems/validation-error"
    assert "128, 256, 512" in client.get(f"/v1/images/{wide}?size=100").json()["detail"]
    missing = client.get("/v1/images/99999?size=128")
    assert missing.status_code == 404 and missing.json()["type"] == "/problems/unknown-image"


def test_no_thumbnail_of_a_file_changed_since_the_build(
    client: TestClient, settings: Settings, built: Path, tmp_path: Path
) -> None:
    tall = image_of(settings, "TALL")
    changed = built / "dump" / "changed.jpg"
    changed.write_bytes(photo(300, 900, 7))
    set_image(settings, tall, uri=changed.as_uri())
    assert client.get(f"/v1/images/{tall}?size=128").status_code == 404


def test_url_images_redirect_unless_the_download_cache_holds_them(
    client: TestClient, settings: Settings
) -> None:
    url_image = image_of(settings, "URL")
    url = "https://cdn.example/url.jpg"
    data = photo(800, 400, 3)
    digest = hashlib.sha256(data).hexdigest()
    set_image(settings, url_image, status="ready", uri=url, content_hash=digest)
    response = client.get(f"/v1/images/{url_image}?size=128", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == url

    cached = download_cache_path(settings.image_cache_dir, url)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(data)
    response = client.get(f"/v1/images/{url_image}?size=128", follow_redirects=False)
    assert response.status_code == 200 and size_of(response.content) == (128, 64)
    # The original still redirects: the service hands out only its own files' bytes.
    original = client.get(f"/v1/images/{url_image}", follow_redirects=False)
    assert original.status_code == 307

    # Other bytes in the download cache than those embedded: not used.
    cached.write_bytes(photo(800, 400, 4))
    other_size = client.get(f"/v1/images/{url_image}?size=256", follow_redirects=False)
    assert other_size.status_code == 307
