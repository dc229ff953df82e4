"""`facet evaluate`: how well photos find their product (or label) in an index build."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from indexer.evaluation.metrics import (
    ClassScores,
    average_precision_at,
    class_scores,
    confusion_counts,
    first_relevant_rank,
    hit_at,
    macro_average,
    reciprocal_rank,
)
from indexer.evaluation.queries import EvaluationError, Query
from search.json_text import json_text
from search.models import Product
from search.serving import Snapshot

PRODUCT_FIELDS = ("category", "material", "style")
# The predicted class of a query without results, or whose top product has no such label.
NO_PREDICTION = "(none)"


@dataclass
class QueryOutcome:
    image: str
    expected: str
    rank: int | None  # of the first relevant result, 1-based; None if not in the results
    results: list[dict[str, Any]]  # sku, label, score, image_id, relevant
    seconds: float
    # The top result's label (its SKU in SKU mode): the class the query was given.
    predicted: str


@dataclass
class EvaluationReport:
    queries: int
    k: int
    mode: str  # "sku" or "label:<field>"
    exact: bool
    build_id: str
    backbone: str
    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    map_at_10: float
    mrr: float
    label_accuracy: float | None
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    # The top result read as a classification (the SKU's in SKU mode): means over the classes
    # that have queries; per class by name; true class -> predicted class -> queries.
    macro_precision: float
    macro_recall: float
    macro_f1: float
    per_class: dict[str, ClassScores] = field(default_factory=dict)
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    outcomes: list[QueryOutcome] = field(default_factory=list)

    def details(self) -> dict[str, Any]:
        """Every figure, per class and confusion counts included (report.json's summary)."""
        data = asdict(self)
        data.pop("outcomes")
        return data

    def summary(self) -> dict[str, Any]:
        """What `--json` prints: in SKU mode without the per-SKU figures (one class per
        product is too many for one line; report.json has them)."""
        data = self.details()
        if self.mode == "sku":
            data.pop("per_class")
            data.pop("confusion")
        return data


def evaluate(
    engine: Engine,
    build: Snapshot,
    queries: list[Query],
    *,
    k: int = 10,
    label_field: str | None = None,
    exact: bool = False,
    max_pixels: int = 50_000_000,
) -> EvaluationReport:
    """Search every query in one build (embedded by its own backbone) and score the rankings.

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
    nprobe = build.searcher.index.nlist if exact else None
    outcomes = []
    for query in queries:
        started = time.perf_counter()
        vector = build.embedder.embed_files([query.image], max_pixels=max_pixels)[0]
        hits = build.searcher.search(vector, k=depth, nprobe=nprobe)
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
        top_label = results[0]["label"] if results else None
        outcomes.append(
            QueryOutcome(
                image=str(query.image),
                expected=query.expected,
                rank=first_relevant_rank(relevant),
                results=results,
                seconds=seconds,
                predicted=NO_PREDICTION if top_label is None else str(top_label),
            )
        )
    return _score(
        outcomes,
        totals,
        k=k,
        label_field=label_field,
        exact=exact,
        build_id=build.manifest.build_id,
        backbone=build.manifest.backbone,
    )


def _score(
    outcomes: list[QueryOutcome],
    totals: dict[str, int],
    *,
    k: int,
    label_field: str | None,
    exact: bool,
    build_id: str,
    backbone: str,
) -> EvaluationReport:
    relevance = [[bool(r["relevant"]) for r in o.results] for o in outcomes]
    total_relevant = [1 if label_field is None else totals.get(o.expected, 0) for o in outcomes]
    latencies = np.array([o.seconds for o in outcomes]) * 1000
    label_accuracy = None
    if label_field is not None:
        label_accuracy = float(np.mean([bool(r and r[0]) for r in relevance]))
    truth = [o.expected for o in outcomes]
    predicted = [o.predicted for o in outcomes]
    per_class = {
        name: scores
        for name, scores in class_scores(truth, predicted).items()
        if name != NO_PREDICTION  # not a class: no result, or an unlabelled product
    }
    macro = _rounded(macro_average(per_class))
    return EvaluationReport(
        queries=len(outcomes),
        k=k,
        mode="sku" if label_field is None else f"label:{label_field}",
        exact=exact,
        build_id=build_id,
        backbone=backbone,
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
        macro_precision=macro.precision,
        macro_recall=macro.recall,
        macro_f1=macro.f1,
        per_class={name: _rounded(scores) for name, scores in per_class.items()},
        confusion=confusion_counts(truth, predicted),
        outcomes=outcomes,
    )


def _rounded(scores: ClassScores) -> ClassScores:
    return ClassScores(
        round(scores.precision, 4), round(scores.recall, 4), round(scores.f1, 4), scores.support
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
        column = json_text(Product.attributes, label_field)
    query = select(Product.sku, column).where(Product.deleted_at.is_(None), column.is_not(None))
    with engine.connect() as connection:
        labels = {sku: str(value) for sku, value in connection.execute(query)}
    if label_field is not None and not labels:
        raise EvaluationError(f"no active product has a {label_field!r}: unknown label field?")
    return labels
