"""Keyword search over the catalogue's own words, with the database's full-text engine.

SQLite: the FTS5 index of migration 0006, ranked by BM25. PostgreSQL: the `search_document`
tsvector column, ranked by `ts_rank_cd` (cover density; PostgreSQL has no BM25). Both stem
English words, so "rings" finds "ring". A query's words are OR-ed: products with more of them,
and rarer ones, rank first. Results are products with a searchable image, like image search's.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Engine, column, func, literal_column, select, table

from search.errors import FacetError
from search.filter_params import Filters
from search.filters import apply_filters
from search.models import ImageStatus, Product, ProductImage
from search.searcher import ProductHit

MAX_TERMS = 32
WORD = re.compile(r"\w+", re.UNICODE)


class BadTextQuery(FacetError):
    """A text query with no word to search for."""


def terms_of(query: str) -> list[str]:
    """The query's words, lower-cased, in order, each once (at most MAX_TERMS).

    Raises:
        BadTextQuery: no word at all (only punctuation or spaces).
    """
    words = list(dict.fromkeys(word.lower() for word in WORD.findall(query)))[:MAX_TERMS]
    if not words:
        raise BadTextQuery(f"text query {query!r} has no word to search for")
    return words


def keyword_search(
    engine: Engine, query: str, *, k: int = 10, filters: Filters | None = None
) -> list[ProductHit]:
    """The k products whose words best match `query`, best first; `score` is the relevance
    (BM25 on SQLite, cover density on PostgreSQL: comparable within one answer only)."""
    terms = terms_of(query)
    statement = _matching(engine, terms)
    statement = statement.where(
        Product.deleted_at.is_(None),
        Product.id.in_(
            select(ProductImage.product_id).where(ProductImage.status == ImageStatus.READY)
        ),
    )
    if filters is not None:
        statement = apply_filters(statement, filters)
    statement = statement.order_by(literal_column("relevance").desc(), Product.id).limit(k)
    with engine.connect() as connection:
        ranked = [(int(pid), float(score)) for pid, score in connection.execute(statement)]
    return _hits(engine, ranked)


def _matching(engine: Engine, terms: list[str]) -> Any:
    if engine.dialect.name == "sqlite":
        # Every word a quoted FTS5 string: no query syntax from the user reaches MATCH.
        match = " OR ".join(f'"{term}"' for term in terms)
        fts = table("products_fts", column("rowid"))
        bm25: ColumnElement[float] = literal_column("-bm25(products_fts)")
        return (
            select(Product.id, bm25.label("relevance"))
            .select_from(Product)
            .join(fts, fts.c.rowid == Product.id)
            .where(literal_column("products_fts").op("MATCH")(match))
        )
    # \w+ words only: no tsquery operators from the user reach to_tsquery.
    query = func.to_tsquery("english", " | ".join(terms))
    document: ColumnElement[Any] = literal_column("products.search_document")
    rank: ColumnElement[float] = func.ts_rank_cd(document, query)
    return select(Product.id, rank.label("relevance")).where(document.op("@@")(query))


def _hits(engine: Engine, ranked: list[tuple[int, float]]) -> list[ProductHit]:
    """Product hits in `ranked` order, each shown by its first searchable image."""
    if not ranked:
        return []
    fields = (Product.sku, Product.title, Product.category, Product.material, Product.style)
    query = (
        select(
            Product.id,
            *fields,
            Product.price,
            Product.currency,
            ProductImage.id,
            ProductImage.content_hash,
        )  # fmt: skip
        .join(ProductImage, ProductImage.product_id == Product.id)
        .where(
            Product.id.in_([product_id for product_id, _ in ranked]),
            ProductImage.status == ImageStatus.READY,
        )
        .order_by(Product.id, ProductImage.position)
    )
    first: dict[int, Any] = {}
    with engine.connect() as connection:
        for row in connection.execute(query):
            first.setdefault(row[0], row)
    hits = []
    for product_id, score in ranked:
        _, sku, title, category, material, style, price, currency, image_id, image_hash = first[
            product_id
        ]
        hits.append(
            ProductHit(
                product_id,
                sku,
                title,
                category,
                material,
                style,
                price,
                currency,
                score,
                image_id,
                image_hash,
            )  # fmt: skip
        )
    return hits
