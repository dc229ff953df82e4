"""The embedding step's engines, chosen once: `local` (threads in this process) or `ray`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine

from indexer.build.backbone_source import BackboneSource
from indexer.build.embed_step import embed_catalog
from indexer.build.reading import ReadOptions
from indexer.build.vector_writer import EmbedReport
from search.embed import Embedder

EngineName = Literal["local", "ray"]


def embed_with(
    engine_name: EngineName,
    engine: Engine,
    embedder: Embedder,
    *,
    source: BackboneSource,
    read: ReadOptions,
    ray_address: str | None = None,
    ray_device: str = "auto",
    retry_failed: bool = False,
    compile_min_images: int | None = None,
    compile_cache: Path | None = None,
    on_start: Callable[[int], object] | None = None,
    on_progress: Callable[[int], object] | None = None,
) -> EmbedReport:
    """Embed the catalogue's new and changed images with the named engine (see `embed_catalog`).

    Args:
        engine_name: "local", or "ray" (Ray Data, on the cluster at `ray_address`, else on a
            local cluster started for the run).
        engine: the product store.
        embedder: the driver's embedder (the local engine embeds with it).
        source: where the embedder's backbone came from, for Ray workers to load it again.
        read: how images are fetched and decoded.
        ray_address: a running Ray cluster's address.
        ray_device: where Ray's embedding actors run: "auto" (a GPU each where the cluster
            has GPUs), "cpu" or "cuda".
        retry_failed: also retry failed images whose source has not changed.
        compile_min_images: torch.compile at this many images to read; None never.
        compile_cache: torch.compile's cache folder.
        on_start: called once with the number of images to read.
        on_progress: called with the number of images done since the last call.

    Raises:
        EngineUnavailable: `ray` without Ray installed, or CUDA without GPUs on the cluster.
    """
    if engine_name == "ray":
        # Imported only here: the local engine never loads Ray.
        from indexer.build.ray_engine import RayOptions, embed_catalog_ray

        return embed_catalog_ray(
            engine,
            embedder,
            source,
            read,
            options=RayOptions(address=ray_address, device=ray_device),
            retry_failed=retry_failed,
            compile_min_images=compile_min_images,
            compile_cache=compile_cache,
            on_start=on_start,
            on_progress=on_progress,
        )
    with read.fetcher() as fetcher:
        return embed_catalog(
            engine,
            embedder,
            read.loader(fetcher, embedder.preprocessing),
            retry_failed=retry_failed,
            compile_min_images=compile_min_images,
            compile_cache=compile_cache,
            on_start=on_start,
            on_progress=on_progress,
        )
