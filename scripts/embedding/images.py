"""The benchmark's catalogue: real photos, varied and saved as ~1000x1000 JPEGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parent.parent.parent
SAMPLE = REPO / "scripts" / "sample_catalog"


def source_photos(dataset: Path) -> list[Path]:
    """The Grocery Store Dataset's test photos if `dataset` has them, else the sample's."""
    if (dataset / "test").is_dir():
        return sorted((dataset / "test").rglob("*.jpg"))
    return sorted((SAMPLE / "images").glob("*.jpg")) + sorted((SAMPLE / "queries").glob("*.jpg"))


def make_images(folder: Path, count: int, dataset: Path) -> list[Path]:
    """`count` JPEGs in `folder`, each a photo flipped, cropped, tinted and resized."""
    photos = source_photos(dataset)
    rng = np.random.default_rng(1338)
    paths = []
    for index in range(count):
        photo = Image.open(photos[(index * 7) % len(photos)]).convert("RGB")
        if index % 2:
            photo = ImageOps.mirror(photo)
        width, height = photo.size
        inset = int(rng.integers(0, max(1, min(width, height) // 10)))
        photo = photo.crop((inset, inset, width - inset, height - inset))
        size = (int(rng.integers(900, 1100)), int(rng.integers(900, 1100)))
        tint = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 255, size=3)))
        photo = Image.blend(photo.resize(size, Image.Resampling.BICUBIC), tint, 0.1)
        path = folder / f"{index:04d}.jpg"
        photo.save(path, quality=90)
        paths.append(path)
    return paths
