"""`facet quality` and `facet duplicates`: the catalogue's unfit and repeated photos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from indexer.cli.common import Context, JsonOption, app, fail, open_store, reports_errors

ReportOption = Annotated[
    Path | None, typer.Option("--report", help="Also write an HTML report into this folder.")
]


@app.command()
@reports_errors
def quality(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="Images listed per reason.")] = 20,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """The catalogue photos that failed or warned the quality checks, worst first by reason."""
    from collections import Counter

    from indexer.hygiene_report import write_quality_report
    from search.quality_list import flagged_images, worst_by_reason

    context: Context = ctx.obj
    with open_store(context.settings) as engine:
        flagged = flagged_images(engine)
    verdicts = Counter(item.verdict for item in flagged)
    worst = worst_by_reason(flagged, limit)
    counts = f"{verdicts['fail']:,} failed, {verdicts['warn']:,} with warnings"
    written = None if report is None else write_quality_report(report, worst, counts)
    if as_json:
        by_reason = {reason: [i.to_dict() for i in items] for reason, items in worst.items()}
        output = {"fail": verdicts["fail"], "warn": verdicts["warn"], "by_reason": by_reason}
        typer.echo(json.dumps({**output, "report": None if written is None else str(written)}))
        return
    typer.echo(f"photo quality: {counts}")
    for reason, items in worst.items():
        typer.echo(f"{reason}:")
        for item in items:
            typer.echo(f"  {item.verdict:<4} {item.sku} image {item.image_id}  {item.uri}")
    if written is not None:
        typer.echo(f"report: {written}")


@app.command()
@reports_errors
def duplicates(
    ctx: typer.Context,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Picture match of the same picture, in (0, 1] (default: measured, 0.93)."
        ),
    ] = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """Near-duplicate photos listed under different products, from the live index."""
    from indexer.hygiene_report import write_duplicates_report
    from search.backends import build_store
    from search.duplicates import DEFAULT_THRESHOLD, find_duplicates

    if threshold is not None and not 0.0 < threshold <= 1.0:
        raise fail(f"--threshold {threshold}: give a picture match in (0, 1]")
    context: Context = ctx.obj
    with open_store(context.settings) as engine:
        live = build_store(context.settings, engine).load_current()
        found = find_duplicates(
            engine,
            live.index,
            live.manifest.backbone,
            threshold=threshold or DEFAULT_THRESHOLD,
            download_cache=context.settings.image_cache_dir,
        )
    written = None if report is None else write_duplicates_report(report, found)
    if as_json:
        output = found.to_dict()
        typer.echo(json.dumps({**output, "report": None if written is None else str(written)}))
        return
    typer.echo(
        f"{len(found.clusters):,} clusters of near-duplicates across products "
        f"({found.pairs:,} pairs matching >= {found.threshold} "
        f"of {found.candidates:,} candidates)"
    )
    for number, cluster in enumerate(found.clusters, start=1):
        skus = ", ".join(sorted({member.sku for member in cluster.members}))
        typer.echo(f"  {number:>3}. {skus}  (>= {cluster.min_match:.3f})")
    for sku, ids in found.within_product:
        typer.echo(f"  same image twice in {sku}: images {', '.join(map(str, ids))}")
    if written is not None:
        typer.echo(f"report: {written}")
