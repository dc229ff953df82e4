"""`Filters` as a Milvus boolean expression, so that filtered searches run inside Milvus.

The same conditions as `search.filters` applies in SQL: exact text matches, an inclusive price
range, the stock flag (a product with no stock information matches neither true nor false), and
attribute equality on the values' text (`search.milvus_fields` stores attributes as text, as
`search.json_text` compares them).
"""

from __future__ import annotations

from search.filter_params import Filters
from search.product import LABEL_FIELDS


def quoted(text: str) -> str:
    """A Milvus string literal: backslashes and double quotes escaped, the rest verbatim."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def milvus_filter(filters: Filters) -> str:
    """The expression keeping the images whose product matches `filters` ("" for none)."""
    terms: list[str] = []
    for name in LABEL_FIELDS:
        value = getattr(filters, name)
        if value is not None:
            terms.append(f"{name} == {quoted(value)}")
    if filters.min_price is not None:
        terms.append(f"price >= {float(filters.min_price)!r}")
    if filters.max_price is not None:
        terms.append(f"price <= {float(filters.max_price)!r}")
    if filters.in_stock is not None:
        terms.append(f"in_stock == {'true' if filters.in_stock else 'false'}")
    for key, value in filters.attributes.items():
        terms.append(f"attributes[{quoted(key)}] == {quoted(value)}")
    return " and ".join(terms)
