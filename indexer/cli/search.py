"""`facet search` and `facet similar`: query the published index from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from indexer.cli.common import (
    Context,
    DeviceOption,
    JsonOption,
    app,
    fail,
    open_store,
    reports_errors,
)
from indexer.cli.filter_options import with_filter_options
from indexer.cli.results import MinScoreOption, print_hits, print_words
from search.filter_params import Filters

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from search.builds import LoadedBuild
    from search.config import Settings
    from search.embed import Embedder
    from search.searcher import Searcher
    from search.serving import Snapshot

KOption = Annotated[int, typer.Option("--k", min=1, max=1000, help="Number of products.")]


@app.command()
@reports_errors
@with_filter_options
def search(
    ctx: typer.Context,
    image: Annotated[Path | None, typer.Argument(help="A photo to search with.")] = None,
    text: Annotated[
        str | None, typer.Option("--text", help="Words to search for (with a photo: both).")
    ] = None,
    text_weight: Annotated[
        float, typer.Option(min=0, max=10, help="The words' weight beside a photo (photo: 1).")
    ] = 1.0,
    k: KOption = 10,
    min_score: MinScoreOption = None,
    nprobe: Annotated[int | None, typer.Option(min=1, help="Lists to visit.")] = None,
    device: DeviceOption = None,
    as_json: JsonOption = False,
    *,
    filters: Filters,
) -> None:
    """Find the catalogue products that look most like a photo, match words, or both."""
    from search.hybrid import search_with_words
    from search.text_search import keyword_search

    context: Context = ctx.obj
    settings = context.on_device(device)
    if image is None and text is None:
        raise fail("give a photo, --text WORDS, or both")
    data = read_photo(image) if image is not None else None
    with open_store(settings) as engine:
        if data is None:
            assert text is not None
            words = keyword_search(engine, text, k=k, filters=filters)
            print_words(words, as_json)
            return
        searcher, embedder = open_search(settings, engine)
        vector = embedder.embed_files([data], max_pixels=settings.embed.max_image_pixels)[0]
        if text is not None:
            photo_hits, fused = search_with_words(
                searcher, vector, text, k=k, filters=filters, text_weight=text_weight,
                min_score=min_score, nprobe=nprobe,
            )  # fmt: skip
            print_hits(fused, as_json, settings, None, judged_by=photo_hits)
            return
        hits = searcher.search(vector, k=k, filters=filters, nprobe=nprobe)
    print_hits(hits, as_json, settings, min_score)


def open_searcher(settings: Settings, engine: Engine) -> tuple[LoadedBuild, Searcher]:
    """The live index build, and a searcher over it."""
    from search.backends import build_store
    from search.serving import open_searcher as open_live_searcher

    return open_live_searcher(build_store(settings, engine), engine, ranking=settings.ranking)


def open_search(settings: Settings, engine: Engine) -> tuple[Searcher, Embedder]:
    """The live index and the embedder of the backbone it was built with."""
    snapshot = open_build(settings, engine)
    return snapshot.searcher, snapshot.embedder


def open_build(settings: Settings, engine: Engine, build_id: str | None = None) -> Snapshot:
    """A build (the live one unless `build_id` names another kept one), its searcher and the
    embedder of the backbone it was built with."""
    from search.backends import build_store
    from search.serving import EmbedderOptions, open_snapshot

    return open_snapshot(
        build_store(settings, engine),
        engine,
        ranking=settings.ranking,
        embedder=EmbedderOptions.from_settings(settings),
        build_id=build_id,
    )


@app.command()
@reports_errors
@with_filter_options
def similar(
    ctx: typer.Context,
    sku: Annotated[str, typer.Argument(help="The product to find look-alikes of.")],
    k: KOption = 10,
    min_score: MinScoreOption = None,
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
    print_hits(hits, as_json, settings, min_score)


@app.command()
@reports_errors
@with_filter_options
def recommend(
    ctx: typer.Context,
    positive: Annotated[
        list[str] | None, typer.Option("--positive", "-p", help="A liked product's SKU.")
    ] = None,
    negative: Annotated[
        list[str] | None, typer.Option("--negative", "-n", help="A disliked product's SKU.")
    ] = None,
    photo: Annotated[
        list[Path] | None, typer.Option("--photo", help="A photo of a liked item.")
    ] = None,
    strategy: Annotated[
        str, typer.Option(help="average (one mean query) or best_score (closest example).")
    ] = "average",
    k: KOption = 10,
    min_score: MinScoreOption = None,
    device: DeviceOption = None,
    as_json: JsonOption = False,
    *,
    filters: Filters,
) -> None:
    """Products like the liked examples and unlike the disliked ones (never the examples)."""
    from search.recommend import Examples, Strategy
    from search.recommend import recommend as recommend_products

    context: Context = ctx.obj
    settings = context.on_device(device)
    if strategy not in set(Strategy):
        raise fail(f"--strategy {strategy!r}: use average or best_score")
    data = [read_photo(path) for path in photo or []]
    with open_store(settings) as engine:
        snapshot = open_build(settings, engine) if data else None
        searcher = snapshot.searcher if snapshot else open_searcher(settings, engine)[1]
        photos = (
            snapshot.embedder.embed_files(data, max_pixels=settings.embed.max_image_pixels)
            if snapshot
            else None
        )
        examples = Examples(tuple(positive or ()), tuple(negative or ()), photos)
        hits = recommend_products(
            searcher, examples, strategy=Strategy(strategy), k=k, filters=filters
        )
    print_hits(hits, as_json, settings, min_score)


def read_photo(path: Path) -> bytes:
    """A photo's bytes, or a one-line error."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise fail(f"{path}: cannot read image: {error.strerror}") from None
