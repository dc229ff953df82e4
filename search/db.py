"""Database plumbing: the declarative base, and engines configured for SQLite or PostgreSQL.

Facet's writers are serialised, whatever the database: vector revisions, ingest's SKU checks
and index publishing all assume that one write transaction runs at a time. SQLite gets that from
`BEGIN IMMEDIATE`; PostgreSQL from a transaction-level advisory lock taken as the writer's
transaction begins. Readers never wait for writers on either.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
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
# The advisory lock every PostgreSQL writer holds for its transaction (any fixed 64-bit key;
# this one spells "facet" in ASCII).
WRITER_LOCK_KEY = 0x6661636574
SUPPORTED_BACKENDS = ("sqlite", "postgresql")


class UnsupportedDatabase(ValueError):
    """The URL names a database Facet does not support."""


def backend_name(url: str) -> str:
    """`sqlite` or `postgresql` for a supported SQLAlchemy URL.

    Raises:
        UnsupportedDatabase: another database, or not a URL.
    """
    try:
        name = make_url(url).get_backend_name()
    except Exception:  # noqa: BLE001  (SQLAlchemy raises several types for a bad URL)
        raise UnsupportedDatabase(f"database URL {url!r} is not a SQLAlchemy URL") from None
    if name not in SUPPORTED_BACKENDS:
        raise UnsupportedDatabase(
            f"database {name!r} is not supported: use sqlite:///PATH or postgresql+psycopg://..."
        )
    return name


def make_engine(url: str, *, busy_timeout_ms: int = 30_000) -> Engine:
    """Create an engine: SQLite in WAL mode with foreign keys enforced, or PostgreSQL.

    Args:
        url: SQLAlchemy database URL. The folder of a SQLite file is created if missing.
        busy_timeout_ms: how long a writer waits for another one before failing.

    Returns:
        The engine. For SQLite, transactions begin explicitly (`BEGIN`) rather than through
        pysqlite's implicit handling, so DDL and reads are transactional too.

    Raises:
        UnsupportedDatabase: neither SQLite nor PostgreSQL.
    """
    if backend_name(url) == "postgresql":
        return _postgres_engine(url, busy_timeout_ms)
    parsed = make_url(url)
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


def _postgres_engine(url: str, busy_timeout_ms: int) -> Engine:
    # pool_pre_ping: a replica outlives database restarts and fail-overs.
    engine = create_engine(url, pool_pre_ping=True)

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        if connection.get_execution_options().get(WRITER_OPTION, False):
            # Wait for another writer at most busy_timeout_ms, then fail ("lock timeout").
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = {int(busy_timeout_ms)}")
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})")

    return engine


def writer(engine: Engine) -> Engine:
    """The same engine (same pool), whose transactions begin with the write lock taken.

    Every transaction that writes goes through it, so concurrent writers queue (for up to the
    engine's busy timeout) instead of failing half-way with "database is locked".
    """
    return engine.execution_options(**{WRITER_OPTION: True})


def upsert(table: Table, engine: Engine) -> sqlite.Insert | postgresql.Insert:
    """An INSERT on `table` that takes the dialect's own `ON CONFLICT ... DO UPDATE`."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
