"""Multi-row INSERTs handed straight to the database driver, for the ingest's hot path.

SQLite takes them as one `executemany`; PostgreSQL as one `COPY ... FROM STDIN`, its own bulk
loading path (several times faster than INSERTs, even pipelined ones).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert

from search.db import backend_name


class BulkInsert:
    """An INSERT of the given columns, run with `executemany` on plain tuples.

    SQLAlchemy's own executemany builds and type-processes a parameter dict for every row, which
    was half of a large ingest's time. The SQL here is still compiled by SQLAlchemy, and values
    that need conversion go through `to_db`, which uses the column's own bind processor, so what
    is stored is exactly what the ORM would have written.
    """

    def __init__(self, connection: Connection, table: Table, columns: Sequence[str]) -> None:
        self.connection = connection
        self.table = table
        self.copy = backend_name(str(connection.engine.url)) == "postgresql"
        if self.copy:
            preparer = connection.dialect.identifier_preparer
            names = ", ".join(preparer.quote(table.c[column].name) for column in columns)
            self.sql = f"COPY {preparer.format_table(table)} ({names}) FROM STDIN"
            return
        compiled = insert(table).compile(dialect=connection.dialect, column_keys=list(columns))
        if compiled.positiontup != list(columns):
            raise RuntimeError(f"driver does not take positional parameters: {compiled.string}")
        self.sql = compiled.string

    def to_db(self, column: str, value: Any) -> Any:
        """`value` converted the way SQLAlchemy converts it for `column` (e.g. JSON, datetime)."""
        processor = self.processor(column)
        return processor(value) if processor is not None else value

    def processor(self, column: str) -> Callable[[Any], Any] | None:
        """The bind processor of `column`'s type as implemented by this dialect, if it has one."""
        dialect = self.connection.dialect
        return self.table.c[column].type.dialect_impl(dialect).bind_processor(dialect)

    def execute(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if not self.copy:
            self.connection.exec_driver_sql(self.sql, list(rows))
            return
        cursor = self.connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(self.sql) as copy:
            for row in rows:
                copy.write_row(row)
