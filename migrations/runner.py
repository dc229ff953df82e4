"""Bringing a database to the schema this code expects, with Alembic.

The migrations own this: they depend on `search` (its models are the target schema), and the
entry points (`indexer`'s CLI, `api`'s app) call them. `search` never imports `migrations`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from search.db import writer


def alembic_config() -> Config:
    """An Alembic config that points at Facet's migrations, wherever the package is installed."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).resolve().parent))
    return config


def head_revision() -> str | None:
    """The newest migration this code ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Apply every pending migration; a no-op when the database is already current.

    Runs as a writer, so replicas starting together migrate one after the other.
    """
    config = alembic_config()
    with writer(engine).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade_database(engine: Engine, revision: str) -> None:
    """Undo migrations down to `revision` ("base" empties the schema)."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
