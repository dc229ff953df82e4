"""`facet build`: embed new and changed images, then update and publish the index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from indexer.cli.common import (
    Context,
    DeviceOption,
    JsonOption,
    app,
    open_store,
    reports_errors,
)
from search.config import Precision

if TYPE_CHECKING:
    from indexer.build.index_step import IndexOptions, IndexReport
    from indexer.build.reading import ReadOptions
    from search.builds import BuildStore
    from search.config import Settings

CompileMode = Literal["auto", "on", "off"]
EngineChoice = Literal["local", "ray"]


@app.command()
@reports_errors
def build(
    ctx: typer.Context,
    backbone: Annotated[
        str | None, typer.Option(help="Backbone name (default: FACET_EMBED__BACKBONE).")
    ] = None,
    weights: Annotated[
        Path | None, typer.Option(help="Local weights file for the backbone.")
    ] = None,
    trained: Annotated[
        str | None,
        typer.Option("--model", help="A model trained with `facet train`, by name."),
    ] = None,
    precision: Annotated[
        Precision | None, typer.Option(help="Inference precision (default: auto).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Images per forward pass.")] = None,
    device: DeviceOption = None,
    compile_mode: Annotated[
        CompileMode | None,
        typer.Option(
            "--compile", help="torch.compile the model (auto: for 1,000+ images to embed)."
        ),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Also retry failed images that did not change.")
    ] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Retrain the index from scratch.")
    ] = False,
    factory: Annotated[
        str | None, typer.Option(help='FAISS factory string, e.g. "IVF256,Flat".')
    ] = None,
    shards: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Shard jobs adding in parallel; over 1, the lists are memory-mapped from disk "
            "(default: FACET_INDEX__SHARDS).",
        ),
    ] = None,
    query_photos: Annotated[
        Path | None,
        typer.Option(help="Shopper-style photos (folder, or CSV with image) for domain centring."),
    ] = None,
    random_weights: Annotated[
        bool, typer.Option("--random-weights", help="Random backbone weights: for tests only.")
    ] = False,
    engine_name: Annotated[
        EngineChoice,
        typer.Option(
            "--engine", help="Embed here (local), or on a Ray cluster (ray: pip install .[ray])."
        ),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            envvar="RAY_ADDRESS",
            help="With --engine ray: a running cluster (default: start one on this machine).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Embed new and changed catalogue images, then update and publish the index."""
    from tqdm import tqdm

    from indexer.build.backbone_source import BackboneSource
    from indexer.build.engines import embed_with
    from indexer.build.index_step import build_index
    from indexer.build.photo_mean_step import remember_photo_mean
    from indexer.cli.hygiene_summary import (
        check_quality,
        count_near_duplicates,
        hygiene_json,
        print_hygiene_summary,
    )
    from search.backends import build_store
    from search.devices import resolve_device
    from search.embed import Embedder

    if engine_name == "ray":
        from indexer.build.ray_engine import require_ray

        require_ray()  # before a model is loaded for nothing
    context: Context = ctx.obj
    settings = context.on_device(device)
    embed = settings.embed
    on = resolve_device(embed.device)
    store = build_store(settings)
    source = BackboneSource(
        trained or backbone or _live_backbone(store, default=embed.backbone),
        weights=weights or embed.weights,
        pretrained=not random_weights,
        models_dir=settings.models_dir,
    )
    with open_store(settings) as engine:
        embedder = Embedder(
            source.load(),
            precision=precision or Precision(embed.precision),
            batch_size=batch_size or embed.batch_for(on),
            device=on,
        )
        learned = None
        if query_photos is not None:
            learned = remember_photo_mean(
                settings.photo_means_dir,
                embedder,
                query_photos,
                max_pixels=embed.max_image_pixels,
                query_views=embed.query_views,
            )
        with tqdm(unit="img", desc="embed", disable=not context.show_progress()) as bar:
            report = embed_with(
                engine_name,
                engine,
                embedder,
                source=source,
                read=read_options(settings, on),
                ray_address=ray_address,
                # A cluster's GPUs are chosen by Ray: cuda:N names one on this machine only.
                ray_device="cuda" if embed.device.startswith("cuda") else embed.device,
                retry_failed=retry_failed,
                compile_min_images=_compile_threshold(
                    compile_mode or embed.compile, embed.compile_min_images
                ),
                compile_cache=settings.compile_cache_dir,
                on_start=lambda total: bar.reset(total=total),
                on_progress=bar.update,
            )
        quality = check_quality(engine, settings, embedder.preprocessing, on)
        index_report = build_index(
            engine,
            build_store(settings, engine),  # a Milvus build writes product fields from it
            backbone_id=embedder.backbone.identity,
            backbone_name=embedder.backbone.name,
            options=index_options(settings, embedder.backbone.identity, factory, shards=shards),
            rebuild=rebuild,
        )
        pairs = count_near_duplicates(engine, settings, embedder.backbone.identity)
    if as_json:
        output: dict[str, Any] = {"embedding": report.to_dict(), "index": index_report.to_dict()}
        output["quality"] = hygiene_json(quality, pairs)
        typer.echo(json.dumps({**output, "query_photos": learned}))
        return
    if learned is not None:
        typer.echo(
            f"query photos: mean of {learned['photos']:,} kept ({learned['skipped']} skipped)"
        )
    compiled = f", compiled in {report.compile_seconds:.1f} s" if report.compile_seconds else ""
    typer.echo(
        f"embedded with {report.backbone} ({report.precision} on {report.device}{compiled}): "
        f"{report.images:,} active "
        f"images in {report.seconds:.1f} s ({report.images_per_s:,.1f} images/s)"
    )
    typer.echo(f"  {'embedded':<10} {report.embedded:>10,}")
    typer.echo(f"  {'unchanged':<10} {report.unchanged:>10,}  (read; same bytes as embedded)")
    typer.echo(f"  {'skipped':<10} {report.skipped:>10,}  (not read)")
    typer.echo(f"  {'failed':<10} {sum(report.failed.values()):>10,}")
    for reason, count in sorted(report.failed.items()):
        typer.echo(f"    {reason:<14} {count:>8,}")
    for failure in report.failures:
        typer.echo(f"    image {failure.image_id}: {failure.message}")
    print_index_report(index_report)
    print_hygiene_summary(quality, pairs)


def _live_backbone(store: BuildStore, *, default: str) -> str:
    """What a plain `facet build` embeds with: the live index's model, if it is not the default.

    After `facet build --model NAME`, a plain build keeps NAME (saying so) rather than silently
    re-embedding the catalogue with the base backbone; `--backbone` switches back.
    """
    from search.errors import IndexNotReady

    build_id = store.current_id()
    if build_id is None:
        return default
    try:
        live = store.manifest(build_id).backbone_name
    except IndexNotReady:
        return default
    if live != default:
        typer.echo(
            f"keeping {live}, the live index's model (pass --backbone {default} to switch back)",
            err=True,
        )
    return live


def read_options(settings: Settings, device: str) -> ReadOptions:
    """How `facet build` reads catalogue images, from the settings, for the resolved device."""
    from indexer.build.reading import ReadOptions

    download = settings.download
    return ReadOptions(
        cache_dir=settings.image_cache_dir,
        max_pixels=settings.embed.max_image_pixels,
        timeout_s=download.timeout_s,
        deadline_s=download.deadline_s,
        retries=download.retries,
        backoff_s=download.backoff_s,
        max_bytes=download.max_bytes,
        allow_private_addresses=download.allow_private_addresses,
        fetch_workers=download.concurrency,
        decode_workers=settings.embed.decode_workers_for(device),
        device_jpegs=settings.embed.jpeg_decoder == "device",
        quality=settings.quality if settings.quality.checks else None,
    )


def _compile_threshold(mode: str, auto_min_images: int) -> int | None:
    return {"on": 0, "off": None}.get(mode, auto_min_images)


def index_options(
    settings: Settings,
    backbone_id: str,
    factory: str | None = None,
    *,
    shards: int | None = None,
) -> IndexOptions:
    from indexer.build.index_step import IndexOptions
    from search.descriptors import DescriptorPlan, Whitening
    from search.photo_means import load_photo_mean, photo_mean_key

    index = settings.index
    views = settings.embed.query_views
    photos = None
    if index.centring == "domain":
        photos = load_photo_mean(settings.photo_means_dir, photo_mean_key(backbone_id, views))
    descriptor = DescriptorPlan(
        photo_mean=None if photos is None else photos.vector,
        photo_mean_digest="" if photos is None else photos.digest,
        photo_mean_source="" if photos is None else photos.source,
        whitening=Whitening(index.whitening),
        dimensions=index.dimensions,
        query_views=views,
    )
    return IndexOptions(
        factory=factory or index.factory,
        memory_budget_bytes=index.memory_budget_mb * 2**20,
        target_recall=index.target_recall,
        tune_queries=index.tune_queries,
        retrain_growth=index.retrain_growth,
        max_imbalance=index.max_imbalance,
        descriptor=descriptor,
        chunk_bytes=index.chunk_mb * 2**20,
        shards=shards or index.shards,
    )


def print_index_report(report: IndexReport) -> None:
    if report.build_id is None:
        typer.echo(f"index unchanged: {report.ntotal:,} vectors, {report.factory}")
        return
    how = f"retrained ({report.reason})" if report.retrained else "updated"
    typer.echo(f"index {report.build_id} {how} in {report.seconds:.1f} s")
    typer.echo(f"  {'vectors':<10} {report.ntotal:>10,}  (+{report.added:,} / -{report.removed:,})")
    if report.fields:
        typer.echo(f"  {'fields':<10} {report.fields:>10,}  (rows whose product changed)")
    on_disk = "  (lists memory-mapped from disk)" if report.lists == "disk" else ""
    typer.echo(f"  {'type':<10} {report.factory:>10}{on_disk}")
    typer.echo(f"  {'nprobe':<10} {report.nprobe:>10}  of {report.nlist} lists")
    typer.echo(f"  {'recall@10':<10} {report.recall_at_10:>10.3f}  against exact search")
