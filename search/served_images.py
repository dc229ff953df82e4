"""Which catalogue image files the service may hand out, and their bytes.

An image id is served only when its image is `ready` (it decoded as an image during a build)
and its product is active. A URL is then handed back for a redirect. A local file must also
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
from sqlalchemy import Engine, select

from search.errors import UnsafeImageFile
from search.files import file_path, is_url, read_regular_file
from search.models import ImageStatus, IngestRun, Product, ProductImage


@dataclass(frozen=True)
class ServedImage:
    """Either a URL to redirect to, or bytes with their media type."""

    url: str | None = None
    data: bytes = b""
    media_type: str = "application/octet-stream"


def find_served_image(
    engine: Engine, image_id: int, *, own_folders: Sequence[Path], max_bytes: int
) -> ServedImage | None:
    """The image to answer for `image_id`, or None when there is none that may be served.

    Blocking (database and file reads): call it from a worker thread in async code.

    Args:
        engine: the product store.
        image_id: the image's id.
        own_folders: the service's folders whose files may be served besides the catalogue's
            (uploads, download cache).
        max_bytes: larger files are not served.
    """
    query = (
        select(ProductImage.uri, ProductImage.content_hash)
        .join(Product, Product.id == ProductImage.product_id)
        .where(
            ProductImage.id == image_id,
            ProductImage.status == ImageStatus.READY,
            Product.deleted_at.is_(None),
        )
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
        if row is None:
            return None
        uri, content_hash = row
        if is_url(uri):
            return ServedImage(url=uri)
        sources = connection.execute(select(IngestRun.source).distinct()).scalars().all()
    roots = [Path(source).parent for source in sources if os.path.isabs(source)]
    try:
        path = os.path.realpath(file_path(uri))
    except ValueError:
        return None
    if not any(_inside(path, root) for root in [*roots, *own_folders]):
        return None
    try:
        data = read_regular_file(Path(path), max_bytes=max_bytes)
    except (OSError, UnsafeImageFile):
        return None
    if content_hash is None or hashlib.sha256(data).hexdigest() != content_hash:
        return None
    media_type = sniff_media_type(data)
    if media_type is None:
        return None
    return ServedImage(data=data, media_type=media_type)


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
