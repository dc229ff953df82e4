"""Photo quality benchmark: planted problems found, clean photos left alone, and the cost.

10% of the Grocery photos get one planted problem each (blur of two strengths, down-scaling to
64-160 px, over- and under-exposure, a near-blank picture); `facet build` checks them all.
A photo counts as flagged when its verdict is not `ok`; clean photos are the negatives.
The overhead is the build's images/s without the checks over with them, minus one: builds with
and without the checks alternate (without first, then with first), `ROUNDS` of each, so a
machine that warms up or slows down weighs on both alike; the mean of the rounds' ratios.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from scripts.hygiene.catalog import facet, grocery_photos, write_catalog
from scripts.hygiene.plant import QUALITY_PLANTS, save_jpeg

DEFAULT_LIMIT = 400
SEED = 14
ROUNDS = 2


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
    return {
        "quality_precision": hits / len(flagged) if flagged else 1.0,
        "quality_recall": hits / len(planted),
        "quality_overhead": sum(ratios) / len(ratios) if ratios else 0.0,
        "quality_overhead_rounds": float(len(ratios)),
        "quality_images": float(len(photos)),
        "build_images_per_s_without_checks": sum(rates["false"]) / len(rates["false"]),
        "build_images_per_s_with_checks": sum(rates["true"]) / len(rates["true"]),
    }
