"""The `facet` command line. The only place in `indexer/` that reads `Settings`."""

from indexer import cli_build, cli_catalog, cli_search, cli_serve
from indexer.cli_common import app

__all__ = ["app", "cli_build", "cli_catalog", "cli_search", "cli_serve", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
