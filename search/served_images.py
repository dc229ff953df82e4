"""Which catalogue image files the service may hand out, and their bytes.

An image id is served only when its image is `ready` (it decoded as an image during a build)
and its product is active. A URL is then handed back for a redirect (with the downloaded bytes
too, for thumbnails, when the download cache holds them unchanged). A local file must also
lie under a folder the catalogue was ingested from (the parent folder of every recorded dump)
or under one of the service's own folders (uploads, download cache), be a regular file within
the size limit, still hash to the SHA-256 recorded when it was embedded, and decode as a known
image format, whose media type is the one served (never the file name's).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import Connection, Engine, select

from search.errors import UnsafeImageFile
from search.files import download_cache_path, file_path, is_url, read_regular_file
from search.models import ImageStatus, IngestRun, Product, ProductImage

# Hex digits of the content hash that name an image's version in URLs and ETags (64 bits).
VERSION_CHARS = 16


def image_version(content_hash: str) -> str:
    """The short name of an image's content: its URLs' `v` and the root of its ETags."""
    return content_hash[:VERSION_CHARS]


@dataclass(frozen=True)
class ImageRecord:
    """What the store says about an image that may be served."""

    uri: str
    content_hash: str | None


@dataclass(frozen=True)
class ServedImage:
    """A URL to redirect to, or bytes with their media type; a URL image whose download the
    cache holds (and was asked for) has both."""

    url: str | None = None
    data: bytes = b""
    media_type: str = "application/octet-stream"
    content_hash: str | None = None


def find_image(engine: Engine, image_id: int) -> ImageRecord | None:
    """The URI and content hash of a ready image of an active product, or None. Blocking."""
    with engine.connect() as connection:
        return _record(connection, image_id)


def find_served_image(
    engine: Engine,
    image_id: int,
    *,
    own_folders: Sequence[Path],
    max_bytes: int,
    download_cache: Path | None = None,
) -> ServedImage | None:
    """The image to answer for `image_id`, or None when there is none that may be served.

    Blocking (database and file reads): call it from a worker thread in async code.

    Args:
        engine: the product store.
        image_id: the image's id.
        own_folders: the service's folders whose files may be served besides the catalogue's
            (uploads, download cache).
        max_bytes: larger files are not served.
        download_cache: for a URL image, also read its bytes from this download cache when
            they are there and still the ones embedded.
    """
    with engine.connect() as connection:
        record = _record(connection, image_id)
        if record is None:
            return None
        uri, content_hash = record.uri, record.content_hash
        if is_url(uri):
            downloaded = None
            if download_cache is not None and content_hash is not None:
                cached = download_cache_path(download_cache, uri)
                data = _verified(cached, content_hash, max_bytes)
                downloaded = None if data is None else _served(data, content_hash, url=uri)
            return downloaded or ServedImage(url=uri, content_hash=content_hash)
        sources = connection.execute(select(IngestRun.source).distinct()).scalars().all()
    roots = [Path(source).parent for source in sources if os.path.isabs(source)]
    try:
        path = os.path.realpath(file_path(uri))
    except ValueError:
        return None
    if not any(_inside(path, root) for root in [*roots, *own_folders]):
        return None
    if content_hash is None:
        return None
    data = _verified(Path(path), content_hash, max_bytes)
    return None if data is None else _served(data, content_hash)


def _record(connection: Connection, image_id: int) -> ImageRecord | None:
    query = (
        select(ProductImage.uri, ProductImage.content_hash)
        .join(Product, Product.id == ProductImage.product_id)
        .where(
            ProductImage.id == image_id,
            ProductImage.status == ImageStatus.READY,
            Product.deleted_at.is_(None),
        )
    )
    row = connection.execute(query).first()
    return None if row is None else ImageRecord(row.uri, row.content_hash)


def _verified(path: Path, content_hash: str, max_bytes: int) -> bytes | None:
    """The file's bytes if it is a regular file within the limit that hashes to `content_hash`."""
    try:
        data = read_regular_file(path, max_bytes=max_bytes)
    except (OSError, UnsafeImageFile):
        return None
    return data if hashlib.sha256(data).hexdigest() == content_hash else None


def _served(data: bytes, content_hash: str, url: str | None = None) -> ServedImage | None:
    media_type = sniff_media_type(data)
    if media_type is None:
        return None
    return ServedImage(url=url, data=data, media_type=media_type, content_hash=content_hash)


def sniff_media_type(data: bytes) -> str | None:
    """The media type of the image format Pillow recognises in `data` (headers only)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    return Image.MIME.get(kind) if kind else None


def _inside(path: str, root: Path) -> bool:
    real_root = os.path.realpath(root)
    return os.path.commonpath([path, real_root]) == real_root
