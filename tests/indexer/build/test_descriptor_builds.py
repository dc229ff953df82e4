"""Builds with a descriptor transform: learned at a full build, kept by updates, saved with the
build, applied to photos, similar-item queries, re-ranking lookups and added vectors alike."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import Engine
from typer.testing import CliRunner

from indexer.cli import app
from indexer.ingest.upsert import ingest_dump
from search.backbones import load_backbone
from search.builds import BuildStore
from search.descriptors import DescriptorPlan
from search.index_sync import catalog_vectors
from search.searcher import Searcher
from search.serving import EmbedderOptions, embedder_for
from search.views import View
from tests.conftest import SAMPLE_CATALOG, write_csv
from tests.indexer.build.test_index_step import CATEGORIES, DIM, MODEL, direction, embed_all, rows
from tests.indexer.build.test_index_step import index as build


def photo_of(category: str, seed: int) -> np.ndarray:
    """A 'shopper photo': the product's direction plus a strong offset every photo shares (here
    towards necklaces), which fools raw cosine search."""
    vector = direction(category, seed) + 1.5 * direction("necklace", 999)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def photo_plan() -> DescriptorPlan:
    photos = np.stack([photo_of(c, 100 + i) for i, c in enumerate(list(CATEGORIES) * 20)])
    return DescriptorPlan(photo_mean=photos.mean(axis=0), photo_mean_digest="test-photos")


@pytest.fixture
def store(tmp_path: Path) -> BuildStore:
    return BuildStore(tmp_path / "indexes")


@pytest.fixture
def catalogue(engine: Engine, tmp_path: Path) -> list[dict[str, Any]]:
    items = rows(60)
    ingest_dump(engine, write_csv(tmp_path / "c.csv", items))
    embed_all(engine)
    return items


def searcher(engine: Engine, store: BuildStore) -> Searcher:
    return Searcher(engine, store.load_current(backbone=MODEL).index, backbone_id=MODEL)


def test_centring_finds_what_the_photos_shared_offset_hides(
    engine: Engine, store: BuildStore, catalogue: Any
) -> None:
    build(engine, store)
    raw = searcher(engine, store).search(photo_of("ring", 7), k=5)
    assert {hit.category for hit in raw} == {"necklace"}  # the offset wins without centring

    report = build(engine, store, descriptor=photo_plan())
    assert report.retrained and report.reason.startswith("descriptors change from none")
    manifest = store.manifest(report.build_id)
    assert manifest.descriptor == photo_plan().signature and manifest.dim == DIM
    assert (store.builds / report.build_id / "descriptor.npz").is_file()
    centred = searcher(engine, store).search(photo_of("ring", 7), k=5)
    assert {hit.category for hit in centred} == {"ring"}


def test_similar_items_enter_the_index_as_catalogue_vectors(
    engine: Engine, store: BuildStore, catalogue: Any
) -> None:
    build(engine, store, descriptor=photo_plan())
    hits = searcher(engine, store).similar("S003", k=5)  # a ring
    assert len(hits) == 5 and {hit.category for hit in hits} == {"ring"}


def test_updates_keep_the_transform_and_transform_what_they_add(
    engine: Engine, store: BuildStore, catalogue: Any, tmp_path: Path
) -> None:
    first = build(engine, store, descriptor=photo_plan())
    ingest_dump(engine, write_csv(tmp_path / "more.csv", rows(63)))  # S060..S062 are new
    embed_all(engine)
    report = build(engine, store, descriptor=photo_plan())
    assert not report.retrained and report.added == 6
    manifest = store.manifest(report.build_id)
    assert manifest.derived_from == first.build_id
    assert manifest.descriptor == photo_plan().signature

    loaded = store.load_current(backbone=MODEL).index
    assert loaded.transform is not None
    ids, vectors, _ = catalog_vectors(engine, MODEL)
    newest = ids[-2:]
    expected = loaded.transform.catalogue(vectors[-2:])
    assert np.allclose(loaded.reconstruct(newest), expected, atol=1e-6)


def test_compressed_indexes_re_rank_in_the_index_space(
    engine: Engine, store: BuildStore, catalogue: Any
) -> None:
    build(engine, store, descriptor=photo_plan(), factory="IVF2,SQ4")
    loaded = store.load_current(backbone=MODEL).index
    assert loaded.compressed and loaded.transform is not None
    query = photo_of("ring", 7)
    hits = searcher(engine, store).search(query, k=3)
    ids, vectors, _ = catalog_vectors(engine, MODEL)
    exact = loaded.transform.catalogue(vectors) @ loaded.transform.photos(query)[0]
    best = {int(i): float(s) for i, s in zip(ids, exact, strict=True)}
    for hit in hits:  # re-ranked scores are the exact cosines in the transformed space
        assert hit.score == pytest.approx(best[hit.image_id], abs=1e-5)
    assert {hit.category for hit in hits} == {"ring"}


def test_dimension_reduction_shrinks_the_index_but_not_what_it_takes(
    engine: Engine, store: BuildStore, catalogue: Any
) -> None:
    build(engine, store, descriptor=DescriptorPlan(dimensions=6))
    loaded = store.load_current(backbone=MODEL, dim=DIM).index
    assert loaded.dim == DIM and loaded.index.d == 6
    hits = searcher(engine, store).search(direction("bracelet", 3), k=5)
    assert {hit.category for hit in hits} == {"bracelet"}


def photos_folder(folder: Path, count: int) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(4)
    for number in range(count):
        pixels = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{number}.png")
    return folder


def test_query_photos_are_remembered_for_the_model(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    build_args = [*home, "build", "--random-weights", "--json"]
    assert runner.invoke(app, [*home, "ingest", str(SAMPLE_CATALOG)]).exit_code == 0
    photos = photos_folder(tmp_path / "photos", 12)
    result = runner.invoke(app, [*build_args, "--query-photos", str(photos)])
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout)
    assert output["query_photos"]["photos"] == 12 and output["query_photos"]["skipped"] == 0
    store = BuildStore(tmp_path / "home" / "indexes")
    descriptor = store.manifest(output["index"]["build_id"]).descriptor
    assert descriptor.startswith(f"centred:photos={output['query_photos']['digest']}")

    # Later builds find the photo mean by themselves; turning centring off retrains.
    result = runner.invoke(app, build_args)
    assert json.loads(result.stdout)["index"]["reason"] == "unchanged"
    result = runner.invoke(app, build_args, env={"FACET_INDEX__CENTRING": "none"})
    assert json.loads(result.stdout)["index"]["reason"].startswith("descriptors change")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing", "cannot read"),
        (lambda tmp: photos_folder(tmp / "few", 3), "at least 10 are needed"),
        (lambda tmp: write_csv(tmp / "q.csv", [{"path": "x.jpg"}]), "needs an image column"),
        (lambda tmp: write_csv(tmp / "q.csv", [{"image": "nope.jpg"}]), "1 image(s) missing"),
    ],
)
def test_unusable_query_photos_are_refused_in_one_line(
    tmp_path: Path, make: Any, message: str
) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    assert runner.invoke(app, [*home, "ingest", str(SAMPLE_CATALOG)]).exit_code == 0
    source = make(tmp_path)
    result = runner.invoke(app, [*home, "build", "--random-weights", "--query-photos", str(source)])
    assert result.exit_code == 1 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_query_views_are_recorded_in_the_build_and_used_to_embed_queries(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    assert runner.invoke(app, [*home, "ingest", str(SAMPLE_CATALOG)]).exit_code == 0
    build_args = [*home, "build", "--random-weights", "--json"]
    result = runner.invoke(app, build_args, env={"FACET_EMBED__QUERY_VIEWS": "1, 1f"})
    assert result.exit_code == 0, result.output
    store = BuildStore(tmp_path / "home" / "indexes")
    manifest = store.manifest(json.loads(result.stdout)["index"]["build_id"])
    assert (manifest.query_views, manifest.descriptor) == ("1,1f", "none;views=1,1f")

    pretrained = replace(manifest, backbone=load_backbone("efficientnet_lite0").identity)
    assert embedder_for(pretrained, EmbedderOptions()).views == (View(), View(1.0, True))

    result = runner.invoke(app, build_args)  # the setting is back to one view: a new build
    assert json.loads(result.stdout)["index"]["reason"].startswith("descriptors change")
    result = runner.invoke(app, build_args, env={"FACET_EMBED__QUERY_VIEWS": "1,9"})
    assert result.exit_code == 1 and result.stderr.strip() == (
        "facet: error: setting FACET_EMBED__QUERY_VIEWS: "
        "Value error, view '9': the scale must be between 0.5 and 2"
    )
