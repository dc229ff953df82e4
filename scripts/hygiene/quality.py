"""Photo quality benchmark: planted problems found, clean photos left alone, and the cost.

10% of the Grocery photos get one planted problem each (blur of two strengths, down-scaling to
64-160 px, over- and under-exposure, a near-blank picture); `facet build` checks them all.
A photo counts as flagged when its verdict is not `ok`; clean photos are the negatives.
The overhead is the build's images/s without the checks over with them, minus one: after one
untimed build (the photos into the page cache, the model's first load), builds with and without
the checks alternate (without first, then with first), `ROUNDS` of each, so a machine that warms
up or slows down weighs on both alike; the mean of the rounds' ratios, with its standard error.
Whole builds on a shared 2-core machine vary by several percent from one to the next, more
than the checks cost; `quality_check_ms_per_image` times the check alone on the same photos
(the only work the checks add to the decoding, besides writing one row per image), and
`quality_check_share` is that time over a build's time per image.
"""

from __future__ import annotations

import random
import shutil
import statistics
import time
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from scripts.hygiene.catalog import facet, grocery_photos, write_catalog
from scripts.hygiene.plant import QUALITY_PLANTS, save_jpeg

DEFAULT_LIMIT = 2000
SEED = 14
ROUNDS = 4
CHECK_TIMING_PHOTOS = 300


def measure(dataset: Path, workdir: Path, limit: int | None = DEFAULT_LIMIT) -> dict[str, float]:
    from search.db import make_engine
    from search.models import ImageQuality

    rng = random.Random(SEED)
    photos = grocery_photos(dataset, limit, seed=SEED)
    planted = set(rng.sample(range(len(photos)), max(1, len(photos) // 10)))
    names = sorted(QUALITY_PLANTS)
    products = []
    for number, (path, name) in enumerate(photos):
        image = path
        if number in planted:
            plant = names[number % len(names)]
            damaged = QUALITY_PLANTS[plant](Image.open(path).convert("RGB"), rng)
            image = save_jpeg(damaged, workdir / "images" / f"{number}-{plant}.jpg")
        products.append((f"Q{number:05d}", name, image))
    dump = write_catalog(workdir, products)
    rates: dict[str, list[float]] = {"false": [], "true": []}
    warm_up = workdir / "home-warm-up"
    facet(warm_up, "ingest", str(dump))
    facet(warm_up, "build")
    shutil.rmtree(warm_up)
    for round_number in range(ROUNDS):
        order = ("false", "true") if round_number % 2 == 0 else ("true", "false")
        for checks in order:
            home = workdir / f"home-{checks}"
            shutil.rmtree(home, ignore_errors=True)
            facet(home, "ingest", str(dump))
            built = facet(home, "build", env={"FACET_QUALITY__CHECKS": checks})
            rates[checks].append(built["embedding"]["images_per_s"])
    ratios = [
        without / with_ - 1
        for without, with_ in zip(rates["false"], rates["true"], strict=True)
        if with_
    ]
    engine = make_engine(f"sqlite:///{workdir / 'home-true' / 'facet.db'}")
    with engine.connect() as connection:
        query = select(ImageQuality.image_id, ImageQuality.verdict)
        verdicts = {image_id: verdict for image_id, verdict in connection.execute(query)}
    engine.dispose()
    # Image ids follow the dump's order (one image per product, ingested in order).
    flagged = {image_id - 1 for image_id, verdict in verdicts.items() if verdict != "ok"}
    hits = len(flagged & planted)
    check_ms = _check_ms([path for path, _ in photos[:CHECK_TIMING_PHOTOS]])
    with_checks = sum(rates["true"]) / len(rates["true"])
    return {
        "quality_precision": hits / len(flagged) if flagged else 1.0,
        "quality_recall": hits / len(planted),
        "quality_overhead": sum(ratios) / len(ratios) if ratios else 0.0,
        "quality_overhead_stderr": statistics.stdev(ratios) / len(ratios) ** 0.5
        if len(ratios) > 1
        else 0.0,
        "quality_overhead_rounds": float(len(ratios)),
        "quality_check_ms_per_image": check_ms,
        "quality_check_share": check_ms / (1000 / with_checks) if with_checks else 0.0,
        "quality_images": float(len(photos)),
        "build_images_per_s_without_checks": sum(rates["false"]) / len(rates["false"]),
        "build_images_per_s_with_checks": with_checks,
    }


def _check_ms(paths: list[Path]) -> float:
    """Milliseconds per image of the photo check alone, on pixels prepared as a build does."""
    from search.backbones import load_backbone
    from search.photo_quality import check_photo
    from search.quality_config import QualitySettings

    preprocessing = load_backbone("efficientnet_lite0").preprocessing
    prepared = [preprocessing.load(path.read_bytes(), max_pixels=50_000_000) for path in paths]
    limits = QualitySettings()
    started = time.perf_counter()
    for image in prepared:
        check_photo(image.pixels, image.width, image.height, limits)
    return 1000 * (time.perf_counter() - started) / max(len(prepared), 1)
