"""Thumbnails of catalogue images: made once per content, size and format, kept in a bounded cache.

A thumbnail is named by the SHA-256 of the image it was made from, so a cached one can never be
of other bytes than that name says: when an image changes, so does its hash, and the old
thumbnail is simply no longer asked for (and ages out of the cache).

Files are written whole under a temporary name, fsynced and renamed into place, so concurrent
makers of the same thumbnail (another request, another process) each replace it with a complete,
identical file and no reader ever sees part of one. The cache keeps a running total of what
this process wrote; when that passes the bound, one scan deletes the least recently served
files (modification times, refreshed when a file is served) down to 90% of it. Other processes'
writes are counted at that scan, so several processes can overshoot between scans.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from PIL import Image

from search.decoding import decode_image_with_size, sniff_format

log = logging.getLogger(__name__)

# The longer side of every thumbnail that may be asked for: few sizes, so that few files serve
# every client (the search page asks for 256, or 512 on high-density screens).
THUMBNAIL_SIZES = (128, 256, 512)
# Encoder settings: good-looking tiles at a fraction of the original's bytes.
JPEG_QUALITY = 80
WEBP_QUALITY = 80
WEBP_METHOD = 6  # slowest, smallest: each thumbnail is encoded once and served many times
# An eviction deletes down to this share of the bound, so that scans stay rare.
LOW_WATER = 0.9
# A served file's time is refreshed at most this often (one metadata write, not one per hit).
TOUCH_AFTER_S = 60.0
# Temporary files left by a crashed writer are deleted by the next eviction after this long.
STALE_PART_S = 3600.0
PART_PREFIX = ".part-"
MEDIA_TYPES = {"JPEG": "image/jpeg", "WEBP": "image/webp"}


class ThumbnailFormat(StrEnum):
    """The encodings thumbnails are made in."""

    WEBP = "webp"
    JPEG = "jpeg"

    @property
    def pillow_name(self) -> str:
        return self.value.upper()


def thumbnail_dir(home: Path) -> Path:
    """The thumbnail cache's folder under FACET_HOME."""
    return home / "cache" / "thumbnails"


def make_thumbnail(
    data: bytes, *, size: int, fmt: ThumbnailFormat, max_pixels: int
) -> tuple[bytes, str]:
    """A resized copy of an image, encoded in `fmt`, and its media type.

    The image is decoded as for embedding (EXIF orientation applied, transparency on white) and
    shrunk, keeping its aspect ratio, until its longer side is `size`; never enlarged. A JPEG
    original that already fits and is smaller than the thumbnail is returned as it is: a
    thumbnail is never more bytes than its original.

    Args:
        data: the original image file.
        size: the longest side, in pixels.
        fmt: the encoding.
        max_pixels: larger originals are refused before decoding.

    Raises:
        ImageDecodeError: the original cannot be decoded.
    """
    image, width, height = decode_image_with_size(data, max_pixels=max_pixels, draft_size=size)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if fmt is ThumbnailFormat.JPEG:
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    else:
        image.save(out, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
    made = out.getvalue()
    if max(width, height) <= size and sniff_format(data) == "JPEG" and len(data) <= len(made):
        return data, MEDIA_TYPES["JPEG"]
    return made, MEDIA_TYPES[fmt.pillow_name]


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    media_type: str


class ThumbnailCache:
    """Thumbnails on disk under `folder`, at most about `max_bytes` of them. Thread-safe."""

    def __init__(self, folder: Path, *, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._total: int | None = None  # bytes on disk, as far as this process knows

    def path(self, content_hash: str, size: int, fmt: ThumbnailFormat) -> Path:
        return self.folder / content_hash[:2] / f"{content_hash}-{size}.{fmt.value}"

    def get(self, content_hash: str, size: int, fmt: ThumbnailFormat) -> Thumbnail | None:
        """The cached thumbnail, or None. Blocking (a file read)."""
        path = self.path(content_hash, size, fmt)
        try:
            with path.open("rb") as handle:
                data = handle.read()
                modified = os.fstat(handle.fileno()).st_mtime
        except FileNotFoundError:
            return None
        kind = sniff_format(data)
        if kind not in MEDIA_TYPES:
            return None  # not ours (or damaged): made again, and replaced
        if time.time() - modified > TOUCH_AFTER_S:
            with contextlib.suppress(OSError):  # evicted meanwhile: nothing to keep fresh
                os.utime(path)
        return Thumbnail(data, MEDIA_TYPES[kind])

    def make(
        self,
        content_hash: str,
        original: bytes,
        *,
        size: int,
        fmt: ThumbnailFormat,
        max_pixels: int,
    ) -> Thumbnail:
        """Make the thumbnail of `original` (whose SHA-256 is `content_hash`) and keep it.

        Blocking (decoding, encoding, a file write): call it from a worker thread. A failure to
        write the cache is logged; the thumbnail is returned all the same.

        Raises:
            ImageDecodeError: the original cannot be decoded.
        """
        data, media_type = make_thumbnail(original, size=size, fmt=fmt, max_pixels=max_pixels)
        try:
            self._store(self.path(content_hash, size, fmt), data)
        except OSError as error:
            log.warning("could not cache a thumbnail in %s: %s", self.folder, error)
        return Thumbnail(data, media_type)

    def _store(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=PART_PREFIX)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                # A file renamed into place before its bytes reach the disk could be found
                # empty after a power cut, and be served for good under its immutable name.
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        with self._lock:
            if self._total is None:
                self._total = sum(size for _, size, _ in self._files())
            else:
                self._total += len(data)
            if self._total > self.max_bytes:
                self._total = self._evict()

    def _evict(self) -> int:
        """Delete the least recently served files down to LOW_WATER of the bound; the bytes left."""
        files = sorted(self._files(), key=lambda file: file[2])
        total = sum(size for _, size, _ in files)
        target = self.max_bytes * LOW_WATER
        removed = 0
        for path, size, _ in files:
            if total <= target:
                break
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
            total -= size
        log.info("thumbnail cache: deleted %d files, %d bytes left", removed, total)
        return total

    def _files(self) -> list[tuple[Path, int, float]]:
        """Every cached thumbnail: path, bytes, last served (deleting stale temporary files)."""
        found: list[tuple[Path, int, float]] = []
        now = time.time()
        with contextlib.suppress(FileNotFoundError):
            for shard in os.scandir(self.folder):
                if not shard.is_dir(follow_symlinks=False):
                    continue
                for entry in os.scandir(shard.path):
                    try:
                        status = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if entry.name.startswith(PART_PREFIX):
                        if now - status.st_mtime > STALE_PART_S:
                            with contextlib.suppress(FileNotFoundError):
                                os.unlink(entry.path)
                        continue
                    found.append((Path(entry.path), status.st_size, status.st_mtime))
        return found
