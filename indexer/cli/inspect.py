"""`facet inspect`: score photos for defects against a reference of good photos (PatchCore)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from indexer.cli.common import Context, JsonOption, app, fail, open_store, reports_errors

if TYPE_CHECKING:
    from search.config import Settings
    from search.inspection.references import Reference

PREFIXES = ("sku:", "category:", "dir:")


@app.command()
@reports_errors
def inspect(
    ctx: typer.Context,
    photos: Annotated[list[Path], typer.Argument(help="Photos to inspect.", show_default=False)],
    reference: Annotated[
        str,
        typer.Option(
            "--reference",
            help="Good photos: a SKU, a category or a folder (or sku:X, category:X, dir:PATH).",
            show_default=False,
        ),
    ],
    report: Annotated[
        Path | None,
        typer.Option(help="Write report.html, report.json and heatmaps here.", show_default=False),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Score photos for defects against good reference photos: score, verdict, heatmap."""
    from search.inspection.inspector import open_inspector
    from search.inspection.references import Photo

    context: Context = ctx.obj
    settings = context.settings
    inspected = []
    for path in photos:
        try:
            inspected.append(Photo(path.name, path.read_bytes()))
        except OSError as error:
            raise fail(f"{path}: cannot read photo: {error.strerror}") from None
    good = resolve_reference(settings, reference)
    inspector = open_inspector(settings)
    ready = inspector.bank(good)
    results = inspector.inspect(ready, inspected)
    from indexer.inspection.report import summary, write_report

    if report is not None:
        write_report(report, ready, inspected, results)
    if as_json:
        typer.echo(json.dumps(summary(ready, results)))
        return
    source = "stored bank reused" if ready.reused else "bank built and stored"
    typer.echo(
        f"reference {ready.label}: {ready.photos} good photos, {source}; "
        f"threshold {ready.bank.threshold:.3f} ({ready.bank.model})"
    )
    for result in results:
        x, y = result.peak
        typer.echo(
            f"  {result.verdict:<8} {result.score:8.3f}  {result.name}  "
            f"(hottest at {x:.0%} across, {y:.0%} down)"
        )
    if report is not None:
        typer.echo(f"report: {report / 'report.html'}")


def resolve_reference(settings: Settings, text: str) -> Reference:
    """`sku:X`, `category:X`, `dir:PATH`, or a bare name: an existing folder, else a product's
    SKU, else a category.

    Raises:
        InvalidReference: nothing of that name.
    """
    from search.errors import InvalidReference
    from search.inspection.references import folder_reference, store_reference

    kind, _, name = text.partition(":")
    if kind + ":" not in PREFIXES:
        kind, name = "", text
    max_bytes = settings.download.max_bytes
    if kind == "dir" or (not kind and Path(name).is_dir()):
        return folder_reference(Path(name), max_bytes=max_bytes)
    cache = settings.image_cache_dir
    with open_store(settings) as engine:
        if kind in ("sku", ""):
            try:
                return store_reference(engine, sku=name, max_bytes=max_bytes, download_cache=cache)
            except InvalidReference:
                if kind == "sku":
                    raise
        try:
            return store_reference(engine, category=name, max_bytes=max_bytes, download_cache=cache)
        except InvalidReference:
            if kind == "category":
                raise
    raise InvalidReference(f"{text!r}: no folder, active product or category of that name")
