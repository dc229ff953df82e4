"""Database plumbing: the declarative base, and engines configured the way SQLite needs."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase

# Named constraints let Alembic's batch mode find and alter them on SQLite.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """The current time as naive UTC, which is how every timestamp is stored."""
    return datetime.now(UTC).replace(tzinfo=None)


WRITER_OPTION = "facet_writer"


def make_engine(url: str, *, busy_timeout_ms: int = 30_000) -> Engine:
    """Create an engine; for SQLite, in WAL mode with foreign keys enforced.

    Args:
        url: SQLAlchemy database URL. The folder of a SQLite file is created if missing.
        busy_timeout_ms: how long a SQLite writer waits for another one before failing.

    Returns:
        The engine. For SQLite, transactions begin explicitly (`BEGIN`) rather than through
        pysqlite's implicit handling, so DDL and reads are transactional too.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Autocommit at the driver level; SQLAlchemy's "begin" hook below opens transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # NORMAL is durable across application crashes in WAL mode and much faster than FULL.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # A writer takes the write lock up front and so waits (busy_timeout) for another writer;
        # a deferred transaction that reads first and writes later fails at once instead.
        immediate = connection.get_execution_options().get(WRITER_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def writer(engine: Engine) -> Engine:
    """The same engine (same pool), whose transactions begin with SQLite's write lock taken.

    Every transaction that writes goes through it, so concurrent writers queue (for up to the
    engine's busy timeout) instead of failing half-way with "database is locked".
    """
    return engine.execution_options(**{WRITER_OPTION: True})
