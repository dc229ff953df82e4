"""The Ray engine's worker side: reading actors and embedding actors, as plain Python classes.

Nothing here imports Ray: Ray Data calls these classes on its workers (`map_batches`), and the
driver turns their output back into the local engine's results (`to_results`), so that both
engines share the reading code (`ImageLoader`) and the writing code (`BatchWriter`).

Batches are dicts of numpy columns. Absent strings travel as "" rather than None: Arrow turns a
column of nothing but None into float NaNs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from indexer.build.backbone_source import BackboneSource
from indexer.build.loader import Failed, ImageJob, Loaded, LoadResult, Unchanged
from indexer.build.reading import ReadOptions
from search.config import Precision
from search.devices import resolve_device
from search.embed import Embedder
from search.errors import BackboneUnavailable
from search.preprocess import Preprocessing

Columns = dict[str, npt.NDArray[np.generic]]

LOADED, UNCHANGED, FAILED = "loaded", "unchanged", "failed"
# Loaded images have no pixels once embedded: the writer needs none, and they stay on workers.
NO_PIXELS: npt.NDArray[np.uint8] = np.zeros((0, 0, 3), dtype=np.uint8)


def job_columns(jobs: list[ImageJob]) -> Columns:
    """One block of read jobs, as columns."""
    return {
        "image_id": np.array([job.image_id for job in jobs], dtype=np.int64),
        "uri": np.array([job.uri for job in jobs], dtype=object),
        "embedded_hash": np.array([job.embedded_hash or "" for job in jobs], dtype=object),
    }


class ReadActor:
    """Fetches and decodes a block of images with the local engine's loader.

    An actor rather than a task: its fetcher (HTTP connection pool, cache) lasts across blocks,
    and reading stays a stage of its own, never fused into the embedding actors' processes.
    """

    def __init__(self, options: ReadOptions, preprocessing: Preprocessing) -> None:
        self.fetcher = options.fetcher()
        # One decode thread: the actor holds one CPU, and Ray runs as many actors as CPUs.
        self.loader = options.loader(self.fetcher, preprocessing, decode_workers=1)
        self.input_size = preprocessing.input_size

    def __call__(self, batch: Columns) -> Columns:
        jobs = [
            ImageJob(int(image_id), str(uri), str(embedded) or None)
            for image_id, uri, embedded in zip(
                batch["image_id"], batch["uri"], batch["embedded_hash"], strict=True
            )
        ]
        results = list(self.loader.load(jobs, window=max(len(jobs), 1)))
        return result_columns(results, self.input_size)


def result_columns(results: list[LoadResult], input_size: int) -> Columns:
    """Loader results as columns; rows that were not loaded get black pixels."""
    count = len(results)
    pixels = np.zeros((count, input_size, input_size, 3), dtype=np.uint8)
    width = np.zeros(count, dtype=np.int64)
    height = np.zeros(count, dtype=np.int64)
    kind, content_hash, reason, message = [], [], [], []
    for row, result in enumerate(results):
        content_hash.append("" if isinstance(result, Failed) else result.content_hash)
        reason.append(result.reason if isinstance(result, Failed) else "")
        message.append(result.message if isinstance(result, Failed) else "")
        if isinstance(result, Loaded):
            kind.append(LOADED)
            pixels[row], width[row], height[row] = result.pixels, result.width, result.height
        else:
            kind.append(UNCHANGED if isinstance(result, Unchanged) else FAILED)
    return {
        "image_id": np.array([r.job.image_id for r in results], dtype=np.int64),
        "uri": np.array([r.job.uri for r in results], dtype=object),
        "kind": np.array(kind, dtype=object),
        "content_hash": np.array(content_hash, dtype=object),
        "signature": np.array([r.signature or "" for r in results], dtype=object),
        "width": width,
        "height": height,
        "reason": np.array(reason, dtype=object),
        "message": np.array(message, dtype=object),
        "pixels": pixels,
    }


class EmbedActor:
    """Embeds the loaded rows of each batch; the backbone is loaded once, when the actor starts."""

    def __init__(
        self,
        source: BackboneSource,
        *,
        identity: str,
        precision: Precision,
        batch_size: int,
        compile_model: bool,
        compile_cache: str | None,
        device: str,
        threads: int,
    ) -> None:
        """Load the backbone (once per actor).

        Args:
            source: the backbone to load.
            identity: the driver's backbone identity: a worker whose differs refuses to embed.
            precision: resolved on the driver, so that every worker embeds alike.
            batch_size: images per forward pass.
            compile_model: torch.compile the model first.
            compile_cache: torch.compile's cache folder.
            device: "cpu", or "cuda" for the GPU Ray gave this actor.
            threads: the CPUs Ray gave this actor (it sets OMP_NUM_THREADS=1 in workers).
        """
        torch.set_num_threads(threads)
        backbone = source.load()
        if backbone.identity != identity:
            raise BackboneUnavailable(
                f"{source.name}: a Ray worker built {backbone.identity}, the driver "
                f"{identity} (are the weights the same on every node?)"
            )
        self.device = resolve_device(device)
        self.embedder = Embedder(
            backbone, precision=precision, batch_size=batch_size, device=self.device
        )
        if compile_model:
            self.embedder.compile(None if compile_cache is None else Path(compile_cache))

    def __call__(self, batch: Columns) -> Columns:
        loaded = batch["kind"] == LOADED
        vectors = np.zeros((len(loaded), self.embedder.dim), dtype=np.float32)
        if loaded.any():
            pixels = batch["pixels"][loaded]
            vectors[loaded] = self.embedder.embed_arrays(list(pixels))
        output = {name: column for name, column in batch.items() if name != "pixels"}
        output["vector"] = vectors
        return output


def to_results(batch: Columns) -> tuple[list[Loaded], npt.NDArray[np.float32], list[LoadResult]]:
    """An embedded batch as the local engine's results: the loaded ones with their vectors
    (row for row), and the unchanged and failed ones."""
    loaded: list[Loaded] = []
    rows: list[int] = []
    others: list[LoadResult] = []
    columns = zip(
        batch["image_id"],
        batch["uri"],
        batch["kind"],
        batch["content_hash"],
        batch["signature"],
        batch["width"],
        batch["height"],
        batch["reason"],
        batch["message"],
        strict=True,
    )
    for row, (image_id, uri, kind, content, signed, width, height, reason, message) in enumerate(
        columns
    ):
        # The embedded hash is not needed any more: the worker compared it already.
        job = ImageJob(int(image_id), str(uri), None)
        signature = str(signed) or None
        if kind == LOADED:
            loaded.append(Loaded(job, str(content), signature, int(width), int(height), NO_PIXELS))
            rows.append(row)
        elif kind == UNCHANGED:
            others.append(Unchanged(job, str(content), signature))
        else:
            others.append(Failed(job, str(reason), str(message), signature))
    vectors = np.asarray(batch["vector"], dtype=np.float32)[rows]
    return loaded, vectors, others
