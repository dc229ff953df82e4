"""Filters from user input: the one parser the CLI and the API share."""

from __future__ import annotations

import pytest

from search.filter_params import Filters, InvalidFilter, make_filters


def test_filters_from_input() -> None:
    filters = make_filters(category="ring", min_price=10, attributes=["stone=ruby", "size=52"])
    assert filters == Filters(
        category="ring", min_price=10, attributes={"stone": "ruby", "size": "52"}
    )
    assert make_filters().is_empty() and not filters.is_empty()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"attributes": ["stone"]}, "expected KEY=VALUE"),
        ({"attributes": ["=ruby"]}, "expected KEY=VALUE"),
        ({"min_price": 20.0, "max_price": 10.0}, "min_price 20.0 is above max_price 10.0"),
    ],
)
def test_bad_filters_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidFilter, match=message):
        make_filters(**options)  # type: ignore[arg-type]
