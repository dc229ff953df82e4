"""The queries file of `facet evaluate`: photos and the product (or label) each should find."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from search.errors import FacetError


class EvaluationError(FacetError):
    """The queries file cannot be used."""


@dataclass(frozen=True)
class Query:
    line: int
    image: Path
    expected: str  # a SKU, or a label of --label-field


def read_queries(path: Path, label_field: str | None) -> list[Query]:
    """Queries from a CSV with `image` (relative to the CSV) and `sku` or `label`.

    Raises:
        EvaluationError: missing file or column, empty file, a missing image.
    """
    column = "label" if label_field else "sku"
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip().lower() for name in reader.fieldnames or []]
            if "image" not in header or column not in header:
                raise EvaluationError(f"{path}: needs the columns image and {column}")
            rows = [
                {k.strip().lower(): (v or "").strip() for k, v in row.items()} for row in reader
            ]
    except OSError as error:
        raise EvaluationError(f"{path}: cannot read queries: {error.strerror}") from None
    queries = []
    for line, row in enumerate(rows, start=2):
        if not row["image"] or not row[column]:
            raise EvaluationError(f"{path} line {line}: empty image or {column}")
        image = (path.parent / row["image"]).resolve()
        if not image.is_file():
            raise EvaluationError(f"{path} line {line}: no image file {row['image']}")
        queries.append(Query(line, image, row[column]))
    if not queries:
        raise EvaluationError(f"{path}: no queries")
    return queries
