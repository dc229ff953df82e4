"""A small catalogue of generated photos with each hygiene problem planted once: a blurred, a
blank and a tiny photo, a picture reused under another SKU (COPY1 of P1), and a product listing
the same bytes twice (TWICE); the other photos are clean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from tests.conftest import facet, write_csv
from tests.hygiene_images import reused, scene

CLEAN = ["P1", "P2", "P3", "P4", "P5"]
PLANTED_QUALITY = {"BLUR": "blurred", "BLANK": "blank", "TINY": "small"}


def near_blank(size: tuple[int, int] = (320, 240)) -> Image.Image:
    rng = np.random.default_rng(0)
    pixels = 128 + rng.normal(0, 1.5, (size[1], size[0], 3))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def build_hygiene_catalog(folder: Path) -> tuple[Path, str]:
    """The catalogue ingested and built in `folder`: (its home, the build's output)."""
    photos = {sku: scene(10 + n) for n, sku in enumerate(CLEAN)}
    photos["COPY1"] = reused(photos["P1"], scale=0.8)  # large enough to pass the checks
    photos["BLUR"] = scene(20).filter(ImageFilter.GaussianBlur(6))
    photos["BLANK"] = near_blank()
    photos["TINY"] = scene(21).resize((80, 60))
    photos["TWICE"] = scene(22)
    rows = []
    for sku, image in photos.items():
        path = folder / f"{sku}.jpg"
        image.save(path, "JPEG", quality=92)
        images = str(path)
        if sku == "TWICE":  # the same bytes under a second name
            (folder / "TWICE-again.jpg").write_bytes(path.read_bytes())
            images += f"|{folder / 'TWICE-again.jpg'}"
        rows.append({"sku": sku, "title": f"title of {sku}", "images": images})
    home = folder / "home"
    ingested = facet(home, "ingest", str(write_csv(folder / "catalog.csv", rows)))
    assert ingested.exit_code == 0, ingested.output
    built = facet(home, "build")
    assert built.exit_code == 0, built.output
    return home, built.output
