"""The `facet` command line. The only place in `indexer/` that reads `Settings`."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from indexer.embedding import embed_catalog
from indexer.fetch import ImageFetcher
from indexer.ingest import IngestReport, ingest_dump
from indexer.loader import ImageLoader
from search.backbones import load_backbone
from search.config import Settings
from search.db import make_engine
from search.embed import Embedder, Precision
from search.errors import FacetError
from search.migrate import current_revision, head_revision, upgrade_database
from search.stats import catalog_stats

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

CompileMode = Literal["auto", "on", "off"]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


@dataclass
class Context:
    settings: Settings
    quiet: bool

    def show_progress(self) -> bool:
        return not self.quiet and sys.stdout.isatty()


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
        except SQLAlchemyError as error:
            raise fail(f"database: {error.__class__.__name__}: {error.args[0]}") from None
        except KeyboardInterrupt:
            typer.echo("facet: interrupted", err=True)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as error:
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
    settings = Settings()
    if home is not None:
        settings = settings.model_copy(update={"home": home})
    ctx.obj = Context(settings=settings, quiet=quiet)


@contextmanager
def open_store(settings: Settings) -> Iterator[Engine]:
    """The product database, migrated to the newest schema first."""
    engine = make_engine(settings.database_url)
    try:
        upgrade_database(engine)
        yield engine
    finally:
        engine.dispose()


@app.command()
@reports_errors
def ingest(
    ctx: typer.Context,
    dump: Annotated[
        Path, typer.Argument(help="Catalogue dump: .csv, .csv.gz, .jsonl or .jsonl.gz")
    ],
    full: Annotated[
        bool,
        typer.Option("--full", help="The dump is the whole catalogue: soft-delete absent SKUs."),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Any rejected row fails the ingest; nothing is written."),
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(help="Write every rejected row (line, sku, reason) to this JSONL file."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Load a catalogue dump into the product database (upsert by SKU)."""
    context: Context = ctx.obj
    settings = context.settings
    with (
        open_store(settings) as engine,
        _open_rejects(rejects) as rejects_out,
        tqdm(
            total=dump.stat().st_size if dump.is_file() else 0,
            unit="B",
            unit_scale=True,
            desc="ingest",
            disable=not context.show_progress(),
        ) as bar,
    ):

        def progress(done: int) -> None:
            bar.update(done - bar.n)

        report = ingest_dump(
            engine,
            dump,
            full=full,
            strict=strict,
            batch_size=settings.ingest.batch_size,
            max_reported_rejections=settings.ingest.max_reported_rejections,
            rejects_out=rejects_out,
            on_progress=progress,
        )
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
    else:
        _print_report(report)
    if not report.committed:
        raise fail(f"--strict: {report.rejected:,} row(s) rejected, nothing was written")


@contextmanager
def _open_rejects(path: Path | None) -> Iterator[Any]:
    if path is None:
        yield None
        return
    try:
        handle = path.open("w", encoding="utf-8")
    except OSError as error:
        raise fail(f"{path}: cannot write rejects file: {error.strerror}") from None
    with handle:
        yield handle


def _print_report(report: IngestReport) -> None:
    rate = report.rows / report.seconds if report.seconds else 0.0
    verb = "ingested" if report.committed else "checked (nothing written)"
    typer.echo(f"{verb} {report.source}: {report.rows:,} rows in {report.seconds:.1f} s")
    typer.echo(f"  {'rate':<10} {rate:>10,.0f} rows/s")
    for name in ("inserted", "updated", "unchanged", "deleted", "rejected"):
        typer.echo(f"  {name:<10} {getattr(report, name):>10,}")
    typer.echo(f"  images     +{report.images_added:,} / -{report.images_removed:,}")
    for rejection in report.rejections:
        typer.echo(f"    {rejection}")
    if report.rejected > len(report.rejections):
        typer.echo(
            f"    ... and {report.rejected - len(report.rejections)} more (see --rejects FILE)"
        )
    if report.committed:
        typer.echo(f"catalogue revision {report.revision}")


@app.command()
@reports_errors
def build(
    ctx: typer.Context,
    backbone: Annotated[
        str | None, typer.Option(help="Backbone name (default: FACET_EMBED__BACKBONE).")
    ] = None,
    weights: Annotated[
        Path | None, typer.Option(help="Local weights file for the backbone.")
    ] = None,
    precision: Annotated[
        Precision | None, typer.Option(help="Inference precision (default: auto).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Images per forward pass.")] = None,
    compile_mode: Annotated[
        CompileMode | None,
        typer.Option(
            "--compile", help="torch.compile the model (auto: for 1,000+ images to embed)."
        ),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Also retry failed images that did not change.")
    ] = False,
    random_weights: Annotated[
        bool, typer.Option("--random-weights", help="Random backbone weights: for tests only.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Embed every catalogue image that is new or changed."""
    context: Context = ctx.obj
    settings = context.settings
    embed = settings.embed
    with open_store(settings) as engine:
        model = load_backbone(
            backbone or embed.backbone,
            weights=weights or embed.weights,
            pretrained=not random_weights,
        )
        embedder = Embedder(
            model,
            precision=precision or Precision(embed.precision),
            batch_size=batch_size or embed.batch_size,
        )
        download = settings.download
        with (
            ImageFetcher(
                cache_dir=settings.image_cache_dir,
                timeout_s=download.timeout_s,
                retries=download.retries,
                backoff_s=download.backoff_s,
                max_bytes=download.max_bytes,
            ) as fetcher,
            tqdm(unit="img", desc="embed", disable=not context.show_progress()) as bar,
        ):
            loader = ImageLoader(
                fetcher,
                embedder.preprocessing,
                max_pixels=embed.max_image_pixels,
                fetch_workers=download.concurrency,
                decode_workers=embed.decode_workers,
            )
            report = embed_catalog(
                engine,
                embedder,
                loader,
                retry_failed=retry_failed,
                compile_min_images=_compile_threshold(
                    compile_mode or embed.compile, embed.compile_min_images
                ),
                compile_cache=settings.compile_cache_dir,
                on_start=lambda total: bar.reset(total=total),
                on_progress=bar.update,
            )
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
        return
    compiled = f", compiled in {report.compile_seconds:.1f} s" if report.compile_seconds else ""
    typer.echo(
        f"embedded with {report.model} ({report.precision}{compiled}): {report.images:,} active "
        f"images in {report.seconds:.1f} s ({report.images_per_s:,.1f} images/s)"
    )
    typer.echo(f"  {'embedded':<10} {report.embedded:>10,}")
    typer.echo(f"  {'unchanged':<10} {report.unchanged:>10,}  (read; same bytes as embedded)")
    typer.echo(f"  {'skipped':<10} {report.skipped:>10,}  (not read)")
    typer.echo(f"  {'failed':<10} {sum(report.failed.values()):>10,}")
    for reason, count in sorted(report.failed.items()):
        typer.echo(f"    {reason:<14} {count:>8,}")
    for failure in report.failures:
        typer.echo(f"    image {failure.image_id}: {failure.message}")


def _compile_threshold(mode: str, auto_min_images: int) -> int | None:
    return {"on": 0, "off": None}.get(mode, auto_min_images)


@app.command()
@reports_errors
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show what the product database holds."""
    context: Context = ctx.obj
    with open_store(context.settings) as engine:
        stats = catalog_stats(engine)
    if as_json:
        typer.echo(json.dumps(stats))
        return
    typer.echo(f"database   {context.settings.database_url}")
    products = stats["products"]
    typer.echo(f"products   {products['active']:,} active, {products['deleted']:,} deleted")
    images = ", ".join(f"{count:,} {name}" for name, count in stats["images"].items()) or "none"
    typer.echo(f"images     {images}")
    vectors = ", ".join(f"{count:,} {model}" for model, count in stats["embeddings"].items())
    typer.echo(f"vectors    {vectors or 'none'}")
    typer.echo(f"revision   {stats['revision']}")


@db_app.command("upgrade")
@reports_errors
def db_upgrade(ctx: typer.Context) -> None:
    """Apply every pending migration to the product database."""
    context: Context = ctx.obj
    engine = make_engine(context.settings.database_url)
    try:
        before = current_revision(engine)
        upgrade_database(engine)
        after = current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        typer.echo(f"database already at {after}")
    else:
        typer.echo(f"database upgraded from {before or 'empty'} to {after}")


@db_app.command("current")
@reports_errors
def db_current(ctx: typer.Context) -> None:
    """Show the database's migration and the newest one this code ships."""
    context: Context = ctx.obj
    engine = make_engine(context.settings.database_url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    typer.echo(f"database at {current or 'empty'}; newest migration {head_revision()}")


def main() -> None:
    """Console-script entry point."""
    app()
