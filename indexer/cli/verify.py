"""`facet verify`: check the live index against the product store, and repair it."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from indexer.cli.build import index_options, print_index_report
from indexer.cli.common import Context, JsonOption, app, open_store, reports_errors


@app.command()
@reports_errors
def verify(
    ctx: typer.Context,
    repair: Annotated[
        bool, typer.Option("--repair", help="Bring the index in line with the store.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check the index against the product store: missing, stale and outdated vectors."""
    from indexer.build.index_step import build_index
    from indexer.build.verify import verify_index
    from search.backends import build_store, repair_fields

    context: Context = ctx.obj
    settings = context.settings
    with open_store(settings) as engine:
        store = build_store(settings, engine)
        # Checked against the live build's own backbone (a fine-tuned one, say), never the
        # configured default: repairing re-indexes stored vectors and loads no model.
        report = verify_index(engine, store)
        repaired = None
        if repair and (report.fields or report.alias):
            # Product fields and the alias (Milvus) are fixed where they are; no build needed.
            repair_fields(store, store.manifest(report.build_id))
        if repair and (report.missing or report.stale or report.outdated or report.mismatches):
            live = store.manifest(report.build_id)
            repaired = build_index(
                engine,
                store,
                backbone_id=live.backbone,
                backbone_name=live.backbone_name,
                options=index_options(settings, live.backbone),
                rebuild=bool(report.mismatches),
            )
    if as_json:
        output = report.to_dict()
        output["repaired"] = repaired.to_dict() if repaired else None
        typer.echo(json.dumps(output))
    else:
        typer.echo(f"index {report.build_id} ({report.backbone}): {report.ntotal:,} vectors")
        for name in ("missing", "stale", "outdated", "fields"):
            examples = report.examples.get(name)
            more = f"  e.g. image ids {examples}" if examples else ""
            typer.echo(f"  {name:<10} {getattr(report, name):>8,}{more}")
        if report.alias:
            typer.echo(f"  alias: {report.alias}")
        for mismatch in report.mismatches:
            typer.echo(f"  mismatch: {mismatch}")
        if repaired is not None:
            print_index_report(repaired)
    if not report.ok and not repair:
        raise typer.Exit(1)
