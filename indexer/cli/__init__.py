"""The `facet` command line. The only place in `indexer/` that reads `Settings`."""

# Importing the command modules registers their commands on `app`.
from indexer.cli import (
    build,
    builds,
    catalog,
    evaluate,
    hygiene,
    inspect,
    migrate_store,
    search,
    train,
    verify,
)
from indexer.cli.common import app

__all__ = [
    "app",
    "build",
    "builds",
    "catalog",
    "evaluate",
    "migrate_store",
    "search",
    "train",
    "verify",
    "hygiene",
    "inspect",
    "main",
]


def main() -> None:
    """Console-script entry point."""
    app()
