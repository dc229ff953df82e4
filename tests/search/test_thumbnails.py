"""Thumbnails: geometry, formats, never larger than the original; the cache's writes and bound."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from search.thumbnails import (
    PART_PREFIX,
    STALE_PART_S,
    ThumbnailCache,
    ThumbnailFormat,
    make_thumbnail,
)

MAX_PIXELS = 50_000_000


def noise(width: int, height: int, *, fmt: str = "JPEG", seed: int = 0, **options: object) -> bytes:
    """A photo-like image: random pixels compress about as badly as real ones."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt, **options)
    return out.getvalue()


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("fmt", list(ThumbnailFormat))
@pytest.mark.parametrize("size", [128, 256, 512])
def test_the_longer_side_becomes_the_size_keeping_the_aspect(
    fmt: ThumbnailFormat, size: int
) -> None:
    data, media_type = make_thumbnail(noise(1200, 600), size=size, fmt=fmt, max_pixels=MAX_PIXELS)
    image = opened(data)
    assert image.size == (size, size // 2)
    assert image.format == fmt.pillow_name and media_type == f"image/{fmt.value}"


def test_small_images_are_never_enlarged() -> None:
    original = noise(90, 120, fmt="PNG")
    data, _ = make_thumbnail(original, size=512, fmt=ThumbnailFormat.WEBP, max_pixels=MAX_PIXELS)
    assert opened(data).size == (90, 120)


def test_exif_orientation_and_transparency_are_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    rotated = noise(400, 200, exif=exif.tobytes())
    data, _ = make_thumbnail(rotated, size=128, fmt=ThumbnailFormat.JPEG, max_pixels=MAX_PIXELS)
    assert opened(data).size == (64, 128)

    clear = Image.new("RGBA", (300, 300), (255, 0, 0, 0))
    out = io.BytesIO()
    clear.save(out, "PNG")
    data, _ = make_thumbnail(
        out.getvalue(), size=128, fmt=ThumbnailFormat.JPEG, max_pixels=MAX_PIXELS
    )
    assert np.asarray(opened(data).convert("RGB")).min() > 240  # white, not black


def test_a_small_jpeg_is_its_own_thumbnail_when_that_is_fewer_bytes() -> None:
    original = noise(150, 150, quality=30)
    data, media_type = make_thumbnail(
        original, size=256, fmt=ThumbnailFormat.JPEG, max_pixels=MAX_PIXELS
    )
    assert data == original and media_type == "image/jpeg"
    # Too large to be one: a real thumbnail, whatever the bytes.
    large = noise(600, 600, quality=30)
    data, _ = make_thumbnail(large, size=256, fmt=ThumbnailFormat.JPEG, max_pixels=MAX_PIXELS)
    assert opened(data).size == (256, 256)


def original_image(seed: int) -> tuple[str, bytes]:
    """A catalogue image's SHA-256 and bytes."""
    original = noise(300, 300, seed=seed)
    digest = hashlib.sha256(original).hexdigest()
    return digest, original


def test_a_made_thumbnail_is_kept_and_served_from_the_cache(tmp_path: Path) -> None:
    cache = ThumbnailCache(tmp_path, max_bytes=10**8)
    digest, original = original_image(0)
    fmt = ThumbnailFormat.WEBP
    assert cache.get(digest, 128, fmt) is None
    made = cache.make(digest, original, size=128, fmt=fmt, max_pixels=MAX_PIXELS)
    assert cache.path(digest, 128, fmt).read_bytes() == made.data
    found = cache.get(digest, 128, fmt)
    assert found is not None and found == made
    assert (
        cache.get(digest, 256, fmt) is None and cache.get(digest, 128, ThumbnailFormat.JPEG) is None
    )
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(PART_PREFIX)]


def test_concurrent_makers_of_one_thumbnail_leave_one_whole_file(tmp_path: Path) -> None:
    cache = ThumbnailCache(tmp_path, max_bytes=10**8)
    digest, original = original_image(1)
    fmt = ThumbnailFormat.JPEG
    results: list[bytes] = []
    barrier = threading.Barrier(8)

    def make() -> None:
        barrier.wait()
        results.append(cache.make(digest, original, size=512, fmt=fmt, max_pixels=MAX_PIXELS).data)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert cache.path(digest, 512, fmt).read_bytes() == results[0]
    assert [p.name for p in cache.path(digest, 512, fmt).parent.iterdir()] == [
        cache.path(digest, 512, fmt).name
    ]


def test_the_cache_stays_within_its_bound_dropping_the_least_recently_served(
    tmp_path: Path,
) -> None:
    fmt = ThumbnailFormat.JPEG
    one = len(make_thumbnail(noise(300, 300), size=128, fmt=fmt, max_pixels=MAX_PIXELS)[0])
    cache = ThumbnailCache(tmp_path, max_bytes=one * 5)
    digests = []
    for seed in range(12):
        digest, original = original_image(seed)
        cache.make(digest, original, size=128, fmt=fmt, max_pixels=MAX_PIXELS)
        path = cache.path(digest, 128, fmt)
        os.utime(path, (time.time() - 1000 + seed, time.time() - 1000 + seed))
        digests.append(digest)
        if seed == 4:
            # The oldest one is served again: it becomes the most recent.
            assert cache.get(digests[0], 128, fmt) is not None
            os.utime(cache.path(digests[0], 128, fmt))
        on_disk = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
        assert on_disk <= one * 5 * 1.05  # noise thumbnails vary by a few bytes
    kept = {d for d in digests if cache.path(d, 128, fmt).exists()}
    assert digests[-1] in kept and digests[0] in kept and digests[1] not in kept


def test_a_new_process_counts_what_is_cached_already(tmp_path: Path) -> None:
    fmt = ThumbnailFormat.JPEG
    first = ThumbnailCache(tmp_path, max_bytes=10**8)
    for seed in range(6):
        digest, original = original_image(seed)
        first.make(digest, original, size=128, fmt=fmt, max_pixels=MAX_PIXELS)
    total = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    second = ThumbnailCache(tmp_path, max_bytes=total)  # full: its first write must evict
    digest, original = original_image(99)
    second.make(digest, original, size=128, fmt=fmt, max_pixels=MAX_PIXELS)
    assert sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()) <= total


def test_stale_temporary_files_are_cleared_and_damaged_entries_remade(tmp_path: Path) -> None:
    fmt = ThumbnailFormat.WEBP
    cache = ThumbnailCache(tmp_path, max_bytes=1)  # every write evicts
    digest, original = original_image(3)
    leftover = tmp_path / digest[:2] / f"{PART_PREFIX}crashed"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a thumbnail")
    old = time.time() - STALE_PART_S - 10
    os.utime(leftover, (old, old))
    cache.make(digest, original, size=128, fmt=fmt, max_pixels=MAX_PIXELS)
    assert not leftover.exists()

    damaged = cache.path(digest, 256, fmt)
    damaged.write_bytes(b"")
    assert cache.get(digest, 256, fmt) is None
