"""What `facet train` learns from: catalogue images labelled by their product, plus extra photos."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from search.errors import FacetError
from search.files import file_path, is_url
from search.models import ImageStatus, Product, ProductImage

# Product columns that name classes, and the labels a product's own columns give (the price is
# a number: it trains a regression head). Any other label is an attribute.
CLASS_COLUMNS = ("sku", "category", "material", "style")
PRODUCT_LABELS = (*CLASS_COLUMNS, "price")


class TrainingDataError(FacetError):
    """The labels or photos cannot train a model."""


@dataclass(frozen=True)
class Example:
    path: Path
    # label field -> class, or a number for a numeric field (see `targets.as_numbers`); a field
    # may be missing
    labels: dict[str, str | float]
    catalogue: bool = False  # a catalogue image (not an extra photo)


def product_labels(engine: Engine, fields: list[str]) -> dict[str, dict[str, str | float]]:
    """SKU -> {field: value as text} for active products, fields: sku, category, material,
    style, price or an attribute."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                Product.sku,
                Product.category,
                Product.material,
                Product.style,
                Product.price,
                Product.attributes,
            ).where(Product.deleted_at.is_(None))
        ).all()
    labels: dict[str, dict[str, str | float]] = {}
    for sku, category, material, style, price, attributes in rows:
        known: dict[str, Any] = {"sku": sku, "category": category, "material": material}
        known.update(style=style, price=price)
        values: dict[str, str | float] = {}
        for name in fields:
            value = known[name] if name in PRODUCT_LABELS else (attributes or {}).get(name)
            if value not in (None, ""):
                values[name] = str(value)
        labels[sku] = values
    return labels


def collect_examples(engine: Engine, fields: list[str], extra: Path | None) -> list[Example]:
    """Catalogue images (embedded ones, of active products, local files) and extra photos.

    `extra` is a CSV with `image` (relative to it) and `sku` (all labels of that product) or
    `label` (the first field's class).

    Raises:
        TrainingDataError: unknown fields, unusable extra CSV, no examples.
    """
    labels = product_labels(engine, fields)
    unknown = [name for name in fields if not any(name in v for v in labels.values())]
    if unknown:
        raise TrainingDataError(f"no active product has a value for {', '.join(unknown)}")
    with engine.connect() as connection:
        images = connection.execute(
            select(Product.sku, ProductImage.uri)
            .join(ProductImage, ProductImage.product_id == Product.id)
            .where(Product.deleted_at.is_(None), ProductImage.status == ImageStatus.READY)
        ).all()
    examples = [
        Example(file_path(uri), labels[sku], catalogue=True)
        for sku, uri in images
        if not is_url(uri) and labels.get(sku)
    ]
    if extra is not None:
        examples += _extra_examples(extra, fields, labels)
    if not examples:
        raise TrainingDataError("no labelled images: ingest and `facet build` first")
    return examples


def _extra_examples(
    path: Path, fields: list[str], labels: dict[str, dict[str, str | float]]
) -> list[Example]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or [])
            rows = list(reader)
    except OSError as error:
        raise TrainingDataError(f"{path}: cannot read: {error.strerror}") from None
    if "image" not in columns or not ({"sku", "label"} & columns):
        raise TrainingDataError(f"{path}: needs the columns image and sku (or label)")
    examples = []
    for line, row in enumerate(rows, start=2):
        image = (path.parent / row["image"].strip()).resolve()
        if not image.is_file():
            raise TrainingDataError(f"{path} line {line}: no image file {row['image']}")
        sku = (row.get("sku") or "").strip()
        if sku:
            if sku not in labels:
                raise TrainingDataError(f"{path} line {line}: unknown sku {sku!r}")
            examples.append(Example(image, labels[sku]))
        elif (row.get("label") or "").strip():
            examples.append(Example(image, {fields[0]: row["label"].strip()}))
    return examples


def vocabularies(
    examples: list[Example], fields: list[str], *, min_images: int
) -> dict[str, list[str]]:
    """The classes of each classified field, checked: at least 2 classes, each with `min_images`
    images.

    Raises:
        TrainingDataError: a field with fewer than 2 classes, or classes with too few images
            (all of them are listed).
    """
    result = {}
    for name in fields:
        counts = Counter(str(e.labels[name]) for e in examples if name in e.labels)
        if len(counts) < 2:
            raise TrainingDataError(f"label {name!r} has {len(counts)} class(es); 2 are needed")
        scarce = sorted(c for c, n in counts.items() if n < min_images)
        if scarce:
            listed = ", ".join(repr(c) for c in scarce[:10])
            more = f" and {len(scarce) - 10} more" if len(scarce) > 10 else ""
            raise TrainingDataError(
                f"label {name!r}: {len(scarce)} class(es) with fewer than {min_images} images: "
                f"{listed}{more} (add photos with --extra-photos)"
            )
        result[name] = sorted(counts)
    return result
