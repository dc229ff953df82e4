"""The API's JSON shapes."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from search.product import ProductFields


class ProductResult(BaseModel):
    sku: str
    title: str | None
    category: str | None
    price: float | None
    currency: str | None
    score: float
    image_id: int
    image_url: str


class Timings(BaseModel):
    """Milliseconds spent in each stage of the request."""

    decode_ms: float = 0.0
    embed_ms: float = 0.0
    search_ms: float = 0.0
    products_ms: float = 0.0


class SearchResponse(BaseModel):
    results: list[ProductResult]
    build_id: str
    timings: Timings
    # False: "no confident match": the best result scores under `confidence_threshold` (or
    # nothing passed `min_score`); the results are then the nearest products, not a match.
    confident: bool = True
    confidence_threshold: float = 0.0


class ImageQualityOut(BaseModel):
    """The photo quality check of an image (`facet quality`): its verdict and why."""

    verdict: str  # ok, warn or fail
    reasons: list[str]  # worst first; empty when ok
    excluded: bool  # kept out of the index (a fail while FACET_QUALITY__EXCLUDE_FAILED is on)


class ProductImageOut(BaseModel):
    image_id: int
    position: int
    status: str
    image_url: str
    # None: not checked yet (checks off, or not built since the image changed).
    quality: ImageQualityOut | None = None


@dataclass(frozen=True, kw_only=True)
class ProductOut(ProductFields):
    """A product: every field of `search.product.ProductFields`, and its images."""

    images: list[ProductImageOut] = field(default_factory=list)


class Ready(BaseModel):
    ready: bool
    backbone: str | None = None
    build_id: str | None = None
    products: int
    vectors: int


class LabelScore(BaseModel):
    label: str
    confidence: float


class Estimate(BaseModel):
    value: float  # in the field's units


class Classification(BaseModel):
    """Per field, labels with confidences summing to 1, most likely first; and a fine-tuned
    model's estimate of each numeric field it has a regression head for."""

    predictions: dict[str, list[LabelScore]]
    method: str
    neighbours: int
    build_id: str
    timings: Timings
    regression: dict[str, Estimate] = {}
