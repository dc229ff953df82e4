"""The build's quality step on each store: verdicts re-judged with the current limits, counted,
and `fail` photos kept out of the searchable images only when the setting says so."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine, insert, select

from indexer.build.quality_rows import quality_row, write_quality
from indexer.build.quality_step import check_catalog_quality, unchecked_images
from search.db import writer
from search.filters import searchable_images
from search.models import ImageStatus, Product, ProductImage
from search.photo_quality import check_photo
from search.quality_config import QualitySettings


def add_images(engine: Engine) -> None:
    with writer(engine).begin() as connection:
        connection.execute(insert(Product).values(id=1, sku="A", content_hash="x"))
        for image_id in (1, 2, 3):
            connection.execute(
                insert(ProductImage).values(
                    id=image_id, product_id=1, position=image_id, uri=f"file:///{image_id}.jpg",
                    content_hash=f"h{image_id}", status=ImageStatus.READY,
                )
            )  # fmt: skip
        rng = np.random.default_rng(0)
        busy = rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)
        blank = np.full((224, 224, 3), 128, dtype=np.uint8)
        limits = QualitySettings()
        rows = [
            quality_row(1, "h1", check_photo(busy, 800, 800, limits)),
            quality_row(2, "h2", check_photo(blank, 800, 800, limits)),
        ]
        write_quality(connection, engine, rows)


def searchable(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return sorted(connection.execute(searchable_images()).scalars())


def test_counts_rejudges_and_excludes_failed(engine: Engine) -> None:
    add_images(engine)
    assert [job.image_id for job in unchecked_images(engine)] == [3]
    report = check_catalog_quality(engine, QualitySettings())
    assert report.to_dict()["fail"] == 1 and report.failed == {"blank": 1}
    assert report.summary() == "1 image failed quality: 1 blank"
    assert searchable(engine) == [1, 2, 3]  # reported, still indexed by default

    excluding = check_catalog_quality(engine, QualitySettings(exclude_failed=True))
    assert excluding.excluded == 1
    assert searchable(engine) == [1, 3]

    # The setting turned off again: the failed photo comes back.
    check_catalog_quality(engine, QualitySettings())
    assert searchable(engine) == [1, 2, 3]
    with engine.connect() as connection:
        assert connection.execute(select(ProductImage.id)).scalars().all() == [1, 2, 3]
