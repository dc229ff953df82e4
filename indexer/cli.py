"""The `facet` command line. The only place in `indexer/` that reads `Settings`."""

from indexer import cli_build, cli_catalog, cli_search, cli_serve, cli_train
from indexer.cli_common import app

__all__ = ["app", "cli_build", "cli_catalog", "cli_search", "cli_serve", "cli_train", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
