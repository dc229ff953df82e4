"""`facet build --engine ray`: the embedding step on a Ray cluster, through Ray Data.

The driver plans with the local engine's incremental rules (`indexer.build.plan`) and hands the
jobs to Ray Data: reading actors fetch and decode on CPUs, embedding actors (one GPU each where
the cluster has GPUs) load the backbone once and embed; the vectors stream back to the driver,
whose one `BatchWriter` commits them a batch at a time, as the local engine does. An interrupt
loses at most the batches in flight, and a rerun resumes. Ray is imported here only.
"""

from __future__ import annotations

import logging
import os
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from indexer.build.backbone_source import BackboneSource
from indexer.build.embed_step import notify
from indexer.build.plan import image_jobs, plan_images
from indexer.build.ray_plan import ActorPlan, EngineUnavailable, plan_actors
from indexer.build.ray_workers import EmbedActor, ReadActor, job_columns, to_results
from indexer.build.reading import ReadOptions
from indexer.build.vector_writer import BatchWriter, EmbedReport
from search.embed import Embedder
from search.errors import FacetError

if TYPE_CHECKING:
    import pyarrow

log = logging.getLogger(__name__)

RAY_MISSING = "--engine ray needs Ray: pip install -e '.[ray]'"


class EngineFailed(FacetError):
    """The Ray engine's workers failed (a worker's error, a lost node): what was committed stays."""


@dataclass(frozen=True)
class RayOptions:
    """Where and how the Ray engine runs."""

    address: str | None = None  # a running cluster ("auto", "ray://host:10001"); None: start one
    embedders: int | None = None  # embedding actors; None: one per GPU, or per 8 spare CPUs
    device: str = "auto"  # "cpu" never asks for GPUs; "cuda" requires them; "auto": if any


def require_ray() -> None:
    """Raises EngineUnavailable, with how to install it, where Ray is not installed."""
    try:
        import ray.data  # noqa: F401
    except ImportError:
        raise EngineUnavailable(RAY_MISSING) from None


@contextmanager
def ray_cluster(address: str | None) -> Iterator[None]:
    """Connected to Ray for the duration: to `address`, else to a new local cluster.

    A connection the caller made already (a notebook's, a test's) is used and left open; a
    cluster started here is shut down on the way out.
    """
    require_ray()
    import ray

    if ray.is_initialized():
        yield
        return
    quiet: dict[str, Any] = {"logging_level": logging.WARNING, "include_dashboard": False}
    if address:
        ray.init(address=address, **quiet)
    else:
        # At least two CPUs, so that one can read while another embeds even on one core.
        ray.init(address="local", num_cpus=max(2, os.cpu_count() or 1), **quiet)
    try:
        yield
    finally:
        ray.shutdown()


def embed_catalog_ray(
    engine: Engine,
    embedder: Embedder,
    source: BackboneSource,
    read: ReadOptions,
    *,
    options: RayOptions,
    retry_failed: bool = False,
    compile_min_images: int | None = None,
    compile_cache: Path | None = None,
    max_reported_failures: int = 10,
    on_start: Callable[[int], object] | None = None,
    on_progress: Callable[[int], object] | None = None,
) -> EmbedReport:
    """`embed_catalog` on Ray: the same plan, results, commits and report.

    Args:
        engine: the product store (only the driver touches it).
        embedder: the driver's embedder: its backbone identity keys the vectors, and its
            precision, batch size and preprocessing are the workers'.
        source: how the workers load the same backbone (checked against its identity).
        read: how the reading actors fetch and decode.
        options: the cluster, the number of embedding actors and the device.
        retry_failed: also retry failed images whose source has not changed.
        compile_min_images: torch.compile in each embedding actor when at least this many
            images are to be read (0: whenever there is work); None never compiles.
        compile_cache: torch.compile's cache folder (on every node).
        max_reported_failures: how many failures the report lists.
        on_start: called once with the number of images to read.
        on_progress: called with the number of images done since the last call.

    Raises:
        EngineUnavailable: Ray is not installed, or CUDA was asked of a cluster without GPUs.
    """
    require_ray()
    read, source = _absolute(read), _absolute_source(source)
    backbone_id = embedder.backbone.identity
    report = EmbedReport(backbone=backbone_id, precision=str(embedder.precision))
    clock = time.perf_counter()
    todo = plan_images(engine, backbone_id, retry_failed=retry_failed, report=report)
    if on_start is not None:
        on_start(len(todo))
    if todo:
        actor_options = {
            "compile_model": compile_min_images is not None and len(todo) >= compile_min_images,
            "compile_cache": None if compile_cache is None else str(compile_cache.resolve()),
        }
        with ray_cluster(options.address), _quiet_ray_data(), worker_errors():
            batches = _embedded_batches(
                _jobs_dataset(engine, backbone_id, todo, block_rows=embedder.batch_size),
                embedder,
                source,
                read,
                options,
                actor_options,
            )
            writer = BatchWriter(engine, backbone_id, report, max_reported_failures)
            for batch in batches:
                loaded, vectors, others = to_results(batch)
                for other in others:
                    writer.add_other(other)
                # One transaction per batch, vectors and statuses together.
                if loaded:
                    writer.write(loaded, vectors)
                else:
                    writer.flush_others()
                notify(on_progress, len(loaded) + len(others))
    report.seconds = time.perf_counter() - clock
    return report


def _absolute(read: ReadOptions) -> ReadOptions:
    # Ray's workers do not run in the driver's working directory: relative paths would differ.
    # Readers hand decoded pixels to the embedding actors: JPEGs are decoded there, not left
    # encoded for the device (FACET_EMBED__JPEG_DECODER=device is the local engine's).
    return replace(read, cache_dir=read.cache_dir.resolve(), device_jpegs=False)


def _absolute_source(source: BackboneSource) -> BackboneSource:
    weights, models = source.weights, source.models_dir
    return replace(
        source,
        weights=None if weights is None else weights.resolve(),
        models_dir=None if models is None else models.resolve(),
    )


def _cluster_plan(options: RayOptions) -> ActorPlan:
    import ray

    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return plan_actors(
        [node["Resources"].get("CPU", 0.0) for node in nodes if node.get("Alive")],
        int(resources.get("GPU", 0)),
        device=options.device,
        embedders=options.embedders,
    )


def _jobs_dataset(engine: Engine, backbone_id: str, todo: array[int], *, block_rows: int) -> Any:
    """The read jobs as a Ray dataset, `block_rows` to a block.

    A block of one embedding batch goes through both stages as one unit of work: each batch
    streams back to the writer as soon as it is embedded (a task's output is one block), and
    the work spreads evenly over the readers.
    """
    import pyarrow as pa
    import ray.data

    tables: list[pyarrow.Table] = []
    block = []
    for job in image_jobs(engine, backbone_id, todo):
        block.append(job)
        if len(block) == block_rows:
            tables.append(pa.table(job_columns(block)))
            block = []
    if block:
        tables.append(pa.table(job_columns(block)))
    return ray.data.from_arrow(tables)


def _embedded_batches(
    jobs: Any,
    embedder: Embedder,
    source: BackboneSource,
    read: ReadOptions,
    options: RayOptions,
    actor_options: dict[str, Any],
) -> Iterator[dict[str, Any]]:
    import ray.data

    plan = _cluster_plan(options)
    log.info("ray engine: %s", plan)
    decoded = jobs.map_batches(
        ReadActor,
        fn_constructor_kwargs={"options": read, "preprocessing": embedder.preprocessing},
        batch_size=None,  # one block per call
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=plan.readers),
        num_cpus=plan.cpus_per_reader,
    )
    device = "cuda" if plan.gpus_per_embedder else "cpu"
    embedded = decoded.map_batches(
        EmbedActor,
        fn_constructor_kwargs={
            "source": source,
            "identity": embedder.backbone.identity,
            "precision": embedder.precision,
            "batch_size": embedder.batch_size,
            "device": device,
            "threads": plan.threads,
            **actor_options,
        },
        batch_size=embedder.batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=plan.embedders),
        num_cpus=plan.cpus_per_embedder,
        num_gpus=plan.gpus_per_embedder,
    )
    batches: Iterator[dict[str, Any]] = embedded.iter_batches(
        batch_size=embedder.batch_size, batch_format="numpy"
    )
    return batches


@contextmanager
def worker_errors() -> Iterator[None]:
    """A worker's error as one line (Ray's carry the remote traceback, ending with the error)."""
    from ray.exceptions import RayError

    try:
        yield
    except RayError as error:
        lines = [line.strip(" '\"") for line in str(error).splitlines()]
        last = next((line for line in reversed(lines) if line), type(error).__name__)
        raise EngineFailed(f"the Ray engine failed: {last}") from error


@contextmanager
def _quiet_ray_data() -> Iterator[None]:
    """No progress bars or per-run chatter from Ray Data (the CLI shows its own progress)."""
    import ray.data

    context = ray.data.DataContext.get_current()
    logger = logging.getLogger("ray.data")
    before = context.enable_progress_bars, logger.level
    context.enable_progress_bars = False
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        context.enable_progress_bars, level = before
        logger.setLevel(level)
