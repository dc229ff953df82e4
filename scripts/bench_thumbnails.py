"""Bytes the search page loads for its result tiles: thumbnails versus the originals.

    python scripts/bench_thumbnails.py [--catalog scripts/sample_catalog/catalog.csv]
                                       [--upscale N] [--json]

For every image of the catalogue, the thumbnail the service serves for a tile (what
`GET /v1/images/{id}?size=256` answers: `search.thumbnails.make_thumbnail`, WebP for browsers
that accept it, JPEG for the others, and the 512 px one high-density screens ask for) against the
original file. `--upscale N` first enlarges every original N times (Lanczos, JPEG quality 90), to
stand in for the camera-size photos of a real shop; enlarged pictures hold less detail than real
ones of that size, so they compress better, and the ratio is an underestimate. The last line of
`--json` is one object: `original_bytes`, `thumbnail_bytes` (the page's tiles: 256 px WebP),
`ratio`, and the other sizes and formats under `variants`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from search.thumbnails import ThumbnailFormat, make_thumbnail  # noqa: E402

DEFAULT_CATALOG = REPO / "scripts" / "sample_catalog" / "catalog.csv"
# What the page asks for (api/static/app.js TILE_SIZE, twice that at 2x), as chromium does.
TILE = (256, ThumbnailFormat.WEBP)
VARIANTS = [(size, fmt) for size in (128, 256, 512) for fmt in ThumbnailFormat]
MAX_PIXELS = 50_000_000


def originals(catalog: Path, upscale: int) -> list[bytes]:
    with catalog.open(encoding="utf-8") as handle:
        paths = [
            catalog.parent / name.strip()
            for row in csv.DictReader(handle)
            for name in row["images"].split("|")
            if name.strip()
        ]
    images = [path.read_bytes() for path in paths]
    if upscale > 1:
        images = [enlarged(data, upscale) for data in images]
    return images


def enlarged(data: bytes, factor: int) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        big = image.convert("RGB").resize(
            (image.width * factor, image.height * factor), Image.Resampling.LANCZOS
        )
    out = io.BytesIO()
    big.save(out, "JPEG", quality=90)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--upscale", type=int, default=1, help="enlarge the originals N times")
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    args = parser.parse_args()

    images = originals(args.catalog, args.upscale)
    original_bytes = sum(len(data) for data in images)
    variants = {}
    for size, fmt in VARIANTS:
        started = time.perf_counter()
        total = sum(
            len(make_thumbnail(data, size=size, fmt=fmt, max_pixels=MAX_PIXELS)[0])
            for data in images
        )
        seconds = time.perf_counter() - started
        variants[f"{size}.{fmt.value}"] = {
            "bytes": total,
            "ratio": round(original_bytes / total, 2),
            "ms_per_image": round(seconds * 1000 / len(images), 2),
        }
        print(
            f"{size:>4} px {fmt.value:<4}: {total:>10,} bytes, originals / thumbnails "
            f"{original_bytes / total:6.2f}x, {seconds * 1000 / len(images):6.1f} ms to make one"
        )
    tile = variants[f"{TILE[0]}.{TILE[1].value}"]
    print(f"{len(images)} originals: {original_bytes:,} bytes (upscale {args.upscale}x)")
    if args.json:
        figures = {
            "catalog": str(args.catalog),
            "images": len(images),
            "upscale": args.upscale,
            "original_bytes": original_bytes,
            "thumbnail_bytes": tile["bytes"],
            "ratio": tile["ratio"],
            "variants": variants,
        }
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
