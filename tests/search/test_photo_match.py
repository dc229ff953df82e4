"""The picture match: copies of a photo match it, different photos of the same kind do not."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from search.duplicates import DEFAULT_THRESHOLD
from search.files import download_cache_path
from search.photo_match import fingerprint, match, read_fingerprint


def scene(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A photo-like picture: soft colour noise under random shapes."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
    image = Image.fromarray(noise).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.integers(0, size[0]), rng.integers(0, size[1])
        w, h = rng.integers(10, 80, 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((int(x), int(y), int(x + w), int(y + h)), fill=colour)
    return image


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def resized(image: Image.Image) -> Image.Image:
    return image.resize((image.width * 2 // 5, image.height * 2 // 5), Image.Resampling.BILINEAR)


def cropped(image: Image.Image) -> Image.Image:
    return image.crop((image.width // 10, 0, image.width, image.height * 19 // 20))


def bordered(image: Image.Image) -> Image.Image:
    framed = Image.new("RGB", (image.width + 16, image.height + 16), "white")
    framed.paste(image, (8, 8))
    return framed


def watermarked(image: Image.Image) -> Image.Image:
    copy = image.copy()
    ImageDraw.Draw(copy).text((20, image.height * 3 // 4), "SAMPLE (c) shop", fill="white")
    return copy


def recoloured(image: Image.Image) -> Image.Image:
    return ImageEnhance.Color(image).enhance(1.15)


COPIES: dict[str, Callable[[Image.Image], Image.Image]] = {
    "jpeg-50": lambda image: jpeg(image, 50),
    "resized-40%": resized,
    "cropped-10%": cropped,
    "border": bordered,
    "watermark": watermarked,
    "colour": recoloured,
    "all-at-once": lambda image: jpeg(bordered(watermarked(cropped(resized(image)))), 60),
}


@pytest.mark.parametrize("change", sorted(COPIES))
def test_a_copy_matches_its_original(change: str) -> None:
    original = scene(1)
    assert match(fingerprint(original), fingerprint(COPIES[change](original))) >= DEFAULT_THRESHOLD


def test_different_photos_do_not_match() -> None:
    prints = [fingerprint(scene(seed)) for seed in range(6)]
    for n, first in enumerate(prints):
        for second in prints[n + 1 :]:
            assert match(first, second) < DEFAULT_THRESHOLD


def test_the_same_scene_blurred_is_not_mistaken_for_another() -> None:
    # A softer copy is still the picture; a different scene blurred alike is not.
    original = scene(7)
    softened = original.filter(ImageFilter.GaussianBlur(1))
    assert match(fingerprint(original), fingerprint(softened)) >= DEFAULT_THRESHOLD
    assert match(fingerprint(scene(8)), fingerprint(softened)) < DEFAULT_THRESHOLD


def test_a_blank_picture_matches_nothing_and_does_not_fail() -> None:
    blank = fingerprint(Image.new("RGB", (200, 200), "white"))
    assert match(blank, fingerprint(scene(3))) < DEFAULT_THRESHOLD


def test_files_are_read_and_unreadable_ones_are_none(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    scene(4).save(path, "JPEG", quality=90)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    read = read_fingerprint(path.as_uri())
    assert read is not None
    assert match(read, fingerprint(scene(4))) >= DEFAULT_THRESHOLD
    assert read_fingerprint((tmp_path / "broken.jpg").as_uri()) is None
    assert read_fingerprint((tmp_path / "missing.jpg").as_uri()) is None
    assert read_fingerprint("https://example.com/a.jpg") is None  # not downloaded: not read


def test_a_url_image_is_read_from_the_download_cache(tmp_path: Path) -> None:
    url = "https://example.com/a.jpg"
    cached = download_cache_path(tmp_path, url)
    cached.parent.mkdir(parents=True)
    scene(5).save(cached, "JPEG", quality=90)
    read = read_fingerprint(url, download_cache=tmp_path)
    assert read is not None and match(read, fingerprint(scene(5))) >= DEFAULT_THRESHOLD
