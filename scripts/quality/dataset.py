"""The Grocery Store Dataset as Facet files: catalogue dumps, query and photo CSVs."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Files:
    catalogue: Path  # 81 products, one packshot each (sku = fine class, category = coarse)
    multi: Path  # the same products with 3 training photos each as extra catalogue images
    queries: Path  # the test split: image, sku
    train: Path  # the train split: image, sku (fine-tuning photos; query photos for centring)
    category: dict[str, str]  # sku -> coarse class
    test: list[tuple[Path, str]]


def split(
    dataset: Path, name: str, skus: dict[int, str], limit: int | None
) -> list[tuple[Path, str]]:
    rows = []
    with (dataset / f"{name}.txt").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                path, fine, _ = (part.strip() for part in line.split(","))
                rows.append((dataset / path, skus[int(fine)]))
    if limit:
        rows = rows[:: max(1, len(rows) // limit)]
    return rows


def write_pairs(path: Path, rows: list[tuple[Path, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "sku"])
        writer.writerows((str(image), sku) for image, sku in rows)
    return path


def write_files(dataset: Path, folder: Path, limit: int | None, extra_images: int = 3) -> Files:
    with (dataset / "classes.csv").open(encoding="utf-8") as handle:
        classes = list(csv.DictReader(handle))
    skus = {int(c["Class ID (int)"]): c["Class Name (str)"] for c in classes}
    category = {c["Class Name (str)"]: c["Coarse Class Name (str)"] for c in classes}
    test = split(dataset, "test", skus, limit)
    train = split(dataset, "train", skus, limit)
    photos: dict[str, list[Path]] = {}
    for path, sku in train:
        photos.setdefault(sku, []).append(path)
    dumps = {}
    for name, extra in (("catalog.csv", 0), ("multi.csv", extra_images)):
        dumps[name] = folder / name
        with dumps[name].open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["sku", "title", "category", "images"])
            for c in classes:
                sku = c["Class Name (str)"]
                packshot = dataset / c["Iconic Image Path (str)"].lstrip("/")
                images = [packshot, *photos.get(sku, [])[:extra]]
                writer.writerow([sku, sku, category[sku], "|".join(str(i) for i in images)])
    return Files(
        catalogue=dumps["catalog.csv"],
        multi=dumps["multi.csv"],
        queries=write_pairs(folder / "test.csv", test),
        train=write_pairs(folder / "train.csv", train),
        category=category,
        test=test,
    )
