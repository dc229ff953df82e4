"""`facet evaluate`: how well photos find their product (or label) in the current index."""

from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, String, cast, func, select

from indexer.evaluation.metrics import (
    average_precision_at,
    first_relevant_rank,
    hit_at,
    reciprocal_rank,
)
from search.embed import Embedder
from search.errors import FacetError
from search.models import Product
from search.searcher import Searcher

PRODUCT_FIELDS = ("category", "material", "style")


class EvaluationError(FacetError):
    """The queries file cannot be used."""


@dataclass(frozen=True)
class Query:
    line: int
    image: Path
    expected: str  # a SKU, or a label of --label-field


@dataclass
class QueryOutcome:
    image: str
    expected: str
    rank: int | None  # of the first relevant result, 1-based; None if not in the results
    results: list[dict[str, Any]]  # sku, label, score, image_id, relevant
    seconds: float


@dataclass
class EvaluationReport:
    queries: int
    k: int
    mode: str  # "sku" or "label:<field>"
    exact: bool
    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    map_at_10: float
    mrr: float
    label_accuracy: float | None
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    outcomes: list[QueryOutcome] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("outcomes")
        return data


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


def evaluate(
    engine: Engine,
    searcher: Searcher,
    embedder: Embedder,
    queries: list[Query],
    *,
    k: int = 10,
    label_field: str | None = None,
    exact: bool = False,
    max_pixels: int = 50_000_000,
) -> EvaluationReport:
    """Search every query and score the rankings.

    In SKU mode a result is relevant when it is the expected product; in label mode when its
    `label_field` (category, material, style or an attribute) equals the query's label.

    Raises:
        EvaluationError: an unknown SKU or label field.
    """
    depth = max(k, 10)
    labels = _catalog_labels(engine, label_field)
    if label_field is None:
        unknown = sorted({q.expected for q in queries} - set(labels))
        if unknown:
            raise EvaluationError(f"{len(unknown)} unknown sku(s), e.g. {unknown[:3]}")
    totals: dict[str, int] = {}
    for value in labels.values():
        totals[value] = totals.get(value, 0) + 1
    nprobe = searcher.index.nlist if exact else None
    outcomes = []
    for query in queries:
        started = time.perf_counter()
        vector = embedder.embed_files([query.image], max_pixels=max_pixels)[0]
        hits = searcher.search(vector, k=depth, nprobe=nprobe)
        seconds = time.perf_counter() - started
        results: list[dict[str, Any]] = []
        for hit in hits:
            label = hit.sku if label_field is None else labels.get(hit.sku)
            results.append(
                {
                    "sku": hit.sku,
                    "label": label,
                    "score": round(hit.score, 6),
                    "image_id": hit.image_id,
                    "relevant": label == query.expected,
                }
            )
        relevant = [bool(r["relevant"]) for r in results]
        outcomes.append(
            QueryOutcome(
                str(query.image), query.expected, first_relevant_rank(relevant), results, seconds
            )
        )
    return _score(outcomes, totals, k=k, label_field=label_field, exact=exact)


def _score(
    outcomes: list[QueryOutcome],
    totals: dict[str, int],
    *,
    k: int,
    label_field: str | None,
    exact: bool,
) -> EvaluationReport:
    relevance = [[bool(r["relevant"]) for r in o.results] for o in outcomes]
    total_relevant = [1 if label_field is None else totals.get(o.expected, 0) for o in outcomes]
    latencies = np.array([o.seconds for o in outcomes]) * 1000
    label_accuracy = None
    if label_field is not None:
        label_accuracy = float(np.mean([bool(r and r[0]) for r in relevance]))
    return EvaluationReport(
        queries=len(outcomes),
        k=k,
        mode="sku" if label_field is None else f"label:{label_field}",
        exact=exact,
        recall_at_1=_mean(hit_at(r, 1) for r in relevance),
        recall_at_5=_mean(hit_at(r, 5) for r in relevance),
        recall_at_10=_mean(hit_at(r, 10) for r in relevance),
        map_at_10=_mean(
            average_precision_at(r, 10, n) for r, n in zip(relevance, total_relevant, strict=True)
        ),
        mrr=_mean(reciprocal_rank(r) for r in relevance),
        label_accuracy=None if label_accuracy is None else round(label_accuracy, 4),
        latency_p50_ms=round(float(np.percentile(latencies, 50)), 2),
        latency_p95_ms=round(float(np.percentile(latencies, 95)), 2),
        latency_p99_ms=round(float(np.percentile(latencies, 99)), 2),
        outcomes=outcomes,
    )


def _mean(values: Any) -> float:
    items = list(values)
    return round(float(np.mean(items)), 4) if items else 0.0


def _catalog_labels(engine: Engine, label_field: str | None) -> dict[str, str]:
    """SKU -> the value that decides relevance, for every active product that has one."""
    if label_field is None:
        column: Any = Product.sku
    elif label_field in PRODUCT_FIELDS:
        column = getattr(Product, label_field)
    else:
        path = '$."' + label_field.replace('"', '\\"') + '"'
        column = cast(func.json_extract(Product.attributes, path), String)
    query = select(Product.sku, column).where(Product.deleted_at.is_(None), column.is_not(None))
    with engine.connect() as connection:
        labels = {sku: str(value) for sku, value in connection.execute(query)}
    if label_field is not None and not labels:
        raise EvaluationError(f"no active product has a {label_field!r}: unknown label field?")
    return labels
