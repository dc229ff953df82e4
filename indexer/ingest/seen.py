"""The SKUs an ingest has met so far, in a temporary table of its connection.

A table rather than a Python set, so memory stays flat however large the dump; it also finds
repeated SKUs and the products a `--full` dump omits.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Column, Connection, Integer, MetaData, Select, Table, Text, select

from indexer.ingest.bulk import BulkInsert

# Keyed by line, which is unique and increasing, so one batch's SKUs are a range scan (SQLite's
# rowid); without that, every batch scanned the whole table, quadratic in the dump's length.
SEEN = Table(
    "_ingest_seen",
    MetaData(),
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("sku", Text, nullable=False, unique=True),
    prefixes=["TEMPORARY"],
)


class SeenSkus:
    """The seen-SKU table of one connection: created empty, dropped by `drop`."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        # Temporary tables belong to the connection: a pooled one may still have it from a run
        # that died before its cleanup.
        SEEN.drop(connection, checkfirst=True)
        SEEN.create(connection)
        connection.commit()
        self.insert = BulkInsert(connection, SEEN, ("line", "sku"))

    def first_lines(self, skus: set[str]) -> dict[str, int]:
        """The dump line each of these SKUs was first seen on, for those seen before."""
        if not skus:
            return {}
        query = select(SEEN.c.sku, SEEN.c.line).where(SEEN.c.sku.in_(list(skus)))
        return {sku: line for sku, line in self.connection.execute(query)}

    def add(self, seen: Iterable[tuple[str, int]]) -> None:
        """Record (sku, line) pairs."""
        self.insert.execute([(line, sku) for sku, line in seen])

    @staticmethod
    def lines(first: int, last: int) -> Select[str]:
        """The SKUs first seen on these dump lines (one batch's), as a subquery.

        Joining on it instead of `sku IN (...)` spares compiling, sending and parsing a
        parameter per row (a third of a PostgreSQL ingest's time).
        """
        return select(SEEN.c.sku).where(SEEN.c.line.between(first, last))

    @staticmethod
    def skus() -> Select[str]:
        """Every seen SKU, as a subquery."""
        return select(SEEN.c.sku)

    def drop(self) -> None:
        SEEN.drop(self.connection, checkfirst=True)
        self.connection.commit()
