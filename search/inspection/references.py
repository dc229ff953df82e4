"""Where reference photos come from: a product's or a category's catalogue images, or a folder.

A reference's label (`sku:X`, `category:Y`, `dir:/abs/path`) names its stored bank; the photos'
bytes (their SHA-256) decide whether that bank is still valid.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine, select

from search.errors import InvalidReference, UnsafeImageFile
from search.files import download_cache_path, file_path, is_url, read_regular_file
from search.models import ImageStatus, Product, ProductImage

# Files a reference folder may hold (anything else in it is ignored).
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})


@dataclass(frozen=True)
class Photo:
    """An encoded photo and the name it is reported under."""

    name: str
    data: bytes

    @cached_property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Reference:
    """Good photos, and the label their bank is stored under."""

    label: str
    photos: list[Photo]


def folder_reference(folder: Path, *, max_bytes: int) -> Reference:
    """The photos in a folder (not its subfolders), by name.

    Raises:
        InvalidReference: not a folder, or a photo in it cannot be read.
    """
    if not folder.is_dir():
        raise InvalidReference(f"{folder}: not a folder")
    photos = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in PHOTO_SUFFIXES or not path.is_file():
            continue
        try:
            photos.append(Photo(path.name, read_regular_file(path, max_bytes=max_bytes)))
        except (OSError, UnsafeImageFile) as error:
            raise InvalidReference(f"{path}: cannot read reference photo: {error}") from None
    return Reference(f"dir:{folder.resolve()}", photos)


def store_reference(
    engine: Engine,
    *,
    sku: str | None = None,
    category: str | None = None,
    max_bytes: int,
    download_cache: Path,
) -> Reference:
    """The catalogue images of one active product (by SKU) or of a category's active products.

    Images that failed to build or whose bytes cannot be read any more are left out (the
    inspector then checks there are enough).

    Raises:
        InvalidReference: no active product has this SKU, or none this category.
    """
    if (sku is None) == (category is None):
        raise ValueError("give exactly one of sku and category")
    query = (
        select(Product.sku, ProductImage.uri)
        .join(Product, Product.id == ProductImage.product_id)
        .where(
            Product.deleted_at.is_(None),
            ProductImage.status.in_([ImageStatus.READY, ImageStatus.PENDING]),
        )
        .order_by(Product.sku, ProductImage.position)
    )
    query = (
        query.where(Product.sku == sku)
        if sku is not None
        else query.where(Product.category == category)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    if not rows:
        what = f"product {sku!r}" if sku is not None else f"category {category!r}"
        raise InvalidReference(f"no active {what} with catalogue images")
    photos = []
    for row in rows:
        data = _read_image(row.uri, max_bytes=max_bytes, download_cache=download_cache)
        if data is not None:
            photos.append(Photo(f"{row.sku}: {Path(row.uri).name}", data))
    label = f"sku:{sku}" if sku is not None else f"category:{category}"
    return Reference(label, photos)


def _read_image(uri: str, *, max_bytes: int, download_cache: Path) -> bytes | None:
    try:
        path = download_cache_path(download_cache, uri) if is_url(uri) else file_path(uri)
        return read_regular_file(path, max_bytes=max_bytes)
    except (OSError, ValueError, UnsafeImageFile):
        return None
