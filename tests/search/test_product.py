"""The product definition: the field lists and the fingerprint every writer shares."""

from __future__ import annotations

from search.models import Product
from search.product import LABEL_FIELDS, PRODUCT_FIELDS, ProductFields, product_fingerprint


def test_every_product_field_is_a_stored_column() -> None:
    columns = set(Product.__table__.columns.keys())
    assert set(PRODUCT_FIELDS) <= columns
    assert set(LABEL_FIELDS) <= set(PRODUCT_FIELDS)


def test_the_fingerprint_is_the_one_earlier_versions_stored() -> None:
    # Computed by the version before the product was defined once: re-ingesting an unchanged
    # catalogue must still find every product unchanged.
    product = ProductFields(
        sku="R1",
        title="Ring",
        category="ring",
        material="gold",
        price=120.5,
        currency="EUR",
        in_stock=True,
        attributes={"stone": "ruby"},
    )
    fingerprint = product_fingerprint(product, ["file:///a.jpg"])
    assert fingerprint == "f329598033fa774c6408e6a69b74652faee89f91"
    assert product_fingerprint(product, ["file:///b.jpg"]) != fingerprint
