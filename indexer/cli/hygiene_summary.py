"""`facet build`'s hygiene step and its one-line summary: photo quality and near-duplicates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from indexer.build.quality_step import QualityReport
    from search.config import Settings
    from search.preprocess import Preprocessing


def check_quality(
    engine: Engine, settings: Settings, preprocessing: Preprocessing, device: str
) -> QualityReport | None:
    """Check the photos embedded without a check and count the verdicts (None: checks off)."""
    from indexer.build.quality_step import check_catalog_quality
    from indexer.cli.build import read_options

    if not settings.quality.checks:
        return None
    read = read_options(settings, device)
    return check_catalog_quality(engine, settings.quality, read=read, preprocessing=preprocessing)


def count_near_duplicates(engine: Engine, settings: Settings, backbone_id: str) -> int | None:
    """Pairs of images of different products that are the same picture, in the live index
    (None: no FAISS index to look in, or more images than the build counts duplicates of)."""
    from search.backends import build_store
    from search.duplicates import find_duplicates
    from search.errors import FacetError

    try:
        live = build_store(settings, engine).load_current(backbone=backbone_id)
        if live.index.ntotal > settings.quality.build_duplicates_max_images:
            return None
        cache = settings.image_cache_dir
        return find_duplicates(engine, live.index, backbone_id, download_cache=cache).pairs
    except (FacetError, AttributeError, NotImplementedError):
        return None


def hygiene_json(quality: QualityReport | None, pairs: int | None) -> dict[str, Any] | None:
    if quality is None:
        return None
    return {**quality.to_dict(), "near_duplicate_pairs": pairs}


def print_hygiene_summary(quality: QualityReport | None, pairs: int | None) -> None:
    """One line, and the commands that show the images it counts."""
    if quality is None:
        return
    parts = [quality.summary()]
    if pairs is not None:
        parts.append(f"{pairs:,} near-duplicate pair{'' if pairs == 1 else 's'}")
    excluded = f" ({quality.excluded:,} kept out of the index)" if quality.excluded else ""
    typer.echo("; ".join(parts) + excluded)
    typer.echo("  see them: facet quality [--report DIR], facet duplicates [--report DIR]")
