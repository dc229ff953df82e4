"""The catalogue embedding pipeline on real files, a local HTTP server and a real SQLite store."""

from __future__ import annotations

import io
import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from indexer.build.embed_step import embed_catalog
from indexer.build.fetch import ImageFetcher
from indexer.build.loader import ImageLoader
from indexer.build.vector_writer import EmbedReport
from indexer.cli import app
from indexer.ingest.upsert import ingest_dump
from search.backbones import Backbone, load_backbone
from search.embed import Embedder, Precision
from search.models import Embedding, ProductImage
from search.vectors import load_vectors
from tests.conftest import SAMPLE_CATALOG, write_csv


def jpeg(seed: int, size: tuple[int, int] = (160, 120)) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    pixels[:] = rng.integers(0, 255, size=3)
    pixels[10:60, 20:90] = rng.integers(0, 255, size=3)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


class Server:
    """A local image server: /img/N.jpg, /missing.jpg (404), /flaky.jpg (503 once), /big.jpg."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                owner.hits[self.path] += 1
                if self.path.startswith("/img/"):
                    self._send(200, jpeg(int(self.path[5:-4])))
                elif self.path == "/flaky.jpg" and owner.hits[self.path] == 1:
                    self._send(503, b"busy")
                elif self.path == "/flaky.jpg":
                    self._send(200, jpeg(99))
                elif self.path == "/big.jpg":
                    self._send(200, b"\xff" * 50_000)
                else:
                    self._send(404, b"no")

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    server = Server()
    yield server
    server.close()


@pytest.fixture(scope="module")
def lite0() -> Backbone:
    return load_backbone("efficientnet_lite0")


@pytest.fixture
def embedder(lite0: Backbone) -> Embedder:
    return Embedder(lite0, precision=Precision.BF16)


def run(
    engine: Engine,
    embedder: Embedder,
    cache: Path,
    *,
    max_pixels: int = 10_000_000,
    max_bytes: int = 40_000,
    device_jpegs: bool = False,
    **options: Any,
) -> EmbedReport:
    embedder.batch_size = options.pop("batch_size", 32)
    fetcher = ImageFetcher(
        cache_dir=cache, timeout_s=5, retries=2, backoff_s=0.01, max_bytes=max_bytes
    )
    with fetcher:
        loader = ImageLoader(
            fetcher, embedder.preprocessing, max_pixels=max_pixels, device_jpegs=device_jpegs
        )
        return embed_catalog(engine, embedder, loader, **options)


def statuses(engine: Engine) -> dict[str, tuple[str, str | None]]:
    with Session(engine) as session:
        rows = session.execute(select(ProductImage.uri, ProductImage.status, ProductImage.error))
        return {uri.rsplit("/", 1)[-1]: (status, error) for uri, status, error in rows}


@pytest.fixture
def catalog(tmp_path: Path, server: Server) -> Path:
    """Products whose images cover every way an image can be good or bad."""
    folder = tmp_path / "dump"
    (folder / "img").mkdir(parents=True)
    for index in range(5):
        (folder / "img" / f"{index}.jpg").write_bytes(jpeg(index))
    (folder / "img" / "empty.jpg").write_bytes(b"")
    (folder / "img" / "text.jpg").write_bytes(b"hello, not an image")
    (folder / "img" / "truncated.jpg").write_bytes(jpeg(7)[:300])
    buffer = io.BytesIO()
    Image.new("RGB", (4000, 3000)).save(buffer, format="PNG")
    (folder / "img" / "huge.png").write_bytes(buffer.getvalue())
    rows = [
        {"sku": "A", "images": "img/0.jpg|img/1.jpg"},
        {"sku": "B", "images": "img/2.jpg|img/empty.jpg"},  # stays searchable through 2.jpg
        {"sku": "C", "images": "img/text.jpg|img/truncated.jpg|img/gone.jpg|img/huge.png"},
        {"sku": "D", "images": f"{server.url}/img/3.jpg|{server.url}/flaky.jpg"},
        {"sku": "E", "images": f"{server.url}/missing.jpg|{server.url}/big.jpg|img/4.jpg"},
    ]
    return write_csv(folder / "catalog.csv", rows)


# device_jpegs: plain JPEGs decoded by the embedding device (search/jpeg_batches.py; the CPU
# here); every failure is counted and recorded as on the Pillow path.
@pytest.mark.parametrize("device_jpegs", [False, True])
def test_embeds_good_images_and_records_why_bad_ones_failed(
    engine: Engine,
    embedder: Embedder,
    catalog: Path,
    tmp_path: Path,
    server: Server,
    device_jpegs: bool,
) -> None:
    ingest_dump(engine, catalog)
    report = run(engine, embedder, tmp_path / "cache", batch_size=3, device_jpegs=device_jpegs)

    assert report.images == 13 and report.embedded == 6 and report.skipped == 0
    assert report.failed == {
        "empty": 1,
        "not-an-image": 1,
        "corrupt": 1,
        "missing": 1,
        "too-large": 1,
        "download": 2,
    }
    state = statuses(engine)
    ready = {name for name, (status, _) in state.items() if status == "ready"}
    assert ready == {"0.jpg", "1.jpg", "2.jpg", "3.jpg", "4.jpg", "flaky.jpg"}
    assert state["empty.jpg"] == ("failed", "empty: zero-byte file")
    assert state["missing.jpg"][1] is not None and "HTTP 404" in state["missing.jpg"][1]
    assert state["big.jpg"][1] is not None and "limit 40000" in state["big.jpg"][1]
    assert server.hits["/flaky.jpg"] == 2  # retried after the 503

    ids, vectors = load_vectors(engine, embedder.backbone.identity)
    assert len(ids) == 6 and vectors.shape == (6, 1280)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("device_jpegs", [False, True])
def test_vectors_match_embedding_the_files_directly(
    engine: Engine, embedder: Embedder, tmp_path: Path, device_jpegs: bool
) -> None:
    # Real photos, catalogue-sized: draft decoding and bf16 must not move their vectors.
    for index, name in enumerate(["Banana", "Lime", "Zucchini"]):
        photo = Image.open(SAMPLE_CATALOG.parent / "queries" / f"{name}.jpg").resize((900, 700))
        photo.save(tmp_path / f"{index}.jpg", quality=90)
    dump = write_csv(tmp_path / "c.csv", [{"sku": str(i), "images": f"{i}.jpg"} for i in range(3)])
    ingest_dump(engine, dump)
    run(engine, embedder, tmp_path / "cache", max_bytes=2**20, device_jpegs=device_jpegs)

    _, stored = load_vectors(engine, embedder.backbone.identity)
    reference_embedder = Embedder(embedder.backbone, precision=Precision.FP32)
    images = [Image.open(tmp_path / f"{i}.jpg").convert("RGB") for i in range(3)]
    reference: npt.NDArray[np.float32] = reference_embedder.embed_images(images)
    assert (stored * reference).sum(axis=1).min() >= 0.99


def test_a_second_run_skips_what_did_not_change(
    engine: Engine, embedder: Embedder, catalog: Path, tmp_path: Path, server: Server
) -> None:
    ingest_dump(engine, catalog)
    run(engine, embedder, tmp_path / "cache")
    downloads = sum(server.hits.values())

    again = run(engine, embedder, tmp_path / "cache")
    # Local failures stay failed until the file changes; URL failures are retried.
    assert again.embedded == 0 and again.skipped == 11
    assert again.failed == {"download": 2}
    # Only the failed URLs hit the server again (404 and over-limit are not retried within a
    # run); the rest came from the cache or was skipped.
    assert sum(server.hits.values()) - downloads == 2

    image = catalog.parent / "img" / "1.jpg"
    os.utime(image, (1, 1))  # touched, same bytes: read again, not re-embedded
    (catalog.parent / "img" / "2.jpg").write_bytes(jpeg(42))  # new content: re-embedded
    (catalog.parent / "img" / "empty.jpg").write_bytes(jpeg(43))  # fixed: now embedded
    third = run(engine, embedder, tmp_path / "cache")
    assert (third.embedded, third.unchanged) == (2, 1)
    assert statuses(engine)["empty.jpg"] == ("ready", None)


def test_retry_failed_reads_failed_files_again(
    engine: Engine, embedder: Embedder, catalog: Path, tmp_path: Path
) -> None:
    ingest_dump(engine, catalog)
    run(engine, embedder, tmp_path / "cache")
    report = run(engine, embedder, tmp_path / "cache", retry_failed=True)
    assert sum(report.failed.values()) == 7 and report.skipped == 6


def test_an_interrupted_run_loses_at_most_the_batch_in_flight(
    engine: Engine, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(10):
        (tmp_path / f"{index}.jpg").write_bytes(jpeg(index))
    rows = [{"sku": str(i), "images": f"{i}.jpg"} for i in range(10)]
    ingest_dump(engine, write_csv(tmp_path / "c.csv", rows))

    calls = 0
    original = embedder.embed_arrays

    def interrupted(arrays: Any) -> npt.NDArray[np.float32]:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        return original(arrays)

    monkeypatch.setattr(embedder, "embed_arrays", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(engine, embedder, tmp_path / "cache", batch_size=3)
    with Session(engine) as session:
        assert len(session.scalars(select(Embedding.image_id)).all()) == 6

    monkeypatch.setattr(embedder, "embed_arrays", original)
    resumed = run(engine, embedder, tmp_path / "cache", batch_size=3)
    assert (resumed.embedded, resumed.skipped) == (4, 6)


def test_deleted_products_and_removed_images_are_not_embedded(
    engine: Engine, embedder: Embedder, tmp_path: Path
) -> None:
    for index in range(3):
        (tmp_path / f"{index}.jpg").write_bytes(jpeg(index))
    ingest_dump(engine, write_csv(tmp_path / "1.csv", [{"sku": "A", "images": "0.jpg|1.jpg"}]))
    ingest_dump(engine, write_csv(tmp_path / "2.csv", [{"sku": "B", "images": "2.jpg"}]))
    ingest_dump(engine, write_csv(tmp_path / "3.csv", [{"sku": "A", "images": "0.jpg"}]), full=True)
    report = run(engine, embedder, tmp_path / "cache")
    assert report.images == 1 and report.embedded == 1


def test_facet_build_from_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg(1))
    dump = write_csv(tmp_path / "c.csv", [{"sku": "A", "images": "a.jpg|b.jpg"}])
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    assert runner.invoke(app, [*home, "ingest", str(dump)]).exit_code == 0
    result = runner.invoke(
        app, [*home, "build", "--random-weights", "--precision", "fp32", "--json"]
    )
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout)
    report = output["embedding"]
    assert report["embedded"] == 1 and report["failed"] == {"missing": 1}
    assert report["backbone"].startswith("efficientnet_lite0-") and report["precision"] == "fp32"
    assert output["index"]["ntotal"] == 1 and output["index"]["retrained"]

    result = runner.invoke(app, [*home, "build", "--backbone", "vgg"])
    assert result.exit_code == 1 and "unknown backbone 'vgg'" in result.stderr
