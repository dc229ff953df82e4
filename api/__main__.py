"""`facet-serve` (or `python -m api`): the HTTP API and search page under uvicorn.

The batch package (`indexer`) never imports this one; serving has its own entry point, which
builds the settings and hands them to the app factory (nothing travels through os.environ).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from search.config import Settings, setting_error
from search.devices import resolve_device
from search.errors import FacetError


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    parser = argparse.ArgumentParser(
        prog="facet-serve", description="Serve Facet's search API and page for the current index."
    )
    parser.add_argument("--home", type=Path, help="data directory (overrides FACET_HOME)")
    parser.add_argument("--host", help="address to listen on (default: FACET_API__HOST)")
    parser.add_argument("--port", type=int, help="port (default: FACET_API__PORT)")
    parser.add_argument(
        "--device",
        help="where photos are embedded: auto, cpu, cuda or cuda:N (FACET_EMBED__DEVICE)",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings()
        if args.device is not None:
            settings = settings.with_device(args.device)
        resolve_device(settings.embed.device)
    except ValidationError as error:
        parser.exit(2, f"facet-serve: error: {setting_error(error)}\n")
    except (FacetError, ValueError) as error:
        parser.exit(2, f"facet-serve: error: {error}\n")
    if args.home is not None:
        settings = settings.model_copy(update={"home": args.home})
    # Imported after parsing: `facet-serve --help` answers at once.
    import uvicorn

    from api.app import create_app

    uvicorn.run(
        create_app(settings),
        host=args.host or settings.api.host,
        port=args.port or settings.api.port,
        log_level="info",
    )


if __name__ == "__main__":
    main()
