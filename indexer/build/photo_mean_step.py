"""`facet build --query-photos`: learn the mean vector of shopper-style photos for domain centring.

The photos need no labels: a few hundred pictures taken the way shoppers take them (phone, hand,
shelf, daylight) are enough to estimate what all such photos share (docs/index.md#descriptors).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from search.embed import Embedder
from search.errors import FacetError, ImageDecodeError
from search.photo_means import PhotoMean, mean_of, photo_mean_key, save_photo_mean
from search.views import parse_views

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
# More photos than this barely move the mean; an even sample of them is used.
MAX_PHOTOS = 2000
MIN_PHOTOS = 10


class QueryPhotosError(FacetError):
    """The query photos cannot be used."""


def query_photo_paths(source: Path) -> list[Path]:
    """The photos a folder holds (recursively), or those a CSV's `image` column names (relative to
    the CSV, as for `facet evaluate` and `facet train --extra-photos`).

    Raises:
        QueryPhotosError: no such file or folder, a CSV without `image`, or a missing image.
    """
    if source.is_dir():
        return sorted(p for p in source.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
    try:
        with source.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            if "image" not in (reader.fieldnames or []):
                raise QueryPhotosError(f"{source}: needs an image column")
            names = [row["image"].strip() for row in reader if (row["image"] or "").strip()]
    except OSError as error:
        raise QueryPhotosError(f"{source}: cannot read: {error.strerror}") from None
    paths = [(source.parent / name).resolve() for name in names]
    missing = [name for name, path in zip(names, paths, strict=True) if not path.is_file()]
    if missing:
        raise QueryPhotosError(f"{source}: {len(missing)} image(s) missing, e.g. {missing[0]}")
    return paths


def learn_photo_mean(
    embedder: Embedder, paths: list[Path], *, max_pixels: int, source: str
) -> tuple[PhotoMean, int]:
    """Embed (an even sample of at most MAX_PHOTOS of) the photos; returns their mean and how
    many could not be decoded (skipped).

    Raises:
        QueryPhotosError: fewer than MIN_PHOTOS decodable photos.
    """
    if len(paths) > MAX_PHOTOS:
        picks = np.linspace(0, len(paths) - 1, MAX_PHOTOS).round().astype(int)
        paths = [paths[i] for i in picks]
    pixels, skipped = [], 0
    for path in paths:
        try:
            pixels.append(embedder.preprocessing.load(path, max_pixels=max_pixels).pixels)
        except ImageDecodeError:
            skipped += 1
    if len(pixels) < MIN_PHOTOS:
        raise QueryPhotosError(
            f"{source}: {len(pixels)} usable photo(s); at least {MIN_PHOTOS} are needed"
        )
    return mean_of(embedder.embed_arrays(pixels), source), skipped


def remember_photo_mean(
    folder: Path, embedder: Embedder, source: Path, *, max_pixels: int, query_views: str
) -> dict[str, int | str]:
    """Learn the photo mean of `source` for the embedder's model and keep it in `folder`, where
    every later build of that model finds it. Returns what was learned, for the build's report.

    Raises:
        QueryPhotosError: as `query_photo_paths` and `learn_photo_mean`.
    """
    paths = query_photo_paths(source)
    as_queries = Embedder(
        embedder.backbone,
        precision=embedder.precision,
        batch_size=embedder.batch_size,
        views=parse_views(query_views),
        device=str(embedder.device),
    )
    mean, skipped = learn_photo_mean(as_queries, paths, max_pixels=max_pixels, source=str(source))
    save_photo_mean(folder, photo_mean_key(embedder.backbone.identity, query_views), mean)
    return {"photos": mean.photos, "skipped": skipped, "digest": mean.digest}
