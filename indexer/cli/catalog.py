"""`facet ingest`, `facet status` and `facet db`: the product store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from indexer.cli.common import Context, JsonOption, app, db_app, fail, open_store, reports_errors

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from indexer.ingest.upsert import IngestReport


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
    max_delete: Annotated[
        float | None,
        typer.Option(
            "--max-delete",
            min=0,
            max=100,
            metavar="PCT",
            help="With --full: allow deleting up to PCT% of the active products "
            "(default FACET_INGEST__MAX_DELETE_PCT, 10); over it, nothing is written.",
            show_default=False,
        ),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(help="Write every rejected row (line, sku, reason) to this JSONL file."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Load a catalogue dump into the product database (upsert by SKU)."""
    from tqdm import tqdm

    from indexer.ingest.upsert import ingest_dump

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
            max_delete_pct=settings.ingest.max_delete_pct if max_delete is None else max_delete,
            max_field_chars=settings.ingest.max_field_chars,
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
        damage = f" (damaged dump: {report.damaged})" if report.damaged else ""
        raise fail(f"--strict: {report.rejected:,} row(s) rejected, nothing was written{damage}")
    if report.full_delete_skipped:
        raise fail(f"--full: nothing deleted: {report.full_delete_skipped}")
    if report.damaged:
        raise fail(f"damaged dump: {report.damaged}; the rows before it were ingested")


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
    if report.damaged and not any(rejection.damaged for rejection in report.rejections):
        typer.echo(f"  damaged    {report.damaged}")
    if report.full_delete_skipped:
        typer.echo("  --full     deleted nothing: the dump cannot tell which products it omits")
    if report.committed:
        typer.echo(f"catalogue revision {report.revision}")


@app.command()
@reports_errors
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show what the product database and the live index hold."""
    from search.builds import BuildStore
    from search.quality_list import quality_counts
    from search.stats import catalog_stats

    context: Context = ctx.obj
    with open_store(context.settings) as engine:
        stats = catalog_stats(engine)
        stats["quality"] = quality_counts(engine)
    store = BuildStore(context.settings.index_dir)
    build_id = store.current_id()
    stats["index"] = asdict(store.manifest(build_id)) if build_id else None
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
    quality = stats["quality"]
    typer.echo(
        f"quality    {quality['ok']:,} ok, {quality['warn']:,} warn, {quality['fail']:,} fail "
        f"({quality['excluded']:,} kept out of the index; see `facet quality`)"
    )
    index = stats["index"]
    if index is None:
        typer.echo("index      none (run `facet build`)")
    else:
        typer.echo(
            f"index      {index['build_id']}: {index['ntotal']:,} vectors, {index['factory']}, "
            f"nprobe {index['nprobe']}, recall@10 {index['recall_at_10']}, "
            f"revision {index['catalog_revision']}"
        )
        typer.echo(f"descriptor {index['descriptor']} (query views {index['query_views']})")


@contextmanager
def _unmigrated_store(context: Context) -> Iterator[Engine]:
    """The product database as it is (the `db` commands migrate, or report, themselves)."""
    from search.db import make_engine

    engine = make_engine(context.settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@db_app.command("upgrade")
@reports_errors
def db_upgrade(ctx: typer.Context) -> None:
    """Apply every pending migration to the product database."""
    from migrations.runner import current_revision, upgrade_database

    with _unmigrated_store(ctx.obj) as engine:
        before = current_revision(engine)
        upgrade_database(engine)
        after = current_revision(engine)
    if before == after:
        typer.echo(f"database already at {after}")
    else:
        typer.echo(f"database upgraded from {before or 'empty'} to {after}")


@db_app.command("current")
@reports_errors
def db_current(ctx: typer.Context) -> None:
    """Show the database's migration and the newest one this code ships."""
    from migrations.runner import current_revision, head_revision

    with _unmigrated_store(ctx.obj) as engine:
        current = current_revision(engine)
    typer.echo(f"database at {current or 'empty'}; newest migration {head_revision()}")
