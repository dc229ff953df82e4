"""`facet build --engine ray` on a real local Ray cluster: the local engine's vectors, failures,
statuses and resumption, with the reading and the model in Ray actors."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from indexer.build.backbone_source import BackboneSource
from indexer.build.engines import EngineName, embed_with
from indexer.build.ray_engine import RAY_MISSING, EngineFailed, worker_errors
from indexer.build.reading import ReadOptions
from indexer.build.vector_writer import BatchWriter, EmbedReport
from indexer.cli import app
from indexer.ingest.upsert import ingest_dump
from migrations.runner import upgrade_database
from search.db import make_engine
from search.embed import Embedder, Precision
from search.models import Embedding, ProductImage
from search.vectors import load_vectors
from tests.conftest import write_csv
from tests.indexer.build.test_embed_step import Server, jpeg

ray = pytest.importorskip("ray")

SOURCE = BackboneSource("efficientnet_lite0")


@pytest.fixture(scope="module")
def lite0_fp32() -> Embedder:
    return Embedder(SOURCE.load(), precision=Precision.FP32, batch_size=4)


@pytest.fixture(scope="module")
def shared_cluster() -> Iterator[None]:
    """Shut down after the module's last test; `ray_cluster` (re)connects each test to it."""
    yield
    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture
def ray_cluster(shared_cluster: None) -> None:
    """One local cluster of 2 CPUs for the whole module: starting one takes seconds."""
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)


@pytest.fixture
def server() -> Iterator[Server]:
    server = Server()
    yield server
    server.close()


def store(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    return engine


def run(engine_name: EngineName, engine: Engine, embedder: Embedder, cache: Path) -> EmbedReport:
    read = ReadOptions(cache_dir=cache, max_pixels=10_000_000, max_bytes=40_000, retries=0)
    return embed_with(engine_name, engine, embedder, source=SOURCE, read=read)


def statuses(engine: Engine) -> dict[int, tuple[str, str | None, str | None, int | None]]:
    with Session(engine) as session:
        rows = session.execute(
            select(
                ProductImage.id,
                ProductImage.status,
                ProductImage.error,
                ProductImage.content_hash,
                ProductImage.width,
            )
        )
        return {row[0]: (row[1], row[2], row[3], row[4]) for row in rows}


def comparable(report: EmbedReport) -> dict[str, Any]:
    data = report.to_dict()
    for timing in ("seconds", "images_per_s", "compile_seconds"):
        data.pop(timing)
    # The same failures, though not necessarily listed in the same order.
    data["failures"] = sorted(data["failures"], key=lambda failure: failure["image_id"])
    return data


@pytest.fixture
def catalog(tmp_path: Path, server: Server) -> Path:
    """Nine good images (two bigger than a batch of 4), and missing, corrupt and 404 ones."""
    folder = tmp_path / "dump"
    (folder / "img").mkdir(parents=True)
    for index in range(8):
        (folder / "img" / f"{index}.jpg").write_bytes(jpeg(index, (300 + 20 * index, 200)))
    (folder / "img" / "text.jpg").write_bytes(b"hello, not an image")
    (folder / "img" / "truncated.jpg").write_bytes(jpeg(7)[:300])
    rows = [
        {"sku": "A", "images": "img/0.jpg|img/1.jpg|img/gone.jpg"},
        {"sku": "B", "images": "img/2.jpg|img/3.jpg|img/text.jpg"},
        {"sku": "C", "images": "img/4.jpg|img/5.jpg|img/truncated.jpg"},
        {"sku": "D", "images": f"img/6.jpg|img/7.jpg|{server.url}/img/8.jpg"},
        {"sku": "E", "images": f"{server.url}/missing.jpg"},
    ]
    return write_csv(folder / "catalog.csv", rows)


@pytest.mark.slow  # starts a Ray cluster and its actors
def test_the_ray_engine_writes_what_the_local_engine_writes(
    ray_cluster: None, lite0_fp32: Embedder, catalog: Path, tmp_path: Path
) -> None:
    local, distributed = store(tmp_path / "local.db"), store(tmp_path / "ray.db")
    ingest_dump(local, catalog)
    ingest_dump(distributed, catalog)

    expected = run("local", local, lite0_fp32, tmp_path / "cache-local")
    report = run("ray", distributed, lite0_fp32, tmp_path / "cache-ray")
    assert comparable(report) == comparable(expected)
    assert report.embedded == 9 and report.failed == {
        "missing": 1,
        "not-an-image": 1,
        "corrupt": 1,
        "download": 1,
    }
    assert statuses(distributed) == statuses(local)

    backbone_id = lite0_fp32.backbone.identity
    local_ids, local_vectors = load_vectors(local, backbone_id)
    ray_ids, ray_vectors = load_vectors(distributed, backbone_id)
    assert list(ray_ids) == list(local_ids)
    assert (ray_vectors * local_vectors).sum(axis=1).min() >= 0.9999

    again = run("ray", distributed, lite0_fp32, tmp_path / "cache-ray")
    # Local failures stay failed until they change; the failed URL is tried again.
    assert (again.embedded, again.skipped, again.failed) == (0, 12, {"download": 1})
    local.dispose()
    distributed.dispose()


@pytest.mark.slow  # starts a Ray cluster and its actors
def test_an_interrupted_ray_run_loses_at_most_the_batches_in_flight(
    ray_cluster: None,
    lite0_fp32: Embedder,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for index in range(10):
        (tmp_path / f"{index}.jpg").write_bytes(jpeg(index))
    ingest_dump(
        engine,
        write_csv(tmp_path / "c.csv", [{"sku": str(i), "images": f"{i}.jpg"} for i in range(10)]),
    )
    original = BatchWriter.write
    writes = 0

    def interrupted(self: BatchWriter, loaded: Any, vectors: Any) -> None:
        nonlocal writes
        writes += 1
        if writes == 2:
            raise KeyboardInterrupt
        original(self, loaded, vectors)

    monkeypatch.setattr(BatchWriter, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run("ray", engine, lite0_fp32, tmp_path / "cache")
    with Session(engine) as session:
        committed = len(session.scalars(select(Embedding.image_id)).all())
    assert committed == 4  # the first batch; the second was in flight

    monkeypatch.setattr(BatchWriter, "write", original)
    resumed = run("ray", engine, lite0_fp32, tmp_path / "cache")
    assert (resumed.embedded, resumed.skipped) == (6, 4)


@pytest.mark.slow  # starts (and stops) a local Ray cluster of its own
def test_facet_build_engine_ray_starts_a_local_cluster(tmp_path: Path) -> None:
    if ray.is_initialized():  # the module's cluster: this test starts its own
        ray.shutdown()
    (tmp_path / "a.jpg").write_bytes(jpeg(1))
    dump = write_csv(tmp_path / "c.csv", [{"sku": "A", "images": "a.jpg|b.jpg"}])
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    assert runner.invoke(app, [*home, "ingest", str(dump)]).exit_code == 0
    build = [*home, "build", "--engine", "ray", "--random-weights", "--precision", "fp32"]
    result = runner.invoke(app, [*build, "--json"])
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout.splitlines()[-1])
    report = output["embedding"]
    assert report["embedded"] == 1 and report["failed"] == {"missing": 1}
    assert output["index"]["ntotal"] == 1 and output["index"]["retrained"]
    assert not ray.is_initialized()  # the cluster it started is shut down


def test_the_ray_engine_without_ray_is_one_line_of_advice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    result = CliRunner().invoke(app, ["--home", str(tmp_path), "build", "--engine", "ray"])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"facet: error: {RAY_MISSING}"


def test_a_workers_error_is_reported_in_one_line() -> None:
    remote = (
        "Traceback (most recent call last):\n  File ...\nsearch.errors.BackboneUnavailable: x'\n"
    )
    expected = "^the Ray engine failed: search.errors.BackboneUnavailable: x$"
    with pytest.raises(EngineFailed, match=expected), worker_errors():
        raise ray.exceptions.RayError(remote)
