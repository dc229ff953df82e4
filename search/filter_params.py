"""Metadata filters as users give them: one declaration for the CLI's options and the API's
query parameters, and their validation into `Filters`.

Kept free of SQLAlchemy, NumPy and FAISS so that the command line can declare its options
without loading them; `search.filters` turns `Filters` into SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from search.product import LABEL_FIELDS


@dataclass(frozen=True)
class Filters:
    """Conditions on the product; all given ones must hold. Text matches are exact."""

    category: str | None = None
    material: str | None = None
    style: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    in_stock: bool | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return self == Filters()


class InvalidFilter(ValueError):
    """A filter that cannot be applied (bad KEY=VALUE, empty price range)."""


@dataclass(frozen=True)
class FilterParameter:
    """One filter as a user gives it: `--name` on the command line, `?name=` over HTTP."""

    name: str
    kind: Any  # str, float, bool or list[str] (repeatable)
    help: str
    minimum: float | None = None
    # The CLI's option declaration when it is not just `--name` (dashes for underscores).
    cli_flag: str | None = None


FILTER_PARAMETERS: tuple[FilterParameter, ...] = (
    *(FilterParameter(name, str, f"Only this {name}.") for name in LABEL_FIELDS),
    FilterParameter("min_price", float, "Price at least this.", minimum=0),
    FilterParameter("max_price", float, "Price at most this.", minimum=0),
    FilterParameter(
        "in_stock",
        bool,
        "Only in-stock (true) or out-of-stock (false) products.",
        cli_flag="--in-stock/--out-of-stock",
    ),
    FilterParameter(
        "attr", list[str], "Attribute equality KEY=VALUE (repeatable).", cli_flag="--attr"
    ),
)
FILTER_NAMES = frozenset(parameter.name for parameter in FILTER_PARAMETERS)


def make_filters(
    *,
    category: str | None = None,
    material: str | None = None,
    style: str | None = None,
    min_price: float | None = None,
    max_price: float | None = None,
    in_stock: bool | None = None,
    attributes: list[str] | None = None,
) -> Filters:
    """Filters from user input; `attributes` are "KEY=VALUE" strings.

    Raises:
        InvalidFilter: an attribute without "=" or key, or min_price above max_price.
    """
    pairs: dict[str, str] = {}
    for item in attributes or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidFilter(f"attribute filter {item!r}: expected KEY=VALUE")
        pairs[key] = value
    if min_price is not None and max_price is not None and min_price > max_price:
        raise InvalidFilter(f"min_price {min_price} is above max_price {max_price}")
    return Filters(category, material, style, min_price, max_price, in_stock, pairs)


def filters_from(values: Mapping[str, Any]) -> Filters:
    """Filters from the values of `FILTER_PARAMETERS`, keyed by their names (None: not given).

    Raises:
        InvalidFilter: as `make_filters`.
    """
    given = {name: values.get(name) for name in FILTER_NAMES}
    attributes = given.pop("attr")
    return make_filters(attributes=attributes, **given)
