"""`facet serve`: the HTTP API under uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from indexer.cli.common import Context, app, reports_errors


@app.command()
@reports_errors
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port.")] = None,
) -> None:
    """Serve the search API for the current index."""
    import uvicorn

    context: Context = ctx.obj
    settings = context.settings
    # The app is named, not imported: the batch package does not depend on the HTTP one. Its
    # factory reads the settings from the environment, so --home travels that way.
    os.environ["FACET_HOME"] = str(settings.home)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_level="info",
    )
