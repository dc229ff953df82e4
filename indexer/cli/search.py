"""`facet search` and `facet similar`: query the published index from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from indexer.cli.common import Context, JsonOption, app, fail, open_store, reports_errors
from indexer.cli.filter_options import with_filter_options
from search.filter_params import Filters

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from search.builds import LoadedBuild
    from search.config import Settings
    from search.embed import Embedder
    from search.searcher import ProductHit, Searcher

KOption = Annotated[int, typer.Option("--k", min=1, max=1000, help="Number of products.")]


@app.command()
@reports_errors
@with_filter_options
def search(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="A photo to search with.")],
    k: KOption = 10,
    nprobe: Annotated[int | None, typer.Option(min=1, help="Lists to visit.")] = None,
    as_json: JsonOption = False,
    *,
    filters: Filters,
) -> None:
    """Find the catalogue products that look most like a photo."""
    context: Context = ctx.obj
    settings = context.settings
    try:
        data = image.read_bytes()
    except OSError as error:
        raise fail(f"{image}: cannot read image: {error.strerror}") from None
    with open_store(settings) as engine:
        searcher, embedder = open_search(settings, engine)
        vector = embedder.embed_files([data], max_pixels=settings.embed.max_image_pixels)[0]
        hits = searcher.search(vector, k=k, filters=filters, nprobe=nprobe)
    print_hits(hits, as_json)


def open_searcher(settings: Settings, engine: Engine) -> tuple[LoadedBuild, Searcher]:
    """The live index build, and a searcher over it."""
    from search.builds import BuildStore
    from search.serving import open_searcher as open_live_searcher

    store = BuildStore(settings.index_dir, keep=settings.index.keep_builds)
    return open_live_searcher(store, engine, rerank_factor=settings.index.rerank_factor)


def open_search(settings: Settings, engine: Engine) -> tuple[Searcher, Embedder]:
    """The live index and the embedder of the backbone it was built with."""
    from search.builds import BuildStore
    from search.config import Precision
    from search.serving import EmbedderOptions, open_snapshot

    snapshot = open_snapshot(
        BuildStore(settings.index_dir, keep=settings.index.keep_builds),
        engine,
        rerank_factor=settings.index.rerank_factor,
        embedder=EmbedderOptions(
            weights=settings.embed.weights,
            models_dir=settings.models_dir,
            precision=Precision(settings.embed.precision),
        ),
    )
    return snapshot.searcher, snapshot.embedder


@app.command()
@reports_errors
def evaluate(
    ctx: typer.Context,
    queries: Annotated[Path, typer.Argument(help="CSV: image (relative to it) and sku, or label.")],
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="Results per query.")] = 10,
    label_field: Annotated[
        str | None,
        typer.Option(
            help="Relevant = same value of this field: category, material, style or an attribute."
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write report.json and report.html into this folder.")
    ] = None,
    exact: Annotated[
        bool, typer.Option("--exact", help="Probe every list: model quality without ANN loss.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Measure retrieval quality: Recall@1/5/10, mAP@10, MRR (and label accuracy)."""
    from indexer.evaluation.evaluate import evaluate as run_evaluation
    from indexer.evaluation.evaluate import read_queries
    from indexer.evaluation.report import write_report

    context: Context = ctx.obj
    settings = context.settings
    parsed = read_queries(queries, label_field)
    with open_store(settings) as engine:
        searcher, embedder = open_search(settings, engine)
        result = run_evaluation(
            engine,
            searcher,
            embedder,
            parsed,
            k=k,
            label_field=label_field,
            exact=exact,
            max_pixels=settings.embed.max_image_pixels,
        )
        if report is not None:
            write_report(result, report, engine)
    summary = result.summary()
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(f"{summary['queries']} queries ({summary['mode']}{', exact' if exact else ''})")
    for name in (
        "recall_at_1",
        "recall_at_5",
        "recall_at_10",
        "map_at_10",
        "mrr",
        "label_accuracy",
    ):
        if summary[name] is not None:
            typer.echo(f"  {name:<16} {summary[name]:.4f}")
    typer.echo(
        f"  latency ms       p50 {summary['latency_p50_ms']}, p95 {summary['latency_p95_ms']}, "
        f"p99 {summary['latency_p99_ms']}"
    )
    if report is not None:
        typer.echo(f"report: {report / 'report.html'}")


@app.command()
@reports_errors
@with_filter_options
def similar(
    ctx: typer.Context,
    sku: Annotated[str, typer.Argument(help="The product to find look-alikes of.")],
    k: KOption = 10,
    as_json: JsonOption = False,
    *,
    filters: Filters,
) -> None:
    """Products that look like this one (from stored vectors; nothing is re-embedded)."""
    context: Context = ctx.obj
    settings = context.settings
    with open_store(settings) as engine:
        _, searcher = open_searcher(settings, engine)
        hits = searcher.similar(sku, k=k, filters=filters)
    print_hits(hits, as_json)


def print_hits(hits: list[ProductHit], as_json: bool) -> None:
    if as_json:
        results = [
            {
                "sku": hit.sku,
                "score": round(hit.score, 6),
                "image_id": hit.image_id,
                "title": hit.title,
                "category": hit.category,
                "price": hit.price,
            }
            for hit in hits
        ]
        typer.echo(json.dumps({"results": results}))
        return
    if not hits:
        typer.echo("no results")
    for rank, hit in enumerate(hits, start=1):
        typer.echo(
            f"{rank:>3}  {hit.score:.3f}  {hit.sku:<28} {hit.title or '':<30} image {hit.image_id}"
        )
