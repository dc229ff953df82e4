"""`facet migrate-store`: copy the product store to another database (SQLite -> PostgreSQL)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from indexer.cli.common import Context, JsonOption, app, fail, open_store, reports_errors


@app.command("migrate-store")
@reports_errors
def migrate_store(
    ctx: typer.Context,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="URL",
            help="The empty target database, e.g. postgresql+psycopg://user:pass@host/facet.",
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Copy every product, image, vector and ingest run, ids included, to another database.

    The index builds under FACET_HOME stay valid; afterwards set FACET_DB__URL to the target.
    """
    from indexer.ingest.copy_store import copy_store
    from migrations.runner import upgrade_database
    from search.db import UnsupportedDatabase, make_engine

    context: Context = ctx.obj
    settings = context.settings
    if to == settings.database_url:
        raise fail("--to names the store being copied")
    try:
        target = make_engine(to, busy_timeout_ms=int(settings.db.busy_timeout_s * 1000))
    except UnsupportedDatabase as error:
        raise fail(str(error)) from None
    try:
        with open_store(settings) as source:
            upgrade_database(target)

            def progress(table: str, rows: int) -> None:
                if not (as_json or context.quiet):
                    typer.echo(f"  {table:<16} {rows:>12,} rows", err=True)

            report = copy_store(source, target, on_table=progress)
    finally:
        target.dispose()
    if as_json:
        typer.echo(json.dumps({"rows": report.rows, "seconds": round(report.seconds, 1)}))
    else:
        total = sum(report.rows.values())
        typer.echo(f"copied {total:,} rows in {report.seconds:.1f} s")
        typer.echo("now set FACET_DB__URL to the target (docs/deployment.md)")
