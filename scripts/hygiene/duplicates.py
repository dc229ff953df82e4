"""Near-duplicate benchmark: copies of 10% of the Grocery photos under new SKUs, re-encoded as
JPEG at quality 50-90, resized to 40-100%, cropped up to 10%, some with a watermark, a border
or a small colour change. Every other photo is a product of its own, so different photos of the
same class sit side by side and must not be reported. A pair is found when `facet duplicates`
puts the original and its copy in one cluster; precision counts the reported pairs of different
products that are not an original and its copy."""

from __future__ import annotations

import itertools
import random
import shutil
from pathlib import Path

from PIL import Image

from scripts.hygiene.catalog import facet, grocery_photos, write_catalog
from scripts.hygiene.plant import jpeg_copy, save_jpeg

DEFAULT_LIMIT = 400
SEED = 15


def measure(dataset: Path, workdir: Path, limit: int | None = DEFAULT_LIMIT) -> dict[str, float]:
    rng = random.Random(SEED)
    photos = grocery_photos(dataset, limit, seed=SEED)
    products = [(f"P{n:05d}", name, path) for n, (path, name) in enumerate(photos)]
    truth = set()
    for n in rng.sample(range(len(photos)), max(1, len(photos) // 10)):
        path, name = photos[n]
        copy = save_jpeg(jpeg_copy(Image.open(path).convert("RGB"), rng), workdir / f"c{n}.jpg")
        products.append((f"COPY{n:05d}", name, copy))
        truth.add(frozenset({f"P{n:05d}", f"COPY{n:05d}"}))
    home = workdir / "home"
    shutil.rmtree(home, ignore_errors=True)
    facet(home, "ingest", str(write_catalog(workdir, products)))
    facet(home, "build")
    found = facet(home, "duplicates", *_threshold_args())
    reported = {
        frozenset(pair)
        for cluster in found["clusters"]
        for pair in itertools.combinations(cluster["skus"], 2)
    }
    hits = len(reported & truth)
    return {
        "dup_precision": hits / len(reported) if reported else 1.0,
        "dup_recall": hits / len(truth),
        "dup_copies": float(len(truth)),
        "dup_reported_pairs": float(len(reported)),
        "dup_threshold": float(found["threshold"]),
    }


def _threshold_args() -> list[str]:
    import os

    value = os.environ.get("HYGIENE_DUP_THRESHOLD")
    return ["--threshold", value] if value else []
