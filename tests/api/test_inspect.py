"""POST /v1/inspect: admin only, a product's or a category's photos as the reference."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr

from api.app import create_app
from search.config import ApiSettings, Settings
from tests.indexer.cli.test_inspect import APPLE, damaged

KEY = {"X-API-Key": "s3cret"}


@pytest.fixture
def admin(api_settings: Settings) -> Iterator[TestClient]:
    settings = api_settings.model_copy(update={"api": ApiSettings(api_key=SecretStr("s3cret"))})
    with TestClient(create_app(settings)) as client:
        yield client


def test_a_damaged_photo_is_suspect_with_a_heatmap(admin: TestClient, tmp_path: Path) -> None:
    bad = damaged(APPLE, tmp_path / "bad.png").read_bytes()
    files = [
        ("photos", ("apple.jpg", APPLE.read_bytes(), "image/jpeg")),
        ("photos", ("bad.png", bad, "image/png")),
    ]
    response = admin.post("/v1/inspect", headers=KEY, data={"category": "Apple"}, files=files)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["reference"]["label"] == "category:Apple" and answer["reference"]["photos"] == 5
    results = {row["photo"]: row for row in answer["results"]}
    assert results["apple.jpg"]["verdict"] == "ok"
    assert results["bad.png"]["verdict"] == "suspect"
    assert results["bad.png"]["score"] > results["bad.png"]["threshold"]
    overlay = Image.open(io.BytesIO(base64.b64decode(results["bad.png"]["heatmap_png"])))
    assert overlay.format == "PNG" and overlay.size == Image.open(APPLE).size
    again = admin.post("/v1/inspect", headers=KEY, data={"category": "Apple"}, files=files[:1])
    assert again.json()["reference"]["reused"]


def test_admin_key_required(admin: TestClient) -> None:
    files = [("photos", ("apple.jpg", APPLE.read_bytes(), "image/jpeg"))]
    assert admin.post("/v1/inspect", data={"sku": "Granny-Smith"}, files=files).status_code == 401


@pytest.mark.parametrize(
    ("form", "status", "slug"),
    [
        ({}, 422, "validation-error"),
        ({"sku": "Granny-Smith", "category": "Apple"}, 422, "validation-error"),
        ({"sku": "No-Such-Sku"}, 422, "invalid-reference"),
        ({"category": "No-Such-Category"}, 422, "invalid-reference"),
        ({"sku": "Granny-Smith"}, 422, "invalid-reference"),  # one photo is too few
    ],
)
def test_bad_references_are_problems(
    admin: TestClient, form: dict[str, str], status: int, slug: str
) -> None:
    files = [("photos", ("apple.jpg", APPLE.read_bytes(), "image/jpeg"))]
    response = admin.post("/v1/inspect", headers=KEY, data=form, files=files)
    assert response.status_code == status
    assert response.json()["type"] == f"/problems/{slug}"


def test_bad_photos_are_problems(admin: TestClient) -> None:
    junk = [("photos", ("junk.jpg", b"not a photo", "image/jpeg"))]
    response = admin.post("/v1/inspect", headers=KEY, data={"category": "Apple"}, files=junk)
    assert response.status_code == 422 and response.json()["type"] == "/problems/undecodable-image"
    tiff = [("photos", ("a.jpg", b"II*\x00" + b"\x00" * 64, "image/jpeg"))]
    response = admin.post("/v1/inspect", headers=KEY, data={"category": "Apple"}, files=tiff)
    assert response.status_code == 415
    text = [("photos", ("a.txt", b"hello", "text/plain"))]
    response = admin.post("/v1/inspect", headers=KEY, data={"category": "Apple"}, files=text)
    assert response.status_code == 415
