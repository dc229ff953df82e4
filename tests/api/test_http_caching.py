"""HTTP caching (ETag, 304, immutable image versions), CORS and gzip, on the sample catalogue."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from search.config import ApiSettings, Settings
from tests.conftest import SAMPLE_CATALOG

QUERIES = SAMPLE_CATALOG.parent / "queries"
IMMUTABLE = "public, max-age=31536000, immutable"
SHOP = "https://shop.example"
KEY = {"X-API-Key": "s3cret"}
WEBP = {"Accept": "image/avif,image/webp,*/*"}


def with_api(settings: Settings, **values: object) -> Settings:
    api = ApiSettings.model_validate({**settings.api.model_dump(), **values})
    return settings.model_copy(update={"api": api})


@pytest.fixture
def shop_client(api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(with_api(api_settings, cors_origins=[SHOP]))) as client:
        yield client


def search(client: TestClient, name: str = "Banana.jpg") -> list[dict[str, object]]:
    photo = (name, (QUERIES / name).read_bytes(), "image/jpeg")
    response = client.post("/v1/search", files={"image": photo}, data={"k": "3"})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    results: list[dict[str, object]] = response.json()["results"]
    return results


def first_image(client: TestClient) -> tuple[str, str]:
    """The first product's image URL from a product read, and its version (`v`)."""
    url = str(client.get("/v1/products/Banana").json()["images"][0]["image_url"])
    match = re.search(r"[?&]v=([0-9a-f]{16})$", url)
    assert match, url
    return url, match.group(1)


def test_result_image_urls_name_their_content_and_are_immutable(client: TestClient) -> None:
    url = str(search(client)[0]["image_url"])
    assert re.search(r"/v1/images/\d+\?v=[0-9a-f]{16}$", url), url
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["cache-control"] == IMMUTABLE
    etag = response.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{16}"', etag)
    assert "content-encoding" not in response.headers  # a JPEG is never gzipped

    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and again.headers["cache-control"] == IMMUTABLE
    # A list, a weak form of the tag and `*` match as well; another tag does not.
    for header in (f'"other", {etag}', f"W/{etag}", "*"):
        assert client.get(url, headers={"If-None-Match": header}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_without_the_current_version_images_are_revalidated(client: TestClient) -> None:
    url, version = first_image(client)
    bare = url.split("?")[0]
    current = client.get(url)
    for other in (bare, f"{bare}?v=0123456789abcdef"):
        response = client.get(other)
        # Today's bytes, never cached for good under a name they do not match.
        assert response.status_code == 200 and response.content == current.content
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["etag"] == f'"{version}"'
        assert client.get(other, headers={"If-None-Match": f'"{version}"'}).status_code == 304


def test_thumbnails_are_cached_per_version_size_and_format(client: TestClient) -> None:
    url, version = first_image(client)
    webp = client.get(f"{url}&size=128", headers=WEBP)
    jpeg = client.get(f"{url}&size=128", headers={"Accept": "image/jpeg,*/*;q=0.8"})
    assert webp.headers["content-type"] == "image/webp"
    assert jpeg.headers["content-type"] == "image/jpeg"
    for response in (webp, jpeg):
        assert response.headers["cache-control"] == IMMUTABLE
        assert response.headers["vary"] == "Accept"
    assert webp.headers["etag"] == f'"{version}-128.webp"'
    assert jpeg.headers["etag"] == f'"{version}-128.jpeg"'
    revalidated = client.get(
        f"{url}&size=128", headers={**WEBP, "If-None-Match": webp.headers["etag"]}
    )
    assert revalidated.status_code == 304 and revalidated.headers["vary"] == "Accept"
    # The JPEG's tag does not validate the WebP.
    other = client.get(f"{url}&size=128", headers={**WEBP, "If-None-Match": jpeg.headers["etag"]})
    assert other.status_code == 200
    assert client.get(f"{url.split('?')[0]}?size=128").headers["cache-control"] == "no-cache"


def test_product_reads_carry_an_etag_that_changes_with_an_admin_write(
    api_settings: Settings,
) -> None:
    settings = with_api(api_settings, api_key=SecretStr("s3cret"))
    with TestClient(create_app(settings)) as client:
        first = client.get("/v1/products/Banana")
        etag = first.headers["etag"]
        assert first.headers["cache-control"] == "no-cache"
        unchanged = client.get("/v1/products/Banana", headers={"If-None-Match": etag})
        assert unchanged.status_code == 304 and unchanged.content == b""
        assert unchanged.headers["etag"] == etag

        photo = ("Lime.jpg", (QUERIES / "Lime.jpg").read_bytes(), "image/jpeg")
        written = client.put(
            "/v1/products/Banana", headers=KEY, files=[("images", photo)], data={"title": "B"}
        )
        assert written.status_code == 200, written.text
        changed = client.get("/v1/products/Banana", headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.json()["title"] == "B"
        assert changed.headers["etag"] != etag
        # The new image has a new version in its URL.
        assert changed.json()["images"][0]["image_url"] != first.json()["images"][0]["image_url"]

        client.delete("/v1/products/Banana", headers=KEY)
        gone = client.get("/v1/products/Banana", headers={"If-None-Match": changed.headers["etag"]})
        assert gone.status_code == 404


def test_no_cors_headers_by_default(client: TestClient) -> None:
    response = client.get("/v1/health", headers={"Origin": SHOP})
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/v1/search", headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allows_the_configured_origins_only(shop_client: TestClient) -> None:
    preflight = shop_client.options(
        "/v1/search",
        headers={
            "Origin": SHOP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key, if-none-match",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == SHOP
    assert "PUT" in preflight.headers["access-control-allow-methods"]
    allowed_headers = preflight.headers["access-control-allow-headers"].lower()
    assert "x-api-key" in allowed_headers and "if-none-match" in allowed_headers

    product = shop_client.get("/v1/products/Banana", headers={"Origin": SHOP})
    assert product.headers["access-control-allow-origin"] == SHOP
    assert product.headers["access-control-expose-headers"] == "ETag"
    # A 304 and an error answer carry them too, or the page could not read them.
    etag = product.headers["etag"]
    not_modified = shop_client.get(
        "/v1/products/Banana", headers={"Origin": SHOP, "If-None-Match": etag}
    )
    assert not_modified.status_code == 304
    assert not_modified.headers["access-control-allow-origin"] == SHOP
    missing = shop_client.get("/v1/products/nope", headers={"Origin": SHOP})
    assert missing.status_code == 404 and missing.headers["access-control-allow-origin"] == SHOP

    evil = "https://evil.example"
    refused = shop_client.options(
        "/v1/search", headers={"Origin": evil, "Access-Control-Request-Method": "POST"}
    )
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    simple = shop_client.get("/v1/health", headers={"Origin": evil})
    assert "access-control-allow-origin" not in simple.headers


def test_cors_for_any_origin(api_settings: Settings) -> None:
    with TestClient(create_app(with_api(api_settings, cors_origins=["*"]))) as client:
        response = client.get("/v1/health", headers={"Origin": "https://anyone.example"})
        assert response.headers["access-control-allow-origin"] == "*"


def test_large_json_is_gzipped_small_json_and_images_are_not(client: TestClient) -> None:
    gzip = {"Accept-Encoding": "gzip"}
    large = client.get("/openapi.json", headers=gzip)
    assert large.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in large.headers["vary"]
    assert large.json()["info"]["title"] == "Facet"  # decoded by the client
    assert "content-encoding" not in client.get("/v1/health", headers=gzip).headers
    identity = client.get("/openapi.json", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in identity.headers

    url, _ = first_image(client)
    image = client.get(url, headers=gzip)
    assert len(image.content) > 1024 and "content-encoding" not in image.headers
    thumbnail = client.get(f"{url}&size=512", headers={**gzip, **WEBP})
    assert "content-encoding" not in thumbnail.headers


def test_a_gzipped_answer_has_a_weak_etag_that_still_validates(api_settings: Settings) -> None:
    with TestClient(create_app(with_api(api_settings, gzip_min_bytes=0))) as client:
        gzip = {"Accept-Encoding": "gzip"}
        plain = client.get("/v1/products/Banana", headers={"Accept-Encoding": "identity"})
        compressed = client.get("/v1/products/Banana", headers=gzip)
        assert compressed.headers["content-encoding"] == "gzip"
        assert compressed.headers["etag"] == f"W/{plain.headers['etag']}"
        for etag in (plain.headers["etag"], compressed.headers["etag"]):
            headers = {**gzip, "If-None-Match": etag}
            assert client.get("/v1/products/Banana", headers=headers).status_code == 304


@pytest.mark.parametrize("value", ["https://shop.example/", "shop.example", "ftp://x.example"])
def test_cors_origins_must_be_origins(value: str) -> None:
    with pytest.raises(ValueError, match="an origin is"):
        ApiSettings(cors_origins=[value])


def test_cors_origins_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACET_API__CORS_ORIGINS", f"{SHOP}, http://localhost:3000")
    assert Settings().api.cors_origins == [SHOP, "http://localhost:3000"]
    monkeypatch.setenv("FACET_API__CORS_ORIGINS", '["*"]')
    assert Settings().api.cors_origins == ["*"]
