"""The HTTP API through the real app and lifespan: every endpoint and every error row."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import SAMPLE_CATALOG

QUERIES = SAMPLE_CATALOG.parent / "queries"
PROBLEM = "application/problem+json"


def upload(name: str = "Banana.jpg") -> dict[str, tuple[str, bytes, str]]:
    return {"image": (name, (QUERIES / name).read_bytes(), "image/jpeg")}


def as_png(name: str) -> bytes:
    buffer = io.BytesIO()
    Image.open(QUERIES / name).convert("RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def assert_problem(response: object, status: int, slug: str) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith(PROBLEM)  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["type"] == f"/problems/{slug}" and body["status"] == status
    assert "Traceback" not in str(body)
    return body


def test_health_and_ready(client: TestClient) -> None:
    health = client.get("/v1/health").json()
    assert health["status"] == "ok" and health["index"]["measured_by"] == "build"
    assert health["index"]["recall_at_10"] >= 0.95 and health["index"]["changed_since"] == 0
    ready = client.get("/v1/ready").json()
    assert ready["ready"] and ready["products"] == 81 and ready["vectors"] == 81
    assert ready["backbone"].startswith("efficientnet_lite0-") and ready["build_id"]


@pytest.mark.parametrize("name", ["Banana.jpg", "Granny-Smith.jpg", "Zucchini.jpg"])
def test_search_finds_the_product_in_the_photo(client: TestClient, name: str) -> None:
    response = client.post("/v1/search", files=upload(name), data={"k": "5"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["results"][0]["sku"] == name.removesuffix(".jpg")
    assert len(body["results"]) == 5
    first = body["results"][0]
    assert set(first) >= {"sku", "title", "category", "price", "score", "image_id", "image_url"}
    assert set(body["timings"]) == {"decode_ms", "embed_ms", "search_ms", "products_ms"}
    assert client.get(first["image_url"]).status_code == 200


def test_search_accepts_png_webp_and_gif(client: TestClient) -> None:
    png = as_png("Banana.jpg")
    for fmt, mime in (("PNG", "image/png"), ("WEBP", "image/webp"), ("GIF", "image/gif")):
        buffer = io.BytesIO()
        Image.open(io.BytesIO(png)).save(buffer, format=fmt)
        files = {"image": (f"q.{fmt.lower()}", buffer.getvalue(), mime)}
        response = client.post("/v1/search", files=files)
        assert response.status_code == 200, (fmt, response.text)
        assert response.json()["results"][0]["sku"] == "Banana"


def test_search_with_filters(client: TestClient) -> None:
    response = client.post("/v1/search?category=Apple", files=upload(), data={"k": "3"})
    assert {r["category"] for r in response.json()["results"]} == {"Apple"}
    response = client.post("/v1/search?category=Nothing", files=upload())
    assert response.json()["results"] == []


def test_product_and_similar(client: TestClient) -> None:
    product = client.get("/v1/products/Granny-Smith").json()
    assert product["category"] == "Apple" and len(product["images"]) == 1
    similar = client.get("/v1/products/Granny-Smith/similar?k=4").json()["results"]
    assert len(similar) == 4 and "Granny-Smith" not in [r["sku"] for r in similar]
    similar = client.get("/v1/products/Granny-Smith/similar?k=3&category=Apple").json()
    assert {r["category"] for r in similar["results"]} == {"Apple"}


def test_images_only_by_database_id(client: TestClient) -> None:
    response = client.get("/v1/images/1")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert_problem(client.get("/v1/images/99999"), 404, "unknown-image")
    assert_problem(client.get("/v1/images/abc"), 422, "validation-error")
    assert_problem(client.get("/v1/images/..%2F..%2Fetc%2Fpasswd"), 404, "not-found")


def test_unknown_sku_is_404(client: TestClient) -> None:
    assert_problem(client.get("/v1/products/NOPE"), 404, "unknown-product")
    assert_problem(client.get("/v1/products/NOPE/similar"), 404, "unknown-product")


def test_unsupported_type_is_415(client: TestClient) -> None:
    files = {"image": ("q.txt", b"hello", "text/plain")}
    assert_problem(client.post("/v1/search", files=files), 415, "unsupported-media-type")


@pytest.mark.parametrize(
    "data", [b"", b"not an image at all", (QUERIES / "Banana.jpg").read_bytes()[:300]]
)
def test_undecodable_images_are_422(client: TestClient, data: bytes) -> None:
    files = {"image": ("q.jpg", data, "image/jpeg")}
    assert_problem(client.post("/v1/search", files=files), 422, "undecodable-image")


def test_decompression_bomb_is_422(client: TestClient) -> None:
    buffer = io.BytesIO()
    Image.new("L", (10_000, 6_000)).save(buffer, format="PNG")
    files = {"image": ("bomb.png", buffer.getvalue(), "image/png")}
    assert_problem(client.post("/v1/search", files=files), 422, "undecodable-image")


def test_upload_over_the_limit_is_413(client: TestClient) -> None:
    big = b"\xff\xd8" + b"\0" * (11 * 2**20)
    files = {"image": ("big.jpg", big, "image/jpeg")}
    assert_problem(client.post("/v1/search", files=files), 413, "upload-too-large")


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/v1/search", {"k": "0"}),
        ("/v1/search", {"k": "101"}),
        ("/v1/search?min_price=10&max_price=5", {}),
        ("/v1/search?attr=nokey", {}),
    ],
)
def test_invalid_parameters_are_422(client: TestClient, path: str, data: dict[str, str]) -> None:
    assert_problem(client.post(path, files=upload(), data=data), 422, "validation-error")


def test_missing_file_is_422(client: TestClient) -> None:
    body = assert_problem(client.post("/v1/search", data={"k": "3"}), 422, "validation-error")
    assert body["errors"]


def test_no_index_is_503(empty_client: TestClient) -> None:
    response = empty_client.get("/v1/ready")
    assert response.status_code == 503 and not response.json()["ready"]
    body = assert_problem(empty_client.post("/v1/search", files=upload()), 503, "index-not-ready")
    assert "facet build" in str(body["detail"])
    assert empty_client.post("/v1/search", files=upload()).headers["retry-after"] == "5"


def test_unknown_route_is_a_problem(client: TestClient) -> None:
    assert_problem(client.get("/v1/nothing"), 404, "not-found")


def test_classify_votes_over_the_nearest_products(client: TestClient) -> None:
    response = client.post("/v1/classify", files=upload("Granny-Smith.jpg"), data={"k": "5"})
    assert response.status_code == 200, response.text
    body = response.json()
    categories = body["predictions"]["category"]
    assert categories[0]["label"] == "Apple"
    assert abs(sum(c["confidence"] for c in categories) - 1.0) < 1e-3
    assert "material" not in body["predictions"]  # the sample catalogue has no materials
    assert body["method"] == "knn-vote" and body["neighbours"] == 5


def test_metrics_count_requests_and_stages(client: TestClient) -> None:
    client.post("/v1/search", files=upload())
    client.get("/v1/products/NOPE")
    text = client.get("/metrics").text
    assert 'facet_requests_total{route="/v1/search",status="200"} 1.0' in text
    assert 'facet_requests_total{route="/v1/products/{sku}",status="404"} 1.0' in text
    for stage in ("decode", "embed", "search", "products"):
        assert f'facet_stage_seconds_count{{stage="{stage}"}} 1.0' in text
    assert "facet_embed_batch_size_count 1.0" in text


def test_search_without_micro_batching(api_settings: object) -> None:
    from api.app import create_app
    from search.config import ApiSettings, Settings

    assert isinstance(api_settings, Settings)
    settings = api_settings.model_copy(update={"api": ApiSettings(micro_batching=False)})
    with TestClient(create_app(settings)) as unbatched:
        response = unbatched.post("/v1/search", files=upload(), data={"k": "1"})
        assert response.json()["results"][0]["sku"] == "Banana"
        assert "facet_embed_batch_size_count 0.0" in unbatched.get("/metrics").text


def test_an_unexpected_error_is_a_500_problem_without_traceback(
    api_settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.app import create_app
    from search.searcher import Searcher

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(Searcher, "search", broken)
    with TestClient(create_app(api_settings), raise_server_exceptions=False) as failing:  # type: ignore[arg-type]
        body = assert_problem(failing.post("/v1/search", files=upload()), 500, "internal")
        assert "secret internals" not in str(body)
