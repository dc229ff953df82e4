"""What every `facet` command shares: the app, its options, error reporting, the store.

The command modules import their engines (torch, FAISS, SQLAlchemy) inside the commands that use
them, so `facet --help` and `facet ingest` never load torch.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer

from search.errors import FacetError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from search.config import Settings

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="facet",
    help="Facet: visual similarity search for product catalogues.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
db_app = typer.Typer(help="Manage the product database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
DeviceOption = Annotated[
    str | None,
    typer.Option(
        help="Where images are embedded: auto (CUDA when present), cpu, cuda or cuda:N "
        "(default: FACET_EMBED__DEVICE).",
        show_default=False,
    ),
]


@dataclass
class Context:
    settings: Settings
    quiet: bool

    def show_progress(self) -> bool:
        return not self.quiet and sys.stdout.isatty()

    def on_device(self, device: str | None) -> Settings:
        """The settings with a command's `--device` (if given) in place of FACET_EMBED__DEVICE.

        Raises:
            typer.Exit: not a device name.
        """
        if device is None:
            return self.settings
        try:
            return self.settings.with_device(device)
        except ValueError as error:
            raise fail(str(error)) from None


def fail(message: str) -> typer.Exit:
    """Print a one-line error on stderr and return the exit to raise."""
    typer.echo(f"facet: error: {message}", err=True)
    return typer.Exit(1)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn Facet's errors into one line on stderr and exit status 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except FacetError as error:
            raise fail(str(error)) from None
        except KeyboardInterrupt:
            typer.echo("facet: interrupted", err=True)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as error:
            # Imported here: `facet --help` must not pay for SQLAlchemy.
            from sqlalchemy.exc import SQLAlchemyError

            if isinstance(error, SQLAlchemyError):
                # Drivers' messages may span lines (psycopg adds a hint): the first one says it.
                first_line = str(error.args[0]).strip().splitlines()[0]
                raise fail(f"database: {error.__class__.__name__}: {first_line}") from None
            # A bug, not bad input: still one line, with the traceback for --verbose.
            log.debug("unexpected error", exc_info=True)
            raise fail(
                f"internal error: {type(error).__name__}: {error} (--verbose shows the traceback)"
            ) from None

    return wrapper


@app.callback()
def main_options(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(help="Data directory (overrides FACET_HOME).", show_default=False),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from pydantic import ValidationError

    from search.config import Settings, setting_error

    try:
        settings = Settings()
    except ValidationError as error:
        raise fail(setting_error(error)) from None
    if home is not None:
        settings = settings.model_copy(update={"home": home})
    ctx.obj = Context(settings=settings, quiet=quiet)


@contextmanager
def open_store(settings: Settings) -> Iterator[Engine]:
    """The product database, migrated to the newest schema first."""
    from migrations.runner import upgrade_database
    from search.db import make_engine

    engine = make_engine(
        settings.database_url, busy_timeout_ms=int(settings.db.busy_timeout_s * 1000)
    )
    try:
        upgrade_database(engine)
        yield engine
    finally:
        engine.dispose()
