"""The product, defined once: the fields a catalogue describes, and what derives from them.

The ingest rows, the bulk insert's columns, the fingerprint, the single-product writes, the API's
shapes and the filters all take their field lists from here, so a new field is added in one place
(plus its column in `search.models` and a migration).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True, kw_only=True)
class ProductFields:
    """What a catalogue says about one product (its images aside)."""

    sku: str
    title: str | None = None
    description: str | None = None
    category: str | None = None
    material: str | None = None
    style: str | None = None
    price: float | None = None
    currency: str | None = None  # ISO 4217, upper case
    in_stock: bool | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def values(self) -> dict[str, Any]:
        """Every field by name (`attributes` copied), in declaration order."""
        return {
            name: dict(self.attributes) if name == "attributes" else getattr(self, name)
            for name in PRODUCT_FIELDS
        }


# Every field, in order: the columns a product row stores from its catalogue entry.
PRODUCT_FIELDS: tuple[str, ...] = tuple(item.name for item in fields(ProductFields))
# Free text: trimmed, empty means none.
TEXT_FIELDS = ("title", "description", "category", "material", "style")
# Labels: filtered by exact match, offered as facets, predicted by /v1/classify.
LABEL_FIELDS = ("category", "material", "style")


def product_fingerprint(product: ProductFields, images: Sequence[str]) -> str:
    """A hash of everything a catalogue entry says: equal fingerprints mean an unchanged product.

    The payload keeps the order it has always had (the fields, then the images, then the
    attributes), so fingerprints stored by earlier versions still match.
    """
    values = product.values()
    attributes = values.pop("attributes")
    payload = [*values.values(), tuple(images), attributes]
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()
