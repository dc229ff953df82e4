"""The picture match: copies of a photo match it, different photos of the same kind do not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageFilter

from search.duplicates import DEFAULT_THRESHOLD
from search.files import download_cache_path
from search.photo_match import fingerprint, match, read_fingerprint
from tests.hygiene_images import (
    bordered,
    cropped,
    jpeg,
    recoloured,
    resized,
    reused,
    scene,
    watermarked,
)

COPIES: dict[str, Callable[[Image.Image], Image.Image]] = {
    "jpeg-50": lambda image: jpeg(image, 50),
    "resized-40%": resized,
    "cropped-10%": cropped,
    "border": bordered,
    "watermark": watermarked,
    "colour": recoloured,
    "all-at-once": reused,
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
