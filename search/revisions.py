"""The vector revision: a number every write of embeddings takes, in commit order.

Writers hold the write lock for their whole transaction (`search.db.writer`), so revisions
increase in the order transactions commit, and a reader that saw revision R has seen every vector
stamped R or lower. Index builds record the R they include; what changed since is then a range
query, never a comparison of wall-clock times.
"""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from search.models import Counter

VECTORS = "vectors"
# Taken by every admin write of a product: replicas watch it to read changed products again.
PRODUCTS = "products"


def next_vector_revision(connection: Connection) -> int:
    """Take the next revision, inside the caller's write transaction."""
    return _next(connection, VECTORS)


def next_product_revision(connection: Connection) -> int:
    """Take the next product revision, inside the caller's write transaction."""
    return _next(connection, PRODUCTS)


def product_revision(connection: Connection) -> int:
    """The newest product revision committed."""
    return int(
        connection.execute(select(Counter.value).where(Counter.name == PRODUCTS)).scalar_one()
    )


def _next(connection: Connection, name: str) -> int:
    statement = (
        update(Counter)
        .where(Counter.name == name)
        .values(value=Counter.value + 1)
        .returning(Counter.value)
    )
    return int(connection.execute(statement).scalar_one())


def vector_revision(connection: Connection) -> int:
    """The newest revision committed, as this connection's transaction sees it."""
    return int(
        connection.execute(select(Counter.value).where(Counter.name == VECTORS)).scalar_one()
    )
