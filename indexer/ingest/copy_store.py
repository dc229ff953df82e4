"""Copying a whole product store to another database (`facet migrate-store`).

Every row keeps its id: image ids are the keys of the vectors in the published index builds, so
the builds under FACET_HOME stay valid against the copy and nothing is re-embedded or
re-indexed. The copy is one transaction on the target: interrupted, it leaves the target empty.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, func, insert, select, text, update

from search.db import Base, writer
from search.errors import FacetError
from search.models import Counter

COUNTERS = cast(Table, Counter.__table__)
# Every table the models map, parents before children (foreign keys), so a table added later is
# copied too; the counters' rows exist already (the migrations create them) and are updated.
COPIED: tuple[Table, ...] = tuple(
    table for table in Base.metadata.sorted_tables if table is not COUNTERS
)


class TargetNotEmpty(FacetError):
    """The target database already holds a catalogue."""


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def copy_store(
    source: Engine,
    target: Engine,
    *,
    chunk_rows: int = 5000,
    on_table: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy every row of a migrated store into an empty, migrated one, ids included.

    Args:
        source: the store to copy (left unchanged).
        target: a store at the same schema revision, with no products, images, vectors or runs.
        chunk_rows: rows read and written at a time (memory stays at one chunk).
        on_table: called with each table's name and row count once it is copied.

    Raises:
        TargetNotEmpty: the target holds rows already; nothing was written.
    """
    report = CopyReport()
    started = time.perf_counter()
    with source.connect() as reading, writer(target).begin() as writing:
        for table in COPIED:
            if writing.execute(select(func.count()).select_from(table)).scalar_one():
                raise TargetNotEmpty(
                    f"the target database already has rows in {table.name}: "
                    "migrate-store only copies into an empty store"
                )
        for table in COPIED:
            report.rows[table.name] = _copy_table(reading, writing, table, chunk_rows)
            if on_table is not None:
                on_table(table.name, report.rows[table.name])
        for name, value in reading.execute(select(COUNTERS.c.name, COUNTERS.c.value)):
            writing.execute(update(COUNTERS).where(COUNTERS.c.name == name).values(value=value))
        if writing.dialect.name == "postgresql":
            _restart_sequences(writing)
    report.seconds = time.perf_counter() - started
    return report


def _copy_table(reading: Connection, writing: Connection, table: Table, chunk_rows: int) -> int:
    query = select(table).order_by(*table.primary_key.columns)
    rows = reading.execution_options(stream_results=True, yield_per=chunk_rows).execute(query)
    copied = 0
    for chunk in rows.partitions():
        values: list[dict[str, Any]] = [dict(row._mapping) for row in chunk]
        writing.execute(insert(table), values)
        copied += len(values)
    return copied


def _restart_sequences(writing: Connection) -> None:
    # Rows came with their ids, so the serial sequences still stand at 1: move each past the
    # largest id, or the next ingest's first insert would collide with a copied row.
    for table in COPIED:
        if "id" not in table.c:
            continue
        writing.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table.name}"
            )
        )
