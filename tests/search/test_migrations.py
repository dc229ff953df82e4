"""The schema comes from the migrations, matches the models, and migrates both ways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

import search.models  # noqa: F401
from migrations.runner import current_revision, downgrade_database, head_revision, upgrade_database
from search.db import Base, make_engine
from search.models import is_modelled

TABLES = {"products", "product_images", "ingest_runs"}
# The same Alembic history on every store; an empty SQLite file or PostgreSQL database each.


def test_upgrade_from_empty_creates_the_schema(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    assert current_revision(engine) is None
    upgrade_database(engine)
    assert current_revision(engine) == head_revision()
    assert TABLES <= set(inspect(engine).get_table_names())
    upgrade_database(engine)  # idempotent
    assert current_revision(engine) == head_revision()


def test_migrations_match_the_models(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    upgrade_database(engine)
    with engine.connect() as connection:
        # What the database maintains itself (text search, migration 0006) has no model.
        options = {"compare_type": True, "include_object": _unmodelled_left_out}
        context = MigrationContext.configure(connection, opts=options)
        assert compare_metadata(context, Base.metadata) == []


def _unmodelled_left_out(item: Any, name: str | None, *_: Any) -> bool:
    return is_modelled(name)


def test_downgrade_to_base_and_back(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    upgrade_database(engine)
    downgrade_database(engine, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade_database(engine)
    assert TABLES <= set(inspect(engine).get_table_names())


def test_upgrading_keeps_existing_data(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    upgrade_database(engine, "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO products (id, sku, attributes, content_hash, created_at, updated_at)"
                " VALUES (1, 'A', '{}', 'h', '2026-01-01', '2026-01-01');"
            )
        )
        connection.execute(
            text(
                "INSERT INTO product_images (product_id, position, uri, status, created_at,"
                " updated_at) VALUES (1, 0, 'file:///a.jpg', 'ready', '2026-01-01', '2026-01-01')"
            )
        )
    upgrade_database(engine)
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT uri, status, source_signature FROM product_images")
        ).one()
    assert tuple(row) == ("file:///a.jpg", "ready", None)


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'facet.db'}")
    upgrade_database(engine)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO product_images (product_id, position, uri, status, created_at,"
                " updated_at) VALUES (999, 0, 'file:///x.jpg', 'pending', '2026-01-01',"
                " '2026-01-01')"
            )
        )


def test_constraints_are_named(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'facet.db'}")
    upgrade_database(engine)
    inspector = inspect(engine)
    unique = inspector.get_unique_constraints("product_images")
    assert [c["name"] for c in unique] == ["uq_product_images_product_id_uri"]
    foreign = inspector.get_foreign_keys("product_images")
    assert [f["name"] for f in foreign] == ["fk_product_images_product_id_products"]
