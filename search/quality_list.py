"""Reading photo quality verdicts back: the worst images by reason, and one product's."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from search.models import ImageQuality, ImageStatus, Product, ProductImage
from search.photo_quality import Reason

# How to rank the images of each reason, worst first: (measurement, larger is worse).
WORST_FIRST: dict[Reason, tuple[str, bool]] = {
    Reason.BLANK: ("contrast", False),
    Reason.BLURRED: ("sharpness", False),
    Reason.SMALL: ("shorter_side", False),
    Reason.OVEREXPOSED: ("colour_clipped", True),
    Reason.UNDEREXPOSED: ("highlights", False),
    Reason.LOW_CONTRAST: ("contrast", False),
    Reason.ASPECT: ("aspect", True),
}


@dataclass(frozen=True)
class Flagged:
    """An image whose verdict is not `ok`."""

    image_id: int
    sku: str
    title: str | None
    uri: str
    verdict: str
    reasons: list[str]
    measurements: dict[str, Any]
    excluded: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def flagged_images(engine: Engine) -> list[Flagged]:
    """Every `warn` or `fail` image of an active product, failures first."""
    query = (
        select(
            ProductImage.id,
            Product.sku,
            Product.title,
            ProductImage.uri,
            ImageQuality.verdict,
            ImageQuality.reasons,
            ImageQuality.measurements,
            ImageQuality.excluded,
        )
        .join(ProductImage, ProductImage.id == ImageQuality.image_id)
        .join(Product, Product.id == ProductImage.product_id)
        .where(ProductImage.status == ImageStatus.READY, Product.deleted_at.is_(None))
        .where(ImageQuality.verdict != "ok")
        .order_by(ImageQuality.verdict, ProductImage.id)  # "fail" sorts before "warn"
    )
    with engine.connect() as connection:
        return [
            Flagged(row[0], row[1], row[2], row[3], row[4], row[5].split(","), row[6], row[7])
            for row in connection.execute(query)
        ]


def worst_by_reason(flagged: Iterable[Flagged], limit: int) -> dict[str, list[Flagged]]:
    """For each reason, in `Reason` order, its `limit` worst images."""
    grouped: dict[str, list[Flagged]] = {}
    items = list(flagged)
    for reason, (measurement, larger_is_worse) in WORST_FIRST.items():
        members = [item for item in items if reason.value in item.reasons]
        if members:
            members.sort(
                key=lambda item: float(item.measurements.get(measurement, 0.0)),
                reverse=larger_is_worse,
            )
            grouped[reason.value] = members[:limit]
    return grouped


def image_quality(session: Session, image_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The verdict, reasons and whether it is kept out of the index, of these images (those
    checked), by id."""
    if not image_ids:
        return {}
    query = select(
        ImageQuality.image_id, ImageQuality.verdict, ImageQuality.reasons, ImageQuality.excluded
    ).where(ImageQuality.image_id.in_(image_ids))
    return {
        image_id: {
            "verdict": verdict,
            "reasons": reasons.split(",") if reasons else [],
            "excluded": bool(excluded),
        }
        for image_id, verdict, reasons, excluded in session.execute(query)
    }


def quality_counts(engine: Engine) -> dict[str, int]:
    """Checked images of active products by verdict, and how many are kept out of the index."""
    counts = {"ok": 0, "warn": 0, "fail": 0, "excluded": 0}
    query = (
        select(ImageQuality.verdict, ImageQuality.excluded, func.count())
        .join(ProductImage, ProductImage.id == ImageQuality.image_id)
        .join(Product, Product.id == ProductImage.product_id)
        .where(ProductImage.status == ImageStatus.READY, Product.deleted_at.is_(None))
        .group_by(ImageQuality.verdict, ImageQuality.excluded)
    )
    with engine.connect() as connection:
        for verdict, excluded, count in connection.execute(query):
            counts[verdict] = counts.get(verdict, 0) + count
            counts["excluded"] += count if excluded else 0
    return counts
