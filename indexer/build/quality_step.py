"""`facet build`'s photo quality step, after embedding: check the images embedded without a
check, apply the current limits to every stored check, and count the verdicts."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, bindparam, or_, select, update

from indexer.build.loader import ImageJob, Loaded
from indexer.build.quality_rows import QUALITY, quality_row, write_quality
from indexer.build.reading import ReadOptions
from search.db import writer
from search.models import ImageQuality, ImageStatus, Product, ProductImage
from search.photo_quality import Measurements, Verdict, judge
from search.preprocess import Preprocessing
from search.quality_config import QualitySettings

BATCH = 500


@dataclass
class QualityReport:
    """The verdicts on the catalogue's embedded images (of active products)."""

    checked: int = 0  # read again here: embedded before, or elsewhere, without a check
    verdicts: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)  # reasons among `fail` images
    warned: Counter[str] = field(default_factory=Counter)  # reasons among `warn` images
    excluded: int = 0  # kept out of the index (FACET_QUALITY__EXCLUDE_FAILED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "ok": self.verdicts[Verdict.OK],
            "warn": self.verdicts[Verdict.WARN],
            "fail": self.verdicts[Verdict.FAIL],
            "failed_by_reason": dict(self.failed),
            "warned_by_reason": dict(self.warned),
            "excluded": self.excluded,
        }

    def summary(self) -> str:
        """ "3 images failed quality: 2 blurred, 1 blank" (or that none did)."""
        failed = self.verdicts[Verdict.FAIL]
        if not failed:
            return f"no image failed quality ({self.verdicts[Verdict.WARN]:,} with warnings)"
        reasons = ", ".join(f"{count:,} {reason}" for reason, count in self.failed.most_common())
        noun = "image" if failed == 1 else "images"
        return f"{failed:,} {noun} failed quality: {reasons}"


def check_catalog_quality(
    engine: Engine,
    limits: QualitySettings,
    *,
    read: ReadOptions | None = None,
    preprocessing: Preprocessing | None = None,
) -> QualityReport:
    """Check the embedded images that have no check for their current bytes (read with `read`
    and prepared with `preprocessing`; None: not read), re-judge every stored check with
    `limits` and set which are excluded from the index; then count."""
    report = QualityReport()
    if read is not None and preprocessing is not None:
        report.checked = _check_unchecked(engine, limits, read, preprocessing)
    _rejudge(engine, limits)
    query = (
        select(ImageQuality.verdict, ImageQuality.reasons, ImageQuality.excluded)
        .join(ProductImage, ProductImage.id == ImageQuality.image_id)
        .join(Product, Product.id == ProductImage.product_id)
        .where(ProductImage.status == ImageStatus.READY, Product.deleted_at.is_(None))
    )
    with engine.connect() as connection:
        for verdict, reasons, excluded in connection.execute(query):
            report.verdicts[verdict] += 1
            report.excluded += bool(excluded)
            by_reason = {"fail": report.failed, "warn": report.warned}.get(verdict)
            if by_reason is not None and reasons:
                by_reason.update(reasons.split(","))
    return report


def unchecked_images(engine: Engine) -> list[ImageJob]:
    """Embedded images of active products without a check of their current bytes."""
    query = (
        select(ProductImage.id, ProductImage.uri)
        .join(Product, Product.id == ProductImage.product_id)
        .outerjoin(ImageQuality, ImageQuality.image_id == ProductImage.id)
        .where(ProductImage.status == ImageStatus.READY, Product.deleted_at.is_(None))
        .where(
            or_(
                ImageQuality.image_id.is_(None),
                ImageQuality.content_hash != ProductImage.content_hash,
            )
        )
        .order_by(ProductImage.id)
    )
    with engine.connect() as connection:
        return [ImageJob(image_id, uri, None) for image_id, uri in connection.execute(query)]


def _check_unchecked(
    engine: Engine, limits: QualitySettings, read: ReadOptions, preprocessing: Preprocessing
) -> int:
    jobs = unchecked_images(engine)
    if not jobs:
        return 0
    # Decoded here whatever the JPEG decoder setting: the checks need the pixels on the CPU.
    options = dataclasses.replace(read, device_jpegs=False, quality=limits)
    rows = []
    with options.fetcher() as fetcher:
        for result in options.loader(fetcher, preprocessing).load(jobs):
            # An image that no longer reads is left to the next embedding run to mark failed.
            if isinstance(result, Loaded) and result.quality is not None:
                rows.append(quality_row(result.job.image_id, result.content_hash, result.quality))
    for start in range(0, len(rows), BATCH):
        with writer(engine).begin() as connection:
            write_quality(connection, engine, rows[start : start + BATCH])
    return len(rows)


def _rejudge(engine: Engine, limits: QualitySettings) -> None:
    """Apply the current limits to the stored measurements (settings may have changed)."""
    stored = select(
        ImageQuality.image_id,
        ImageQuality.verdict,
        ImageQuality.reasons,
        ImageQuality.measurements,
        ImageQuality.excluded,
    )
    changes = []
    with engine.connect() as connection:
        for image_id, verdict, reasons, measurements, excluded in connection.execute(stored):
            try:
                judgement = judge(Measurements(**measurements), limits)
            except TypeError:  # measured by another version: left as it is
                continue
            new_reasons = ",".join(reason.value for reason in judgement.reasons)
            new_excluded = limits.exclude_failed and judgement.verdict is Verdict.FAIL
            if (verdict, reasons, bool(excluded)) != (judgement.verdict, new_reasons, new_excluded):
                changes.append(
                    {
                        "_id": image_id,
                        "verdict": judgement.verdict.value,
                        "reasons": new_reasons,
                        "excluded": new_excluded,
                    }
                )
    for start in range(0, len(changes), BATCH):
        with writer(engine).begin() as connection:
            connection.execute(
                update(QUALITY).where(QUALITY.c.image_id == bindparam("_id")),
                changes[start : start + BATCH],
            )
