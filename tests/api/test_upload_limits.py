"""Uploads cannot exhaust memory: pixel limit, allowed formats, bounded decoding, chunked bodies."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from search.config import ApiSettings, Settings
from tests.api.test_api import QUERIES, assert_problem, upload


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def with_api(settings: Settings, **changes: object) -> Settings:
    api = settings.api.model_copy(update=changes)
    return settings.model_copy(update={"api": ApiSettings.model_validate(api.model_dump())})


def test_query_pixel_limit_defaults_to_16_megapixels_and_is_a_setting() -> None:
    assert ApiSettings().max_query_pixels == 16_000_000


@pytest.mark.parametrize("path", ["/v1/search", "/v1/classify"])
def test_uploads_over_the_query_pixel_limit_are_422(client: TestClient, path: str) -> None:
    # 20 MP: under the catalogue's 50 MP limit, over the 16 MP query limit.
    data = encode(Image.new("L", (5000, 4000)), "PNG")
    files = {"image": ("big.png", data, "image/png")}
    body = assert_problem(client.post(path, files=files), 422, "undecodable-image")
    assert "16,000,000" in str(body["detail"])


def test_the_query_pixel_limit_setting_is_used(api_settings: Settings) -> None:
    with TestClient(create_app(with_api(api_settings, max_query_pixels=100 * 100))) as small:
        files = {"image": ("q.png", encode(Image.new("RGB", (101, 100)), "PNG"), "image/png")}
        assert_problem(small.post("/v1/search", files=files), 422, "undecodable-image")
        files = {"image": ("q.png", encode(Image.new("RGB", (100, 100)), "PNG"), "image/png")}
        assert small.post("/v1/search", files=files).status_code == 200


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "PPM", "ICO"])
def test_formats_outside_the_allow_list_are_415_whatever_the_declared_type(
    client: TestClient, fmt: str
) -> None:
    photo = Image.open(QUERIES / "Banana.jpg").convert("RGB").resize((64, 64))
    files = {"image": ("q.png", encode(photo, fmt), "image/png")}
    body = assert_problem(client.post("/v1/search", files=files), 415, "unsupported-media-type")
    assert fmt in str(body["detail"])


def test_the_declared_type_need_not_match_an_allowed_format(client: TestClient) -> None:
    data = (QUERIES / "Banana.jpg").read_bytes()
    response = client.post("/v1/search", files={"image": ("q.png", data, "image/png")})
    assert response.status_code == 200 and response.json()["results"][0]["sku"] == "Banana"


def many_frames_gif(frames: int) -> bytes:
    """A GIF of `frames` frames, built by repeating one frame's bytes (Pillow would be slow)."""
    one = encode(Image.new("P", (32, 32), 1), "GIF")
    header, rest = one[: one.index(b"\x2c")], one[one.index(b"\x2c") :]
    body = rest[:-1]  # one image descriptor and its data, without the trailer
    return header + body * frames + b"\x3b"


def test_animated_gif_with_thousands_of_frames_decodes_only_the_first(
    client: TestClient,
) -> None:
    data = many_frames_gif(5000)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames") == 5000  # noqa: B009
    response = client.post("/v1/search", files={"image": ("a.gif", data, "image/gif")})
    assert response.status_code == 200, response.text


def chunked_multipart(total: int) -> Iterator[bytes]:
    yield (
        b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="q.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n\xff\xd8"
    )
    sent = 0
    while sent < total:
        yield b"\0" * 2**20
        sent += 2**20
    yield b"\r\n--xyz--\r\n"


def test_an_oversized_chunked_upload_is_413(client: TestClient) -> None:
    response = client.post(
        "/v1/search",
        content=chunked_multipart(12 * 2**20),
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert_problem(response, 413, "upload-too-large")


def test_decoding_is_bounded_and_a_full_wait_line_is_503(
    api_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from search.preprocess import PreparedImage, Preprocessing

    release = threading.Event()
    entered = threading.Semaphore(0)
    real_load = Preprocessing.load

    def slow_load(*args: object, **kwargs: object) -> PreparedImage:
        entered.release()
        release.wait(timeout=10)
        return real_load(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Preprocessing, "load", slow_load)
    settings = with_api(api_settings, decode_concurrency=1, queue_max=1)
    with TestClient(create_app(settings)) as limited:
        answers: list[int] = []

        def ask() -> None:
            answers.append(limited.post("/v1/search", files=upload()).status_code)

        first = threading.Thread(target=ask)
        second = threading.Thread(target=ask)
        try:
            first.start()
            assert entered.acquire(timeout=10)  # the first upload holds the only decode slot
            second.start()
            gate = limited.app.state.upload_gate  # type: ignore[attr-defined]
            for _ in range(1000):  # bounded: until the second upload waits for the slot
                if gate.waiting:
                    break
                threading.Event().wait(0.01)
            assert gate.waiting == 1
            third = limited.post("/v1/search", files=upload())
        finally:
            release.set()
            first.join()
            if second.is_alive() or second.ident is not None:
                second.join()
    body = assert_problem(third, 503, "overloaded")
    assert third.headers["retry-after"] == "1" and body["retry_after"] == 1
    assert answers == [200, 200]
