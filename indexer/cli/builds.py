"""`facet builds` and `facet rollback`: the kept index builds, and going back to one."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer

from indexer.cli.common import Context, JsonOption, app, reports_errors


@app.command()
@reports_errors
def rollback(ctx: typer.Context) -> None:
    """Make the previous index build current again."""
    from search.backends import build_store

    context: Context = ctx.obj
    # With Milvus, the alias follows: back to the previous collection.
    was, now = build_store(context.settings).rollback()
    typer.echo(f"current index: {now} (was {was})")


@app.command("builds")
@reports_errors
def list_builds(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the kept index builds, oldest first; * marks the live one."""
    from search.backends import build_store
    from search.errors import IndexNotReady

    context: Context = ctx.obj
    store = build_store(context.settings)
    current = store.current_id()
    builds: list[dict[str, object]] = []
    for build_id in store.build_ids():
        try:
            builds.append(asdict(store.manifest(build_id)))
        except IndexNotReady:  # listed all the same: the id is what rollback/--against need
            builds.append({"build_id": build_id, "unreadable": True})
    if as_json:
        typer.echo(json.dumps({"current": current, "builds": builds}))
        return
    if not builds:
        typer.echo("no index builds (run `facet build`)")
    for build in builds:
        mark = "*" if build["build_id"] == current else " "
        what = "unreadable manifest"
        if not build.get("unreadable"):
            what = (
                f"{build['backbone_name']}, {build['ntotal']:,} vectors, {build['factory']}, "
                f"made {build['created_at']}"
            )
        typer.echo(f"{mark} {build['build_id']}  {what}")
